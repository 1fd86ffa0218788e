//! Presence stats: one topic with `members` subscribers spread evenly over
//! node A and node B (joined through a `redis-server` of the step's own);
//! one of them, on node A, sends `presence_stats` `requests` times, one at
//! a time. Measured: the round trips, and whether the answer's `sessions`
//! counts every member on both nodes. The other members' sockets are read
//! throughout (the joins' `presence_diff`s must not pile up), and the
//! asker joins last, so no diff of theirs is in its way.

use super::{Frame, ask, classify};
use crate::conn::{self, Endpoint, Ws};
use crate::dialect::Dialect;
use crate::fanout::report_shared;
use crate::reader::{self, Shared};
use crate::report::{Outcome, Unit};
use crate::servers::Cpu;
use anyhow::{Context, bail};
use futures_util::SinkExt;
use hdrhistogram::Histogram;
use mizan_bench::now_ns;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// The room every member joins: topic `chat:chat_stats`.
const ROOM: &str = "stats";
/// Sockets being opened at once, to either node (as in the idle step).
const PARALLEL_CONNECTS: usize = 128;
/// Unmeasured requests first.
const WARM_UP: usize = 100;
/// How long the count may take to reach every member before the
/// requests are measured anyway.
const SETTLE_CAP: Duration = Duration::from_secs(10);
/// A pause after the count settled, for the joins' last diffs.
const QUIET: Duration = Duration::from_millis(500);

/// `members` subscribers of one topic over two nodes; `requests`
/// sequential `presence_stats` from one of them.
#[derive(Clone, Debug)]
pub(crate) struct PresenceStats {
    pub(crate) members: usize,
    pub(crate) requests: usize,
}

/// What the answers said.
struct Answers {
    latency: Histogram<u64>,
    sessions_min: u64,
    sessions_max: u64,
    users: u64,
}

impl PresenceStats {
    pub(crate) fn describe(&self) -> String {
        format!(
            "one topic with {} members, half on node A and half on node B, through Redis; one member on A sends `presence_stats` {} times, one at a time",
            self.members, self.requests
        )
    }

