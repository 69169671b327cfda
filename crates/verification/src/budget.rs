//! Guessing budgets that need no IP address: per fixed window, at most `teletan_failures_per_window`
//! teleTAN registrations and `tan_failures_per_window` TAN checks may fail, over all copies of the service.
//!
//! Once a budget is spent, every attempt of its kind is refused with 429 until the window ends, **valid ones
//! too**, without looking anything up. Refusing only the wrong guesses would limit nothing: a hit would
//! still answer 201 (or 200) and every miss 429, so the guesser would learn just as much per request.
//! Refusing everything turns a guessing attack into a short outage of that one path (an attacker can always
//! cause that without IP addresses), which the alert line and the counters make visible.
//!
//! The budget is kept in the database, so several copies share it exactly, and successes cost no write:
//!
//! - A copy needs a *unit* of the window's budget in hand for each check. It keeps the units it holds in
//!   memory and leases one more from the database (one conditional upsert, refused once the window's units
//!   are all handed out) only when it holds none.
//! - A failed check spends its unit; a successful one (and one that ended in an error) gives it back to the
//!   copy, for the next check. So a copy leases about one unit per failure, plus as many as it runs checks
//!   at once, and a window never sees more failed checks than its budget, however many copies run and
//!   however many requests arrive together.
//! - A copy that was refused a lease refuses without asking again until the window ends (units only ever
//!   get handed out within a window), so an attack past the budget costs no database work at all.

use std::future::Future;
use std::sync::{Mutex, MutexGuard};

use axum::http::StatusCode;
use warnkit_service::{AppError, AppResult, Metrics};
use warnkit_store::{on_pool, Db};

use crate::{VerificationConfig, VerificationService};

/// What is being guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guess {
    /// A teleTAN, at `registrationToken` with `keyType: TELETAN`.
    Teletan,
    /// A TAN, at the internal `tan/verify`.
    Tan,
}

impl Guess {
    /// The row in `guess_budget`.
    fn kind(self) -> &'static str {
        match self {
            Guess::Teletan => "teletan",
            Guess::Tan => "tan",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Guess::Teletan => "failed teleTAN registrations",
            Guess::Tan => "failed TAN checks",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Guess::Teletan => "teletan_budget_exhausted",
            Guess::Tan => "tan_budget_exhausted",
        }
    }

    /// Counters (name, help): failed attempts, attempts refused unchecked, windows whose budget ran out.
    /// Shows every guessing-budget counter at 0 from the start (see [`crate::internal::register_metrics`]).
    pub(crate) fn register_metrics(metrics: &Metrics) {
        for guess in [Guess::Teletan, Guess::Tan] {
            for (name, help) in guess.metrics() {
                metrics.add(name, help, 0);
            }
        }
    }

    fn metrics(self) -> [(&'static str, &'static str); 3] {
        match self {
            Guess::Teletan => [
                (
                    "verification_teletan_registrations_failed_total",
                    "teleTAN registrations refused: teleTAN unknown, used or expired.",
                ),
                (
                    "verification_teletan_budget_refused_total",
                    "teleTAN registrations refused unchecked: the window's guessing budget was spent.",
                ),
                (
                    "verification_teletan_budget_exhausted_total",
                    "Windows in which the teleTAN guessing budget ran out (counted by one copy).",
                ),
            ],
            Guess::Tan => [
                (
                    "verification_tans_unknown_total",
                    "TAN checks answered 404: TAN unknown, used or expired.",
                ),
                (
                    "verification_tan_budget_refused_total",
                    "TAN checks refused unchecked: the window's guessing budget was spent.",
                ),
                (
                    "verification_tan_budget_exhausted_total",
                    "Windows in which the TAN guessing budget ran out (counted by one copy).",
                ),
            ],
        }
    }
}

/// Both budgets of one copy of the service.
#[derive(Debug)]
pub(crate) struct Budgets {
    teletan: Budget,
    tan: Budget,
    /// Window length in seconds; windows start at multiples of it, so every copy agrees on them.
    window: i64,
}

