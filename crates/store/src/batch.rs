//! Group commit for small writes: many concurrent callers queue jobs for one task, which takes every job
//! queued meanwhile and does them together (one transaction, one statement where it can).
//!
//! On SQLite this turns one trip to the driver's thread, one WAL commit and one cold page cache per request
//! into one of each per batch; on PostgreSQL it saves commits (`fsync`) and round trips.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use tokio::sync::mpsc;

type Start<J> = dyn Fn(mpsc::Receiver<J>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync;

/// Hands jobs to one task, started on first use (and again when the runtime it ran on has gone away, as
/// happens between tests that each build a runtime).
pub struct Batcher<J> {
    jobs: Mutex<Option<mpsc::Sender<J>>>,
    start: Box<Start<J>>,
}

impl<J> std::fmt::Debug for Batcher<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

/// Jobs a batcher queues before callers wait to hand in more.
const QUEUE: usize = 1024;

impl<J: Send + 'static> Batcher<J> {
    /// `task` is the task's body: it receives jobs until every sender is gone (see [`next_batch`]).
    pub fn new<F, Fut>(task: F) -> Self
    where
        F: Fn(mpsc::Receiver<J>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            jobs: Mutex::new(None),
            start: Box::new(move |rx| Box::pin(task(rx))),
        }
    }

    /// Queues `job`; gives it back when no task could take it (the runtime is shutting down).
    pub async fn send(&self, mut job: J) -> Result<(), J> {
        // A second try covers a task that ended with the runtime it was started on.
        for _ in 0..2 {
            match self.sender().send(job).await {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(back)) => job = back,
            }
        }
        Err(job)
    }

    fn sender(&self) -> mpsc::Sender<J> {
        // The slot is only ever replaced whole, so a poisoned lock still holds a usable value.
        let mut slot = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_ref() {
            Some(tx) if !tx.is_closed() => tx.clone(),
            _ => {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn((self.start)(rx));
                *slot = Some(tx.clone());
                tx
            }
        }
    }
}

/// Waits for a job, then takes whatever else is already queued until the jobs' `weight`s reach `max`.
/// `None` once every sender is gone.
pub async fn next_batch<J>(
    jobs: &mut mpsc::Receiver<J>,
    max: usize,
    weight: impl Fn(&J) -> usize,
) -> Option<Vec<J>> {
    let first = jobs.recv().await?;
    let mut total = weight(&first);
    let mut batch = vec![first];
    while total < max {
        let Ok(job) = jobs.try_recv() else { break };
        total += weight(&job);
        batch.push(job);
    }
    Some(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::sync::oneshot;

    /// A job that asks for the size of the batch it was done in.
    type Job = oneshot::Sender<usize>;

    fn sizes() -> Batcher<Job> {
        Batcher::new(|mut rx| async move {
            while let Some(batch) = next_batch(&mut rx, 8, |_: &Job| 1).await {
                // Give the callers time to queue more, so batches form.
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                let n = batch.len();
                for reply in batch {
                    let _ = reply.send(n);
                }
            }
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_jobs_are_done_in_batches_up_to_the_limit() {
        let batcher = Arc::new(sizes());
        let mut waiting = Vec::new();
        for _ in 0..40 {
            let batcher = batcher.clone();
            waiting.push(tokio::spawn(async move {
                let (tx, rx) = oneshot::channel();
                batcher.send(tx).await.map_err(|_| "not sent").unwrap();
                rx.await.unwrap()
            }));
        }
        let mut seen = Vec::new();
        for w in waiting {
            seen.push(w.await.unwrap());
        }
        assert!(seen.iter().all(|&n| (1..=8).contains(&n)), "{seen:?}");
        assert!(seen.iter().any(|&n| n > 1), "no batch formed: {seen:?}");
    }

    #[test]
    fn the_task_is_started_again_on_a_new_runtime() {
        let batcher = sizes();
        for _ in 0..2 {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            let n = rt.block_on(async {
                let (tx, rx) = oneshot::channel();
                batcher.send(tx).await.map_err(|_| "not sent").unwrap();
                rx.await.unwrap()
            });
            assert_eq!(n, 1);
        }
    }
}
