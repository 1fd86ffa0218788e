//! Running a request's work on the task that received it, when it does not
//! wait.
//!
//! Requests run concurrently (a slow call must not hold up a fast one), so
//! each could get a task of its own. But most handlers finish without ever
//! waiting, and for them a task is pure cost: an allocation, a trip through
//! the scheduler, and a wake-up on another thread. [`run_or_spawn`] polls
//! the work once where it is; only work that has to wait moves to a task of
//! its own, which polls it again at once (with its own waker), so nothing
//! the first poll registered is missed.
//!
//! A handler that computes for a long time without awaiting holds up its
//! socket's next frames while it runs; such work belongs in
//! `tokio::task::spawn_blocking`, as anywhere in async Rust.

use std::future::Future;
use std::task::{Context, Waker};

/// Polls `work` once here; if it has not finished, spawns it (the request
/// handlers pass their whole job: run the handler, queue the reply).
pub(crate) fn run_or_spawn(work: impl Future<Output = ()> + Send + 'static) {
    let mut work = Box::pin(work);
    // A no-op waker is enough: pending work is spawned, and a spawned task
    // is always polled, re-registering its own waker wherever it waits.
    let mut cx = Context::from_waker(Waker::noop());
    if work.as_mut().poll(&mut cx).is_pending() {
        tokio::spawn(work);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn finishes_ready_work_at_once_and_spawns_waiting_work() {
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        run_or_spawn(async move { flag.store(true, Ordering::Release) });
        assert!(done.load(Ordering::Acquire), "ready work ran inline");

        let (tx, rx) = tokio::sync::oneshot::channel();
        run_or_spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = tx.send(());
        });
        tokio::time::timeout(Duration::from_secs(5), rx)
            .await
            .expect("waiting work finished in its own task")
            .unwrap();
    }
}
