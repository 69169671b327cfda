//! Multi-buffer SHA-256 compression: one 64-byte block into each of several independent states per
//! call.
//!
//! # Why
//!
//! Matching derives an RPIK for every diagnosis key, HKDF-SHA256 written on the bare compression
//! function (six compressions per key, see `warnkit-protocol`'s `crypto` module). With SHA-NI one
//! compression is a chain of 32 dependent `sha256rnds2` instructions, so a single stream leaves
//! the SHA unit mostly idle waiting on latency. Keys are independent, so the matcher can hash
//! several at once: the functions here run the same round of several unrelated states side by side,
//! which about halves the cost per block against one chained stream.
//!
//! # Backends
//!
//! Four kernels ([`Kernel`]), one chosen once per process ([`kernel`]): the best the CPU has unless
//! `WARNKIT_SHA256_KERNEL` (`avx512`, `sha-ni`, `avx2`, `portable` or `auto`) or [`set_kernel`] says
//! otherwise, so every path can be tested and timed on one machine. The 16-lane functions run the
//! plain FIPS rounds on sixteen lanes of AVX-512F (`avx512.rs`), on two halves of eight AVX2 lanes
//! (`avx2.rs`), or on SHA-NI straight from the word-major rows (`ni.rs`: 4×4 transposes in SSE
//! registers, and for the scheduled block the precomputed K+W fed to `sha256rnds2` with no message
//! schedule). The 2-, 4- and 8-lane functions interleave 2-lane SHA-NI passes unless the kernel is
//! `portable`, where each lane falls back to [`sha2::compress256`]. Results are identical on every
//! kernel. `ni.rs`, `avx2.rs` and `avx512.rs` hold all of the crate's `unsafe` code (the
//! workspace's other is in `warnkit-aesx`).
//!
//! The 16-lane functions come in two layouts: word-major ([`Rows16`], [`compress256_x16`]), native to
//! the vector kernels, and lane-major ([`Lanes16`], [`compress256_lanes_x16`]), native to SHA-NI and
//! the portable code. Either works on every kernel; [`Kernel::word_major`] says which one a chain of
//! compressions should keep to skip the transposes.
//!
//! On AMD Zen the AVX2 kernel is slower than SHA-NI (37.4 against 21.0 ns per block on Zen 4), so
//! the automatic choice prefers SHA-NI and AVX2 runs only when forced or on CPUs without SHA-NI.
//!
//! # Measured
//!
//! ns per block on the AMD EPYC (Zen 5, SHA-NI) development machine, every state chained from call
//! to call; fastest of 400 round-robin trials from
//! `cargo run --release -p warnkit-sha256x --example min_of_trials` (the criterion bench,
//! `cargo bench -p warnkit-sha256x -- --warm-up-time 1 --measurement-time 3`, agrees when the
//! machine is quiet). Details in `docs/benchmarks-sha256x.md`.
//!
//! | call                                                | ns per block |
//! |-----------------------------------------------------|-------------:|
//! | `sha2::compress256`, one dependent stream           | 36.3         |
//! | `sha2::compress256` on 4 independent states in turn | 23.0         |
//! | [`compress256_x2`]                                  | 23.2         |
//! | [`compress256_x4`]                                  | 18.6         |
//! | [`compress256_x8`]                                  | 18.6         |
//! | [`compress256_x16`] (AVX-512, 16 lanes)             | 16.5         |
//! | [`compress256_x16_scheduled`] (AVX-512)             | 12.5         |
//!
//! So against one chained stream (the HKDF chain of a single key) four lanes are 1.95x faster.
//! Against four unrelated `sha2` calls in a row the gain is only 1.24x: the out-of-order core
//! already overlaps independent calls when nothing else sits between them. Around 18.5 ns per
//! block is the ceiling of the SHA unit (one `sha256rnds2` every ~0.58 ns); 6 or 8 lanes in one
//! pass get no further, and 4 lanes in one pass (20.7 ns) lose to two 2-lane passes because of
//! register spills, so the public functions are built from 2-lane passes.
//!
//! # Example
//!
//! ```
//! // SHA-256("abc"): the standard IV and one padded block, in every lane.
//! const IV: [u32; 8] = [
//!     0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
//!     0x5be0cd19,
//! ];
//! let mut block = [0u8; 64];
//! block[..3].copy_from_slice(b"abc");
//! block[3] = 0x80;
//! block[63] = 24; // message length in bits, big-endian
//! let mut states = [IV; 4];
//! warnkit_sha256x::compress256_x4(&mut states, &[block; 4]);
//! assert!(states.iter().all(|s| s[0] == 0xba7816bf && s[7] == 0xf20015ad));
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod kernel;
#[cfg(target_arch = "x86_64")]
mod ni;

