//! Running a request's work on the task that received it, when it does not
//! wait, and containing what it does wrong.
//!
//! Requests run concurrently (a slow call must not hold up a fast one), so
//! each could get a task of its own. But most handlers finish without ever
//! waiting, and for them a task is pure cost: an allocation, a trip through
//! the scheduler, and a wake-up on another thread. [`Eager::run`] polls the
//! work once where it is; only work that has to wait moves to a task of its
//! own, which polls it again at once (with its own waker), so nothing the
//! first poll registered is missed.
//!
//! The risk is a handler that computes for long without awaiting: polled on
//! a socket's reader, it holds up that socket's other frames while it runs.
//! So each first poll is timed, and a function, context or channel whose
//! work ran longer than [`INLINE_BUDGET`] in [`STRIKES`] first polls in a
//! row is never polled inline again: its later requests start in tasks of
//! their own, and a warning names it once. (One long poll proves little: on
//! a busy machine the thread may have been descheduled in the middle of a
//! trivial handler; a handler that really computes is slow every time.) (CPU-heavy work belongs in
//! `tokio::task::spawn_blocking`, as anywhere in async Rust). The heartbeat
//! does not count the reader's busy time as silence (`connection/mod.rs`).
//!
//! Whatever the work does, a panic in it is contained by its caller with
//! [`contained`] (logged and counted in `mizan_panics_total`), which
//! answers the request `internal`: it never unwinds into the socket's
//! reader or leaves a queue stuck.

use crate::metrics::Metrics;
use dashmap::{DashMap, DashSet};
use futures_util::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Waker};
use std::time::Duration;

/// How long one poll of request work may take on the task that received
/// it; past it, the poll is a strike against that kind of work.
pub(crate) const INLINE_BUDGET: Duration = Duration::from_millis(20);

/// Strikes in a row that move a kind of work to tasks of its own.
pub(crate) const STRIKES: u8 = 2;

/// What a piece of work is, for the inline budget.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Work<'a> {
    /// A call of this function.
    Call(&'a str),
    /// A bundle of this context.
    Bundle(&'a str),
    /// A subscribe to this channel.
    Join(&'a str),
    /// The sends to topics of this channel.
    Receive(&'a str),
}

impl<'a> Work<'a> {
    fn index(self) -> usize {
        match self {
            Self::Call(_) => 0,
            Self::Bundle(_) => 1,
            Self::Join(_) => 2,
            Self::Receive(_) => 3,
        }
    }

    fn name(self) -> &'static str {
        ["function", "context", "channel join", "channel receive"][self.index()]
    }

    fn target(self) -> &'a str {
        match self {
            Self::Call(n) | Self::Bundle(n) | Self::Join(n) | Self::Receive(n) => n,
        }
    }
}

/// Which work has proven too slow to poll inline, by kind and name.
pub(crate) struct Eager {
    slow: [DashSet<String>; 4],
    /// Strikes in a row of work not (yet) slow, by kind and name.
    strikes: [DashMap<String, u8>; 4],
    /// Whether any strike is recorded (so fast polls need not look).
    striking: AtomicUsize,
    /// Whether any work is known to be slow (so requests need not look).
    any_slow: AtomicBool,
}

impl Eager {
    pub(crate) fn new() -> Self {
        Self {
            slow: Default::default(),
            strikes: Default::default(),
            striking: AtomicUsize::new(0),
            any_slow: AtomicBool::new(false),
        }
    }

    /// Records how long a first poll of `kind` took; true when this makes
    /// it slow.
    fn record(&self, kind: Work<'_>, took: Duration) -> bool {
        let strikes = &self.strikes[kind.index()];
        if took <= INLINE_BUDGET {
            if self.striking.load(Ordering::Relaxed) > 0 && strikes.remove(kind.target()).is_some() {
                self.striking.fetch_sub(1, Ordering::Relaxed);
            }
            return false;
        }
        let mut count = strikes.entry(kind.target().to_owned()).or_insert_with(|| {
            self.striking.fetch_add(1, Ordering::Relaxed);
            0
        });
        *count += 1;
        if *count < STRIKES {
            return false;
        }
        drop(count);
        if strikes.remove(kind.target()).is_some() {
            self.striking.fetch_sub(1, Ordering::Relaxed);
        }
        self.any_slow.store(true, Ordering::Relaxed);
        self.slow[kind.index()].insert(kind.target().to_owned())
    }

    /// Polls `work` once here, unless its kind is known to be slow; if it
    /// has not finished, spawns it. `kind` names the work; it is only asked
    /// when some work is known to be slow or this poll was long. Panics are
    /// the caller's to contain (see [`contained`]): each caller answers
    /// its request when its work panics.
    pub(crate) fn run<'k>(&self, kind: impl Fn() -> Work<'k>, work: impl Future<Output = ()> + Send + 'static) {
        let mut work = Box::pin(work);
        if self.any_slow.load(Ordering::Relaxed) {
            let kind = kind();
            if self.slow[kind.index()].contains(kind.target()) {
                tokio::spawn(work);
                return;
            }
        }
        // A no-op waker is enough: pending work is spawned, and a spawned
        // task is always polled, re-registering its own waker wherever it
        // waits. Timed with the TSC (quanta): a system clock read on every
        // request costs more than many handlers.
        let mut cx = Context::from_waker(Waker::noop());
        let started = quanta::Instant::now();
        let pending = work.as_mut().poll(&mut cx).is_pending();
        let took = started.elapsed();
        if (took > INLINE_BUDGET || self.striking.load(Ordering::Relaxed) > 0) && self.record(kind(), took) {
            let kind = kind();
            let what = kind.name();
            tracing::warn!(
                target = kind.target(),
                took = ?took,
                "{what} `{}` ran {took:?} without awaiting, holding up its socket: it now runs in a task of \
                 its own; move CPU-heavy work to tokio::task::spawn_blocking",
                kind.target()
            );
        }
        if pending {
            tokio::spawn(work);
        }
    }
}

