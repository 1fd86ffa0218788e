//! Sockets: connecting, the benchmark's clock, reading frames and making
//! requests.

use anyhow::{Context, bail, ensure};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long one connect, request or write may take.
pub(crate) const STEP: Duration = Duration::from_secs(5);

pub(crate) use mizan_bench::now_ns;

/// Microseconds from `start_ns` (on [`now_ns`]) to now.
pub(crate) fn micros_since(start_ns: u64) -> u64 {
    now_ns().saturating_sub(start_ns) / 1000
}

/// The fields of a server frame this benchmark looks at.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Frame {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) id: Option<u64>,
    pub(crate) topic: Option<String>,
    pub(crate) code: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) data: Option<Value>,
    pub(crate) params: Option<Value>,
}

impl Frame {
    /// `code: message`, for error frames.
    pub(crate) fn describe_error(&self) -> String {
        format!(
            "{}: {}",
            self.code.as_deref().unwrap_or("?"),
            self.message.as_deref().unwrap_or("")
        )
    }

    /// `params.user_id` of a push.
    pub(crate) fn user_id(&self) -> Option<u64> {
        self.params.as_ref()?.get("user_id")?.as_u64()
    }

    /// `data.text` of a chat message.
    pub(crate) fn text(&self) -> Option<&str> {
        self.data.as_ref()?.get("text")?.as_str()
    }
}

/// What [`read`] got.
pub(crate) enum Read {
    Frame(Frame),
    /// The deadline passed first.
    Idle,
}

/// Connects (with `TCP_NODELAY` and small buffers: hundreds of sockets
/// share this process) and waits for the server's `hello`.
pub(crate) async fn connect(url: &str) -> anyhow::Result<Ws> {
    let config = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(0);
    let (mut ws, _) = tokio::time::timeout(
        STEP,
        tokio_tungstenite::connect_async_with_config(url, Some(config), true),
    )
    .await
    .context("connecting timed out")??;
    match read(&mut ws, Instant::now() + STEP).await? {
        Read::Frame(frame) if frame.kind == "hello" => Ok(ws),
        Read::Frame(frame) => bail!("expected hello, got {}", frame.kind),
        Read::Idle => bail!("no hello within {STEP:?}"),
    }
}

/// The next text frame, or [`Read::Idle`] at `until`. Pings are answered
/// by tungstenite while reading; a close or a failure is an error.
pub(crate) async fn read(ws: &mut Ws, until: Instant) -> anyhow::Result<Read> {
    loop {
        match tokio::time::timeout_at(until.into(), ws.next()).await {
            Err(_) => return Ok(Read::Idle),
            Ok(None) => bail!("the server ended the stream"),
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(Some(Ok(Message::Text(text)))) => {
                return Ok(Read::Frame(
                    serde_json::from_str(&text).with_context(|| format!("unreadable frame {text}"))?,
                ));
            }
            Ok(Some(Ok(Message::Close(close)))) => bail!("closed by the server: {close:?}"),
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Writes one text frame.
pub(crate) async fn send(ws: &mut Ws, text: String) -> anyhow::Result<()> {
    tokio::time::timeout(STEP, ws.send(Message::text(text)))
        .await
        .context("writing timed out")??;
    Ok(())
}

/// Sends a request and returns its reply (skipping pushes); an `error`
/// reply is an error.
pub(crate) async fn request(ws: &mut Ws, text: String, id: u64) -> anyhow::Result<Frame> {
    send(ws, text).await?;
    let deadline = Instant::now() + STEP;
    loop {
        match read(ws, deadline).await? {
            Read::Frame(frame) if frame.id == Some(id) => {
                ensure!(
                    frame.kind != "error",
                    "request {id} refused: {}",
                    frame.describe_error()
                );
                return Ok(frame);
            }
            Read::Frame(_) => {}
            Read::Idle => bail!("no reply to request {id} within {STEP:?}"),
        }
    }
}

/// Subscribes to room `room` of the `chat` channel; returns the topic.
pub(crate) async fn subscribe(ws: &mut Ws, room: usize, id: u64) -> anyhow::Result<String> {
    let text = format!(r#"{{"type":"subscribe","id":{id},"channel":"chat","params":{{"room":"soak{room}"}}}}"#);
    request(ws, text, id).await?.topic.context("a topic")
}

/// Watches the `user` context of `user_id` (waits for the bundle).
pub(crate) async fn watch(ws: &mut Ws, user_id: u64, id: u64) -> anyhow::Result<()> {
    let text = format!(r#"{{"type":"watch","id":{id},"context":"user","params":{{"user_id":{user_id}}}}}"#);
    let reply = request(ws, text, id).await?;
    ensure!(reply.kind == "bundle", "expected a bundle, got {}", reply.kind);
    Ok(())
}

/// Closes with a close frame and waits (briefly) for the server's.
pub(crate) async fn close(mut ws: Ws) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        ws.close(None).await?;
        for _ in 0..1000 {
            if ws.next().await.is_none() {
                break;
            }
        }
        anyhow::Ok(())
    })
    .await;
}

/// Parses a chat text `"<seq> <send ns>"`.
pub(crate) fn parse_stamp(text: &str) -> Option<(u64, u64)> {
    let (seq, sent) = text.split_once(' ')?;
    Some((seq.parse().ok()?, sent.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse() {
        let message: Frame =
            serde_json::from_str(r#"{"type":"message","topic":"chat:chat_soak1","data":{"text":"7 99","user":null}}"#)
                .unwrap();
        assert_eq!(message.text().and_then(parse_stamp), Some((7, 99)));
        let push: Frame = serde_json::from_str(
            r#"{"type":"merge","context":"user","slot":"user_profile","params":{"user_id":5},"value":{}}"#,
        )
        .unwrap();
        assert_eq!((push.kind.as_str(), push.user_id()), ("merge", Some(5)));
        assert_eq!(parse_stamp("w"), None);
    }
}
