//! Which AES code path [`Aes128`](crate::Aes128) runs on: AES-NI where present, or forced by name so
//! each path can be tested and timed.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

/// The environment variable that forces a kernel by [`Kernel::name`] (`auto` or unset: AES-NI where
/// the CPU has it). Read once, when the first key is expanded.
pub const ENV: &str = "WARNKIT_AES_KERNEL";

/// An AES code path. Both give the same results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// This crate's AES-NI rounds, with the probes between them.
    AesNi,
    /// The `aes` crate's batched call (which picks its own backend), then a plain probe loop.
    AesCrate,
}

impl Kernel {
    /// Both kernels, preferred first.
    pub const ALL: [Kernel; 2] = [Kernel::AesNi, Kernel::AesCrate];

    /// The name [`ENV`] and the benchmarks' flags take.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::AesNi => "aes-ni",
            Kernel::AesCrate => "aes-crate",
        }
    }

    /// Whether this CPU can run it.
    pub fn supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::AesNi => crate::ni::available(),
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::AesNi => false,
            Kernel::AesCrate => true,
        }
    }

    /// The first supported kernel of [`Kernel::ALL`].
    pub fn best() -> Kernel {
        if Kernel::AesNi.supported() {
            Kernel::AesNi
        } else {
            Kernel::AesCrate
        }
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kernel `name` stands for (`auto` or empty: [`Kernel::best`]), or why there is none.
pub fn parse(name: &str) -> Result<Kernel, String> {
    let name = name.trim();
    if name.is_empty() || name == "auto" {
        return Ok(Kernel::best());
    }
    match Kernel::ALL.into_iter().find(|k| k.name() == name) {
        Some(k) if k.supported() => Ok(k),
        Some(k) => Err(format!(
            "this CPU cannot run the {k} AES kernel (it can run: aes-crate)"
        )),
        None => Err(format!(
            "no AES kernel is called {name:?} (auto, aes-ni, aes-crate)"
        )),
    }
}

/// The kernel [`ENV`] asks for, or [`Kernel::best`] when it is unset.
pub fn from_env() -> Result<Kernel, String> {
    parse(&std::env::var(ENV).unwrap_or_default())
}

/// 0 = not chosen yet, 1 = AES-NI, 2 = the `aes` crate.
static ACTIVE: AtomicU8 = AtomicU8::new(0);

/// The kernel new keys are expanded for: [`ENV`] at the first call if it names a usable kernel, else
/// (with one line on standard error saying why) [`Kernel::best`].
#[inline]
pub fn kernel() -> Kernel {
    match ACTIVE.load(Ordering::Relaxed) {
        1 => Kernel::AesNi,
        2 => Kernel::AesCrate,
        _ => {
            let chosen = from_env().unwrap_or_else(|e| {
                eprintln!("{ENV}: {e}; using {}", Kernel::best());
                Kernel::best()
            });
            store(chosen);
            chosen
        }
    }
}

/// Expands keys for `kernel` from now on, in every thread (keys already expanded keep theirs).
pub fn set_kernel(kernel: Kernel) -> Result<(), String> {
    if !kernel.supported() {
        return Err(format!("this CPU cannot run the {kernel} AES kernel"));
    }
    store(kernel);
    Ok(())
}

fn store(kernel: Kernel) {
    ACTIVE.store(
        match kernel {
            Kernel::AesNi => 1,
            Kernel::AesCrate => 2,
        },
        Ordering::Relaxed,
    );
}
