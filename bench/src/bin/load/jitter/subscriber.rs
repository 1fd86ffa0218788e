//! One jittery subscriber: connect, (re)subscribe from where it was,
//! read until it is cut off, stay away, again, until the run stops; and
//! what it received.

use super::{Board, Phase, ROOM};
use crate::conn::{self, Endpoint, STEP, Ws};
use crate::dialect::{Dialect, Incoming};
use crate::reader::parse_text;
use crate::resume::{self, Position};
use crate::rng::XorShift;
use anyhow::{Context, bail, ensure};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use mizan_bench::now_ns;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// How long a subscriber stays subscribed before it is cut off…
const STAY: (Duration, Duration) = (Duration::from_secs(3), Duration::from_secs(6));
/// …and how long it stays away.
const AWAY: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(2));
/// The request id of every connection's subscribe.
const SUBSCRIBE_ID: u64 = 1;

/// Where a reconnect resumes from, as the server spells it.
enum Resume {
    /// Nothing to resume from: before the first reply, or a server that
    /// gives no positions (the floor).
    Nothing,
    /// Mizan: the position of the last message received, or of the last
    /// `subscribed` reply that replays nothing before it.
    Since(Position),
    /// Socket.IO: the session's private id and the offset of the last
    /// event received (none yet in this session).
    Session { pid: String, offset: Option<String> },
}

/// Where one connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Socket.IO: the CONNECT packet is sent, its reply not yet in; the
    /// events meanwhile are the recovered session's missed ones.
    Handshake,
    /// The subscribe is sent, its reply not yet in.
    Subscribing,
    /// Subscribed. Mizan's messages up to `replay_to` are the replay its
    /// `recovered:true` reply announced.
    Live { replay_to: Option<u64> },
}

/// How a connection ended.
enum Ended {
    /// Its time was up: the subscriber goes away.
    Cut,
    /// The run is over.
    Stopped,
}

/// What subscribers received and how their reconnects went; messages are
/// told apart by the sequence number in their text.
pub(super) struct Tally {
    /// How many times each sequence number arrived (this subscriber's).
    seen: Vec<u8>,
    /// The highest sequence number received (this subscriber's).
    highest: Option<usize>,
    /// Distinct messages received.
    pub(super) distinct: u64,
    pub(super) duplicates: u64,
    /// First copies of a message older than one already received.
    pub(super) out_of_order: u64,
    /// Messages received in a replay after a reconnect, and their
    /// latency from send to receipt (µs); the others' latency.
    pub(super) replayed: u64,
    pub(super) replayed_latency: Histogram<u64>,
    pub(super) live_latency: Histogram<u64>,
    pub(super) reconnects: u64,
    /// Reconnects the server did not recover (`recovered:false`, or a
    /// Socket.IO session not restored).
    pub(super) not_recovered: u64,
    /// Mizan: how far behind the topic the resumes answered
    /// `recovered:false` were, in messages (summed, least)…
    not_replayed: u64,
    least_not_replayed: Option<u64>,
    /// …and the most a `recovered:true` one was.
    most_replayed: Option<u64>,
    /// Connections that failed (connect, refusal, no reply, closed by the
    /// server), and the first one's error.
    pub(super) failures: u64,
    pub(super) first_failure: Option<String>,
}

impl Tally {
    /// An empty tally for runs of up to `messages` messages.
    pub(super) fn new(messages: usize) -> Self {
        let histogram = || Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds");
        Self {
            seen: vec![0; messages],
            highest: None,
            distinct: 0,
            duplicates: 0,
            out_of_order: 0,
            replayed: 0,
            replayed_latency: histogram(),
            live_latency: histogram(),
            reconnects: 0,
            not_recovered: 0,
            not_replayed: 0,
            least_not_replayed: None,
            most_replayed: None,
            failures: 0,
            first_failure: None,
        }
    }

