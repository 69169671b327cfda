//! SHA-NI compression of `N` independent SHA-256 states, interleaved round by round.
//!
//! This and `avx512.rs` are the only modules of the crate (and of the workspace) with `unsafe`
//! code. The rest of the crate sees only the safe [`pairs`] and [`one_pass`], which check [`available`] themselves;
//! everything else about the inputs is enforced by the types.
//!
//! One SHA-256 stream on SHA-NI is latency-bound: each `sha256rnds2` needs the state the previous
//! one produced. Running the same step of several unrelated streams back to back lets the core
//! overlap them, which is where the speed-up comes from.

use core::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_alignr_epi8, _mm_blend_epi16, _mm_loadu_si128, _mm_set_epi32,
    _mm_set_epi64x, _mm_setzero_si128, _mm_sha256msg1_epu32, _mm_sha256msg2_epu32,
    _mm_sha256rnds2_epu32, _mm_shuffle_epi32, _mm_shuffle_epi8, _mm_storeu_si128,
    _mm_unpackhi_epi32, _mm_unpackhi_epi64, _mm_unpacklo_epi32, _mm_unpacklo_epi64,
};
use std::sync::atomic::{AtomicU8, Ordering};

use crate::{Lanes16, Rows16, K};

/// 0 = not probed yet, 1 = no SHA-NI, 2 = SHA-NI usable.
static DETECTED: AtomicU8 = AtomicU8::new(0);

