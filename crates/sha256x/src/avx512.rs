//! AVX-512 compression of sixteen SHA-256 states at once, one lane per 32-bit element.
//!
//! Unlike SHA-NI, which hashes one state per instruction chain, this runs the plain FIPS 180-4
//! rounds with every operand a 512-bit vector holding the same word of sixteen lanes. Rotations
//! (`vprord`) and three-input logic (`vpternlogd`: XOR3, Ch and Maj in one instruction each) keep
//! a round at 17 vector instructions for all sixteen lanes; a message schedule step at 11.
//!
//! Data is word-major ("structure of arrays"): row `j` holds word `j` of every lane, so a state
//! row is one vector and no transposition happens inside the compression. Callers that chain
//! compressions (HKDF) keep their data in that form from the first block to the last.

use core::arch::x86_64::{
    __m512i, _mm512_add_epi32, _mm512_loadu_si512, _mm512_ror_epi32, _mm512_set1_epi32,
    _mm512_srli_epi32, _mm512_storeu_si512, _mm512_ternarylogic_epi32,
};
use std::sync::atomic::{AtomicU8, Ordering};

use crate::{Rows16, K};

/// 0 = not probed yet, 1 = no AVX-512F, 2 = usable.
static DETECTED: AtomicU8 = AtomicU8::new(0);

/// Whether this CPU has AVX-512F, all that [`compress`] needs; probed once, then one relaxed load.
#[inline]
pub(crate) fn available() -> bool {
    match DETECTED.load(Ordering::Relaxed) {
        0 => {
            let yes = std::is_x86_feature_detected!("avx512f");
            DETECTED.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
        v => v == 2,
    }
}

/// Compresses on AVX-512, or returns `false` (touching nothing) on a CPU without it.
#[inline]
pub(crate) fn try_compress(states: &mut Rows16<8>, words: &Rows16<16>) -> bool {
    if !available() {
        return false;
    }
    // SAFETY: `available` has checked that the CPU has AVX-512F, the only feature `compress`
    // enables.
    unsafe { compress(states, words) };
    true
}

/// Like [`try_compress`], with the message schedule given as `kw[i] = K[i] + W[i]`, the same
/// for every lane (a constant block: its schedule is computed once, ahead of time).
#[inline]
pub(crate) fn try_compress_scheduled(states: &mut Rows16<8>, kw: &[u32; 64]) -> bool {
    if !available() {
        return false;
    }
    // SAFETY: as in `try_compress`.
    unsafe { compress_scheduled(states, kw) };
    true
}

// Macros rather than helper functions or closures, as in `ni.rs`: every intrinsic stays inside
// the one `#[target_feature]` function, so nothing depends on how helpers would be inlined.

/// One round on all lanes, the state in `$s[0..8]`. Only `d` and `h` change; the caller rotates
/// the indices between rounds instead of moving eight registers.
macro_rules! round {
    ($s:ident, $a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $f:expr, $g:expr, $h:expr, $kw:expr) => {{
        let e = $s[$e];
        let a = $s[$a];
        let s1 = _mm512_ternarylogic_epi32::<0x96>(
            _mm512_ror_epi32::<6>(e),
            _mm512_ror_epi32::<11>(e),
            _mm512_ror_epi32::<25>(e),
        );
        // Ch(e, f, g) and Maj(a, b, c) as truth tables of their three inputs.
        let ch = _mm512_ternarylogic_epi32::<0xCA>(e, $s[$f], $s[$g]);
        let t1 = _mm512_add_epi32(_mm512_add_epi32($s[$h], $kw), _mm512_add_epi32(s1, ch));
        let s0 = _mm512_ternarylogic_epi32::<0x96>(
            _mm512_ror_epi32::<2>(a),
            _mm512_ror_epi32::<13>(a),
            _mm512_ror_epi32::<22>(a),
        );
        let maj = _mm512_ternarylogic_epi32::<0xE8>(a, $s[$b], $s[$c]);
        $s[$d] = _mm512_add_epi32($s[$d], t1);
        $s[$h] = _mm512_add_epi32(t1, _mm512_add_epi32(s0, maj));
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

/// Loads rows of sixteen words into vectors.
macro_rules! load_rows {
    ($rows:expr, $n:expr) => {{
        let mut v = [_mm512_set1_epi32(0); $n];
        for (v, row) in v.iter_mut().zip($rows.iter()) {
            // SAFETY: `row` is a live `&[u32; 16]`, 64 bytes; `loadu` needs no alignment.
            *v = unsafe { _mm512_loadu_si512(row.as_ptr().cast()) };
        }
        v
    }};
}

/// Adds the input state back (the Davies-Meyer feed-forward) and stores the rows.
macro_rules! store_state {
    ($states:ident, $s:ident, $input:ident) => {{
        for ((row, v), i) in $states.iter_mut().zip($s).zip($input) {
            // SAFETY: `row` is a live `&mut [u32; 16]`, 64 bytes; `storeu` needs no alignment.
            unsafe { _mm512_storeu_si512(row.as_mut_ptr().cast(), _mm512_add_epi32(v, i)) };
        }
    }};
}

/// Sixteen lanes at once: `states[j][l]` is word `j` of lane `l`, `words[j][l]` message word `j`
/// (already big-endian-decoded) of lane `l`.
///
/// # Safety
///
/// The CPU must support AVX-512F, e.g. [`available`] returned true.
#[target_feature(enable = "avx512f")]
unsafe fn compress(states: &mut Rows16<8>, words: &Rows16<16>) {
    let input: [__m512i; 8] = load_rows!(states, 8);
    let mut s = input;
    let mut w: [__m512i; 16] = load_rows!(words, 16);
    // Rounds 0-15 read the message as given.
    macro_rules! given {
        ($i:expr) => {
            _mm512_add_epi32(w[$i], _mm512_set1_epi32(K[$i] as i32))
        };
    }
    // From round 16 on, each round first extends the schedule in place (a ring of 16 words).
    macro_rules! extended {
        ($i:expr) => {{
            let w15 = w[($i + 1) & 15];
            let w2 = w[($i + 14) & 15];
            let sigma0 = _mm512_ternarylogic_epi32::<0x96>(
                _mm512_ror_epi32::<7>(w15),
                _mm512_ror_epi32::<18>(w15),
                _mm512_srli_epi32::<3>(w15),
            );
            let sigma1 = _mm512_ternarylogic_epi32::<0x96>(
                _mm512_ror_epi32::<17>(w2),
                _mm512_ror_epi32::<19>(w2),
                _mm512_srli_epi32::<10>(w2),
            );
            w[$i & 15] = _mm512_add_epi32(
                _mm512_add_epi32(w[$i & 15], w[($i + 9) & 15]),
                _mm512_add_epi32(sigma0, sigma1),
            );
            _mm512_add_epi32(w[$i & 15], _mm512_set1_epi32(K[$i] as i32))
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
    store_state!(states, s, input);
}

/// [`compress`] for a block shared by all lanes whose schedule (plus K) is precomputed.
///
/// # Safety
///
/// The CPU must support AVX-512F, e.g. [`available`] returned true.
#[target_feature(enable = "avx512f")]
unsafe fn compress_scheduled(states: &mut Rows16<8>, kw: &[u32; 64]) {
    let input: [__m512i; 8] = load_rows!(states, 8);
    let mut s = input;
    macro_rules! given {
        ($i:expr) => {
            _mm512_set1_epi32(kw[$i] as i32)
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
    store_state!(states, s, input);
}