    /// Adds another subscriber's tally (but not its sequence numbers).
    pub(super) fn absorb(&mut self, other: &Tally) {
        self.distinct += other.distinct;
        self.duplicates += other.duplicates;
        self.out_of_order += other.out_of_order;
        self.replayed += other.replayed;
        let _ = self.replayed_latency.add(&other.replayed_latency);
        let _ = self.live_latency.add(&other.live_latency);
        self.reconnects += other.reconnects;
        self.not_recovered += other.not_recovered;
        self.not_replayed += other.not_replayed;
        self.least_not_replayed = min(self.least_not_replayed, other.least_not_replayed);
        self.most_replayed = self.most_replayed.max(other.most_replayed);
        self.failures += other.failures;
        if self.first_failure.is_none() {
            self.first_failure.clone_from(&other.first_failure);
        }
    }

    /// What Mizan's `recovered:false` replies explain of the losses, as
    /// the end of a sentence.
    pub(super) fn gaps(&self) -> String {
        let Some(least) = self.least_not_replayed else {
            return String::new();
        };
        format!(
            "; {} of them in the gaps of the {} recovered:false replies (resumes {least} or more messages behind; recovered:true ones were at most {} behind)",
            self.not_replayed,
            self.not_recovered,
            self.most_replayed.unwrap_or(0)
        )
    }

    /// One message text, `"<seq> <send ns>"`; `replayed` when it came in
    /// a replay. Returns whether it was a first copy.
    fn record(&mut self, text: &[u8], replayed: bool) -> bool {
        let now = now_ns();
        let Some((seq, sent)) = parse_text(text) else {
            return false;
        };
        let Some(count) = self.seen.get_mut(seq) else {
            return false;
        };
        *count = count.saturating_add(1);
        if *count > 1 {
            self.duplicates += 1;
            return false;
        }
        self.distinct += 1;
        if self.highest.is_some_and(|highest| seq < highest) {
            self.out_of_order += 1;
        }
        self.highest = self.highest.max(Some(seq));
        let latency = now.saturating_sub(sent) / 1000;
        if replayed {
            self.replayed += 1;
            self.replayed_latency.saturating_record(latency);
        } else {
            self.live_latency.saturating_record(latency);
        }
        true
    }

    fn fail(&mut self, error: &anyhow::Error) {
        self.failures += 1;
        if self.first_failure.is_none() {
            self.first_failure = Some(format!("{error:#}"));
        }
    }
}

