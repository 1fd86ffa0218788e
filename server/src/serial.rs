//! A queue that runs its jobs one after another.
//!
//! Used for the `send`s of one socket to one topic: they must be handled in
//! the order they arrived, yet must not hold up the socket's other
//! requests. No task exists while the queue is idle, so an idle
//! subscription costs only this struct.

use crate::eager::{Eager, Work};
use crate::metrics::Metrics;
use futures_util::FutureExt;
use mizan_channels::BoxFuture;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};

/// Ordered jobs and whether a task is draining them.
#[derive(Default)]
pub(crate) struct Serial {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<BoxFuture<()>>,
    running: bool,
}

/// The queue already holds as many jobs as it may.
#[derive(Debug)]
pub(crate) struct Full;

impl Serial {
    /// Queues `job` behind the others, starting to drain them if nothing
    /// is (through `eager`, as `kind` of work: here, and in a task of its
    /// own once a job has to wait). Refused when `max` jobs are waiting. A
    /// job that panics is logged and counted in `metrics`, and the queue
    /// goes on with the next.
    pub(crate) fn push(
        self: &Arc<Self>,
        job: BoxFuture<()>,
        max: usize,
        (eager, kind, metrics): (&Eager, Work<'_>, &Arc<Metrics>),
    ) -> Result<(), Full> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.jobs.len() >= max {
            return Err(Full);
        }
        state.jobs.push_back(job);
        let start = !state.running;
        state.running = true;
        drop(state);
        if start {
            eager.run(|| kind, Arc::clone(self).drain(Arc::clone(metrics)));
        }
        Ok(())
    }

    async fn drain(self: Arc<Self>, metrics: Arc<Metrics>) {
        loop {
            let job = {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                match state.jobs.pop_front() {
                    Some(job) => job,
                    None => {
                        state.running = false;
                        return;
                    }
                }
            };
            if let Err(panic) = AssertUnwindSafe(job).catch_unwind().await {
                metrics.panicked();
                tracing::error!(panic = crate::eager::panic_text(&*panic), "a queued job panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runner() -> (Eager, Arc<Metrics>) {
        (Eager::new(), Arc::default())
    }

    #[tokio::test]
    async fn runs_jobs_in_order_and_refuses_past_max() {
        let (eager, metrics) = runner();
        let with = (&eager, Work::Receive("t"), &metrics);
        let serial = Arc::new(Serial::default());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..50 {
            let tx = tx.clone();
            serial
                .push(
                    Box::pin(async move {
                        if i % 7 == 0 {
                            tokio::task::yield_now().await;
                        }
                        tx.send(i).unwrap();
                    }),
                    100,
                    with,
                )
                .unwrap();
        }
        let mut seen = Vec::new();
        for _ in 0..50 {
            seen.push(rx.recv().await.unwrap());
        }
        assert_eq!(seen, (0..50).collect::<Vec<_>>());

        let blocked = Arc::new(Serial::default());
        let gate = Arc::new(tokio::sync::Notify::new());
        let g = Arc::clone(&gate);
        // The first job starts at once and waits at the gate; three more
        // may wait behind it, a fourth may not.
        blocked
            .push(Box::pin(async move { g.notified().await }), 3, with)
            .unwrap();
        for _ in 0..3 {
            blocked.push(Box::pin(async {}), 3, with).unwrap();
        }
        assert!(blocked.push(Box::pin(async {}), 3, with).is_err());
        gate.notify_one();
    }

    #[tokio::test]
    async fn a_panicking_job_is_counted_and_the_queue_goes_on() {
        let (eager, metrics) = runner();
        let with = (&eager, Work::Receive("t"), &metrics);
        let serial = Arc::new(Serial::default());
        let (tx, rx) = tokio::sync::oneshot::channel();
        serial
            .push(Box::pin(async { panic!("the broker broke") }), 10, with)
            .unwrap();
        serial
            .push(
                Box::pin(async move {
                    let _ = tx.send(());
                }),
                10,
                with,
            )
            .unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), rx)
            .await
            .expect("the next job ran")
            .unwrap();
    }
}
