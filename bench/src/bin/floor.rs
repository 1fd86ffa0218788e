//! The floor of the comparison: the plainest honest broadcast server on
//! tokio-tungstenite, written for the benchmark. It speaks the subset of
//! Mizan's frames the load generator uses (`hello`, `subscribe`, `send`,
//! `call echo`), serializes each broadcast once and hands the same bytes
//! to every member of the room. Each socket has a reader (this task) and a
//! writer task behind a bounded queue; the writer batches what is queued
//! into one flush. A member whose queue is full is dropped from its room
//! (the generator reports that as lost deliveries).
//!
//! ```sh
//! cargo run --release -p mizan-bench --bin floor -- --port 0
//! ```
//!
//! No auth, no limits beyond the queue, no metrics: what Mizan adds on
//! top of this is what the comparison prices.

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// The floor server.
#[derive(Parser)]
struct Args {
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Frames queued per socket (Mizan's default `outbound_queue_frames`).
    #[arg(long, default_value_t = 1024)]
    queue: usize,
}

/// Room members: socket id and queue.
type Rooms = Mutex<HashMap<String, Vec<(u64, mpsc::Sender<Utf8Bytes>)>>>;

#[derive(Deserialize)]
struct Request {
    #[serde(rename = "type")]
    kind: String,
    id: Option<u64>,
    params: Option<RoomParams>,
    topic: Option<String>,
    data: Option<Text>,
    args: Option<Text>,
}

#[derive(Deserialize)]
struct RoomParams {
    room: String,
}

#[derive(Deserialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
struct Broadcast<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    topic: &'a str,
    data: Said<'a>,
}

#[derive(Serialize)]
struct Said<'a> {
    text: &'a str,
    user: Option<()>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(("127.0.0.1", args.port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let rooms: Arc<Rooms> = Arc::default();
    let ids = AtomicU64::new(0);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let id = ids.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(connection(stream, id, Arc::clone(&rooms), args.queue));
    }
}

async fn connection(stream: TcpStream, id: u64, rooms: Arc<Rooms>, queue: usize) {
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(queue);
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            sink.feed(Message::Text(frame)).await?;
            while let Ok(frame) = rx.try_recv() {
                sink.feed(Message::Text(frame)).await?;
            }
            sink.flush().await?;
        }
        anyhow::Ok(())
    });
    let mut joined = Vec::new();
    let _ = tx.try_send(Utf8Bytes::from_static(r#"{"type":"hello","protocol":1}"#));
    while let Some(Ok(message)) = stream.next().await {
        let Message::Text(text) = message else { continue };
        let reply = handle(&text, id, &tx, &rooms, &mut joined);
        if tx.try_send(reply.into()).is_err() {
            break;
        }
    }
    let mut rooms = rooms.lock().unwrap_or_else(PoisonError::into_inner);
    for topic in joined {
        if let Some(members) = rooms.get_mut(&topic) {
            members.retain(|(member, _)| *member != id);
        }
    }
    drop(rooms);
    writer.abort();
}

/// Handles one request; returns the reply.
fn handle(text: &str, me: u64, tx: &mpsc::Sender<Utf8Bytes>, rooms: &Rooms, joined: &mut Vec<String>) -> String {
    let Ok(request) = serde_json::from_str::<Request>(text) else {
        return r#"{"type":"error","id":null,"code":"bad_request","message":"not a request"}"#.into();
    };
    let id = request.id.unwrap_or(0);
    match (
        request.kind.as_str(),
        request.params,
        request.topic,
        request.data,
        request.args,
    ) {
        ("subscribe", Some(RoomParams { room }), ..) => {
            let topic = format!("chat:chat_{room}");
            let mut rooms = rooms.lock().unwrap_or_else(PoisonError::into_inner);
            rooms.entry(topic.clone()).or_default().push((me, tx.clone()));
            joined.push(topic.clone());
            format!(r#"{{"type":"subscribed","id":{id},"topic":{}}}"#, json_string(&topic))
        }
        ("send", _, Some(topic), Some(Text { text }), _) => {
            let frame: Utf8Bytes = serde_json::to_string(&Broadcast {
                kind: "message",
                topic: &topic,
                data: Said {
                    text: &text,
                    user: None,
                },
            })
            .unwrap_or_default()
            .into();
            let mut rooms = rooms.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(members) = rooms.get_mut(&topic) {
                members.retain(|(_, member)| member.try_send(frame.clone()).is_ok());
            }
            format!(r#"{{"type":"ok","id":{id}}}"#)
        }
        ("call", _, _, _, Some(Text { text })) => {
            format!(
                r#"{{"type":"result","id":{id},"result":{{"message":{}}}}}"#,
                json_string(&text)
            )
        }
        _ => format!(r#"{{"type":"error","id":{id},"code":"bad_request","message":"unknown request"}}"#),
    }
}

/// `s` as a JSON string literal. Replies are spelled by hand, `type`
/// first, as Mizan writes them (the generator classifies frames by their
/// first bytes).
fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}
