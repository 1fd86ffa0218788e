//! Failure modes against a fixture node running as its own process: a
//! SIGTERM drain, memory under a flood with a client that never reads, and
//! a connection storm.

mod support;

/// The tests here measure timings or load the machine: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

use futures_util::{SinkExt, StreamExt};
use mizan::protocol::ServerFrame;
use serde_json::json;
use std::time::{Duration, Instant};
use support::processes::Node;
use tokio_tungstenite::tungstenite::Message;

/// Settings that let one test client send as fast as it can.
const UNTHROTTLED: [(&str, &str); 4] = [
    ("MIZAN_OUTBOUND_QUEUE_FRAMES", "4096"),
    ("MIZAN_MESSAGES_PER_SECOND", "1e9"),
    ("MIZAN_MESSAGE_BURST", "1e9"),
    ("MIZAN_PENDING_SENDS_PER_TOPIC", "100000"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_batches_and_the_process_exits() {
    let _serial = SERIAL.lock().await;
    let mut node = Node::start_with_env(&[], &[("MIZAN_DRAIN_WINDOW", "2s"), ("MIZAN_SHUTDOWN_GRACE", "2s")]);
    let mut clients = Vec::new();
    for _ in 0..100 {
        clients.push(node.client().await);
    }
    let started = Instant::now();
    node.terminate();
    let closed_at = support::close_times(clients, 1012, started).await;
    let spread = closed_at[99] - closed_at[0];
    // Batches every 100 ms over 2 s: ~1.9 s from first to last close.
    assert!(spread >= Duration::from_millis(950), "closes not spread: {spread:?}");
    assert!(
        spread <= Duration::from_millis(4000),
        "closes spread too long: {spread:?}"
    );
    let status = node.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "the node exited with {status}:\n{}", node.log());
}

/// A socket whose kernel receive buffer is tiny, so the server must queue.
async fn stuck_subscriber(node: &Node, room: &str) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let stream = socket.connect(node.addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(node.ws_url(), stream).await.unwrap();
    let _hello = ws.next().await.unwrap().unwrap();
    let join = json!({"type": "subscribe", "id": 1, "channel": "chat", "params": {"room": room}});
    ws.send(Message::text(join.to_string())).await.unwrap();
    let Some(Ok(Message::Text(reply))) = ws.next().await else {
        panic!("no reply")
    };
    assert!(reply.contains("subscribed"), "{reply}");
    ws
}

#[tokio::test]
async fn a_flood_to_a_client_that_never_reads_stays_within_bounded_memory() {
    let _serial = SERIAL.lock().await;
    let node = Node::start_with_env(&[], &UNTHROTTLED);
    let _stuck = stuck_subscriber(&node, "flood").await;
    let reader = {
        let mut reader = node.client().await;
        reader.join("chat", json!({"room": "flood"})).await;
        reader
    };
    let mut sender = node.client().await;
    let topic = sender.join("chat", json!({"room": "flood"})).await;
    support::flood_in_order(&mut sender, reader, &topic, 50_000).await;
    let metrics = node.metrics().await;
    assert!(metrics.contains("mizan_closes_total{code=\"4008\"} 1\n"), "{metrics}");
    // The stated bound: the node's peak resident memory stays under 128 MiB
    // (a debug build; the stuck socket's queue is capped at 1 MiB).
    let peak = node.peak_rss_kib();
    assert!(peak < 128 * 1024, "peak RSS {peak} KiB");
}

#[tokio::test]
async fn a_storm_of_ten_thousand_connections_is_served_or_refused_cleanly() {
    let _serial = SERIAL.lock().await;
    let node = Node::start_with_env(&[], &[("MIZAN_MAX_CONNECTIONS", "10000")]);
    let mut subscriber = node.client().await;
    let topic = subscriber.join("chat", json!({"room": "storm"})).await;
    let mut publisher = node.client().await;
    publisher.join("chat", json!({"room": "storm"})).await;
    let url = node.ws_url();
    let started = Instant::now();
    let storm: Vec<_> = (0..10_000)
        .map(|i| {
            let url = url.clone();
            tokio::spawn(async move {
                // Spread the 10k attempts over one second.
                tokio::time::sleep(Duration::from_micros(i * 100)).await;
                match tokio_tungstenite::connect_async(&url).await {
                    Ok((ws, _)) => Ok(Some(ws)),
                    Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
                    Err(e) => panic!("attempt {i} failed uncleanly: {e}"),
                }
            })
        })
        .collect();
    // Meanwhile the established subscriber keeps getting every message.
    let mut sent = 0;
    while storm.iter().any(|t| !t.is_finished()) && sent < 500 {
        let id = publisher
            .request(json!({"type": "send", "topic": topic, "data": {"text": sent.to_string()}}))
            .await;
        assert!(matches!(publisher.reply(id).await, ServerFrame::Ok { .. }));
        sent += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (mut accepted, mut refused) = (Vec::new(), 0);
    for attempt in storm {
        match attempt.await.unwrap() {
            Ok(ws) => accepted.push(ws),
            Err(status) => {
                assert!(status == 429 || status == 503, "refused with {status}");
                refused += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(accepted.len() + refused, 10_000);
    assert!(
        accepted.len() >= 2_000,
        "only {} accepted in {elapsed:?}",
        accepted.len()
    );
    for i in 0..sent {
        let ServerFrame::Message { data, .. } = subscriber.push().await else {
            panic!()
        };
        assert_eq!(data.get(), format!(r#"{{"text":"{i}","user":null}}"#));
    }
    let metrics = node.metrics().await;
    assert!(
        metrics.contains(&format!("mizan_connections {}\n", accepted.len() + 2)),
        "{metrics}"
    );
    drop(accepted);
}

/// The attack of issue 12: sockets storing all they may. Each of 150
/// anonymous sockets joins 100 topics of the longest group allowed, with
/// params padded to `max_params_bytes`, and holds 100 watches; the 60 KB
/// room names of the original attack are refused outright. What this
/// stores stays within a stated bound per socket (and the node's budgets
/// cap the total; docs/security.md has the worst case per node).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_sockets_may_store_stays_within_a_bound_per_socket() {
    let _serial = SERIAL.lock().await;
    let node = Node::start_with_env(&[], &UNTHROTTLED);
    const SOCKETS: usize = 150;
    let mut clients = Vec::new();
    for _ in 0..SOCKETS {
        clients.push(node.client().await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = node.peak_rss_kib();
    let attack = clients.iter_mut().enumerate().map(|(n, client)| async move {
        let huge = client.subscribe("chat", json!({"room": "x".repeat(60_000)})).await;
        assert!(matches!(huge, ServerFrame::Error { .. }), "a 60 KB room is refused");
        for t in 0..100 {
            // "chat:chat_" + room: 256 bytes, the most a topic may have.
            let room = format!("{n:04}-{t:03}-{}", "r".repeat(237));
            let pad = "p".repeat(1024 - 300);
            let topic = client.join("chat", json!({"room": room, "pad": pad})).await;
            assert_eq!(topic.len(), 256);
        }
        for w in 0..100 {
            let user_id = (n * 100 + w) as i64;
            let id = client
                .request(json!({"type": "watch", "context": "user", "params": {"user_id": user_id}}))
                .await;
            assert!(matches!(client.reply(id).await, ServerFrame::Bundle { .. }));
        }
    });
    futures_util::future::join_all(attack).await;
    let after = node.peak_rss_kib();
    let per_socket = (after.saturating_sub(before)) * 1024 / SOCKETS as u64;
    eprintln!("peak RSS {before} KiB -> {after} KiB: {per_socket} B per socket holding 100 topics and 100 watches");
    // Measured at ~440 KiB in a debug build (docs/security.md: each topic
    // costs its 256-byte name in the hub, the socket and the broker, its
    // params as sent and as decoded); the bound leaves room for allocator
    // slack and is 20x below the 12 MiB one such socket took before.
    assert!(per_socket < 600 * 1024, "{per_socket} B per socket");
    let metrics = node.metrics().await;
    assert!(
        metrics.contains(&format!("mizan_topics {}\n", SOCKETS * 100)),
        "every join counted"
    );
}
