//! What the clients measure: a latency histogram per kind and error
//! counters, taken (and reset) once per sample.

use hdrhistogram::Histogram;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A kind of latency, in microseconds.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    /// Chat message: publisher's write to a subscriber's read.
    Chat,
    /// `update_profile` call start to the watcher's `invalidate` push.
    Invalidate,
    /// `rename_user` call start to the watcher's `merge` push.
    Merge,
    /// `echo` call round trip.
    Echo,
    /// `update_profile` / `rename_user` call round trip.
    Mutation,
    /// A churn socket: TCP connect to `hello`.
    Connect,
}

impl Kind {
    pub(crate) const ALL: [Kind; 6] = [
        Kind::Chat,
        Kind::Invalidate,
        Kind::Merge,
        Kind::Echo,
        Kind::Mutation,
        Kind::Connect,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Chat => "chat",
            Kind::Invalidate => "invalidate",
            Kind::Merge => "merge",
            Kind::Echo => "echo",
            Kind::Mutation => "mutation",
            Kind::Connect => "connect",
        }
    }
}

/// A counted event.
#[derive(Clone, Copy)]
pub(crate) enum Count {
    /// Error frames from the server.
    ServerErrors,
    /// Chat messages a subscriber never got (gaps in a room's sequence).
    ChatLost,
    /// Chat messages that came twice or out of order.
    ChatMisordered,
    /// Mutations whose push never reached the watcher (before the user's
    /// next mutation, or by the end).
    PushLost,
    /// Pushes with no mutation waiting for them (late or unexpected).
    PushUnexpected,
    /// Calls without a reply within 10 s.
    CallsLost,
    /// Long-lived sockets that failed or were closed by the server.
    Disconnects,
    /// Failed connects and failed churn visits.
    ConnectFailures,
    /// Churn visits completed (connect, subscribe, watch, hold, leave).
    Churned,
    /// Sends skipped because too many were unanswered.
    Skipped,
}

impl Count {
    pub(crate) const ALL: [Count; 10] = [
        Count::ServerErrors,
        Count::ChatLost,
        Count::ChatMisordered,
        Count::PushLost,
        Count::PushUnexpected,
        Count::CallsLost,
        Count::Disconnects,
        Count::ConnectFailures,
        Count::Churned,
        Count::Skipped,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Count::ServerErrors => "server_errors",
            Count::ChatLost => "chat_lost",
            Count::ChatMisordered => "chat_misordered",
            Count::PushLost => "push_lost",
            Count::PushUnexpected => "push_unexpected",
            Count::CallsLost => "calls_lost",
            Count::Disconnects => "disconnects",
            Count::ConnectFailures => "connect_failures",
            Count::Churned => "churned",
            Count::Skipped => "skipped",
        }
    }

    /// Whether it is a failure (printed when it happens, at first).
    fn is_failure(self) -> bool {
        !matches!(self, Count::Churned)
    }
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// p50, p99 and max of one kind over one sample, in microseconds.
#[derive(Clone, Copy, Default)]
pub(crate) struct Summary {
    pub(crate) count: u64,
    pub(crate) p50: u64,
    pub(crate) p99: u64,
    pub(crate) max: u64,
}

impl Summary {
    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    }
}

/// One sample's measurements.
#[derive(Clone, Default)]
pub(crate) struct Taken {
    pub(crate) latency: [Summary; Kind::ALL.len()],
    pub(crate) counts: [u64; Count::ALL.len()],
}

impl Taken {
    pub(crate) fn count(&self, count: Count) -> u64 {
        self.counts[count as usize]
    }

    /// Everything lost: chat messages, pushes and call replies.
    pub(crate) fn lost(&self) -> u64 {
        self.count(Count::ChatLost) + self.count(Count::PushLost) + self.count(Count::CallsLost)
    }

    /// The worst latency of any kind.
    pub(crate) fn max(&self) -> u64 {
        self.latency.iter().map(|s| s.max).max().unwrap_or(0)
    }
}

pub(crate) struct Stats {
    current: [Mutex<Histogram<u64>>; Kind::ALL.len()],
    whole: [Mutex<Histogram<u64>>; Kind::ALL.len()],
    counts: [AtomicU64; Count::ALL.len()],
    totals: [AtomicU64; Count::ALL.len()],
}

impl Stats {
    pub(crate) fn new() -> Self {
        Self {
            current: std::array::from_fn(|_| Mutex::new(histogram())),
            whole: std::array::from_fn(|_| Mutex::new(histogram())),
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            totals: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    pub(crate) fn record(&self, kind: Kind, micros: u64) {
        let mut h = self.current[kind as usize]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        h.saturating_record(micros.max(1));
    }

    pub(crate) fn add(&self, count: Count, n: u64) {
        self.counts[count as usize].fetch_add(n, Ordering::Relaxed);
        let before = self.totals[count as usize].fetch_add(n, Ordering::Relaxed);
        if count.is_failure() && n > 0 && before < 5 {
            eprintln!("[soak] {}: +{n}", count.name());
        }
    }

    /// Counts one failure, printing its cause for the first few.
    pub(crate) fn note(&self, count: Count, what: &str) {
        if self.totals[count as usize].load(Ordering::Relaxed) < 10 {
            eprintln!("[soak] {}: {what}", count.name());
        }
        self.counts[count as usize].fetch_add(1, Ordering::Relaxed);
        self.totals[count as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// This sample's measurements; starts the next sample.
    pub(crate) fn take(&self) -> Taken {
        let mut taken = Taken::default();
        for kind in Kind::ALL {
            let mut h = self.current[kind as usize]
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            taken.latency[kind as usize] = Summary::of(&h);
            let mut whole = self.whole[kind as usize]
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = whole.add(&*h);
            h.reset();
        }
        for count in Count::ALL {
            taken.counts[count as usize] = self.counts[count as usize].swap(0, Ordering::Relaxed);
        }
        taken
    }

    /// The whole run's latencies (of the samples taken so far) and totals.
    pub(crate) fn whole(&self) -> Taken {
        let mut taken = Taken::default();
        for kind in Kind::ALL {
            let whole = self.whole[kind as usize]
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            taken.latency[kind as usize] = Summary::of(&whole);
        }
        for count in Count::ALL {
            taken.counts[count as usize] = self.totals[count as usize].load(Ordering::Relaxed);
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_reset_and_add_up() {
        let stats = Stats::new();
        stats.record(Kind::Chat, 100);
        stats.record(Kind::Chat, 300);
        stats.add(Count::Churned, 2);
        let first = stats.take();
        assert_eq!(first.latency[Kind::Chat as usize].count, 2);
        assert_eq!(first.count(Count::Churned), 2);
        stats.record(Kind::Chat, 200);
        let second = stats.take();
        assert_eq!(second.latency[Kind::Chat as usize].count, 1);
        assert_eq!(second.count(Count::Churned), 0);
        let whole = stats.whole();
        assert_eq!(whole.latency[Kind::Chat as usize].count, 3);
        assert_eq!(whole.count(Count::Churned), 2);
    }
}
