//! Fan-out: sockets joined to rooms, messages sent to them in a burst or
//! at a fixed rate, every delivery timed (the send time travels in the
//! message) and every loss counted.

use crate::conn::{self, Endpoint, Sink};
use crate::dialect::Dialect;
use crate::reader::{self, Shared, Tally};
use crate::report::{Outcome, Unit};
use crate::rng::XorShift;
use crate::servers::Cpu;
use anyhow::Context;
use futures_util::SinkExt;
use mizan_bench::now_ns;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// How fast messages are sent.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pace {
    /// `messages` as fast as the server takes them: at most `window`
    /// sends unanswered.
    Burst { messages: usize },
    /// `per_second` for `seconds`.
    Rate { per_second: u64, seconds: u64 },
}

/// Who sends.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Publisher {
    /// One extra socket in room 0 (not counted as a subscriber), connected
    /// to the publisher endpoint.
    Dedicated,
    /// A random subscriber sends each message to its own room.
    Members,
}

/// A fan-out scenario.
#[derive(Clone, Debug)]
pub(crate) struct Fanout {
    pub(crate) sockets: usize,
    pub(crate) rooms: usize,
    pub(crate) pace: Pace,
    pub(crate) publisher: Publisher,
    /// Sends that may be unanswered at once.
    pub(crate) window: usize,
}

/// How long deliveries may stall before the rest count as lost.
const QUIET: Duration = Duration::from_secs(3);
/// The longest a scenario waits for deliveries after its last send: what
/// has not arrived by then is counted lost (a server that cannot keep up
/// must not stall the whole comparison).
const DRAIN_CAP: Duration = Duration::from_secs(20);
/// How far behind its schedule sending may fall (a burst's schedule is
/// "at once"; a rate's ends after its seconds) before the rest is not sent:
/// the server acknowledges sends slower than they are due.
const SEND_CAP: Duration = Duration::from_secs(20);
/// Sockets opened at once.
const PARALLEL_CONNECTS: usize = 64;

fn room_name(room: usize) -> String {
    format!("r{room}")
}

impl Fanout {
    /// A one-line description for the table.
    pub(crate) fn describe(&self) -> String {
        let pace = match self.pace {
            Pace::Burst { messages } => format!("{messages} messages as fast as the server takes them"),
            Pace::Rate { per_second, seconds } => format!("{per_second} messages/s for {seconds} s"),
        };
        let who = match self.publisher {
            Publisher::Dedicated => "one publisher",
            Publisher::Members => "random members publish",
        };
        format!("{} sockets in {} room(s), {pace}, {who}", self.sockets, self.rooms)
    }

