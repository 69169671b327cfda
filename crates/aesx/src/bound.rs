//! The AES bound of matching: AES-128 blocks per second on one core, the one definition that
//! `warnkit bench match` and the matching benches divide by 144 to get the bound in keys per second.
//!
//! # Definition
//!
//! Two batched code paths are timed, each over its own buffer of [`CALLS_PER_TRIAL`] × [`BLOCKS_PER_CALL`]
//! blocks (9.4 MB, far larger than the caches), [`BLOCKS_PER_CALL`] blocks per call as in matching:
//! - the `aes` crate's `encrypt_blocks`;
//! - this crate's [`Aes128::encrypt_blocks`](crate::Aes128::encrypt_blocks), the rounds the matcher
//!   runs in [`Aes128::encrypt_and_probe`](crate::Aes128::encrypt_and_probe) without the probes.
//!
//! A trial times one pass of each, one after the other, and each path keeps its fastest trial, so a
//! busy neighbour lowers neither more than the other and a quiet moment counts for both. The bound
//! is the faster path ([`Rates::best`]): the matcher is held to the best AES this machine does.
//!
//! ```no_run
//! use std::time::Duration;
//! let rates = warnkit_aesx::bound::blocks_per_second(Duration::from_millis(500));
//! let bound_keys_per_second = rates.best() / 144.0;
//! ```
//!
//! To alternate the bound's trials with other work (a matcher being timed, say), drive a [`Meter`]
//! by hand: [`Meter::trial`] between the other trials, then [`Meter::rates`].

use std::time::{Duration, Instant};

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};

use crate::{Aes128, Block};

/// Blocks per call: one per interval of a diagnosis key's day, as in matching.
pub const BLOCKS_PER_CALL: usize = 144;

/// Calls per trial and path: 4096 × 144 blocks is 9.4 MB per buffer.
pub const CALLS_PER_TRIAL: usize = 4096;

/// The key the bound encrypts under (any key runs at the same speed).
const KEY: Block = [7; 16];

/// AES-128 blocks per second on one core through each batched code path (see the [module](self)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// The `aes` crate's `encrypt_blocks`.
    pub aes_crate: f64,
    /// [`Aes128::encrypt_blocks`], the rounds the matcher runs.
    pub kernel: f64,
}

impl Rates {
    /// The faster path: the bound in blocks per second.
    pub fn best(&self) -> f64 {
        self.aes_crate.max(self.kernel)
    }
}

/// Runs the bound's trials one at a time and keeps each path's fastest.
pub struct Meter {
    crate_cipher: aes::Aes128Enc,
    kernel: Aes128,
    crate_buffer: Vec<aes::Block>,
    kernel_buffer: Vec<Block>,
    /// Seconds of the fastest trial so far, per path.
    best_crate: f64,
    best_kernel: f64,
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meter")
            .field("best_crate", &self.best_crate)
            .field("best_kernel", &self.best_kernel)
            .finish_non_exhaustive()
    }
}

impl Default for Meter {
    fn default() -> Self {
        Self::new()
    }
}

impl Meter {
    /// The two ciphers and their buffers (written once here, so no trial pays for first touches);
    /// no trial run yet.
    pub fn new() -> Self {
        let blocks = BLOCKS_PER_CALL * CALLS_PER_TRIAL;
        Self {
            crate_cipher: aes::Aes128Enc::new(GenericArray::from_slice(&KEY)),
            // The machine's best AES, whichever kernel the matcher was told to use.
            kernel: Aes128::with_kernel(&KEY, crate::kernel::Kernel::best()),
            crate_buffer: vec![GenericArray::clone_from_slice(&[1; 16]); blocks],
            kernel_buffer: vec![[1; 16]; blocks],
            best_crate: f64::INFINITY,
            best_kernel: f64::INFINITY,
        }
    }

    /// One trial: a pass over its buffer through each path, the `aes` crate's first.
    pub fn trial(&mut self) {
        let t = Instant::now();
        for chunk in self.crate_buffer.chunks_mut(BLOCKS_PER_CALL) {
            self.crate_cipher.encrypt_blocks(chunk);
        }
        std::hint::black_box(&self.crate_buffer);
        self.best_crate = self.best_crate.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for chunk in self.kernel_buffer.chunks_mut(BLOCKS_PER_CALL) {
            self.kernel.encrypt_blocks(chunk);
        }
        std::hint::black_box(&self.kernel_buffer);
        self.best_kernel = self.best_kernel.min(t.elapsed().as_secs_f64());
    }

    /// Each path's rate in its fastest trial so far (zero before the first trial).
    pub fn rates(&self) -> Rates {
        let blocks = (BLOCKS_PER_CALL * CALLS_PER_TRIAL) as f64;
        Rates {
            aes_crate: blocks / self.best_crate,
            kernel: blocks / self.best_kernel,
        }
    }
}

/// Measures the bound for `duration` (at least one trial): AES-128 blocks per second on the calling
/// thread through each path, each its fastest trial (see the [module](self)). `warnkit bench match`
/// uses half a second.
pub fn blocks_per_second(duration: Duration) -> Rates {
    let mut meter = Meter::new();
    let start = Instant::now();
    loop {
        meter.trial();
        if start.elapsed() >= duration {
            break;
        }
    }
    meter.rates()
}
