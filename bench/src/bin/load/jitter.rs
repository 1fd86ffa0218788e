//! Jitter: subscribers of one topic cut off every few seconds, coming
//! back for what they missed while a publisher sends at a fixed rate;
//! what each server delivers, twice, out of order, and how late. After
//! AnyCable's public reconnect benchmark, on the recovery contract of
//! PROTOCOL.md section 9.
//!
//! Each subscriber's connection is dropped (the TCP connection closed,
//! no close handshake, as a network blip would) 3–6 s after it is
//! subscribed; it stays away 0.5–2 s and reconnects: to Mizan with
//! `subscribe` + `since` (the position of the last message it received,
//! else its `subscribed` reply's); to Socket.IO with its session's `pid`
//! and the last event's offset in the CONNECT packet
//! (`connectionStateRecovery`), subscribing again only when the session
//! was not recovered; to the floor, which keeps nothing, with a plain
//! `subscribe`. Messages are told apart by the sequence number in their
//! text, never by offset (the floor has none). Django is not run: its
//! peer keeps no history to recover from.

mod subscriber;

use crate::conn::{self, Endpoint, Sink};
use crate::dialect::Dialect;
use crate::fanout::report_shared;
use crate::reader::{self, Shared};
use crate::report::{Outcome, Unit};
use anyhow::Context;
use futures_util::SinkExt;
use mizan_bench::now_ns;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use subscriber::{Subscriber, Tally};
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;

/// The room every subscriber joins: the fixture's topic `chat:chat_jitter`.
const ROOM: &str = "jitter";
/// Sends that may be unanswered at once.
const WINDOW: usize = 200;
/// How far behind its schedule sending may fall before the rest is not
/// sent (the server acknowledges sends slower than they are due).
const SEND_CAP: Duration = Duration::from_secs(20);
/// After the last send: how long deliveries may pause, once every
/// subscriber is back, before the rest counts as lost…
const QUIET: Duration = Duration::from_secs(1);
/// …and the longest the wait for stragglers may take.
const STRAGGLE_CAP: Duration = Duration::from_secs(10);
/// Connections being opened at once.
const PARALLEL_CONNECTS: usize = 64;
/// The most messages a run may send (each subscriber keeps a byte per
/// sequence number).
const MAX_MESSAGES: u64 = 10_000_000;

/// The jitter step's sizes, from the command line.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct Sizes {
    /// Subscribers in the jitter step (default 1,000; 50 with `--smoke`).
    #[arg(long = "jitter-subscribers")]
    subscribers: Option<usize>,
    /// Messages per second the jitter step publishes (default 100; 20 with
    /// `--smoke`, so that the longest absence fits in the 100 messages
    /// the fixture's chat keeps).
    #[arg(long = "jitter-rate")]
    rate: Option<u64>,
    /// Seconds the jitter step publishes for (default 60; 5 with
    /// `--smoke`).
    #[arg(long = "jitter-seconds")]
    seconds: Option<u64>,
}

impl Sizes {
    /// The scenario at these sizes, the defaults filled in.
    pub(crate) fn scenario(&self, smoke: bool) -> Jitter {
        Jitter {
            subscribers: self.subscribers.unwrap_or(if smoke { 50 } else { 1000 }),
            rate: self.rate.unwrap_or(if smoke { 20 } else { 100 }),
            seconds: self.seconds.unwrap_or(if smoke { 5 } else { 60 }),
        }
    }
}

/// `subscribers` jittery subscribers of one topic; `rate` messages a
/// second for `seconds`.
#[derive(Clone, Debug)]
pub(crate) struct Jitter {
    pub(crate) subscribers: usize,
    pub(crate) rate: u64,
    pub(crate) seconds: u64,
}

/// Where a run is, as the subscribers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The first subscriptions are being made; nobody is cut off yet.
    Joining,
    /// The publisher sends; subscribers are cut off and come back.
    Publishing,
    /// The publisher is done: no more cuts, the absent come back.
    Calm,
    /// Every subscriber stops and hands in its tally.
    Stop,
}

