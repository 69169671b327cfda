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
//! On x86-64 with SHA-NI (probed once at run time) the interleaved code in the crate's only
//! `unsafe` module runs; anywhere else each lane falls back to [`sha2::compress256`], which has
//! its own portable and accelerated paths. Results are identical either way.
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
mod ni;

#[cfg(test)]
mod tests;

use sha2::digest::generic_array::{typenum::U64, GenericArray};

/// Whether the interleaved SHA-NI backend is in use on this CPU (otherwise every lane goes through
/// [`sha2::compress256`] in turn). Useful for logging which path a benchmark measured.
pub fn accelerated() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        ni::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

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

/// SHA-NI two lanes at a time where available (see `ni::pairs` for why two), else the fallback.
#[inline]
fn compress_pairs<const N: usize>(states: &mut [[u32; 8]; N], blocks: &[[u8; 64]; N]) {
    #[cfg(target_arch = "x86_64")]
    if ni::pairs(states, blocks) {
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