    /// Runs it on node `a` (the asker's) and node `b`; `cpu` (both nodes)
    /// is charged over the measured requests.
    pub(crate) async fn run(&self, a: &Endpoint, b: &Endpoint, cpu: &Cpu<'_>) -> anyhow::Result<Outcome> {
        anyhow::ensure!(self.members >= 2 && self.requests >= 1, "empty scenario");
        let shared = Arc::new(Shared::new(0));
        // Everyone but the asker: even ones on B, odd ones on A.
        let others = conn::open_many(self.members - 1, PARALLEL_CONNECTS, |i| {
            let (endpoint, shared) = (if i % 2 == 0 { b } else { a }, &shared);
            async move {
                let ws = conn::join(endpoint, ROOM).await?;
                Ok(reader::spawn(ws, Dialect::Mizan, shared, false).1)
            }
        })
        .await
        .context("the members")?;
        let on_a = (self.members - 1) / 2 + 1;
        let mut asker = conn::join(a, ROOM).await.context("the asker")?;

        let mut id = 1;
        let started = Instant::now();
        let settled = loop {
            id += 1;
            let (sessions, _) = stats(&mut asker, id).await?;
            if sessions == self.members as u64 {
                break Some(started.elapsed());
            }
            if started.elapsed() > SETTLE_CAP {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        tokio::time::sleep(QUIET).await;
        for _ in 0..WARM_UP.min(self.requests) {
            id += 1;
            stats(&mut asker, id).await?;
        }

        let cpu_before = cpu.used()?;
        let measured = Instant::now();
        let mut answers = Answers {
            latency: Histogram::new_with_bounds(1, 600_000_000, 3)?,
            sessions_min: u64::MAX,
            sessions_max: 0,
            users: 0,
        };
        for _ in 0..self.requests {
            id += 1;
            let sent = now_ns();
            let (sessions, users) = stats(&mut asker, id).await?;
            answers.latency.saturating_record(now_ns().saturating_sub(sent) / 1000);
            answers.sessions_min = answers.sessions_min.min(sessions);
            answers.sessions_max = answers.sessions_max.max(sessions);
            answers.users = users;
        }
        let elapsed = measured.elapsed();
        let cpu_used = cpu.used()?.saturating_sub(cpu_before);
        shared.stop.send_replace(true);
        for reader in others {
            let _ = reader.await;
        }
        let mut outcome = self.outcome(&answers, on_a, settled, elapsed, cpu_used);
        report_shared(&shared, &mut outcome, None);
        Ok(outcome)
    }

    /// The row; `on_a` members are on the asker's node.
    fn outcome(
        &self,
        answers: &Answers,
        on_a: usize,
        settled: Option<Duration>,
        elapsed: Duration,
        cpu_used: Duration,
    ) -> Outcome {
        let h = &answers.latency;
        let mut outcome = Outcome::default();
        outcome
            .push("members", self.members as f64, Unit::Count)
            .push("requests", self.requests as f64, Unit::Count)
            .push(
                "requests/s",
                self.requests as f64 / elapsed.as_secs_f64().max(1e-9),
                Unit::PerSecond,
            )
            .push("p50", h.value_at_quantile(0.5) as f64, Unit::Micros)
            .push("p99", h.value_at_quantile(0.99) as f64, Unit::Micros)
            .headline(false)
            .push("p99.9", h.value_at_quantile(0.999) as f64, Unit::Micros)
            .push("max", h.max() as f64, Unit::Micros)
            .push("sessions", answers.sessions_max as f64, Unit::Count)
            .push("users", answers.users as f64, Unit::Count)
            .push(
                "count settled in",
                settled.map_or(f64::NAN, |d| d.as_secs_f64() * 1e6),
                Unit::Micros,
            )
            .cpu(cpu_used, "CPU/request", self.requests as u64);
        let (members, sessions) = (self.members as u64, answers.sessions_max);
        if answers.sessions_min != sessions {
            outcome.note(format!(
                "sessions moved between {} and {sessions} while nobody joined or left",
                answers.sessions_min
            ));
        }
        if sessions == on_a as u64 && sessions != members {
            outcome.note(format!(
                "sessions {sessions} of {members}: only node A's own members are counted (no cross-node presence)"
            ));
        } else if sessions != members {
            outcome.problem(format!("sessions {sessions}, expected {members} ({on_a} on node A)"));
        }
        outcome
    }
}

/// `presence_stats` on `ws` (request `id`): `(sessions, users)`.
async fn stats(ws: &mut Ws, id: u64) -> anyhow::Result<(u64, u64)> {
    ws.send(Message::text(ask("presence_stats", id, ROOM))).await?;
    tokio::time::timeout(conn::STEP, async {
        loop {
            let text = conn::next_text(ws).await?;
            match classify(text.as_bytes()) {
                Frame::Stats {
                    id: got,
                    sessions,
                    users,
                } if got == id => return Ok((sessions, users)),
                Frame::Error(Some(got)) if got == id => bail!("presence_stats refused: {text}"),
                _ => {}
            }
        }
    })
    .await
    .with_context(|| format!("no answer to presence_stats {id}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(sessions: u64) -> Answers {
        Answers {
            latency: Histogram::new_with_bounds(1, 600_000_000, 3).unwrap(),
            sessions_min: sessions,
            sessions_max: sessions,
            users: 0,
        }
    }

    #[test]
    fn sessions_are_checked_against_the_members() {
        let step = PresenceStats {
            members: 10,
            requests: 1,
        };
        let run = |sessions| step.outcome(&answers(sessions), 5, None, Duration::from_secs(1), Duration::ZERO);
        let all = run(10);
        assert!(all.problems.is_empty() && all.notes.is_empty());
        let local = run(5);
        assert!(local.problems.is_empty() && local.notes.len() == 1, "{:?}", local.notes);
        assert_eq!(run(7).problems.len(), 1);
    }
}
