//! A queue that runs its jobs one after another.
//!
//! Used for the `send`s of one socket to one topic: they must be handled in
//! the order they arrived, yet must not hold up the socket's other
//! requests. No task exists while the queue is idle, so an idle
//! subscription costs only this struct.

use crate::eager::run_or_spawn;
use mizan_channels::BoxFuture;
use std::collections::VecDeque;
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
    /// is (here, and in a task of its own once a job has to wait). Refused
    /// when `max` jobs are waiting. Jobs must not panic (callers catch
    /// panics inside the job).
    pub(crate) fn push(self: &Arc<Self>, job: BoxFuture<()>, max: usize) -> Result<(), Full> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.jobs.len() >= max {
            return Err(Full);
        }
        state.jobs.push_back(job);
        let start = !state.running;
        state.running = true;
        drop(state);
        if start {
            run_or_spawn(Arc::clone(self).drain());
        }
        Ok(())
    }

    async fn drain(self: Arc<Self>) {
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
            job.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_in_order_and_refuses_past_max() {
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
        blocked.push(Box::pin(async move { g.notified().await }), 3).unwrap();
        for _ in 0..3 {
            blocked.push(Box::pin(async {}), 3).unwrap();
        }
        assert!(blocked.push(Box::pin(async {}), 3).is_err());
        gate.notify_one();
    }
}