    /// Runs it: subscribers at `subscribers`, the dedicated publisher (if
    /// any) at `publisher`; `cpu` is charged from the first measured send
    /// until the deliveries are in.
    pub(crate) async fn run(
        &self,
        subscribers: &Endpoint,
        publisher: &Endpoint,
        cpu: &Cpu<'_>,
    ) -> anyhow::Result<Outcome> {
        anyhow::ensure!(
            self.sockets >= 1 && self.rooms >= 1 && self.window >= 1,
            "empty scenario"
        );
        let dialect = subscribers.dialect;
        let rooms = self.rooms;
        let sockets = conn::open_many(self.sockets, PARALLEL_CONNECTS, |i| {
            let room = room_name(i % rooms);
            async move { conn::join(subscribers, &room).await }
        })
        .await?;
        let dedicated = match self.publisher {
            Publisher::Dedicated => Some(conn::join(publisher, &room_name(0)).await?),
            Publisher::Members => None,
        };

        let shared = Arc::new(Shared::new(self.window));
        let (sinks, readers): (Vec<Sink>, Vec<_>) = sockets
            .into_iter()
            .map(|ws| reader::spawn(ws, dialect, &shared, true))
            .unzip();
        let publisher_sink = dedicated.map(|ws| reader::spawn(ws, dialect, &shared, false).0);

        let mut sender = Sender {
            fanout: self,
            dialect,
            shared: &shared,
            sinks: &sinks,
            publisher: publisher_sink.as_ref(),
            rng: XorShift(0x9E37_79B9_7F4A_7C15),
            frame: String::new(),
            next_id: 2,
            sent_per_room: vec![0; rooms],
        };
        sender.warm_up().await?;
        let cpu_before = cpu.used()?;
        let first_ns = now_ns();
        let started = Instant::now();
        let cut_short = sender.measured().await?;
        let sending = started.elapsed();

        let members = |room: usize| (self.sockets + rooms - 1 - room) / rooms;
        let expected: u64 = (0..rooms)
            .map(|room| sender.sent_per_room[room] * members(room) as u64)
            .sum();
        let sent: u64 = sender.sent_per_room.iter().sum();
        wait_for_deliveries(&shared, expected).await;
        let cpu_used = cpu.used()?.saturating_sub(cpu_before);
        shared.stop.send_replace(true);

        let mut total = Tally::new();
        for reader in readers {
            total.absorb(&reader.await.context("a reader panicked")?);
        }
        let mut outcome = Outcome::default();
        let span = total.last_ns.saturating_sub(first_ns) as f64 / 1e9;
        let lost = expected.saturating_sub(total.received);
        outcome
            .push("sent", sent as f64, Unit::Count)
            .push("deliveries", total.received as f64, Unit::Count)
            .push("deliveries/s", total.received as f64 / span.max(1e-9), Unit::PerSecond);
        if matches!(self.pace, Pace::Burst { .. }) {
            outcome.headline(true);
        }
        let h = &total.latency;
        outcome.push("p50", h.value_at_quantile(0.5) as f64, Unit::Micros).push(
            "p99",
            h.value_at_quantile(0.99) as f64,
            Unit::Micros,
        );
        if matches!(self.pace, Pace::Rate { .. }) {
            outcome.headline(false);
        }
        outcome
            .push("p99.9", h.value_at_quantile(0.999) as f64, Unit::Micros)
            .push("max", h.max() as f64, Unit::Micros)
            .push("send time", sending.as_secs_f64() * 1000.0, Unit::Millis)
            .cpu(cpu_used, "CPU/delivery", total.received);
        if let Some(unsent) = cut_short {
            outcome.problem(format!(
                "{unsent} messages not sent: acknowledgements fell {SEND_CAP:?} behind the schedule"
            ));
        }
        if lost > 0 {
            outcome.problem(format!(
                "lost {lost} of {expected} deliveries (not delivered within {DRAIN_CAP:?} of the last send)"
            ));
        }
        if total.duplicates > 0 {
            outcome.problem(format!("{} duplicates", total.duplicates));
        }
        report_shared(&shared, &mut outcome, Some(first_ns));
        Ok(outcome)
    }
}

/// Adds error replies and dropped sockets to the outcome's problems, and
/// the presence diffs read (not deliveries) to its notes; `measured_ns`
/// is when the measured part began, if the step has one.
pub(crate) fn report_shared(shared: &Shared, outcome: &mut Outcome, measured_ns: Option<u64>) {
    let presence = shared.presence.load(Ordering::Relaxed);
    if presence > 0 {
        let bytes = shared.presence_bytes.load(Ordering::Relaxed) as f64;
        let last = shared.last_presence_ns.load(Ordering::Relaxed);
        let when = match measured_ns {
            Some(from) if last > from => {
                format!(", the last {:.0} ms into the measured part", (last - from) as f64 / 1e6)
            }
            Some(from) => format!(
                ", the last {:.0} ms before the measured part",
                (from - last) as f64 / 1e6
            ),
            None => String::new(),
        };
        outcome.note(format!(
            "{presence} presence_diff frames read ({:.1} MB){when}",
            bytes / 1e6
        ));
    }
    let errors = shared.errors.load(Ordering::Relaxed);
    if errors > 0 {
        outcome.problem(format!("{errors} error replies"));
    }
    let dropped = shared.dropped.load(Ordering::Relaxed);
    if dropped > 0 {
        outcome.problem(format!("{dropped} sockets closed by the server"));
    }
}

/// Waits until `expected` deliveries arrived, deliveries stop for
/// [`QUIET`], or [`DRAIN_CAP`] passes.
async fn wait_for_deliveries(shared: &Shared, expected: u64) {
    let cap = Instant::now() + DRAIN_CAP;
    let mut last = shared.delivered.load(Ordering::Relaxed);
    let mut last_progress = Instant::now();
    while last < expected && Instant::now() < cap && last_progress.elapsed() < QUIET {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = shared.delivered.load(Ordering::Relaxed);
        if now > last {
            last = now;
            last_progress = Instant::now();
        }
    }
}

