//! AES-128 encryption for the matcher's hot loop.
//!
//! # Why
//!
//! Matching encrypts 144 blocks per diagnosis key (one RPI per interval of the key's day) and probes a
//! filter with each result. Through the `aes` crate the two run one after the other: its batched call
//! keeps the vector scheduler full of AES rounds, dispatch is in order, and the filter's integer work
//! waits behind them. [`Aes128::encrypt_and_probe`] issues the probes of the previous eight blocks between
//! the rounds of the next eight, so they execute while the AES units are busy. On the Zen 5 development
//! machine that hides the probes entirely (fastest of 60 round-robin trials, ns per key: key schedule,
//! 144 blocks, 144 probes):
//!
//! | how                                               | ns per key |
//! |---------------------------------------------------|-----------:|
//! | the AES bound: 144 blocks, either AES path        | 182        |
//! | `aes` crate key schedule and blocks, then a pass  | 257        |
//! | [`Aes128::new`] + [`Aes128::encrypt_and_probe`]   | 193        |
//! | [`Aes128::new`] alone                             | 13         |
//!
//! (`cargo run --release -p warnkit-aesx --example interleave`.)
//!
//! The AES bound that matching is measured against is defined, and measured, in [`bound`].
//!
//! # Backends
//!
//! On x86-64 with AES-NI (probed once per key, a cached check) the code in `ni.rs` runs; elsewhere the
//! `aes` crate does the blocks and a plain loop the probes. Results are identical either way.
//! [`kernel`] names the two paths and forces either (`WARNKIT_AES_KERNEL=aes-ni|aes-crate`).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod bound;
pub mod kernel;
#[cfg(target_arch = "x86_64")]
mod ni;
#[cfg(test)]
mod tests;

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};

/// One AES block.
pub type Block = [u8; 16];

/// The words of a blocked Bloom filter and the bit patterns of its probes.
///
/// A block passes when `patterns[p >> 54] & words[p & (words.len() - 1)] == 0`, where `p` is the
/// block's first 8 bytes read little-endian: the words are stored inverted (a set bit is a bit no
/// member set), so a member's pattern finds all its bits clear.
#[derive(Debug, Clone, Copy)]
pub struct Probe<'a> {
    words: &'a [u64],
    patterns: &'a [u64; 1024],
}

impl<'a> Probe<'a> {
    /// A probe over `words`, whose length must be a power of two.
    ///
    /// # Panics
    /// When the length of `words` is not a power of two.
    pub fn new(words: &'a [u64], patterns: &'a [u64; 1024]) -> Self {
        assert!(
            words.len().is_power_of_two(),
            "filter length must be a power of two"
        );
        Self { words, patterns }
    }

    /// Whether `block` passes the filter.
    #[inline(always)]
    pub fn passes(&self, block: &Block) -> bool {
        let p = prefix(block);
        let mask = self.words.len() - 1;
        self.patterns[(p >> 54) as usize] & self.words[p as usize & mask] == 0
    }
}

/// A block's first 8 bytes, little-endian.
#[inline(always)]
fn prefix(block: &Block) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&block[..8]);
    u64::from_le_bytes(first)
}

/// An AES-128 key, expanded for encryption.
#[derive(Clone)]
pub struct Aes128 {
    backend: Backend,
}

// The `Soft` variant is several times the size of `Ni`, but an `Aes128` is built per diagnosis key on
// the stack and used at once, never stored in bulk, so the size costs nothing; boxing it would cost the
// matcher an allocation per key on CPUs without AES-NI.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Backend {
    /// Round keys for AES-NI; only built after the CPU was found to have it.
    #[cfg(target_arch = "x86_64")]
    Ni([Block; 11]),
    /// The `aes` crate's key, unboxed (see the note on the enum).
    Soft(aes::Aes128Enc),
}

impl std::fmt::Debug for Aes128 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aes128").finish_non_exhaustive()
    }
}

impl Aes128 {
    /// Expands `key` for the kernel in use ([`kernel::kernel`]).
    #[inline]
    pub fn new(key: &Block) -> Self {
        Self::with_kernel(key, kernel::kernel())
    }

    /// Expands `key` for `kernel`; [`kernel::Kernel::AesNi`] on a CPU without AES-NI gets the `aes`
    /// crate instead.
    #[inline]
    pub fn with_kernel(key: &Block, kernel: kernel::Kernel) -> Self {
        #[cfg(target_arch = "x86_64")]
        if kernel == kernel::Kernel::AesNi && ni::available() {
            // SAFETY: the CPU has AES-NI, checked just above.
            let keys = unsafe { ni::expand(key) };
            return Self {
                backend: Backend::Ni(keys),
            };
        }
        let _ = kernel;
        Self {
            backend: Backend::Soft(aes::Aes128Enc::new(GenericArray::from_slice(key))),
        }
    }

    /// Whether this key runs on AES-NI.
    pub fn accelerated(&self) -> bool {
        !matches!(self.backend, Backend::Soft(_))
    }

    /// Encrypts `blocks` in place, eight at a time: the same rounds as [`Aes128::encrypt_and_probe`]
    /// without the probes, so its rate is the AES bound of that call.
    pub fn encrypt_blocks(&self, blocks: &mut [Block]) {
        match &self.backend {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Ni` round keys exist only on CPUs with AES-NI (see `new`).
            Backend::Ni(keys) => unsafe { ni::encrypt(keys, blocks) },
            Backend::Soft(cipher) => soft_encrypt(cipher, blocks),
        }
    }

    /// Encrypts `input` into `output` and writes to `hits`, in order, the positions of the output blocks
    /// that pass `probe`; returns how many did.
    ///
    /// # Panics
    /// When `output` and `input` differ in length, when `hits` is shorter, or when there are more than
    /// 256 blocks (positions are bytes).
    pub fn encrypt_and_probe(
        &self,
        input: &[Block],
        output: &mut [Block],
        probe: &Probe<'_>,
        hits: &mut [u8],
    ) -> usize {
        assert_eq!(input.len(), output.len(), "input and output lengths differ");
        assert!(
            hits.len() >= input.len() && input.len() <= 256,
            "hits must hold a position per block, at most 256"
        );
        match &self.backend {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Ni` round keys exist only on CPUs with AES-NI (see `new`).
            Backend::Ni(keys) => unsafe { ni::encrypt_and_probe(keys, input, output, probe, hits) },
            Backend::Soft(cipher) => {
                output.copy_from_slice(input);
                soft_encrypt(cipher, output);
                let mut count = 0;
                for (i, block) in output.iter().enumerate() {
                    if probe.passes(block) {
                        hits[count] = i as u8;
                        count += 1;
                    }
                }
                count
            }
        }
    }
}

/// The `aes` crate's batched call, eight blocks at a time through a small buffer of its block type, so
/// its own accelerated backends (ARMv8 crypto extensions, for one) keep several blocks in flight.
fn soft_encrypt(cipher: &aes::Aes128Enc, blocks: &mut [Block]) {
    let mut buffer = [GenericArray::default(); 8];
    for chunk in blocks.chunks_mut(8) {
        let buffer = &mut buffer[..chunk.len()];
        for (b, block) in buffer.iter_mut().zip(chunk.iter()) {
            b.copy_from_slice(block);
        }
        cipher.encrypt_blocks(buffer);
        for (block, b) in chunk.iter_mut().zip(buffer.iter()) {
            block.copy_from_slice(b);
        }
    }
}
