//! What one piece of misbehaving code can do to the node.
//!
//! - A handler that computes for seconds without awaiting (it should use
//!   `spawn_blocking`, but people forget): its own socket is not dropped
//!   for missing pongs it could not read, other sockets' replies are not
//!   held up, and once it has been seen to be slow its later calls run in
//!   tasks of their own, so its socket's other requests no longer wait
//!   behind it.
//! - A broker (a user's own) that panics while publishing: the send fails
//!   with `internal`, the topic keeps flowing, the socket lives.

mod support;

use mizan::broker::{Broker, Event, Inbox, MemoryBroker, Subject};
use mizan::protocol::ServerFrame;
use mizan::{Cx, Error, Function, NoArgs};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::{Client, Server, result_json};

/// A function that computes for `time` without awaiting.
fn busy(name: &str, time: Duration) -> Function {
    Function::new(name, move |_cx: Cx, _: NoArgs| async move {
        std::thread::sleep(time);
        Ok::<_, Error>(true)
    })
}

#[test]
fn a_handler_busy_for_two_seconds_stalls_nothing_else() {
    // The server on a runtime of its own (two workers, as in production
    // on this machine); the clients on the test's.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = support::config(|c| {
        c.ping_interval = Duration::from_millis(200);
        c.ping_timeout = Duration::from_millis(1000);
    });
    let server = server_rt.block_on(Server::start(
        support::fixture::builder(support::SECRET)
            .function(busy("busy", Duration::from_secs(2)))
            .function(busy("busy_short", Duration::from_millis(300)))
            .config(config),
    ));
    let clients_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    clients_rt.block_on(async {
        let mut bystander = server.client().await;
        let mut busy_socket = server.client().await;
        let id = busy_socket
            .request(json!({"type": "call", "fn": "busy", "args": {}}))
            .await;
        // The bystander's echoes, timed while the handler runs; the busy
        // socket's client reads (and answers pings) meanwhile, as a
        // browser does.
        let timing = async {
            let started = Instant::now();
            let mut worst = Duration::ZERO;
            while started.elapsed() < Duration::from_millis(2500) {
                let asked = Instant::now();
                let reply = bystander.call("echo", json!({"text": "x"})).await;
                assert_eq!(result_json(&reply)["message"], "x");
                worst = worst.max(asked.elapsed());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            worst
        };
        let (worst, busy_reply) = tokio::join!(timing, busy_socket.reply(id));
        assert!(worst < Duration::from_millis(500), "a bystander waited {worst:?}");
        assert!(matches!(busy_reply, ServerFrame::Result { .. }));
        // Its socket is still open: the pongs it sent meanwhile counted.
        assert_eq!(
            result_json(&busy_socket.call("echo", json!({"text": "alive"})).await)["message"],
            "alive"
        );

        // Slow twice in a row, a function is known to be slow: its next call
        // does not hold up the socket's next request.
        for _ in 0..2 {
            let reply = busy_socket.call("busy_short", json!({})).await;
            assert!(matches!(reply, ServerFrame::Result { .. }));
        }
        let busy_id = busy_socket
            .request(json!({"type": "call", "fn": "busy_short", "args": {}}))
            .await;
        let asked = Instant::now();
        let echo = echo_on(&mut busy_socket).await;
        let waited = asked.elapsed();
        assert!(waited < Duration::from_millis(200), "the echo waited {waited:?}");
        assert_eq!(echo, "y");
        assert!(matches!(busy_socket.reply(busy_id).await, ServerFrame::Result { .. }));
    });
    drop(server);
}

async fn echo_on(client: &mut Client) -> String {
    let reply = client.call("echo", json!({"text": "y"})).await;
    result_json(&reply)["message"].as_str().unwrap().to_owned()
}

/// A broker that panics on its first publish, then works.
struct Flaky {
    inner: MemoryBroker,
    broke: AtomicBool,
}

impl Broker for Flaky {
    fn attach(&self, node: Arc<str>, inbox: Arc<dyn Inbox>) {
        self.inner.attach(node, inbox);
    }

    fn publish(&self, event: Event) {
        if !self.broke.swap(true, Ordering::AcqRel) {
            panic!("the broker broke");
        }
        self.inner.publish(event);
    }

    fn subscribe(&self, subject: &Subject) {
        self.inner.subscribe(subject);
    }

    fn unsubscribe(&self, subject: &Subject) {
        self.inner.unsubscribe(subject);
    }
}

#[tokio::test]
async fn a_panicking_broker_fails_one_send_and_the_topic_flows_on() {
    let broker = Flaky {
        inner: MemoryBroker::new(),
        broke: AtomicBool::new(false),
    };
    let server = Server::start(
        support::fixture::builder(support::SECRET)
            .broker(broker)
            .config(support::config(|_| {})),
    )
    .await;
    let mut reader = server.client().await;
    let mut sender = server.client().await;
    let topic = reader.join("chat", json!({"room": "r"})).await;
    sender.join("chat", json!({"room": "r"})).await;
    let send = |text: &str| json!({"type": "send", "topic": topic, "data": {"text": text}});
    let first = sender.request(send("first")).await;
    assert_eq!(support::error_code(&sender.reply(first).await), "internal");
    for text in ["second", "third"] {
        let id = sender.request(send(text)).await;
        assert!(
            matches!(sender.reply(id).await, ServerFrame::Ok { .. }),
            "the topic's queue goes on"
        );
    }
    // The first message was delivered here before the broker broke; then
    // the others, in order.
    for text in ["first", "second", "third"] {
        let ServerFrame::Message { data, .. } = reader.push().await else {
            panic!("a message")
        };
        assert!(data.get().contains(text), "{data:?}");
    }
    assert_eq!(
        result_json(&sender.call("echo", json!({"text": "alive"})).await)["message"],
        "alive"
    );
    let metrics = server.get_text("/metrics").await;
    assert!(metrics.contains("mizan_panics_total 1\n"), "{metrics}");
}
