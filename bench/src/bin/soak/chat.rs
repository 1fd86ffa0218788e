//! Chat rooms: subscribers that time every message and check each room's
//! sequence, and publishers that send at a steady rate.

use crate::load::{Client, Shared};
use crate::stats::{Count, Kind};
use crate::ws::{self, Read, Ws, micros_since, now_ns};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::time::MissedTickBehavior;

/// A socket in one room.
pub(crate) struct Subscriber {
    pub(crate) room: usize,
    /// The sequence number expected next (unknown until the first message).
    next: Option<u64>,
}

impl Subscriber {
    pub(crate) fn new(room: usize) -> Self {
        Self { room, next: None }
    }

    fn receive(&mut self, text: &str, shared: &Shared) {
        let Some((seq, sent)) = ws::parse_stamp(text) else {
            return;
        };
        shared.stats.record(Kind::Chat, now_ns().saturating_sub(sent) / 1000);
        match self.next {
            Some(next) if seq > next => shared.stats.add(Count::ChatLost, seq - next),
            Some(next) if seq < next => shared.stats.add(Count::ChatMisordered, 1),
            _ => {}
        }
        self.next = Some(self.next.unwrap_or(0).max(seq + 1));
    }
}

impl Client for Subscriber {
    fn name(&self) -> String {
        format!("subscriber of room {}", self.room)
    }

    async fn setup(&mut self, url: &str) -> anyhow::Result<Ws> {
        let mut ws = ws::connect(url).await?;
        ws::subscribe(&mut ws, self.room, 1).await?;
        // After a reconnect, the sequence starts again from what arrives.
        self.next = None;
        Ok(ws)
    }

    async fn run(&mut self, mut ws: Ws, shared: &Shared) -> anyhow::Result<()> {
        loop {
            match ws::read(&mut ws, shared.read_until).await? {
                Read::Idle => break,
                Read::Frame(frame) if frame.kind == "message" => {
                    if let Some(text) = frame.text() {
                        self.receive(text, shared);
                    }
                }
                Read::Frame(frame) if frame.kind == "error" => {
                    shared.stats.note(Count::ServerErrors, &frame.describe_error());
                }
                Read::Frame(_) => {}
            }
        }
        // Messages sent to the room that never arrived by the end.
        if let Some(next) = self.next {
            let sent = shared.chat_sent[self.room].load(Ordering::Relaxed);
            shared.stats.add(Count::ChatLost, sent.saturating_sub(next));
        }
        ws::close(ws).await;
        Ok(())
    }
}

/// A socket that sends to its rooms in turn, `1 / period` messages a
/// second. Each room has one publisher, so a room's sequence numbers
/// arrive in order.
pub(crate) struct Publisher {
    pub(crate) rooms: Vec<usize>,
    topics: Vec<String>,
    pub(crate) period: Duration,
    next_id: u64,
    /// Sends without an `ok` or error yet.
    unanswered: u64,
    /// When the last answer came, or the first unanswered send went.
    last_answer: u64,
}

impl Publisher {
    pub(crate) fn new(rooms: Vec<usize>, period: Duration) -> Self {
        Self {
            rooms,
            topics: Vec::new(),
            period,
            next_id: 0,
            unanswered: 0,
            last_answer: 0,
        }
    }

    async fn publish(&mut self, ws: &mut Ws, turn: usize, shared: &Shared) -> anyhow::Result<()> {
        if self.unanswered >= 1000 {
            shared.stats.add(Count::Skipped, 1);
            return Ok(());
        }
        let k = turn % self.rooms.len();
        let seq = shared.chat_sent[self.rooms[k]].fetch_add(1, Ordering::Relaxed);
        self.next_id += 1;
        let text = format!(
            r#"{{"type":"send","id":{},"topic":"{}","data":{{"text":"{seq} {}"}}}}"#,
            self.next_id,
            self.topics[k],
            now_ns()
        );
        if self.unanswered == 0 {
            self.last_answer = now_ns();
        }
        self.unanswered += 1;
        ws::send(ws, text).await
    }
}

impl Client for Publisher {
    fn name(&self) -> String {
        format!("publisher of rooms {:?}", self.rooms)
    }

    async fn setup(&mut self, url: &str) -> anyhow::Result<Ws> {
        let mut ws = ws::connect(url).await?;
        self.topics.clear();
        for (i, &room) in self.rooms.iter().enumerate() {
            self.topics.push(ws::subscribe(&mut ws, room, i as u64 + 1).await?);
        }
        self.next_id = self.rooms.len() as u64;
        self.unanswered = 0;
        Ok(ws)
    }

    async fn run(&mut self, mut ws: Ws, shared: &Shared) -> anyhow::Result<()> {
        let mut ticks = tokio::time::interval(self.period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut turn = 0;
        loop {
            let sending = Instant::now() < shared.end;
            if !sending && self.unanswered == 0 {
                break;
            }
            tokio::select! {
                _ = ticks.tick(), if sending => {
                    self.publish(&mut ws, turn, shared).await?;
                    turn += 1;
                    if self.unanswered > 0 && micros_since(self.last_answer) > 10_000_000 {
                        anyhow::bail!("no `ok` for 10 s ({} sends unanswered)", self.unanswered);
                    }
                }
                read = ws::read(&mut ws, shared.read_until) => match read? {
                    Read::Idle => break,
                    Read::Frame(frame) => match frame.kind.as_str() {
                        "ok" => {
                            self.unanswered = self.unanswered.saturating_sub(1);
                            self.last_answer = now_ns();
                        }
                        "error" => {
                            self.unanswered = self.unanswered.saturating_sub(1);
                            self.last_answer = now_ns();
                            shared.stats.note(Count::ServerErrors, &frame.describe_error());
                        }
                        _ => {}
                    },
                },
            }
        }
        ws::close(ws).await;
        Ok(())
    }
}
