//! A timer precise to microseconds for the fakes' deadlines. tokio's timer fires on 1 ms ticks, after the
//! deadline, which alone made fakes slower than real requests that take under a millisecond. Here one
//! thread sleeps on the operating system's high-resolution timer until [`SPIN`] before the earliest
//! deadline, spins on the clock for the rest, and wakes the waiting task from that other thread, as a
//! database's or an HTTP client's answer wakes the task of a real request.
//!
//! The spin is bounded: at most [`SPIN`] per deadline, on this one thread, whatever the number of fakes
//! waiting (deadlines that close together share it).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How long before a deadline the timer thread stops sleeping and spins on the clock: the operating
/// system's timer wakes a thread up to about 50 µs late (timer slack), plus the scheduler's delay.
pub const SPIN: Duration = Duration::from_micros(100);

/// Waits until `deadline`, woken within microseconds of it.
pub(crate) async fn sleep_until(deadline: Instant) {
    match timer() {
        Some(timer) => {
            Sleep {
                timer,
                deadline,
                registered: None,
            }
            .await
        }
        // No timer thread could be started: the coarse timer, late by up to a millisecond.
        None => tokio::time::sleep_until(deadline.into()).await,
    }
}

/// What the timer thread does next, at `now`, with `earliest` the first deadline waiting (if any): a pure
/// function of the two instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Nothing waits: sleep until a deadline is added.
    Idle,
    /// Sleep on the operating system's timer this long (or until an earlier deadline is added).
    Sleep(Duration),
    /// Within [`SPIN`] of the deadline: spin on the clock until it.
    Spin(Instant),
    /// The earliest deadline has come: wake every task that is due.
    Wake,
}

pub(crate) fn plan(now: Instant, earliest: Option<Instant>) -> Plan {
    let Some(deadline) = earliest else {
        return Plan::Idle;
    };
    match deadline.checked_duration_since(now) {
        None => Plan::Wake,
        Some(left) if left.is_zero() => Plan::Wake,
        Some(left) if left > SPIN => Plan::Sleep(left - SPIN),
        Some(_) => Plan::Spin(deadline),
    }
}

struct Entry {
    deadline: Instant,
    seq: u64,
    waker: Waker,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

struct Timer {
    queue: Mutex<Queue>,
    changed: Condvar,
}

/// The one timer thread, started on first use; `None` if it could not be started.
fn timer() -> Option<&'static Timer> {
    static TIMER: OnceLock<Option<&'static Timer>> = OnceLock::new();
    *TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
        }));
        match std::thread::Builder::new()
            .name("warnkit-fake-timer".into())
            .spawn(move || timer.run())
        {
            Ok(_) => Some(timer),
            Err(e) => {
                tracing::warn!(error = %e, "no fake-request timer thread; fakes use the coarse timer");
                None
            }
        }
    })
}

impl Timer {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Every operation leaves the heap consistent, so a poisoned lock is safe to reuse.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, deadline: Instant, waker: Waker) {
        let mut q = self.lock();
        let earlier = q.heap.peek().is_none_or(|e| deadline < e.0.deadline);
        let seq = q.seq;
        q.seq = q.seq.wrapping_add(1);
        q.heap.push(Reverse(Entry {
            deadline,
            seq,
            waker,
        }));
        drop(q);
        if earlier {
            self.changed.notify_one();
        }
    }

    fn run(&self) {
        let mut q = self.lock();
        loop {
            let now = Instant::now();
            match plan(now, q.heap.peek().map(|e| e.0.deadline)) {
                Plan::Idle => q = self.changed.wait(q).unwrap_or_else(|p| p.into_inner()),
                Plan::Sleep(d) => {
                    q = match self.changed.wait_timeout(q, d) {
                        Ok((q, _)) => q,
                        Err(p) => p.into_inner().0,
                    }
                }
                Plan::Spin(deadline) => {
                    drop(q);
                    while Instant::now() < deadline {
                        std::hint::spin_loop();
                    }
                    q = self.lock();
                }
                Plan::Wake => {
                    let mut due = Vec::new();
                    while q.heap.peek().is_some_and(|e| e.0.deadline <= now) {
                        if let Some(Reverse(e)) = q.heap.pop() {
                            due.push(e.waker);
                        }
                    }
                    drop(q);
                    for waker in due {
                        waker.wake();
                    }
                    q = self.lock();
                }
            }
        }
    }
}

/// Resolves at its deadline; registered with the timer thread while pending.
struct Sleep {
    timer: &'static Timer,
    deadline: Instant,
    /// The waker last handed to the timer: a poll with the same one does not add another entry.
    registered: Option<Waker>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        if !self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            self.registered = Some(cx.waker().clone());
            self.timer.add(self.deadline, cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn plan_sleeps_then_spins_then_wakes() {
        let t0 = Instant::now();
        let deadline = t0 + 10 * MS;
        assert_eq!(plan(t0, None), Plan::Idle);
        // Far off: sleep on the system's timer, but only until the spin before the deadline.
        assert_eq!(plan(t0, Some(deadline)), Plan::Sleep(10 * MS - SPIN));
        // A timer that woke 50 µs late is still early enough: no floor, only a short spin from here.
        let late_wake = deadline - SPIN + Duration::from_micros(50);
        assert_eq!(plan(late_wake, Some(deadline)), Plan::Spin(deadline));
        assert_eq!(plan(deadline - SPIN, Some(deadline)), Plan::Spin(deadline));
        assert_eq!(plan(deadline, Some(deadline)), Plan::Wake);
        assert_eq!(plan(deadline + MS, Some(deadline)), Plan::Wake);
        // A deadline closer than the spin (real requests of tens of microseconds) never sleeps.
        let near = t0 + Duration::from_micros(60);
        assert_eq!(plan(t0, Some(near)), Plan::Spin(near));
    }

    #[tokio::test]
    async fn sleeps_never_end_early_and_order_holds() {
        let start = Instant::now();
        let deadlines: Vec<Instant> = [700u64, 0, 50, 2_500, 150]
            .iter()
            .map(|us| start + Duration::from_micros(*us))
            .collect();
        let ended = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, d) in deadlines.iter().copied().enumerate() {
            let ended = ended.clone();
            tasks.spawn(async move {
                sleep_until(d).await;
                assert!(Instant::now() >= d, "task {i} woke early");
                ended.lock().unwrap().push(i);
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
        assert_eq!(ended.lock().unwrap().len(), deadlines.len());
    }
}