/// Whether this CPU has the instructions [`compress`] needs.
///
/// `is_x86_feature_detected!` already caches, but checks four features one by one; this folds them
/// into a single relaxed load on the hot path. A race between first callers only probes twice.
#[inline]
pub(crate) fn available() -> bool {
    match DETECTED.load(Ordering::Relaxed) {
        0 => {
            let yes = std::is_x86_feature_detected!("sha")
                && std::is_x86_feature_detected!("sse2")
                && std::is_x86_feature_detected!("ssse3")
                && std::is_x86_feature_detected!("sse4.1");
            DETECTED.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
        v => v == 2,
    }
}

/// Compresses the lanes two at a time, or returns `false` (touching nothing) without SHA-NI.
///
/// Pairs rather than one pass over all `N` lanes: from three lanes up the working set no longer fits
/// the sixteen registers SHA instructions can address and spills to the stack, which costs more
/// than it gains. Consecutive pair passes are independent, so the out-of-order core overlaps them
/// and the SHA unit stays saturated (measured: 2 x 2 lanes 18.6 ns per block, 1 x 4 lanes 20.7 ns;
/// see `docs/benchmarks-sha256x.md`).
#[inline]
pub(crate) fn pairs<const N: usize>(states: &mut [[u32; 8]; N], blocks: &[[u8; 64]; N]) -> bool {
    const { assert!(N.is_multiple_of(2), "lanes must come in pairs") };
    if !available() {
        return false;
    }
    for (s, b) in states.chunks_exact_mut(2).zip(blocks.chunks_exact(2)) {
        let s: &mut [[u32; 8]; 2] = s.try_into().expect("chunks_exact(2)");
        let b: &[[u8; 64]; 2] = b.try_into().expect("chunks_exact(2)");
        // SAFETY: `available` has checked that the CPU has every feature `compress` enables.
        unsafe { compress(s, b) };
    }
    true
}

/// All `N` lanes in a single interleaved pass, or `false` (touching nothing) without SHA-NI.
#[inline]
pub(crate) fn one_pass<const N: usize>(states: &mut [[u32; 8]; N], blocks: &[[u8; 64]; N]) -> bool {
    if !available() {
        return false;
    }
    // SAFETY: `available` has checked that the CPU has every feature `compress` enables.
    unsafe { compress(states, blocks) };
    true
}

// The steps below are macros rather than helper functions so that every intrinsic call sits inside
// the single `unsafe` block of `compress`: with a `#[target_feature]` helper, whether the intrinsic
// calls need their own `unsafe` block differs between the MSRV (1.85) and Rust >= 1.87, and one of
// the two would then fail `unsafe_op_in_unsafe_fn` or `unused_unsafe`.

/// Four rounds on every lane: `w` holds message words `4i..4i+4` per lane.
///
/// All lanes' first `sha256rnds2` go before any lane's second, so independent instructions sit next
/// to each other instead of relying on the out-of-order window to find them.
macro_rules! rounds4 {
    ($abef:ident, $cdgh:ident, $w:ident, $i:expr) => {{
        let k = _mm_set_epi32(
            K[4 * $i + 3] as i32,
            K[4 * $i + 2] as i32,
            K[4 * $i + 1] as i32,
            K[4 * $i] as i32,
        );
        let mut wk = [_mm_setzero_si128(); N];
        for l in 0..N {
            wk[l] = _mm_add_epi32($w[l], k);
            $cdgh[l] = _mm_sha256rnds2_epu32($cdgh[l], $abef[l], wk[l]);
        }
        for l in 0..N {
            // sha256rnds2 reads the two low words; move the high two down for the next two rounds.
            let hi = _mm_shuffle_epi32(wk[l], 0x0E);
            $abef[l] = _mm_sha256rnds2_epu32($abef[l], $cdgh[l], hi);
        }
    }};
}

/// Message schedule for words `4i..4i+4` into `$w4`, then four rounds with them.
macro_rules! schedule_rounds4 {
    ($abef:ident, $cdgh:ident, $w0:ident, $w1:ident, $w2:ident, $w3:ident, $w4:ident, $i:expr) => {{
        for l in 0..N {
            let t = _mm_add_epi32(
                _mm_sha256msg1_epu32($w0[l], $w1[l]),
                _mm_alignr_epi8($w3[l], $w2[l], 4),
            );
            $w4[l] = _mm_sha256msg2_epu32(t, $w3[l]);
        }
        rounds4!($abef, $cdgh, $w4, $i);
    }};
}

/// The 64 rounds, message schedule included, on every lane; `w0`-`w3` hold the message, `w4` is
/// scratch.
macro_rules! all_rounds {
    ($abef:ident, $cdgh:ident, $w0:ident, $w1:ident, $w2:ident, $w3:ident, $w4:ident) => {{
        rounds4!($abef, $cdgh, $w0, 0);
        rounds4!($abef, $cdgh, $w1, 1);
        rounds4!($abef, $cdgh, $w2, 2);
        rounds4!($abef, $cdgh, $w3, 3);
        // Five message registers rotate so each schedule step can read the four before it.
        schedule_rounds4!($abef, $cdgh, $w0, $w1, $w2, $w3, $w4, 4);
        schedule_rounds4!($abef, $cdgh, $w1, $w2, $w3, $w4, $w0, 5);
        schedule_rounds4!($abef, $cdgh, $w2, $w3, $w4, $w0, $w1, 6);
        schedule_rounds4!($abef, $cdgh, $w3, $w4, $w0, $w1, $w2, 7);
        schedule_rounds4!($abef, $cdgh, $w4, $w0, $w1, $w2, $w3, 8);
        schedule_rounds4!($abef, $cdgh, $w0, $w1, $w2, $w3, $w4, 9);
        schedule_rounds4!($abef, $cdgh, $w1, $w2, $w3, $w4, $w0, 10);
        schedule_rounds4!($abef, $cdgh, $w2, $w3, $w4, $w0, $w1, 11);
        schedule_rounds4!($abef, $cdgh, $w3, $w4, $w0, $w1, $w2, 12);
        schedule_rounds4!($abef, $cdgh, $w4, $w0, $w1, $w2, $w3, 13);
        schedule_rounds4!($abef, $cdgh, $w0, $w1, $w2, $w3, $w4, 14);
        schedule_rounds4!($abef, $cdgh, $w1, $w2, $w3, $w4, $w0, 15);
    }};
}

/// The 64 rounds on every lane with `K + W` given (`$kw`, a `[u32; 64]` shared by every lane): no
/// message schedule.
macro_rules! kw_rounds {
    ($abef:ident, $cdgh:ident, $kw:ident) => {{
        for i in 0..16 {
            let wk = _mm_loadu_si128($kw.as_ptr().add(4 * i).cast::<__m128i>());
            for l in 0..N {
                $cdgh[l] = _mm_sha256rnds2_epu32($cdgh[l], $abef[l], wk);
            }
            let hi = _mm_shuffle_epi32(wk, 0x0E);
            for l in 0..N {
                $abef[l] = _mm_sha256rnds2_epu32($abef[l], $cdgh[l], hi);
            }
        }
    }};
}

/// The state of every lane from `{A..D}`, `{E..H}` (element 0 first) into the `{A,B,E,F}`,
/// `{C,D,G,H}` order `sha256rnds2` works in.
macro_rules! to_abef_cdgh {
    ($dcba:expr, $hgfe:expr) => {{
        let cdab = _mm_shuffle_epi32($dcba, 0xB1);
        let efgh = _mm_shuffle_epi32($hgfe, 0x1B);
        (
            _mm_alignr_epi8(cdab, efgh, 8),
            _mm_blend_epi16(efgh, cdab, 0xF0),
        )
    }};
}

/// The inverse of [`to_abef_cdgh!`]: `({A..D}, {E..H})`.
macro_rules! from_abef_cdgh {
    ($abef:expr, $cdgh:expr) => {{
        let feba = _mm_shuffle_epi32($abef, 0x1B);
        let dchg = _mm_shuffle_epi32($cdgh, 0xB1);
        (
            _mm_blend_epi16(feba, dchg, 0xF0),
            _mm_alignr_epi8(dchg, feba, 8),
        )
    }};
}

/// Transposes four vectors of four words: element `i` of output `j` is element `j` of input `i`.
macro_rules! transpose4 {
    ($r0:expr, $r1:expr, $r2:expr, $r3:expr) => {{
        let t0 = _mm_unpacklo_epi32($r0, $r1);
        let t1 = _mm_unpacklo_epi32($r2, $r3);
        let t2 = _mm_unpackhi_epi32($r0, $r1);
        let t3 = _mm_unpackhi_epi32($r2, $r3);
        [
            _mm_unpacklo_epi64(t0, t1),
            _mm_unpackhi_epi64(t0, t1),
            _mm_unpacklo_epi64(t2, t3),
            _mm_unpackhi_epi64(t2, t3),
        ]
    }};
}

/// Compresses `blocks[l]` into `states[l]` for every lane `l`, like `sha2::compress256` per lane.
///
/// Any `N` works; 2 is the sweet spot. SHA instructions only address `xmm0`-`xmm15`, so from 3
/// lanes up the working set spills to the stack, and 2 lanes per pass, several passes back to back,
/// already keep the SHA unit saturated (figures in the crate documentation).
///
/// # Safety
///
/// The CPU must support SHA, SSE2, SSSE3 and SSE4.1, e.g. [`available`] returned true.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
unsafe fn compress<const N: usize>(states: &mut [[u32; 8]; N], blocks: &[[u8; 64]; N]) {
    // SAFETY: the caller guarantees the target features, which is all the intrinsics themselves
    // require. The only memory accesses are unaligned 16-byte loads and stores (`loadu`/`storeu`
    // need no alignment) at byte offsets 0 and 16 of a `[u32; 8]` (32 bytes) and 0, 16, 32 and 48
    // of a `[u8; 64]`, all through pointers derived from live references of the right mutability,
    // so every access is in bounds, and `&mut` rules out any other reference to `states`.
    unsafe {
        // Byte-swaps each 32-bit word: SHA-256 reads the message big-endian.
        let bswap = _mm_set_epi64x(0x0C0D_0E0F_0809_0A0B, 0x0405_0607_0001_0203);
        let zero = _mm_setzero_si128();
        let mut abef = [zero; N];
        let mut cdgh = [zero; N];
        let (mut w0, mut w1, mut w2, mut w3, mut w4) =
            ([zero; N], [zero; N], [zero; N], [zero; N], [zero; N]);

        for l in 0..N {
            // sha256rnds2 wants the state as {A,B,E,F} and {C,D,G,H}, not {A..D}, {E..H}.
            let s = states[l].as_ptr().cast::<__m128i>();
            (abef[l], cdgh[l]) = to_abef_cdgh!(_mm_loadu_si128(s), _mm_loadu_si128(s.add(1)));

            let b = blocks[l].as_ptr().cast::<__m128i>();
            w0[l] = _mm_shuffle_epi8(_mm_loadu_si128(b), bswap);
            w1[l] = _mm_shuffle_epi8(_mm_loadu_si128(b.add(1)), bswap);
            w2[l] = _mm_shuffle_epi8(_mm_loadu_si128(b.add(2)), bswap);
            w3[l] = _mm_shuffle_epi8(_mm_loadu_si128(b.add(3)), bswap);
        }
        let (abef_in, cdgh_in) = (abef, cdgh);

        all_rounds!(abef, cdgh, w0, w1, w2, w3, w4);

        for l in 0..N {
            let (dcba, hgef) = from_abef_cdgh!(
                _mm_add_epi32(abef[l], abef_in[l]),
                _mm_add_epi32(cdgh[l], cdgh_in[l])
            );
            let s = states[l].as_mut_ptr().cast::<__m128i>();
            _mm_storeu_si128(s, dcba);
            _mm_storeu_si128(s.add(1), hgef);
        }
    }
}

/// Compresses sixteen word-major lanes (the layout of `compress256_x16`) on SHA-NI, or returns
/// `false` (touching nothing) without it.
///
/// The rows go in and out through 4 x 4 transposes in registers, four lanes at a time, and the
/// lanes are compressed in pairs as [`pairs`] does; with `kw` (a block shared by every lane, its
/// `K + W` precomputed) the message schedule is skipped as well.
#[inline]
pub(crate) fn rows(states: &mut Rows16<8>, words: Option<&Rows16<16>>, kw: &[u32; 64]) -> bool {
    if !available() {
        return false;
    }
    // SAFETY: `available` has checked that the CPU has every feature `compress_rows` enables.
    unsafe { compress_rows(states, words, kw) };
    true
}

/// See [`rows`]: `words` the message rows, or `None` to take `kw` as every lane's `K + W`.
///
/// # Safety
///
/// The CPU must support SHA, SSE2, SSSE3 and SSE4.1, e.g. [`available`] returned true.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
unsafe fn compress_rows(states: &mut Rows16<8>, words: Option<&Rows16<16>>, kw: &[u32; 64]) {
    // Two lanes per pass, as in `pairs`.
    const N: usize = 2;
    // SAFETY: the caller guarantees the target features. Every load and store is an unaligned
    // 16-byte access at word offset `q + 4 * i` (`q` in 0, 4, 8, 12) of a `[u32; 16]` row, or at
    // word offset `4 * i` (`i` < 16) of the `[u32; 64]` `kw`, through pointers derived from live
    // references of the right mutability, so all are in bounds.
    unsafe {
        let row = |rows: &[[u32; 16]], j: usize, q: usize| {
            _mm_loadu_si128(rows[j].as_ptr().add(q).cast::<__m128i>())
        };
        let zero = _mm_setzero_si128();
        for q in (0..16).step_by(4) {
            // Lanes q..q+4: their state words and message words, each lane's in one vector.
            let dcba = transpose4!(
                row(states, 0, q),
                row(states, 1, q),
                row(states, 2, q),
                row(states, 3, q)
            );
            let hgfe = transpose4!(
                row(states, 4, q),
                row(states, 5, q),
                row(states, 6, q),
                row(states, 7, q)
            );
            // `message[i][lane]`: words 4i..4i+4 of lane q + lane.
            let mut message = [[zero; 4]; 4];
            if let Some(words) = words {
                for (i, m) in message.iter_mut().enumerate() {
                    let lanes = transpose4!(
                        row(words, 4 * i, q),
                        row(words, 4 * i + 1, q),
                        row(words, 4 * i + 2, q),
                        row(words, 4 * i + 3, q)
                    );
                    for (lane, v) in lanes.into_iter().enumerate() {
                        m[lane] = v;
                    }
                }
            }
            let mut out_lo = [zero; 4];
            let mut out_hi = [zero; 4];
            for p in (0..4).step_by(N) {
                let mut abef = [zero; N];
                let mut cdgh = [zero; N];
                for l in 0..N {
                    (abef[l], cdgh[l]) = to_abef_cdgh!(dcba[p + l], hgfe[p + l]);
                }
                let (abef_in, cdgh_in) = (abef, cdgh);
                if words.is_some() {
                    let lanes = |i: usize| -> [__m128i; N] {
                        message[i][p..p + N].try_into().expect("N lanes")
                    };
                    let (mut w0, mut w1, mut w2, mut w3, mut w4) =
                        (lanes(0), lanes(1), lanes(2), lanes(3), [zero; N]);
                    all_rounds!(abef, cdgh, w0, w1, w2, w3, w4);
                } else {
                    kw_rounds!(abef, cdgh, kw);
                }
                for l in 0..N {
                    (out_lo[p + l], out_hi[p + l]) = from_abef_cdgh!(
                        _mm_add_epi32(abef[l], abef_in[l]),
                        _mm_add_epi32(cdgh[l], cdgh_in[l])
                    );
                }
            }
            for (half, out) in [out_lo, out_hi].into_iter().enumerate() {
                let rows = transpose4!(out[0], out[1], out[2], out[3]);
                for (j, v) in rows.into_iter().enumerate() {
                    _mm_storeu_si128(
                        states[4 * half + j].as_mut_ptr().add(q).cast::<__m128i>(),
                        v,
                    );
                }
            }
        }
    }
}

/// Compresses sixteen lane-major lanes (the layout of `compress256_lanes_x16`) on SHA-NI, or returns
/// `false` (touching nothing) without it.
///
/// Each lane's state and message words load straight into registers, so nothing is transposed: the
/// lanes go through in pairs as [`pairs`] does, and with `words` `None` every lane takes `kw` as its
/// `K + W` (a block shared by every lane, its message schedule skipped).
#[inline]
pub(crate) fn lanes(states: &mut Lanes16<8>, words: Option<&Lanes16<16>>, kw: &[u32; 64]) -> bool {
    if !available() {
        return false;
    }
    // SAFETY: `available` has checked that the CPU has every feature `compress_lanes` enables.
    unsafe { compress_lanes(states, words, kw) };
    true
}

/// See [`lanes`].
///
/// # Safety
///
/// The CPU must support SHA, SSE2, SSSE3 and SSE4.1, e.g. [`available`] returned true.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
unsafe fn compress_lanes(states: &mut Lanes16<8>, words: Option<&Lanes16<16>>, kw: &[u32; 64]) {
    const N: usize = 2;
    // SAFETY: the caller guarantees the target features. Every load and store is an unaligned
    // 16-byte access at word offset 0 or 4 of a `[u32; 8]` state, `4 * i` (`i` < 4) of a
    // `[u32; 16]` message or `4 * i` (`i` < 16) of the `[u32; 64]` `kw`, through pointers derived
    // from live references of the right mutability, so all are in bounds.
    unsafe {
        let load = |p: *const u32| _mm_loadu_si128(p.cast::<__m128i>());
        let zero = _mm_setzero_si128();
        for p in (0..16).step_by(N) {
            let mut abef = [zero; N];
            let mut cdgh = [zero; N];
            for l in 0..N {
                let s = states[p + l].as_ptr();
                (abef[l], cdgh[l]) = to_abef_cdgh!(load(s), load(s.add(4)));
            }
            let (abef_in, cdgh_in) = (abef, cdgh);
            if let Some(words) = words {
                let quarter = |i: usize| -> [__m128i; N] {
                    core::array::from_fn(|l| load(words[p + l].as_ptr().add(4 * i)))
                };
                let (mut w0, mut w1, mut w2, mut w3, mut w4) =
                    (quarter(0), quarter(1), quarter(2), quarter(3), [zero; N]);
                all_rounds!(abef, cdgh, w0, w1, w2, w3, w4);
            } else {
                kw_rounds!(abef, cdgh, kw);
            }
            for l in 0..N {
                let (dcba, hgfe) = from_abef_cdgh!(
                    _mm_add_epi32(abef[l], abef_in[l]),
                    _mm_add_epi32(cdgh[l], cdgh_in[l])
                );
                let s = states[p + l].as_mut_ptr();
                _mm_storeu_si128(s.cast::<__m128i>(), dcba);
                _mm_storeu_si128(s.add(4).cast::<__m128i>(), hgfe);
            }
        }
    }
}
