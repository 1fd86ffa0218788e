//! The benchmark's WebSocket clients: subscribers that time every message
//! they receive, and the publisher's reader, which also returns send
//! permits as `ok`s come back.

use anyhow::{Context, bail};
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The benchmark's clock: nanoseconds since its first use. Send times
/// travel in the messages and come back to this process, so one clock
/// serves both ends.
pub(crate) fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    u64::try_from(EPOCH.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Connects to `url` (with `TCP_NODELAY`, as a latency-minded client
/// would) and joins the `bench` chat room; returns the socket and the topic.
pub(crate) async fn join(url: &str) -> anyhow::Result<(Ws, String)> {
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async_with_config(url, None, true),
    )
    .await
    .context("connecting timed out")??;
    let subscribe = r#"{"type":"subscribe","id":1,"channel":"chat","params":{"room":"bench"}}"#;
    ws.send(Message::text(subscribe)).await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await else {
            break;
        };
        if let Message::Text(text) = message? {
            if text.contains(r#""type":"subscribed""#) {
                let topic = field(text.as_bytes(), b"\"topic\":\"").context("a topic")?;
                return Ok((ws, String::from_utf8_lossy(topic).into_owned()));
            }
            if text.contains(r#""type":"error""#) {
                bail!("subscribe refused: {text}");
            }
        }
    }
    bail!("no `subscribed` reply within 5 s")
}

/// The bytes of a string field's value (no escapes expected).
fn field<'a>(frame: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let start = frame.windows(key.len()).position(|w| w == key)? + key.len();
    let len = frame[start..].iter().position(|&b| b == b'"')?;
    Some(&frame[start..start + len])
}

/// What one receiving socket saw.
pub(crate) struct Tally {
    /// Delivery latency, microseconds.
    pub(crate) latency: Histogram<u64>,
    /// How many times each measured message arrived.
    seen: Vec<u8>,
    pub(crate) received: u64,
    pub(crate) duplicates: u64,
    /// When the last measured message arrived (ns on [`now_ns`]).
    pub(crate) last_ns: u64,
    /// `ok` replies (the publisher's socket only).
    pub(crate) oks: u64,
    /// Error frames.
    pub(crate) errors: u64,
}

impl Tally {
    pub(crate) fn new(expected: usize) -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds"),
            seen: vec![0; expected],
            received: 0,
            duplicates: 0,
            last_ns: 0,
            oks: 0,
            errors: 0,
        }
    }

    /// Messages never received.
    pub(crate) fn missing(&self) -> u64 {
        self.seen.iter().filter(|&&n| n == 0).count() as u64
    }

    /// Adds another socket's tally (latencies and counts).
    pub(crate) fn absorb(&mut self, other: &Tally) {
        let _ = self.latency.add(&other.latency);
        self.received += other.received;
        self.duplicates += other.duplicates;
        self.last_ns = self.last_ns.max(other.last_ns);
        self.oks += other.oks;
        self.errors += other.errors;
    }

    /// One text frame. Measured messages carry `"<seq> <send ns>"`; warm-up
    /// messages carry `"w"`.
    fn record(&mut self, frame: &[u8], permits: Option<&Semaphore>) {
        let now = now_ns();
        if frame.starts_with(br#"{"type":"message""#) {
            let Some(text) = field(frame, b"\"text\":\"") else {
                return;
            };
            let Some((seq, sent)) = parse_text(text) else { return };
            let Some(count) = self.seen.get_mut(seq) else { return };
            *count = count.saturating_add(1);
            if *count > 1 {
                self.duplicates += 1;
                return;
            }
            self.received += 1;
            self.last_ns = now;
            self.latency.saturating_record(now.saturating_sub(sent) / 1000);
        } else if frame.starts_with(br#"{"type":"ok""#) {
            self.oks += 1;
            if let Some(permits) = permits {
                permits.add_permits(1);
            }
        } else if frame.starts_with(br#"{"type":"error""#) {
            self.errors += 1;
            if self.errors <= 3 {
                eprintln!("server error: {}", String::from_utf8_lossy(frame));
            }
            if let Some(permits) = permits {
                permits.add_permits(1);
            }
        }
    }
}

fn parse_text(text: &[u8]) -> Option<(usize, u64)> {
    let text = std::str::from_utf8(text).ok()?;
    let (seq, sent) = text.split_once(' ')?;
    Some((seq.parse().ok()?, sent.parse().ok()?))
}

/// Reads `ws` until every one of `expected` messages arrived, or until
/// `stop_at` (ns on [`now_ns`]; 0 while unknown) or `hard_stop` passes.
/// On the publisher's socket, each `ok` or error returns a permit.
pub(crate) async fn read(
    mut ws: SplitStream<Ws>,
    expected: usize,
    stop_at: Arc<AtomicU64>,
    hard_stop: Instant,
    permits: Option<Arc<Semaphore>>,
) -> Tally {
    let mut tally = Tally::new(expected);
    let publisher = permits.is_some();
    loop {
        // The publisher's reader keeps reading `ok`s after its own copies
        // of the messages are all in.
        if tally.received as usize >= expected && (!publisher || tally.oks + tally.errors >= expected as u64) {
            break;
        }
        let stop = stop_at.load(Ordering::Relaxed);
        if (stop != 0 && now_ns() >= stop) || Instant::now() >= hard_stop {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(50), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => tally.record(text.as_bytes(), permits.as_deref()),
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(Some(Err(e))) => {
                eprintln!("a socket failed: {e}");
                break;
            }
            Ok(None) => break,
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_texts_parse() {
        let frame = br#"{"type":"message","topic":"chat:chat_bench","data":{"text":"12 3456","user":null}}"#;
        assert_eq!(field(frame, b"\"text\":\""), Some(&b"12 3456"[..]));
        assert_eq!(parse_text(b"12 3456"), Some((12, 3456)));
        assert_eq!(parse_text(b"w"), None);
        let mut tally = Tally::new(20);
        tally.record(frame, None);
        tally.record(frame, None);
        assert_eq!((tally.received, tally.duplicates, tally.missing()), (1, 1, 19));
    }
}