/// What the subscribers share with the run.
struct Board {
    phase: watch::Sender<Phase>,
    /// Subscribers whose first subscription is in.
    ready: AtomicUsize,
    /// Subscribers not subscribed right now (connecting or away).
    away: AtomicUsize,
    /// First copies of measured messages, over all subscribers.
    delivered: AtomicU64,
    /// Connections being opened (at most [`PARALLEL_CONNECTS`]).
    opening: Semaphore,
}

/// Stops the subscribers when the run ends, however it ends (they
/// reconnect until told to stop).
struct StopOnDrop<'a>(&'a Board);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.phase.send_replace(Phase::Stop);
    }
}

impl Jitter {
    /// A one-line description for the table.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} subscribers of one topic, each cut off 3–6 s after it subscribes, away 0.5–2 s, then resuming from the last message it got; {} messages/s for {} s. The floor keeps nothing to resume from; Socket.IO runs with `connectionStateRecovery`; Django is not run",
            self.subscribers, self.rate, self.seconds
        )
    }

    /// Runs it against `endpoint`. Lost deliveries are problems only when
    /// the server `recovers` (the floor's losses are the point);
    /// duplicates and misordering always are.
    pub(crate) async fn run(&self, endpoint: &Endpoint, recovers: bool) -> anyhow::Result<Outcome> {
        anyhow::ensure!(
            self.subscribers >= 1 && self.rate >= 1 && self.seconds >= 1,
            "empty scenario"
        );
        let total = self.rate.saturating_mul(self.seconds);
        anyhow::ensure!(total <= MAX_MESSAGES, "at most {MAX_MESSAGES} messages");
        let board = Arc::new(Board {
            phase: watch::Sender::new(Phase::Joining),
            ready: AtomicUsize::new(0),
            away: AtomicUsize::new(self.subscribers),
            delivered: AtomicU64::new(0),
            opening: Semaphore::new(PARALLEL_CONNECTS),
        });
        let _stop = StopOnDrop(&board);
        let tasks: Vec<_> = (0..self.subscribers)
            .map(|i| {
                let subscriber = Subscriber::new(i, endpoint.clone(), total as usize);
                tokio::spawn(subscriber.run(Arc::clone(&board)))
            })
            .collect();
        self.wait_for_subscribers(&board).await?;

        let dialect = endpoint.dialect;
        let replies = Arc::new(Shared::new(WINDOW));
        let publisher = conn::join(endpoint, ROOM).await.context("the publisher")?;
        let (sink, publisher_reader) = reader::spawn(publisher, dialect, &replies, false);
        board.phase.send_replace(Phase::Publishing);
        let sent = self.publish(&sink, dialect, &replies).await?;
        board.phase.send_replace(Phase::Calm);
        let expected = sent * self.subscribers as u64;
        wait_for_stragglers(&board, expected).await;
        board.phase.send_replace(Phase::Stop);
        replies.stop.send_replace(true);

        let mut tally = Tally::new(0);
        for task in tasks {
            tally.absorb(&task.await.context("a subscriber panicked")?);
        }
        let _ = publisher_reader.await;
        let mut outcome = self.outcome(&tally, sent, total, recovers);
        report_shared(&replies, &mut outcome, None);
        Ok(outcome)
    }

    /// Waits until every subscriber's first subscription is in, at most
    /// [`conn::OPEN_CAP`].
    async fn wait_for_subscribers(&self, board: &Board) -> anyhow::Result<()> {
        let cap = Instant::now() + conn::OPEN_CAP;
        loop {
            let ready = board.ready.load(Ordering::Relaxed);
            if ready >= self.subscribers {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < cap,
                "only {ready} of {} subscribers subscribed within {:?}",
                self.subscribers,
                conn::OPEN_CAP
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends `"<seq> <send ns>"` for seq 0, 1, … at the rate, at most
    /// [`WINDOW`] unanswered, until the seconds are over or sending falls
    /// [`SEND_CAP`] behind. Returns how many it sent.
    async fn publish(&self, sink: &Sink, dialect: Dialect, replies: &Shared) -> anyhow::Result<u64> {
        let total = self.rate * self.seconds;
        let schedule = Duration::from_secs(self.seconds);
        let started = Instant::now();
        let mut frame = String::new();
        for seq in 0..total {
            let due = started + Duration::from_nanos(seq * 1_000_000_000 / self.rate);
            tokio::time::sleep_until(due.into()).await;
            if started.elapsed() > schedule + SEND_CAP {
                return Ok(seq);
            }
            // No lock is held while waiting: the reader may need the sink
            // to answer a ping before the replies that free permits.
            tokio::time::timeout(conn::STEP, replies.permits.acquire())
                .await
                .context("no reply to a send within the timeout")??
                .forget();
            dialect.send(&mut frame, seq + 2, ROOM, &format!("{seq} {}", now_ns()));
            sink.lock().await.send(Message::text(frame.as_str())).await?;
        }
        Ok(total)
    }

    /// The row: delivery, duplicates, order, recovery and latency.
    fn outcome(&self, tally: &Tally, sent: u64, total: u64, recovers: bool) -> Outcome {
        let expected = sent * self.subscribers as u64;
        let lost = expected.saturating_sub(tally.distinct);
        let delivered = if expected == 0 {
            f64::NAN
        } else {
            tally.distinct as f64 * 100.0 / expected as f64
        };
        let p99 = |h: &hdrhistogram::Histogram<u64>| {
            if h.is_empty() {
                f64::NAN
            } else {
                h.value_at_quantile(0.99) as f64
            }
        };
        let mut outcome = Outcome::default();
        outcome
            .push("subscribers", self.subscribers as f64, Unit::Count)
            .push("sent", sent as f64, Unit::Count)
            .push("delivered", delivered, Unit::Percent)
            .headline(true)
            .push("lost", lost as f64, Unit::Count)
            .push("duplicates", tally.duplicates as f64, Unit::Count)
            .push("out of order", tally.out_of_order as f64, Unit::Count)
            .push("reconnects", tally.reconnects as f64, Unit::Count)
            .push("recovered:false", tally.not_recovered as f64, Unit::Count)
            .push("replayed", tally.replayed as f64, Unit::Count)
            .push("replayed p99", p99(&tally.replayed_latency), Unit::Micros)
            .push("live p99", p99(&tally.live_latency), Unit::Micros);
        if sent < total {
            outcome.problem(format!(
                "{} messages not sent: acknowledgements fell {SEND_CAP:?} behind the schedule",
                total - sent
            ));
        }
        if recovers && lost > 0 {
            outcome.problem(format!(
                "lost {lost} of {expected} deliveries (not in within {STRAGGLE_CAP:?} of the last send){}",
                tally.gaps()
            ));
        }
        if tally.duplicates > 0 {
            outcome.problem(format!("{} duplicates", tally.duplicates));
        }
        if tally.out_of_order > 0 {
            outcome.problem(format!("{} out of order", tally.out_of_order));
        }
        if tally.failures > 0 {
            outcome.problem(format!(
                "{} connections failed (the first: {})",
                tally.failures,
                tally.first_failure.as_deref().unwrap_or("?")
            ));
        }
        outcome
    }
}

/// After the last send: waits until every delivery is in, or every
/// subscriber is back and nothing arrived for [`QUIET`], or
/// [`STRAGGLE_CAP`] passed.
async fn wait_for_stragglers(board: &Board, expected: u64) {
    let cap = Instant::now() + STRAGGLE_CAP;
    let mut last = board.delivered.load(Ordering::Relaxed);
    let mut last_progress = Instant::now();
    while last < expected
        && Instant::now() < cap
        && (board.away.load(Ordering::Relaxed) > 0 || last_progress.elapsed() < QUIET)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = board.delivered.load(Ordering::Relaxed);
        if now > last {
            last = now;
            last_progress = Instant::now();
        }
    }
}