/// Runs `work`, turning a panic into `Err` (logged and counted); for work
/// that owes the client a reply.
pub(crate) fn contained<'a, T>(
    metrics: &'a Metrics,
    what: &'a str,
    work: impl Future<Output = T> + 'a,
) -> impl Future<Output = Result<T, ()>> + 'a {
    // A plain fn over combinators, not an `async fn`: an async fn keeps its
    // argument and the future made from it side by side
    // (rust-lang/rust#62958), twice the size of `work` in every boxed call.
    AssertUnwindSafe(work).catch_unwind().map(move |result| {
        result.map_err(|panic| {
            metrics.panicked();
            tracing::error!(panic = panic_text(&*panic), "{what} panicked");
        })
    })
}

/// A panic's message, when it has one.
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-string panic)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn eager() -> Eager {
        Eager::new()
    }

    /// Runs work of `kind` that raises a flag; the flag, raised already
    /// when the work ran inline.
    fn flagged(eager: &Eager, kind: Work<'static>) -> Arc<AtomicBool> {
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        eager.run(move || kind, async move { flag.store(true, Ordering::Release) });
        done
    }

    #[tokio::test]
    async fn finishes_ready_work_at_once_and_spawns_waiting_work() {
        let eager = eager();
        let done = flagged(&eager, Work::Call("f"));
        assert!(done.load(Ordering::Acquire), "ready work ran inline");

        let (tx, rx) = tokio::sync::oneshot::channel();
        eager.run(|| Work::Call("f"), async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = tx.send(());
        });
        tokio::time::timeout(Duration::from_secs(5), rx)
            .await
            .expect("waiting work finished in its own task")
            .unwrap();
    }

    #[tokio::test]
    async fn work_over_the_budget_twice_in_a_row_is_never_inline_again() {
        let eager = eager();
        let busy = || async { std::thread::sleep(INLINE_BUDGET * 2) };
        eager.run(|| Work::Call("busy"), busy());
        // One long poll, then a fast one: no verdict, and the count starts
        // again.
        let done = flagged(&eager, Work::Call("busy"));
        assert!(done.load(Ordering::Acquire), "one strike is not enough");
        eager.run(|| Work::Call("busy"), busy());
        eager.run(|| Work::Call("busy"), busy());
        let done = flagged(&eager, Work::Call("busy"));
        assert!(!done.load(Ordering::Acquire), "spawned, not run inline");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(done.load(Ordering::Acquire));
        // Another function, or the same name as another kind, is unaffected.
        let done = flagged(&eager, Work::Bundle("busy"));
        assert!(done.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn a_panic_is_contained() {
        let r = contained(&Metrics::default(), "x", async { panic!("boom") }).await;
        assert!(r.is_err());
        assert_eq!(panic_text(&"s"), "s");
    }
}
