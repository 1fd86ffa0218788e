//! Failure modes, in-process: half-open clients, clients that never read,
//! coalescing of repeated invalidations, draining in batches.

mod support;

/// The tests here measure timings or load the machine: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

use futures_util::{SinkExt, StreamExt};
use mizan::protocol::ServerFrame;
use mizan::{Cx, Error, Function, NoArgs, ServerConfig};
use serde_json::json;
use std::time::{Duration, Instant};
use support::{Client, Server, result_json};
use tokio_tungstenite::tungstenite::Message;

fn fast_config() -> ServerConfig {
    support::config(|c| {
        c.outbound_queue_frames = 4096;
        c.messages_per_second = 1e9;
        c.message_burst = 1e9;
        c.pending_sends_per_topic = 100_000;
    })
}

async fn metrics(server: &Server) -> String {
    server.get_text("/metrics").await
}

fn metric(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no metric {line_start}"))
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + support::WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_half_open_client_is_dropped_and_released_everywhere() {
    let _serial = SERIAL.lock().await;
    let config = support::config(|c| {
        c.ping_interval = Duration::from_millis(100);
        c.ping_timeout = Duration::from_millis(500);
    });
    let server = Server::start(support::fixture::builder(support::SECRET).config(config)).await;
    let mut silent = server.client().await;
    silent.join("chat", json!({"room": "half-open"})).await;
    let id = silent
        .request(json!({"type": "watch", "context": "user", "params": {"user_id": 1}}))
        .await;
    silent.reply(id).await;
    assert_eq!((server.app.local_topic_count(), server.app.local_watch_count()), (1, 1));
    // From now on the client neither reads nor answers pings.
    let started = Instant::now();
    wait_until("the half-open socket is dropped", || server.app.connection_count() == 0).await;
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "dropped too early: {:?}",
        started.elapsed()
    );
    assert_eq!((server.app.local_topic_count(), server.app.local_watch_count()), (0, 0));
    assert_eq!(
        metric(&metrics(&server).await, "mizan_closes_total{code=\"1001\"}"),
        1.0
    );
    drop(silent);
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_with_4008_while_others_receive_everything() {
    let _serial = SERIAL.lock().await;
    let server = Server::start(support::fixture::builder(support::SECRET).config(fast_config())).await;
    let mut stuck = tiny_buffer_client(&server).await;
    let join = json!({"type": "subscribe", "id": 1, "channel": "chat", "params": {"room": "flood"}});
    stuck.send(Message::text(join.to_string())).await.unwrap();
    let Some(Ok(Message::Text(subscribed))) = stuck.next().await else {
        panic!()
    };
    assert!(subscribed.contains("subscribed"));
    let topic = "chat:chat_flood".to_owned();
    let reader = {
        let mut reader = server.client().await;
        reader.join("chat", json!({"room": "flood"})).await;
        reader
    };
    let mut sender = server.client().await;
    sender.join("chat", json!({"room": "flood"})).await;
    support::flood_in_order(&mut sender, reader, &topic, 50_000).await;
    let text = metrics(&server).await;
    assert_eq!(metric(&text, "mizan_closes_total{code=\"4008\"}"), 1.0);
    // The reader left with the flood helper; only the sender remains.
    wait_until("the stuck socket is gone", || server.app.connection_count() == 1).await;
    drop(stuck);
}

/// A client whose kernel receive buffer is tiny: the server's writer blocks
/// as soon as a few kilobytes are in flight.
async fn tiny_buffer_client(server: &Server) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(server.ws_url(), stream).await.unwrap();
    let _hello = ws.next().await.unwrap().unwrap();
    ws
}

#[tokio::test]
async fn repeated_invalidations_coalesce_for_a_slow_watcher() {
    let _serial = SERIAL.lock().await;
    let server = Server::start(support::fixture::builder(support::SECRET).config(fast_config())).await;
    let mut slow = tiny_buffer_client(&server).await;
    let watch = json!({"type": "watch", "id": 1, "context": "user", "params": {"user_id": 3}});
    slow.send(Message::text(watch.to_string())).await.unwrap();
    let mut caller = server.client().await;
    let calls = 20_000;
    for window in 0..calls / 1000 {
        let mut ids = Vec::with_capacity(1000);
        for i in 0..1000 {
            let args = json!({"user_id": 3, "name": format!("n{}", window * 1000 + i)});
            ids.push(
                caller
                    .request(json!({"type": "call", "fn": "update_profile", "args": args}))
                    .await,
            );
        }
        for id in ids {
            caller.reply(id).await;
        }
    }
    let text = metrics(&server).await;
    let coalesced = metric(&text, "mizan_coalesced_invalidations_total");
    assert!(coalesced > 0.0, "nothing coalesced");
    assert_eq!(
        metric(&text, "mizan_closes_total{code=\"4008\"}"),
        0.0,
        "invalidations alone never close a socket"
    );
    // The watcher catches up: the bundle, then some invalidations (at least
    // one after the last change), far fewer than the calls.
    let mut invalidations = 0;
    let mut bundle = false;
    while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_millis(500), slow.next()).await {
        if let Message::Text(text) = message {
            match ServerFrame::decode(text.as_bytes()).unwrap() {
                ServerFrame::Bundle { .. } => bundle = true,
                ServerFrame::Invalidate(_) => invalidations += 1,
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(
        bundle && invalidations >= 1,
        "bundle {bundle}, {invalidations} invalidations"
    );
    assert_eq!(invalidations as f64 + coalesced, calls as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_closes_sockets_in_batches_after_in_flight_calls_finish() {
    let _serial = SERIAL.lock().await;
    let config = support::config(|c| {
        c.drain_window = Duration::from_secs(2);
        c.shutdown_grace = Duration::from_secs(5);
    });
    let slow = Function::new("slow_call", |_cx: Cx, _: NoArgs| async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        Ok::<_, Error>("finished")
    });
    let server = Server::start(support::fixture::builder(support::SECRET).function(slow).config(config)).await;
    let mut caller = server.client().await;
    let mut clients = Vec::new();
    for _ in 0..50 {
        clients.push(Client::connect(&server.ws_url(), None).await);
    }
    let call = caller.request(json!({"type": "call", "fn": "slow_call"})).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let app = server.app.clone();
    let started = Instant::now();
    let drain = tokio::spawn(async move { app.drain().await });
    // Time every close from now, concurrently with what follows.
    let closes = tokio::spawn(support::close_times(clients, 1012, started));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(reqwest::get(server.http_url("/readyz")).await.unwrap().status(), 503);
    match tokio_tungstenite::connect_async(server.ws_url()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 503),
        other => panic!("a draining node accepted a socket: {:?}", other.map(|_| ())),
    }
    // The in-flight call completes before its socket is closed.
    assert_eq!(result_json(&caller.reply(call).await), json!("finished"));
    assert_eq!(caller.closed().await, 1012);
    let closed_at = closes.await.unwrap();
    drain.await.unwrap();
    let spread = closed_at[closed_at.len() - 1] - closed_at[0];
    assert!(
        closed_at[0] >= Duration::from_millis(300),
        "closed before the call finished: {closed_at:?}"
    );
    // Batches every 100 ms over 2 s: the first and last close are ~1.9 s
    // apart; half that leaves room for a loaded machine.
    assert!(
        spread >= Duration::from_millis(950),
        "closes not spread over the window: {spread:?}"
    );
    assert_eq!(server.app.connection_count(), 0);
}