/// The smaller of two optional values, either present.
fn min(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// One subscriber of the run.
pub(super) struct Subscriber {
    endpoint: Endpoint,
    rng: XorShift,
    resume: Resume,
    /// Whether its first subscription is in.
    joined: bool,
    tally: Tally,
}

impl Subscriber {
    /// Subscriber `index`, for runs of up to `messages` messages.
    pub(super) fn new(index: usize, endpoint: Endpoint, messages: usize) -> Self {
        Self {
            endpoint,
            rng: XorShift::seeded(index as u64),
            resume: Resume::Nothing,
            joined: false,
            tally: Tally::new(messages),
        }
    }

    /// Connects, is cut off and reconnects until the run stops; returns
    /// what it received.
    pub(super) async fn run(mut self, board: Arc<Board>) -> Tally {
        let mut phase = board.phase.subscribe();
        loop {
            match self.connection(&board, &mut phase).await {
                Ok(Ended::Stopped) => break,
                Ok(Ended::Cut) => {}
                Err(error) => self.tally.fail(&error),
            }
            let away = self.rng.between(AWAY.0, AWAY.1);
            tokio::select! {
                () = tokio::time::sleep(away) => {}
                _ = phase.wait_for(|phase| *phase == Phase::Stop) => break,
            }
            self.tally.reconnects += 1;
        }
        self.tally
    }

    /// One connection, from the connect to the cut, the stop or the
    /// failure. [`Board::away`] counts it as away unless it is subscribed.
    async fn connection(&mut self, board: &Board, phase: &mut watch::Receiver<Phase>) -> anyhow::Result<Ended> {
        let (mut ws, mut stage) = {
            let _permit = board.opening.acquire().await?;
            self.open().await?
        };
        let result = self.read(&mut ws, &mut stage, board, phase).await;
        if matches!(stage, Stage::Live { .. }) {
            board.away.fetch_add(1, Ordering::Relaxed);
        }
        // Dropped, not closed: the server sees the connection vanish.
        drop(ws);
        result
    }

    /// Opens a socket and asks for the subscription in the dialect's way,
    /// resuming when there is something to resume from.
    async fn open(&mut self) -> anyhow::Result<(Ws, Stage)> {
        match self.endpoint.dialect {
            Dialect::Mizan => {
                let mut ws = self.endpoint.connect().await?;
                let since = match &self.resume {
                    Resume::Since(position) => Some(position),
                    _ => None,
                };
                ws.send(Message::text(resume::subscribe_since(SUBSCRIBE_ID, ROOM, since)))
                    .await?;
                Ok((ws, Stage::Subscribing))
            }
            Dialect::SocketIo => {
                let mut ws = self.endpoint.websocket().await?;
                let open = tokio::time::timeout(STEP, conn::next_text(&mut ws))
                    .await
                    .context("no Engine.IO open packet")??;
                ensure!(open.starts_with('0'), "expected an Engine.IO open packet, got {open:?}");
                let (pid, offset) = match &self.resume {
                    Resume::Session { pid, offset } => (Some(pid.as_str()), offset.as_deref()),
                    _ => (None, None),
                };
                ws.send(Message::text(resume::socket_io_connect(pid, offset))).await?;
                Ok((ws, Stage::Handshake))
            }
        }
    }

    /// Reads the connection: the replies that make it live (within
    /// [`STEP`]), then messages until its stay is over (once publishing
    /// has started; never after it ended) or the run stops.
    async fn read(
        &mut self,
        ws: &mut Ws,
        stage: &mut Stage,
        board: &Board,
        phase: &mut watch::Receiver<Phase>,
    ) -> anyhow::Result<Ended> {
        let reply_by = Instant::now() + STEP;
        let mut cut_at = None;
        loop {
            let now = *phase.borrow_and_update();
            let live = matches!(stage, Stage::Live { .. });
            let deadline = match now {
                Phase::Stop => return Ok(Ended::Stopped),
                _ if !live => Some(reply_by),
                Phase::Publishing => {
                    Some(*cut_at.get_or_insert_with(|| Instant::now() + self.rng.between(STAY.0, STAY.1)))
                }
                Phase::Joining | Phase::Calm => None,
            };
            let frame = tokio::select! {
                changed = phase.changed() => {
                    if changed.is_err() {
                        return Ok(Ended::Stopped);
                    }
                    continue;
                }
                () = tokio::time::sleep_until(deadline.unwrap_or(reply_by)), if deadline.is_some() => {
                    ensure!(live, "no reply within {STEP:?}");
                    return Ok(Ended::Cut);
                }
                frame = ws.next() => frame,
            };
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_))) | None => bail!("the server closed the socket"),
                Some(Ok(_)) => continue,
                Some(Err(error)) => return Err(error.into()),
            };
            self.on_frame(ws, stage, text.as_bytes(), board).await?;
            if !live && matches!(stage, Stage::Live { .. }) {
                board.away.fetch_sub(1, Ordering::Relaxed);
                if !self.joined {
                    self.joined = true;
                    board.ready.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Handles one incoming frame.
    async fn on_frame(&mut self, ws: &mut Ws, stage: &mut Stage, frame: &[u8], board: &Board) -> anyhow::Result<()> {
        let dialect = self.endpoint.dialect;
        if dialect == Dialect::SocketIo {
            if let Some(pid) = resume::socket_io_connected(frame) {
                ensure!(*stage == Stage::Handshake, "an unexpected CONNECT reply");
                return self.socket_io_connected(ws, stage, pid).await;
            }
            ensure!(
                !frame.starts_with(b"44"),
                "the server refused the connection: {}",
                String::from_utf8_lossy(frame)
            );
        }
        match dialect.classify(frame) {
            Incoming::Reply {
                id: SUBSCRIBE_ID,
                error,
            } if *stage == Stage::Subscribing => {
                ensure!(
                    !error,
                    "the server refused the subscription: {}",
                    String::from_utf8_lossy(frame)
                );
                *stage = Stage::Live {
                    replay_to: match dialect {
                        Dialect::Mizan => self.mizan_subscribed(frame),
                        Dialect::SocketIo => None,
                    },
                };
            }
            Incoming::Message { text } => {
                let replayed = match (dialect, *stage) {
                    (Dialect::SocketIo, Stage::Handshake) => true,
                    (Dialect::Mizan, Stage::Live { replay_to: Some(last) }) => {
                        resume::message_offset(frame).is_some_and(|offset| offset <= last)
                    }
                    _ => false,
                };
                if self.tally.record(text, replayed) {
                    board.delivered.fetch_add(1, Ordering::Relaxed);
                }
                self.advance(frame);
            }
            Incoming::Ping => ws.send(Message::text(dialect.pong())).await?,
            Incoming::Reply { .. } | Incoming::Invalidate | Incoming::Presence | Incoming::Other => {}
        }
        Ok(())
    }

    /// Reads Mizan's `subscribed` reply; returns the last offset of the
    /// replay that follows it, if any.
    fn mizan_subscribed(&mut self, frame: &[u8]) -> Option<u64> {
        let reply = resume::subscribed(frame);
        let asked = match &self.resume {
            Resume::Since(position) => Some(position),
            _ => None,
        };
        let behind = asked
            .zip(reply.position.as_ref())
            .filter(|(asked, now)| asked.epoch == now.epoch)
            .map(|(asked, now)| now.offset.saturating_sub(asked.offset));
        match reply.recovered {
            // The resume point stays the last message received: the
            // replay follows.
            Some(true) => {
                self.tally.most_replayed = self.tally.most_replayed.max(behind);
                return reply.position.map(|position| position.offset);
            }
            Some(false) => {
                self.tally.not_recovered += 1;
                if let Some(behind) = behind {
                    self.tally.not_replayed += behind;
                    self.tally.least_not_replayed = min(self.tally.least_not_replayed, Some(behind));
                }
            }
            None => {}
        }
        if let Some(position) = reply.position {
            self.resume = Resume::Since(position);
        }
        None
    }

    /// Handles Socket.IO's CONNECT reply: the session is recovered when
    /// it names the `pid` the subscriber sent (its rooms are restored and
    /// its missed events came before the reply); otherwise it subscribes
    /// afresh.
    async fn socket_io_connected(&mut self, ws: &mut Ws, stage: &mut Stage, pid: &[u8]) -> anyhow::Result<()> {
        if let Resume::Session { pid: ours, .. } = &self.resume {
            if ours.as_bytes() == pid {
                *stage = Stage::Live { replay_to: None };
                return Ok(());
            }
            self.tally.not_recovered += 1;
        }
        // A server that keeps no sessions sends no pid: reconnect plainly.
        self.resume = if pid.is_empty() {
            Resume::Nothing
        } else {
            Resume::Session {
                pid: String::from_utf8_lossy(pid).into_owned(),
                offset: None,
            }
        };
        let dialect = self.endpoint.dialect;
        ws.send(Message::text(dialect.subscribe(SUBSCRIBE_ID, ROOM))).await?;
        *stage = Stage::Subscribing;
        Ok(())
    }

    /// Moves the resume point to the message `frame`.
    fn advance(&mut self, frame: &[u8]) {
        match &mut self.resume {
            Resume::Since(position) => {
                if let Some(offset) = resume::message_offset(frame) {
                    position.offset = offset;
                }
            }
            Resume::Session { offset, .. } => {
                if let Some(got) = resume::socket_io_offset(frame) {
                    let offset = offset.get_or_insert_with(String::new);
                    offset.clear();
                    offset.push_str(&String::from_utf8_lossy(got));
                }
            }
            Resume::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_misordering_are_counted_by_sequence() {
        let mut tally = Tally::new(10);
        assert!(tally.record(b"0 0", false));
        assert!(tally.record(b"2 0", false));
        assert!(tally.record(b"1 0", true));
        assert!(!tally.record(b"2 0", true));
        assert!(!tally.record(b"99 0", false));
        assert_eq!(
            (tally.distinct, tally.duplicates, tally.out_of_order, tally.replayed),
            (3, 1, 1, 1)
        );
    }
}