#[derive(Debug)]
struct Budget {
    limit: i64,
    held: Mutex<Held>,
}

/// The units of one window a copy holds, and whether the database has refused it one.
#[derive(Debug, Default)]
struct Held {
    window_start: i64,
    free: i64,
    spent_out: bool,
}

/// One unit of a window's budget, held by one check. Dropped unspent, it goes back to the copy.
struct Unit<'a> {
    budget: &'a Budget,
    window_start: i64,
    spent: bool,
}

impl Drop for Unit<'_> {
    fn drop(&mut self) {
        if !self.spent {
            let mut held = self.budget.held();
            if held.window_start == self.window_start {
                held.free += 1;
            }
        }
    }
}

impl Budget {
    fn held(&self) -> MutexGuard<'_, Held> {
        // Every change leaves the counts consistent, so a poisoned lock is safe to reuse.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Budgets {
    pub(crate) fn new(config: &VerificationConfig) -> AppResult<Self> {
        let invalid = |key: &str| {
            AppError::bad_request(
                "invalid_config",
                format!("verification.{key} must be at least 1"),
            )
        };
        let window = i64::try_from(config.guess_window_secs)
            .ok()
            .filter(|w| *w >= 1)
            .ok_or_else(|| invalid("guess_window_secs"))?;
        let budget = |limit: u32, key: &str| {
            (limit >= 1)
                .then(|| Budget {
                    limit: i64::from(limit),
                    held: Mutex::default(),
                })
                .ok_or_else(|| invalid(key))
        };
        Ok(Self {
            teletan: budget(
                config.teletan_failures_per_window,
                "teletan_failures_per_window",
            )?,
            tan: budget(config.tan_failures_per_window, "tan_failures_per_window")?,
            window,
        })
    }

    fn budget(&self, guess: Guess) -> &Budget {
        match guess {
            Guess::Teletan => &self.teletan,
            Guess::Tan => &self.tan,
        }
    }

    /// A unit for one check of `guess` at `now` (epoch seconds), or 429 when the window's budget is spent.
    async fn take(
        &self,
        guess: Guess,
        now: i64,
        db: &Db,
        metrics: &Metrics,
    ) -> AppResult<Unit<'_>> {
        let budget = self.budget(guess);
        let (window_start, spent_out) = {
            let mut held = budget.held();
            let current = now - now.rem_euclid(self.window);
            if current > held.window_start {
                *held = Held {
                    window_start: current,
                    ..Held::default()
                };
            }
            // (A clock stepped back keeps the newer window: never a fresh budget early.)
            let window_start = held.window_start;
            if held.free > 0 {
                held.free -= 1;
                return Ok(Unit {
                    budget,
                    window_start,
                    spent: false,
                });
            }
            (window_start, held.spent_out)
        };
        if !spent_out {
            if lease(db, guess.kind(), window_start, budget.limit).await? {
                return Ok(Unit {
                    budget,
                    window_start,
                    spent: false,
                });
            }
            let first = {
                let mut held = budget.held();
                let first = held.window_start == window_start && !held.spent_out;
                held.spent_out |= held.window_start == window_start;
                first
            };
            if first {
                self.alert(guess, db, window_start, now, metrics).await;
            }
        }
        let [_, refused, _] = guess.metrics();
        metrics.add(refused.0, refused.1, 1);
        let left = (window_start + self.window - now).max(1);
        Err(AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            guess.code(),
            format!("too many {}; try again in {left} seconds", guess.what()),
        ))
    }

    /// The alert line, once per window over all copies: the copy whose update marks the window logs it.
    async fn alert(&self, guess: Guess, db: &Db, window_start: i64, now: i64, metrics: &Metrics) {
        let sql = "UPDATE guess_budget SET alerted_window = window_start \
                   WHERE kind = $1 AND window_start = $2 AND alerted_window < $2";
        let marked = on_pool!(db, |pool| sqlx::query(sql)
            .bind(guess.kind())
            .bind(window_start)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()));
        match marked {
            Ok(1) => {
                let [_, _, exhausted] = guess.metrics();
                metrics.add(exhausted.0, exhausted.1, 1);
                tracing::warn!(
                    alert = "guessing_budget",
                    kind = guess.kind(),
                    limit = self.budget(guess).limit,
                    window_secs = self.window,
                    seconds_left = window_start + self.window - now,
                    "guessing budget spent: every attempt of this kind is refused until the window ends",
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, kind = guess.kind(), "guessing budget: marking the alert failed")
            }
        }
    }
}

