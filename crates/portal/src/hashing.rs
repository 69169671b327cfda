//! Password hashing off the request threads.
//!
//! An Argon2id check takes tens of milliseconds of CPU and 19 MiB of memory. Run on the async worker
//! threads, a burst of sign-ins stalls every other request of the process; given a fresh 19 MiB block each
//! time, it leaves the allocator holding hundreds of megabytes it never returns. So every check of a sign-in
//! goes through one [`HashPool`] per portal:
//!
//! - **Admission**: at most `concurrency + queue` sign-ins are in progress at once; one more is refused at
//!   once with 503 `busy` (the caller answers it), before it touches the database.
//! - **Permits**: at most `concurrency` checks run at once, each on a blocking thread
//!   (`spawn_blocking`), so the async workers keep serving everything else.
//! - **Memory**: each running check borrows a working-memory block from the pool and gives it back, so the
//!   pool holds at most `concurrency` blocks for its whole life and a check allocates nothing.
//!
//! Unknown user names are checked against one hash made at start with the same parameters, through the
//! same pool: the same time, and no memory of their own.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use axum::http::StatusCode;
use tokio::sync::Semaphore;
use warnkit_service::{AppError, AppResult};

/// Argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's recommendation) in PHC form.
pub(crate) fn hash_password(password: &str) -> AppResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(AppError::internal)
}

/// The number of checks run at once when the configuration says 0: half the CPU cores, at least one, so
/// that the other half stays free for requests.
pub(crate) fn default_concurrency() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    (cores / 2).max(1)
}

/// The bounded pool that checks sign-in passwords; see the module documentation.
pub(crate) struct HashPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    /// One permit per check allowed to run.
    permits: Arc<Semaphore>,
    /// Sign-ins admitted and not yet answered (running or waiting for a permit).
    admitted: AtomicUsize,
    /// At most this many admitted at once: permits plus the queue.
    limit: usize,
    /// Working memory of finished checks, at most one block per permit.
    memory: Mutex<Vec<Vec<Block>>>,
    /// A real hash with the same parameters, for unknown user names.
    dummy: String,
}

impl fmt::Debug for HashPool {
    /// Counts only: the working memory is megabytes of data derived from passwords.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pool = &self.inner;
        f.debug_struct("HashPool")
            .field("free_permits", &pool.permits.available_permits())
            .field("admitted", &pool.admitted.load(Ordering::Relaxed))
            .field("limit", &pool.limit)
            .field("memory_blocks", &lock(&pool.memory).len())
            .finish_non_exhaustive()
    }
}