#[cfg(test)]
mod tests;

use sha2::digest::generic_array::{typenum::U64, GenericArray};

pub use kernel::{from_env, kernel, parse, set_kernel, Kernel, KernelError, ENV};

/// SHA-256 round constants (FIPS 180-4, 4.2.2), one line per four-round step.
#[rustfmt::skip]
pub(crate) const K: [u32; 64] = [
    0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5,
    0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
    0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3,
    0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
    0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc,
    0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
    0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7,
    0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
    0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13,
    0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
    0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3,
    0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
    0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5,
    0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
    0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208,
    0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
];

/// Compresses `blocks[i]` into `states[i]` for both lanes.
///
/// Same result as `sha2::compress256(&mut states[i], &[blocks[i].into()])` for each `i`. One pair
/// alone only halves the latency-bound cost; call it on several pairs in a row, or use
/// [`compress256_x4`], to reach full throughput.
#[inline]
pub fn compress256_x2(states: &mut [[u32; 8]; 2], blocks: &[[u8; 64]; 2]) {
    compress_pairs(states, blocks);
}

/// Compresses `blocks[i]` into `states[i]` for each of the four lanes: the batch size the HKDF
/// derivation is meant to use.
///
/// Same result as `sha2::compress256(&mut states[i], &[blocks[i].into()])` for each `i`, at about
/// half the cost of four dependent single-stream calls on SHA-NI (see the crate documentation).
#[inline]
pub fn compress256_x4(states: &mut [[u32; 8]; 4], blocks: &[[u8; 64]; 4]) {
    compress_pairs(states, blocks);
}

/// Compresses `blocks[i]` into `states[i]` for each of the eight lanes.
///
/// Same result as `sha2::compress256(&mut states[i], &[blocks[i].into()])` for each `i`. The same
/// cost per block as [`compress256_x4`]; handy where work comes in eights, e.g. the HMAC inner and
/// outer key states of four keys.
#[inline]
pub fn compress256_x8(states: &mut [[u32; 8]; 8], blocks: &[[u8; 64]; 8]) {
    compress_pairs(states, blocks);
}

/// SHA-NI two lanes at a time where available (see `ni::pairs` for why two) and not forced off
/// ([`Kernel::Portable`]), else the fallback.
#[inline]
fn compress_pairs<const N: usize>(states: &mut [[u32; 8]; N], blocks: &[[u8; 64]; N]) {
    #[cfg(target_arch = "x86_64")]
    if kernel() != Kernel::Portable && ni::pairs(states, blocks) {
        return;
    }
    compress_portable(states, blocks);
}

/// The fallback: one [`sha2::compress256`] call per lane. Kept callable on its own so the tests
/// exercise it on machines that have SHA-NI too.
pub(crate) fn compress_portable<const N: usize>(
    states: &mut [[u32; 8]; N],
    blocks: &[[u8; 64]; N],
) {
    for (state, block) in states.iter_mut().zip(blocks) {
        let block: &GenericArray<u8, U64> = GenericArray::from_slice(block);
        sha2::compress256(state, core::slice::from_ref(block));
    }
}

/// Not API: the interleaving widths the public functions were chosen from, kept callable so the
/// benchmark can re-measure the choice on other CPUs. May change or disappear in any release.
#[doc(hidden)]
pub mod variants {
    /// All `N` lanes in one interleaved SHA-NI pass (the portable fallback without SHA-NI).
    pub fn interleaved<const N: usize>(states: &mut [[u32; 8]; N], blocks: &[[u8; 64]; N]) {
        #[cfg(target_arch = "x86_64")]
        if crate::ni::one_pass(states, blocks) {
            return;
        }
        crate::compress_portable(states, blocks);
    }
}