/// Leases one unit of window `window_start`'s budget of `kind`; `false` when all `limit` are handed out. One
/// statement: a row lock (PostgreSQL) or the write lock (SQLite) orders concurrent leases, so no two copies
/// can both take the last unit. A newer window starts the row over.
async fn lease(db: &Db, kind: &str, window_start: i64, limit: i64) -> AppResult<bool> {
    let sql = "INSERT INTO guess_budget (kind, window_start, leased, alerted_window) \
               VALUES ($1, $2, 1, 0) ON CONFLICT (kind) DO UPDATE SET \
               leased = CASE WHEN guess_budget.window_start < $2 THEN 1 \
                        ELSE guess_budget.leased + 1 END, \
               window_start = CASE WHEN guess_budget.window_start < $2 THEN $2 \
                              ELSE guess_budget.window_start END \
               WHERE guess_budget.window_start < $2 OR guess_budget.leased < $3";
    let leased = on_pool!(db, |pool| sqlx::query(sql)
        .bind(kind)
        .bind(window_start)
        .bind(limit)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(leased == 1)
}

impl VerificationService {
    /// Runs `attempt` (a check of a guessable secret, not started before it is polled) within the budget of
    /// `guess`: 429 without running it when the window's budget is spent; an outcome `failed` says is a
    /// wrong guess spends a unit of the budget.
    pub(crate) async fn within_budget<T>(
        &self,
        guess: Guess,
        attempt: impl Future<Output = AppResult<T>>,
        failed: impl FnOnce(&T) -> bool,
    ) -> AppResult<T> {
        let metrics = &self.inner.internal_metrics;
        let now = self.inner.clock.now();
        let mut unit = self
            .inner
            .budgets
            .take(guess, now, self.db(), metrics)
            .await?;
        let outcome = attempt.await?;
        if failed(&outcome) {
            unit.spent = true;
            let [failures, _, _] = guess.metrics();
            metrics.add(failures.0, failures.1, 1);
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_need_a_window_and_at_least_one_failure() {
        assert!(Budgets::new(&VerificationConfig::default()).is_ok());
        for bad in [
            VerificationConfig {
                guess_window_secs: 0,
                ..VerificationConfig::default()
            },
            VerificationConfig {
                teletan_failures_per_window: 0,
                ..VerificationConfig::default()
            },
            VerificationConfig {
                tan_failures_per_window: 0,
                ..VerificationConfig::default()
            },
        ] {
            let e = Budgets::new(&bad).unwrap_err();
            assert_eq!(e.code, "invalid_config");
        }
    }

    #[test]
    fn a_unit_dropped_unspent_returns_to_its_window_only() {
        let budgets = Budgets::new(&VerificationConfig::default()).unwrap();
        let b = &budgets.teletan;
        b.held().window_start = 60;
        drop(Unit {
            budget: b,
            window_start: 60,
            spent: false,
        });
        assert_eq!(b.held().free, 1);
        drop(Unit {
            budget: b,
            window_start: 0,
            spent: false,
        });
        drop(Unit {
            budget: b,
            window_start: 60,
            spent: true,
        });
        assert_eq!(b.held().free, 1, "an old window's or a spent unit");
    }
}