/// A sign-in's place in the pool, given back when dropped (also when the check outlives the request).
pub(crate) struct Admission {
    inner: Arc<PoolInner>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.inner.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashPool {
    /// A pool running `concurrency` checks at once (0: [`default_concurrency`]) with `queue` more sign-ins
    /// waiting; makes the dummy hash (one Argon2id run, at start).
    pub(crate) fn new(concurrency: usize, queue: usize) -> AppResult<Self> {
        let concurrency = if concurrency == 0 {
            default_concurrency()
        } else {
            concurrency
        };
        let inner = PoolInner {
            permits: Arc::new(Semaphore::new(concurrency)),
            admitted: AtomicUsize::new(0),
            limit: concurrency.saturating_add(queue),
            memory: Mutex::new(Vec::with_capacity(concurrency)),
            dummy: hash_password("not a real password")?,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// A place for one sign-in, or `None` when `concurrency + queue` are in progress already.
    pub(crate) fn admit(&self) -> Option<Admission> {
        let limit = self.inner.limit;
        self.inner
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()?;
        Some(Admission {
            inner: self.inner.clone(),
        })
    }
}

impl Admission {
    /// Checks `password` against `phc`, or against the dummy hash when `phc` is `None` (an unknown name),
    /// on a blocking thread once a permit is free. A malformed stored hash counts as a mismatch. The
    /// permit, this admission and the memory block stay taken until the check ends, even if the request
    /// is dropped meanwhile.
    pub(crate) async fn verify(self, password: String, phc: Option<String>) -> AppResult<bool> {
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(AppError::internal)?;
        let check = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let pool = &self.inner;
            let phc = phc.as_deref().unwrap_or(&pool.dummy);
            let mut memory = lock(&pool.memory).pop().unwrap_or_default();
            let ok = verify_in(password.as_bytes(), phc, &mut memory);
            lock(&pool.memory).push(memory);
            ok
        });
        check.await.map_err(AppError::internal)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The list of blocks stays valid whatever a panicking holder was doing.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The answer to a sign-in the pool did not admit: 503 `busy`, to be retried after a second.
pub(crate) fn busy() -> AppError {
    AppError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "too many sign-ins at once, retry in a second",
    )
}

/// Checks `password` against a PHC string, with `memory` as Argon2's working memory (grown once if the
/// hash asks for more than it holds); a malformed hash is a mismatch. The same computation as
/// `PasswordVerifier::verify_password`, without its allocation of the whole memory per call.
pub(crate) fn verify_in(password: &[u8], phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let Ok(version) = hash
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let mut out = [0u8; Output::MAX_LENGTH];
    let out = &mut out[..expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, out, memory.as_mut_slice())
        .is_ok()
        // `Output`'s comparison takes constant time.
        && Output::new(out).is_ok_and(|computed| computed == expected)
}

#[cfg(test)]
mod tests {
    use argon2::PasswordVerifier;

    use super::*;

    /// The crate's own verifier, the reference `verify_in` must agree with.
    fn reference(password: &str, phc: &str) -> bool {
        PasswordHash::new(phc).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    }

    #[test]
    fn verify_in_agrees_with_the_crates_verifier() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        // Other parameters (less memory than the block holds, more lanes; argon2i) and a malformed hash.
        let salt = SaltString::generate(&mut OsRng);
        let small = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(64, 1, 2, Some(16)).unwrap(),
        )
        .hash_password(b"correct horse", &salt)
        .unwrap()
        .to_string();
        let mut memory = Vec::new();
        for phc in [
            h.as_str(),
            small.as_str(),
            "not a hash",
            "$argon2id$v=19$m=8,t=1,p=1$",
        ] {
            for password in ["correct horse", "wrong horse", ""] {
                assert_eq!(
                    verify_in(password.as_bytes(), phc, &mut memory),
                    reference(password, phc),
                    "{password:?} against {phc}"
                );
            }
        }
        assert!(verify_in(b"correct horse", &small, &mut memory));
        assert_eq!(memory.len(), Params::DEFAULT.block_count(), "grown once");
    }

    #[test]
    fn admission_is_bounded_and_given_back() {
        let pool = HashPool::new(1, 2).unwrap();
        let debug = format!("{pool:?}");
        assert!(
            debug.contains("limit: 3") && !debug.contains("Block"),
            "{debug}"
        );
        let held: Vec<Admission> = (0..3).map(|_| pool.admit().unwrap()).collect();
        assert!(pool.admit().is_none(), "concurrency 1 + queue 2");
        drop(held);
        assert!(pool.admit().is_some());
        assert!(HashPool::new(0, 0).unwrap().inner.limit >= 1);
    }

    #[tokio::test]
    async fn checks_reuse_one_block_per_permit() {
        let pool = HashPool::new(2, 8).unwrap();
        let known = hash_password("correct horse").unwrap();
        let checks: Vec<_> = (0..6)
            .map(|i| {
                let admission = pool.admit().unwrap();
                let phc = (i % 2 == 0).then(|| known.clone());
                tokio::spawn(admission.verify("correct horse".into(), phc))
            })
            .collect();
        let mut results = Vec::new();
        for c in checks {
            results.push(c.await.unwrap().unwrap());
        }
        assert_eq!(results, [true, false, true, false, true, false]);
        let blocks = lock(&pool.inner.memory);
        assert!((1..=2).contains(&blocks.len()), "{} blocks", blocks.len());
        assert_eq!(pool.inner.admitted.load(Ordering::Acquire), 0);
    }
}