/// Sixteen lanes of `N` 32-bit words, word-major: `rows[j][l]` is word `j` of lane `l`.
///
/// The layout of [`compress256_x16`]: eight rows make sixteen states, sixteen rows sixteen message
/// blocks (each word already read big-endian, as SHA-256 reads it).
pub type Rows16<const N: usize> = [[u32; 16]; N];

/// Compresses message block `l` into state `l` for sixteen lanes, both given word-major.
///
/// Same result as `sha2::compress256` per lane, on the process's [`kernel`]: sixteen AVX-512 lanes
/// side by side (fastest where the CPU has full-width AVX-512 units), SHA-NI four lanes at a time
/// straight from the rows, two halves of eight AVX2 lanes, or the portable code per lane (figures
/// in `docs/benchmarks-sha256x.md`). The word-major layout lets a chain of compressions (HKDF) pass
/// digests on as message words without any transposition in between.
#[inline]
pub fn compress256_x16(states: &mut Rows16<8>, words: &Rows16<16>) {
    #[cfg(target_arch = "x86_64")]
    match kernel() {
        Kernel::Avx512 if avx512::try_compress(states, words) => return,
        Kernel::Avx2 if avx2::try_compress(states, words) => return,
        Kernel::ShaNi if ni::rows(states, Some(words), &[0; 64]) => return,
        _ => {}
    }
    compress_x16_blocks(states, |l| {
        let mut block = [0u8; 64];
        for (j, chunk) in block.chunks_exact_mut(4).enumerate() {
            chunk.copy_from_slice(&words[j][l].to_be_bytes());
        }
        block
    });
}

/// Sixteen lanes of `N` 32-bit words, lane-major: `lanes[l][j]` is word `j` of lane `l`.
///
/// The layout of [`compress256_lanes_x16`], native to the SHA-NI and portable kernels (see
/// [`Kernel::word_major`]); words already read big-endian, as in [`Rows16`].
pub type Lanes16<const N: usize> = [[u32; N]; 16];

/// Compresses message block `l` into state `l` for sixteen lanes, both given lane-major.
///
/// Same result as [`compress256_x16`] on the transposed data. On the SHA-NI kernel each lane loads
/// straight into registers, which saves the transposes the word-major function needs there
/// (figures in `docs/benchmarks-sha256x.md`); the vector kernels transpose instead.
#[inline]
pub fn compress256_lanes_x16(states: &mut Lanes16<8>, words: &Lanes16<16>) {
    #[cfg(target_arch = "x86_64")]
    match kernel() {
        Kernel::ShaNi if ni::lanes(states, Some(words), &[0; 64]) => return,
        Kernel::Avx512 | Kernel::Avx2 => {
            let mut rows = transpose(states);
            compress256_x16(&mut rows, &transpose(words));
            *states = transpose(&rows);
            return;
        }
        _ => {}
    }
    let blocks: [[u8; 64]; 16] = core::array::from_fn(|l| be_bytes(&words[l]));
    compress_portable(states, &blocks);
}

/// Compresses the same (pre-scheduled) block into each of sixteen lane-major states: the lane-major
/// [`compress256_x16_scheduled`].
#[inline]
pub fn compress256_lanes_x16_scheduled(states: &mut Lanes16<8>, block: &Scheduled) {
    #[cfg(target_arch = "x86_64")]
    match kernel() {
        Kernel::ShaNi if ni::lanes(states, None, &block.kw) => return,
        Kernel::Avx512 | Kernel::Avx2 => {
            let mut rows = transpose(states);
            compress256_x16_scheduled(&mut rows, block);
            *states = transpose(&rows);
            return;
        }
        _ => {}
    }
    compress_portable(states, &[block.block; 16]);
}

/// `words` as a big-endian message block.
fn be_bytes(words: &[u32; 16]) -> [u8; 64] {
    let mut block = [0u8; 64];
    for (chunk, word) in block.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    block
}

