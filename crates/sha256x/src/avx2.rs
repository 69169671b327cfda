//! AVX2 compression of sixteen SHA-256 states, eight lanes per 256-bit vector, two passes per call.
//!
//! The same plain FIPS 180-4 rounds as `avx512.rs` on half-width vectors, without that module's
//! rotate and three-input logic instructions: a rotation is two shifts and an OR, so a round takes
//! about 35 vector instructions for eight lanes. For CPUs with AVX2 but no AVX-512F; whether it
//! beats SHA-NI there is for the benchmarks to say (`Kernel::ALL` lists the measured order).

use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_and_si256, _mm256_loadu_si256, _mm256_or_si256,
    _mm256_set1_epi32, _mm256_slli_epi32, _mm256_srli_epi32, _mm256_storeu_si256, _mm256_xor_si256,
};
use std::sync::atomic::{AtomicU8, Ordering};

use crate::{Rows16, K};

/// 0 = not probed yet, 1 = no AVX2, 2 = usable.
static DETECTED: AtomicU8 = AtomicU8::new(0);

/// Whether this CPU has AVX2, all that [`compress`] needs; probed once, then one relaxed load.
#[inline]
pub(crate) fn available() -> bool {
    match DETECTED.load(Ordering::Relaxed) {
        0 => {
            let yes = std::is_x86_feature_detected!("avx2");
            DETECTED.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
        v => v == 2,
    }
}

/// Compresses on AVX2, or returns `false` (touching nothing) on a CPU without it.
#[inline]
pub(crate) fn try_compress(states: &mut Rows16<8>, words: &Rows16<16>) -> bool {
    if !available() {
        return false;
    }
    // SAFETY: `available` has checked that the CPU has AVX2, the only feature `compress` enables.
    unsafe { compress(states, words) };
    true
}

/// Like [`try_compress`], with the message schedule given as `kw[i] = K[i] + W[i]`, the same
/// for every lane.
#[inline]
pub(crate) fn try_compress_scheduled(states: &mut Rows16<8>, kw: &[u32; 64]) -> bool {
    if !available() {
        return false;
    }
    // SAFETY: as in `try_compress`.
    unsafe { compress_scheduled(states, kw) };
    true
}

// Macros, as in the other backends, so every intrinsic stays inside one `#[target_feature]`
// function.

/// `x` rotated right by `n` bits in every lane.
macro_rules! ror {
    ($x:expr, $n:literal) => {{
        let x = $x;
        _mm256_or_si256(
            _mm256_srli_epi32::<$n>(x),
            _mm256_slli_epi32::<{ 32 - $n }>(x),
        )
    }};
}

/// `ror(x, a) ^ ror(x, b) ^ ror(x, c)`.
macro_rules! xor3_ror {
    ($x:expr, $a:literal, $b:literal, $c:literal) => {{
        let x = $x;
        _mm256_xor_si256(_mm256_xor_si256(ror!(x, $a), ror!(x, $b)), ror!(x, $c))
    }};
}

/// One round on eight lanes; only `d` and `h` change, the caller rotates the indices.
macro_rules! round {
    ($s:ident, $a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $f:expr, $g:expr, $h:expr, $kw:expr) => {{
        let e = $s[$e];
        let a = $s[$a];
        let s1 = xor3_ror!(e, 6, 11, 25);
        // Ch(e, f, g) = ((f ^ g) & e) ^ g
        let ch = _mm256_xor_si256(
            _mm256_and_si256(_mm256_xor_si256($s[$f], $s[$g]), e),
            $s[$g],
        );
        let t1 = _mm256_add_epi32(_mm256_add_epi32($s[$h], $kw), _mm256_add_epi32(s1, ch));
        let s0 = xor3_ror!(a, 2, 13, 22);
        // Maj(a, b, c) = (a & b) | (c & (a | b))
        let maj = _mm256_or_si256(
            _mm256_and_si256(a, $s[$b]),
            _mm256_and_si256($s[$c], _mm256_or_si256(a, $s[$b])),
        );
        $s[$d] = _mm256_add_epi32($s[$d], t1);
        $s[$h] = _mm256_add_epi32(t1, _mm256_add_epi32(s0, maj));
    }};
}

/// Eight rounds from `$i`; `$kw!(i)` gives round `i`'s K + W.
macro_rules! rounds8 {
    ($s:ident, $i:expr, $kw:ident) => {{
        round!($s, 0, 1, 2, 3, 4, 5, 6, 7, $kw!($i));
        round!($s, 7, 0, 1, 2, 3, 4, 5, 6, $kw!($i + 1));
        round!($s, 6, 7, 0, 1, 2, 3, 4, 5, $kw!($i + 2));
        round!($s, 5, 6, 7, 0, 1, 2, 3, 4, $kw!($i + 3));
        round!($s, 4, 5, 6, 7, 0, 1, 2, 3, $kw!($i + 4));
        round!($s, 3, 4, 5, 6, 7, 0, 1, 2, $kw!($i + 5));
        round!($s, 2, 3, 4, 5, 6, 7, 0, 1, $kw!($i + 6));
        round!($s, 1, 2, 3, 4, 5, 6, 7, 0, $kw!($i + 7));
    }};
}

/// Loads the eight lanes of half `$half` (lanes `8 * half ..`) of each row.
macro_rules! load_rows {
    ($rows:expr, $n:expr, $half:expr) => {{
        let mut v = [_mm256_set1_epi32(0); $n];
        for (v, row) in v.iter_mut().zip($rows.iter()) {
            // SAFETY: `row` is a live `&[u32; 16]` and `8 * half + 8 <= 16`, so the 32 bytes read
            // are inside it; `loadu` needs no alignment.
            *v = unsafe { _mm256_loadu_si256(row.as_ptr().add(8 * $half).cast()) };
        }
        v
    }};
}

/// Adds the input state back and stores half `$half` of each row.
macro_rules! store_state {
    ($states:ident, $s:ident, $input:ident, $half:expr) => {{
        for ((row, v), i) in $states.iter_mut().zip($s).zip($input) {
            // SAFETY: as in `load_rows!`, for a live `&mut [u32; 16]`.
            unsafe {
                _mm256_storeu_si256(
                    row.as_mut_ptr().add(8 * $half).cast(),
                    _mm256_add_epi32(v, i),
                )
            };
        }
    }};
}

/// Sixteen lanes, eight at a time, laid out as in `avx512::compress`.
///
/// # Safety
///
/// The CPU must support AVX2, e.g. [`available`] returned true.
#[target_feature(enable = "avx2")]
unsafe fn compress(states: &mut Rows16<8>, words: &Rows16<16>) {
    for half in 0..2 {
        let input: [__m256i; 8] = load_rows!(states, 8, half);
        let mut s = input;
        let mut w: [__m256i; 16] = load_rows!(words, 16, half);
        macro_rules! given {
            ($i:expr) => {
                _mm256_add_epi32(w[$i], _mm256_set1_epi32(K[$i] as i32))
            };
        }
        macro_rules! extended {
            ($i:expr) => {{
                let w15 = w[($i + 1) & 15];
                let w2 = w[($i + 14) & 15];
                let sigma0 = _mm256_xor_si256(
                    _mm256_xor_si256(ror!(w15, 7), ror!(w15, 18)),
                    _mm256_srli_epi32::<3>(w15),
                );
                let sigma1 = _mm256_xor_si256(
                    _mm256_xor_si256(ror!(w2, 17), ror!(w2, 19)),
                    _mm256_srli_epi32::<10>(w2),
                );
                w[$i & 15] = _mm256_add_epi32(
                    _mm256_add_epi32(w[$i & 15], w[($i + 9) & 15]),
                    _mm256_add_epi32(sigma0, sigma1),
                );
                _mm256_add_epi32(w[$i & 15], _mm256_set1_epi32(K[$i] as i32))
            }};
        }
        rounds8!(s, 0, given);
        rounds8!(s, 8, given);
        rounds8!(s, 16, extended);
        rounds8!(s, 24, extended);
        rounds8!(s, 32, extended);
        rounds8!(s, 40, extended);
        rounds8!(s, 48, extended);
        rounds8!(s, 56, extended);
        store_state!(states, s, input, half);
    }
}

/// [`compress`] for a block shared by all lanes whose schedule (plus K) is precomputed.
///
/// # Safety
///
/// The CPU must support AVX2, e.g. [`available`] returned true.
#[target_feature(enable = "avx2")]
unsafe fn compress_scheduled(states: &mut Rows16<8>, kw: &[u32; 64]) {
    for half in 0..2 {
        let input: [__m256i; 8] = load_rows!(states, 8, half);
        let mut s = input;
        macro_rules! given {
            ($i:expr) => {
                _mm256_set1_epi32(kw[$i] as i32)
            };
        }
        rounds8!(s, 0, given);
        rounds8!(s, 8, given);
        rounds8!(s, 16, given);
        rounds8!(s, 24, given);
        rounds8!(s, 32, given);
        rounds8!(s, 40, given);
        rounds8!(s, 48, given);
        rounds8!(s, 56, given);
        store_state!(states, s, input, half);
    }
}
