//! Which code path the multi-lane functions run on: probed once, or forced by name so every path
//! can be tested and timed on any CPU that supports it.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

/// The environment variable that forces a kernel by [`Kernel::name`] (`auto` or unset: the fastest
/// this CPU supports). Read once, at the first call that needs a kernel.
pub const ENV: &str = "WARNKIT_SHA256_KERNEL";

/// A code path of the multi-lane compression functions. Every kernel gives the same results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Sixteen lanes in 512-bit vectors (AVX-512F); the 4- and 8-lane functions use SHA-NI.
    Avx512,
    /// Eight lanes in 256-bit vectors (AVX2), twice per 16-lane call; the 4- and 8-lane
    /// functions use SHA-NI where present.
    Avx2,
    /// SHA-NI, two interleaved lanes at a time, for every function.
    ShaNi,
    /// One [`sha2::compress256`] call per lane (which picks its own backend).
    Portable,
}

impl Kernel {
    /// Every kernel, fastest first on the CPUs measured: the order [`Kernel::best`] tries them in.
    pub const ALL: [Kernel; 4] = [
        Kernel::Avx512,
        Kernel::ShaNi,
        Kernel::Avx2,
        Kernel::Portable,
    ];

    /// The name [`ENV`] and the benchmarks' flags take.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Avx512 => "avx512",
            Kernel::Avx2 => "avx2",
            Kernel::ShaNi => "sha-ni",
            Kernel::Portable => "portable",
        }
    }

    /// The kernel called `name`, if any.
    pub fn from_name(name: &str) -> Option<Kernel> {
        Kernel::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether this CPU can run it.
    pub fn supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => crate::avx512::available(),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => crate::avx2::available(),
            #[cfg(target_arch = "x86_64")]
            Kernel::ShaNi => crate::ni::available(),
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx512 | Kernel::Avx2 | Kernel::ShaNi => false,
            Kernel::Portable => true,
        }
    }

    /// The kernels this CPU can run, in [`Kernel::ALL`]'s order.
    pub fn supported_here() -> Vec<Kernel> {
        Kernel::ALL.into_iter().filter(|k| k.supported()).collect()
    }

    /// The first supported kernel of [`Kernel::ALL`].
    pub fn best() -> Kernel {
        Kernel::ALL
            .into_iter()
            .find(|k| k.supported())
            .unwrap_or(Kernel::Portable)
    }

    /// Whether the kernel's native layout is word-major ([`crate::Rows16`]: vector lanes, one key
    /// per lane) rather than lane-major ([`crate::Lanes16`]: one state per register pair). A chain
    /// of compressions runs fastest in its kernel's layout, where the 16-lane functions of the
    /// other layout transpose on the way in and out.
    pub fn word_major(self) -> bool {
        matches!(self, Kernel::Avx512 | Kernel::Avx2)
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Kernel::Avx512 => 1,
            Kernel::Avx2 => 2,
            Kernel::ShaNi => 3,
            Kernel::Portable => 4,
        }
    }

    /// The inverse of [`Kernel::code`]; on every 16-lane call, so a `match` rather than a search.
    pub(crate) fn from_code(code: u8) -> Option<Kernel> {
        match code {
            1 => Some(Kernel::Avx512),
            2 => Some(Kernel::Avx2),
            3 => Some(Kernel::ShaNi),
            4 => Some(Kernel::Portable),
            _ => None,
        }
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a kernel could not be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// No kernel has that name.
    Unknown(String),
    /// This CPU lacks the instructions the kernel needs.
    Unsupported(Kernel),
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = Kernel::ALL.iter().map(|k| k.name()).collect();
        match self {
            KernelError::Unknown(name) => write!(
                f,
                "no SHA-256 kernel is called {name:?} (auto, {})",
                names.join(", ")
            ),
            KernelError::Unsupported(k) => {
                let here: Vec<_> = Kernel::supported_here().iter().map(|k| k.name()).collect();
                write!(
                    f,
                    "this CPU cannot run the {k} SHA-256 kernel (it can run: {})",
                    here.join(", ")
                )
            }
        }
    }
}

impl std::error::Error for KernelError {}

/// The kernel `name` stands for: `auto` (or an empty name) is [`Kernel::best`].
pub fn parse(name: &str) -> Result<Kernel, KernelError> {
    let name = name.trim();
    if name.is_empty() || name == "auto" {
        return Ok(Kernel::best());
    }
    let kernel = Kernel::from_name(name).ok_or_else(|| KernelError::Unknown(name.to_owned()))?;
    if kernel.supported() {
        Ok(kernel)
    } else {
        Err(KernelError::Unsupported(kernel))
    }
}

/// The kernel [`ENV`] asks for, or [`Kernel::best`] when it is unset.
pub fn from_env() -> Result<Kernel, KernelError> {
    parse(&std::env::var(ENV).unwrap_or_default())
}

/// 0 = not chosen yet, else [`Kernel::code`].
static ACTIVE: AtomicU8 = AtomicU8::new(0);

/// The kernel the functions of this crate run on.
///
/// Chosen at the first call: [`ENV`] if it names a kernel this CPU supports, else (with one line on
/// standard error saying why) [`Kernel::best`]. Programs that want to refuse a bad value check
/// [`from_env`] themselves first.
#[inline]
pub fn kernel() -> Kernel {
    match Kernel::from_code(ACTIVE.load(Ordering::Relaxed)) {
        Some(k) => k,
        None => {
            let chosen = from_env().unwrap_or_else(|e| {
                eprintln!("{ENV}: {e}; using {}", Kernel::best());
                Kernel::best()
            });
            // A race between first callers only reads the environment twice.
            ACTIVE.store(chosen.code(), Ordering::Relaxed);
            chosen
        }
    }
}

/// Runs this crate's functions on `kernel` from now on, in every thread.
pub fn set_kernel(kernel: Kernel) -> Result<(), KernelError> {
    if !kernel.supported() {
        return Err(KernelError::Unsupported(kernel));
    }
    ACTIVE.store(kernel.code(), Ordering::Relaxed);
    Ok(())
}
