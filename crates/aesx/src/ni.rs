//! The AES-NI kernels: the crate's only `unsafe` code. Each function requires a CPU with AES-NI, which
//! the safe wrappers in `lib.rs` guarantee by building AES-NI round keys only after [`available`].

use core::arch::x86_64::*;

use crate::{prefix, Block, Probe};

/// Whether this CPU has AES-NI (the standard library caches the answer).
pub(crate) fn available() -> bool {
    std::arch::is_x86_feature_detected!("aes")
}

#[inline(always)]
fn load(block: &Block) -> __m128i {
    // SAFETY: `block` is 16 readable bytes, and the unaligned load has no alignment requirement.
    unsafe { _mm_loadu_si128(block.as_ptr().cast()) }
}

#[inline(always)]
fn store(block: &mut Block, value: __m128i) {
    // SAFETY: `block` is 16 writable bytes, and the unaligned store has no alignment requirement.
    unsafe { _mm_storeu_si128(block.as_mut_ptr().cast(), value) }
}

/// The AES-128 key schedule (FIPS 197, 5.2), one `aeskeygenassist` per round key.
///
/// # Safety
/// The CPU must have AES-NI.
#[target_feature(enable = "aes")]
pub(crate) unsafe fn expand(key: &Block) -> [Block; 11] {
    /// The next round key from the previous one and `aeskeygenassist`'s output for it.
    #[target_feature(enable = "aes")]
    #[inline]
    fn next(key: __m128i, assist: __m128i) -> __m128i {
        let rot_sub = _mm_shuffle_epi32::<0xff>(assist);
        let mut key = _mm_xor_si128(key, _mm_slli_si128::<4>(key));
        key = _mm_xor_si128(key, _mm_slli_si128::<8>(key));
        _mm_xor_si128(key, rot_sub)
    }
    macro_rules! round_key {
        ($prev:expr, $rcon:literal) => {
            next($prev, _mm_aeskeygenassist_si128::<$rcon>($prev))
        };
    }
    let k0 = load(key);
    let k1 = round_key!(k0, 0x01);
    let k2 = round_key!(k1, 0x02);
    let k3 = round_key!(k2, 0x04);
    let k4 = round_key!(k3, 0x08);
    let k5 = round_key!(k4, 0x10);
    let k6 = round_key!(k5, 0x20);
    let k7 = round_key!(k6, 0x40);
    let k8 = round_key!(k7, 0x80);
    let k9 = round_key!(k8, 0x1b);
    let k10 = round_key!(k9, 0x36);
    let mut out = [[0u8; 16]; 11];
    for (slot, key) in out
        .iter_mut()
        .zip([k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, k10])
    {
        store(slot, key);
    }
    out
}

/// One block on its own (the tails of the batched loops).
#[target_feature(enable = "aes")]
#[inline]
fn encrypt_one(rk: &[__m128i; 11], block: &Block) -> __m128i {
    let mut x = _mm_xor_si128(load(block), rk[0]);
    for key in &rk[1..10] {
        x = _mm_aesenc_si128(x, *key);
    }
    _mm_aesenclast_si128(x, rk[10])
}

/// Encrypts `blocks` in place, eight at a time: eight independent blocks per round keep both AES units
/// of a modern core busy despite each round's latency.
///
/// # Safety
/// The CPU must have AES-NI.
#[target_feature(enable = "aes")]
pub(crate) unsafe fn encrypt(keys: &[Block; 11], blocks: &mut [Block]) {
    let rk: [__m128i; 11] = std::array::from_fn(|r| load(&keys[r]));
    let mut chunks = blocks.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut x: [__m128i; 8] = std::array::from_fn(|j| _mm_xor_si128(load(&chunk[j]), rk[0]));
        for key in &rk[1..10] {
            for v in &mut x {
                *v = _mm_aesenc_si128(*v, *key);
            }
        }
        for (block, v) in chunk.iter_mut().zip(x) {
            store(block, _mm_aesenclast_si128(v, rk[10]));
        }
    }
    for block in chunks.into_remainder() {
        let x = encrypt_one(&rk, block);
        store(block, x);
    }
}

/// Encrypts `input` into `output` eight blocks at a time and probes the eight blocks of the previous
/// chunk between the rounds of the current one, one probe per round, so the probes' loads and tests
/// run on the integer side while the AES units work. Returns the number of positions written to `hits`.
///
/// # Panics
/// When `output` or `hits` is shorter than `input` (every index is bounds-checked, so the lengths are no
/// safety requirement). More than 256 blocks would give wrong positions, which are bytes. The caller,
/// [`crate::Aes128::encrypt_and_probe`], checks all three beforehand.
///
/// # Safety
/// The CPU must have AES-NI.
#[target_feature(enable = "aes")]
pub(crate) unsafe fn encrypt_and_probe(
    keys: &[Block; 11],
    input: &[Block],
    output: &mut [Block],
    probe: &Probe<'_>,
    hits: &mut [u8],
) -> usize {
    let rk: [__m128i; 11] = std::array::from_fn(|r| load(&keys[r]));
    let mask = probe.words.len() - 1;
    // The slice's length lets the compiler drop the bounds check on `p & mask`.
    let words = &probe.words[..=mask];
    let patterns = probe.patterns;
    let hits = &mut hits[..input.len()];
    let mut count = 0;
    // Probes the block at position `k`. The branch is almost never taken, so it predicts well, and it
    // keeps each probe a separate basic block, which pins it between the rounds where it is written.
    macro_rules! probe_at {
        ($done:expr, $k:expr) => {{
            let k: usize = $k;
            let p = prefix(&$done[k]);
            if patterns[(p >> 54) as usize] & words[p as usize & mask] == 0 {
                hits[count] = k as u8;
                count += 1;
            }
        }};
    }
    let full = input.len() / 8 * 8;
    for base in (0..full).step_by(8) {
        let (done, rest) = output.split_at_mut(base);
        let mut x: [__m128i; 8] =
            std::array::from_fn(|j| _mm_xor_si128(load(&input[base + j]), rk[0]));
        macro_rules! round {
            ($r:literal, $j:literal) => {
                for v in &mut x {
                    *v = _mm_aesenc_si128(*v, rk[$r]);
                }
                if base > 0 {
                    probe_at!(done, base - 8 + $j);
                }
            };
        }
        round!(1, 0);
        round!(2, 1);
        round!(3, 2);
        round!(4, 3);
        round!(5, 4);
        round!(6, 5);
        round!(7, 6);
        round!(8, 7);
        for v in &mut x {
            *v = _mm_aesenc_si128(*v, rk[9]);
        }
        for (block, v) in rest[..8].iter_mut().zip(x) {
            store(block, _mm_aesenclast_si128(v, rk[10]));
        }
    }
    for k in full..input.len() {
        let x = encrypt_one(&rk, &input[k]);
        store(&mut output[k], x);
    }
    // The last chunk and the tail had no next rounds to hide behind.
    for k in full.saturating_sub(8)..input.len() {
        probe_at!(output, k);
    }
    count
}