/// Rows to lanes or lanes to rows.
#[cfg(target_arch = "x86_64")]
fn transpose<const R: usize, const C: usize>(m: &[[u32; C]; R]) -> [[u32; R]; C] {
    core::array::from_fn(|c| core::array::from_fn(|r| m[r][c]))
}

/// A message block with its message schedule worked out ahead of time, for compressing the same
/// block into many states (HKDF's fixed `info` block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheduled {
    block: [u8; 64],
    /// `K[i] + W[i]` for the 64 rounds.
    kw: [u32; 64],
}

impl Scheduled {
    /// Works out the message schedule of `block` (usable in `const` items).
    pub const fn new(block: &[u8; 64]) -> Self {
        let mut w = [0u32; 64];
        let mut i = 0;
        while i < 16 {
            w[i] = u32::from_be_bytes([
                block[4 * i],
                block[4 * i + 1],
                block[4 * i + 2],
                block[4 * i + 3],
            ]);
            i += 1;
        }
        while i < 64 {
            let (w15, w2) = (w[i - 15], w[i - 2]);
            let sigma0 = w15.rotate_right(7) ^ w15.rotate_right(18) ^ (w15 >> 3);
            let sigma1 = w2.rotate_right(17) ^ w2.rotate_right(19) ^ (w2 >> 10);
            w[i] = w[i - 16]
                .wrapping_add(sigma0)
                .wrapping_add(w[i - 7])
                .wrapping_add(sigma1);
            i += 1;
        }
        let mut kw = [0u32; 64];
        let mut i = 0;
        while i < 64 {
            kw[i] = K[i].wrapping_add(w[i]);
            i += 1;
        }
        Self { block: *block, kw }
    }

    /// The block itself.
    pub fn block(&self) -> &[u8; 64] {
        &self.block
    }
}

/// Compresses the same (pre-scheduled) block into each of sixteen word-major states.
///
/// Same result as [`compress256_x16`] with `block` in every lane, minus the message schedule's
/// work (about a third of a compression's vector instructions on the AVX-512 path).
#[inline]
pub fn compress256_x16_scheduled(states: &mut Rows16<8>, block: &Scheduled) {
    #[cfg(target_arch = "x86_64")]
    match kernel() {
        Kernel::Avx512 if avx512::try_compress_scheduled(states, &block.kw) => return,
        Kernel::Avx2 if avx2::try_compress_scheduled(states, &block.kw) => return,
        Kernel::ShaNi if ni::rows(states, None, &block.kw) => return,
        _ => {}
    }
    compress_x16_blocks(states, |_| block.block);
}

/// The 16-lane functions on the portable fallback alone, for the tests.
#[cfg(test)]
pub(crate) fn compress_x16_portable(states: &mut Rows16<8>, block_of: impl Fn(usize) -> [u8; 64]) {
    let mut lanes = [[0u32; 8]; 16];
    let mut blocks = [[0u8; 64]; 16];
    for (l, (lane, block)) in lanes.iter_mut().zip(blocks.iter_mut()).enumerate() {
        for (j, word) in lane.iter_mut().enumerate() {
            *word = states[j][l];
        }
        *block = block_of(l);
    }
    compress_portable(&mut lanes, &blocks);
    for (l, lane) in lanes.iter().enumerate() {
        for (j, word) in lane.iter().enumerate() {
            states[j][l] = *word;
        }
    }
}

/// The non-AVX-512 path of the 16-lane functions: lanes out of the word-major rows, through the
/// pairwise path, and back.
fn compress_x16_blocks(states: &mut Rows16<8>, block_of: impl Fn(usize) -> [u8; 64]) {
    let mut lanes = [[0u32; 8]; 16];
    let mut blocks = [[0u8; 64]; 16];
    for (l, (lane, block)) in lanes.iter_mut().zip(blocks.iter_mut()).enumerate() {
        for (j, word) in lane.iter_mut().enumerate() {
            *word = states[j][l];
        }
        *block = block_of(l);
    }
    compress_pairs(&mut lanes, &blocks);
    for (l, lane) in lanes.iter().enumerate() {
        for (j, word) in lane.iter().enumerate() {
            states[j][l] = *word;
        }
    }
}