/// The sending side of a run.
struct Sender<'a> {
    fanout: &'a Fanout,
    dialect: Dialect,
    shared: &'a Shared,
    sinks: &'a [Sink],
    publisher: Option<&'a Sink>,
    rng: XorShift,
    frame: String,
    next_id: u64,
    sent_per_room: Vec<u64>,
}

impl<'a> Sender<'a> {
    /// Unmeasured messages (text `w`): 1 s of the rate (at most 1,000), or
    /// 20 for a burst; then a pause for them to drain.
    async fn warm_up(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        let (count, rate) = match self.fanout.pace {
            Pace::Burst { .. } => (20, None),
            Pace::Rate { per_second, .. } => (per_second.min(1000), Some(per_second)),
        };
        for i in 0..count {
            if let Some(rate) = rate {
                tokio::time::sleep_until((started + Duration::from_nanos(i * 1_000_000_000 / rate)).into()).await;
            }
            let (sink, room) = self.pick();
            self.send(sink, room, "w", true).await?;
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
        Ok(())
    }

    /// The measured messages. Returns how many were left unsent because
    /// sending fell [`SEND_CAP`] behind its schedule.
    async fn measured(&mut self) -> anyhow::Result<Option<u64>> {
        let started = Instant::now();
        let (total, rate) = match self.fanout.pace {
            Pace::Burst { messages } => (messages as u64, None),
            Pace::Rate { per_second, seconds } => (per_second * seconds, Some(per_second)),
        };
        let schedule = match self.fanout.pace {
            Pace::Burst { .. } => Duration::ZERO,
            Pace::Rate { seconds, .. } => Duration::from_secs(seconds),
        };
        let mut pending: Option<&Sink> = None;
        let mut unsent = None;
        for i in 0..total {
            if started.elapsed() > schedule + SEND_CAP {
                unsent = Some(total - i);
                break;
            }
            if let Some(rate) = rate {
                tokio::time::sleep_until((started + Duration::from_nanos(i * 1_000_000_000 / rate)).into()).await;
            }
            let (sink, room) = self.pick();
            let seq = self.sent_per_room[room];
            self.sent_per_room[room] += 1;
            let text = format!("{seq} {}", now_ns());
            // A burst from one publisher is written in batches, flushed
            // when the window is full; everything else is flushed at once.
            let flush = rate.is_some() || self.publisher.is_none();
            if let Some(previous) = pending.filter(|p| !Arc::ptr_eq(p, sink)) {
                previous.lock().await.flush().await?;
            }
            pending = self.send(sink, room, &text, flush).await?.then_some(sink);
        }
        if let Some(sink) = pending {
            sink.lock().await.flush().await?;
        }
        Ok(unsent)
    }

    /// The socket and room of the next message.
    fn pick(&mut self) -> (&'a Sink, usize) {
        match self.publisher {
            Some(sink) => (sink, 0),
            None => {
                let i = self.rng.below(self.sinks.len());
                (&self.sinks[i], i % self.fanout.rooms)
            }
        }
    }

    /// Takes a permit (flushing `sink` first when none is free) and writes
    /// one send; flushes when `flush`. Returns whether data is left
    /// unflushed.
    async fn send(&mut self, sink: &Sink, room: usize, text: &str, flush: bool) -> anyhow::Result<bool> {
        // No lock is held while waiting: the reader may need the sink to
        // answer a ping before the replies that free permits get through.
        match self.shared.permits.try_acquire() {
            Ok(permit) => permit.forget(),
            Err(_) => {
                sink.lock().await.flush().await?;
                tokio::time::timeout(conn::STEP, self.shared.permits.acquire())
                    .await
                    .context("no reply to a send within the timeout")??
                    .forget();
            }
        }
        let mut sink = sink.lock().await;
        let id = self.next_id;
        self.next_id += 1;
        self.dialect.send(&mut self.frame, id, &room_name(room), text);
        let message = Message::text(self.frame.as_str());
        if flush {
            sink.send(message).await?;
        } else {
            sink.feed(message).await?;
        }
        Ok(!flush)
    }
}
