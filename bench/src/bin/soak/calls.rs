//! RPC callers: `echo` at a steady rate (round-trip latency), and the
//! mutations the context watchers wait for (`update_profile`, which
//! invalidates `user{user_id}`, and `rename_user`, which merges into it).

use crate::load::{Client, Shared};
use crate::stats::{Count, Kind};
use crate::ws::{self, Read, Ws, micros_since, now_ns};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::time::MissedTickBehavior;

/// Calls without a reply this long are lost.
const REPLY_TIMEOUT_NS: u64 = 10_000_000_000;
/// At most this many calls unanswered per socket; above it, ticks skip.
const MAX_INFLIGHT: usize = 1000;

/// What a caller calls.
pub(crate) enum Calls {
    Echo,
    /// Mutations of users in turn; the counter is shared by all mutating
    /// sockets so each user's mutations are evenly spaced.
    Mutations(Arc<AtomicU64>),
}

/// A socket making one call every `period`.
pub(crate) struct Caller {
    pub(crate) index: usize,
    calls: Calls,
    period: Duration,
    next_id: u64,
    /// Request id to (start ns, watched user index or `usize::MAX`).
    inflight: HashMap<u64, (u64, usize)>,
}

impl Caller {
    pub(crate) fn new(index: usize, calls: Calls, period: Duration) -> Self {
        Self {
            index,
            calls,
            period,
            next_id: 0,
            inflight: HashMap::new(),
        }
    }

    /// The next call's frame, and the watched user it mutates.
    fn next_call(&self, id: u64, start: u64, shared: &Shared) -> (String, usize) {
        match &self.calls {
            Calls::Echo => (
                format!(r#"{{"type":"call","id":{id},"fn":"echo","args":{{"text":"soak {start}"}}}}"#),
                usize::MAX,
            ),
            Calls::Mutations(counter) => {
                let turn = counter.fetch_add(1, Ordering::Relaxed);
                let users = shared.users();
                let user = (turn % users) as usize;
                // Each user alternates between the two from round to round.
                let function = if (turn / users).is_multiple_of(2) {
                    "update_profile"
                } else {
                    "rename_user"
                };
                if shared.pending[user].swap(start, Ordering::AcqRel) != 0 {
                    shared.stats.add(Count::PushLost, 1);
                }
                let frame = format!(
                    r#"{{"type":"call","id":{id},"fn":"{function}","args":{{"user_id":{},"name":"n{turn}"}}}}"#,
                    user + 1
                );
                (frame, user)
            }
        }
    }

    async fn call(&mut self, ws: &mut Ws, shared: &Shared) -> anyhow::Result<()> {
        let now = now_ns();
        let before = self.inflight.len();
        self.inflight
            .retain(|_, (start, _)| now.saturating_sub(*start) < REPLY_TIMEOUT_NS);
        shared
            .stats
            .add(Count::CallsLost, (before - self.inflight.len()) as u64);
        if self.inflight.len() >= MAX_INFLIGHT {
            shared.stats.add(Count::Skipped, 1);
            return Ok(());
        }
        self.next_id += 1;
        let (frame, user) = self.next_call(self.next_id, now, shared);
        self.inflight.insert(self.next_id, (now, user));
        ws::send(ws, frame).await
    }

    fn answer(&mut self, frame: &ws::Frame, shared: &Shared) {
        let Some((start, user)) = frame.id.and_then(|id| self.inflight.remove(&id)) else {
            return;
        };
        if frame.kind == "result" {
            let kind = match self.calls {
                Calls::Echo => Kind::Echo,
                Calls::Mutations(_) => Kind::Mutation,
            };
            shared.stats.record(kind, micros_since(start));
        } else {
            shared.stats.note(Count::ServerErrors, &frame.describe_error());
            // A failed mutation pushes nothing.
            if let Some(slot) = shared.pending.get(user) {
                let _ = slot.compare_exchange(start, 0, Ordering::AcqRel, Ordering::Relaxed);
            }
        }
    }
}

impl Client for Caller {
    fn name(&self) -> String {
        match self.calls {
            Calls::Echo => format!("echo caller {}", self.index),
            Calls::Mutations(_) => format!("mutation caller {}", self.index),
        }
    }

    async fn setup(&mut self, url: &str) -> anyhow::Result<Ws> {
        let ws = ws::connect(url).await?;
        self.inflight.clear();
        Ok(ws)
    }

    async fn run(&mut self, mut ws: Ws, shared: &Shared) -> anyhow::Result<()> {
        let mut ticks = tokio::time::interval(self.period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            let calling = Instant::now() < shared.end;
            if !calling && self.inflight.is_empty() {
                break;
            }
            tokio::select! {
                _ = ticks.tick(), if calling => self.call(&mut ws, shared).await?,
                read = ws::read(&mut ws, shared.read_until) => match read? {
                    Read::Idle => break,
                    Read::Frame(frame) => self.answer(&frame, shared),
                },
            }
        }
        shared.stats.add(Count::CallsLost, self.inflight.len() as u64);
        ws::close(ws).await;
        Ok(())
    }
}
