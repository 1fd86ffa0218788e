//! Real processes for the multi-node tests: a `redis-server` of the test's
//! own on a free port, and fixture nodes as separate processes joined
//! through it. Every process is killed when its handle is dropped; a node
//! prints its log when the test failed (or always, with
//! `MIZAN_TEST_SHOW_LOGS=1`; `MIZAN_TEST_NODE_LOG` sets its `RUST_LOG`).
//!
//! The fixture binary is the one `cargo test --all-targets` (what
//! `scripts/test` runs) builds next to the test binary, in
//! `target/<profile>/examples/`. Running a single test file with
//! `cargo test --test redis_nodes` does not build examples: run
//! `cargo build --example fixture` first.

use super::Client;
// Each test file uses part of these.
use mizan_testkit::{Log, START};
#[allow(unused_imports)]
pub use mizan_testkit::{Redis, RedisCluster, Resp, free_port};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Settings for a node every socket of a test reaches from 127.0.0.1: the
/// per-address limits out of the way (tests/limits.rs checks them).
pub const LOOPBACK_ENV: [(&str, &str); 8] = [
    ("MIZAN_NEW_CONNECTIONS_PER_ADDRESS_PER_SECOND", "1e9"),
    ("MIZAN_NEW_CONNECTION_BURST_PER_ADDRESS", "1e9"),
    ("MIZAN_HTTP_REQUESTS_PER_SECOND", "1e9"),
    ("MIZAN_HTTP_REQUEST_BURST", "1e9"),
    ("MIZAN_TOKEN_VERIFICATIONS_PER_ADDRESS_PER_SECOND", "1e9"),
    ("MIZAN_TOKEN_VERIFICATION_BURST_PER_ADDRESS", "1e9"),
    ("MIZAN_MAX_CONNECTIONS_PER_ADDRESS", "1000000"),
    ("MIZAN_MAX_PENDING_CONNECTIONS_PER_ADDRESS", "100000"),
];

/// A fixture node running as its own process.
pub struct Node {
    pub addr: SocketAddr,
    child: Child,
    log: Log,
}

impl Node {
    /// Starts the fixture with `args` (e.g. `--redis URL`) on a free port
    /// and waits for its `listening on http://ADDR` line.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    /// [`start`](Self::start), with environment variables set for the
    /// node (e.g. `("MIZAN_MAX_CONNECTIONS", "10000")`). The limits kept
    /// per client address, which all of a test's loopback sockets share,
    /// are raised unless `env` sets them ([`LOOPBACK_ENV`]).
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let binary = fixture_binary();
        let mut child = Command::new(&binary)
            .args(["--port", "0"])
            .args(args)
            .envs(LOOPBACK_ENV.iter().copied())
            .envs(env.iter().copied())
            .env_remove("MIZAN_REDIS_URL")
            .env_remove("MIZAN_REDIS_CLUSTER")
            .env_remove("MIZAN_REDIS_PREFIX")
            .env_remove("MIZAN_REDIS_PUBLISH_BUFFER")
            .env(
                "RUST_LOG",
                std::env::var("MIZAN_TEST_NODE_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        let log = Log::default();
        let (tx, rx) = std::sync::mpsc::channel();
        log.follow(child.stdout.take(), Some(tx));
        log.follow(child.stderr.take(), None);
        let Ok(addr) = rx.recv_timeout(START) else {
            let _ = child.kill();
            panic!("the fixture did not print `listening on`:\n{}", log.text());
        };
        Self { addr, child, log }
    }

    /// A node joined through `redis`, with more fixture arguments.
    pub fn with_redis(redis: &Redis, args: &[&str]) -> Self {
        let url = redis.url();
        let mut all = vec!["--redis", url.as_str()];
        all.extend_from_slice(args);
        Self::start(&all)
    }

    /// A node joined through `cluster` (`--redis-cluster` with its
    /// seeds), with more fixture arguments.
    pub fn with_cluster(cluster: &RedisCluster, args: &[&str]) -> Self {
        let seeds = cluster.seeds().join(",");
        let mut all = vec!["--redis-cluster", seeds.as_str()];
        all.extend_from_slice(args);
        Self::start(&all)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/api/mizan/ws", self.addr)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A WebSocket client without a token.
    pub async fn client(&self) -> Client {
        Client::connect(&self.ws_url(), None).await
    }

    /// The status of `GET /readyz`.
    pub async fn readyz(&self) -> u16 {
        reqwest::get(self.http_url("/readyz"))
            .await
            .expect("/readyz answers")
            .status()
            .as_u16()
    }

    /// The broker's counters, read from `GET /metrics`:
    /// `{"published","received","dropped","reconnects": n, "connected": bool}`.
    pub async fn broker_stats(&self) -> serde_json::Value {
        let text = self.metrics().await;
        let metric = |name: &str| -> u64 {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
                .unwrap_or_else(|| panic!("/metrics has no {name}:\n{text}"))
        };
        serde_json::json!({
            "published": metric("mizan_broker_published_total"),
            "received": metric("mizan_broker_received_total"),
            "dropped": metric("mizan_broker_dropped_total"),
            "reconnects": metric("mizan_broker_reconnects_total"),
            "connected": metric("mizan_broker_connected") == 1,
        })
    }

    /// The text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        reqwest::get(self.http_url("/metrics"))
            .await
            .expect("/metrics answers")
            .text()
            .await
            .expect("/metrics is text")
    }

    /// Sends the node SIGTERM (a graceful shutdown: it drains and exits).
    pub fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("`kill` runs");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits for the node to exit by itself, failing the test after
    /// `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("the node's status") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the node did not exit within {limit:?}:\n{}",
                self.log.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The node's peak resident memory so far (`VmHWM`), in KiB (Linux).
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/<pid>/status is readable");
        status
            .lines()
            .find_map(|line| {
                line.strip_prefix("VmHWM:")?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no VmHWM in:\n{status}"))
    }

    /// Everything the node printed so far.
    pub fn log(&self) -> String {
        self.log.text()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() || std::env::var_os("MIZAN_TEST_SHOW_LOGS").is_some() {
            eprintln!("----- log of the node at {} -----\n{}", self.addr, self.log.text());
        }
    }
}

/// The fixture example binary built beside this test binary.
pub fn fixture_binary() -> PathBuf {
    example_binary("fixture")
}

/// Example `name`'s binary, built beside this test binary.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps");
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --examples` before the tests (scripts/test does)",
        binary.display()
    );
    binary
}

/// Closes, from Redis's side, the pub/sub connection of the one node that
/// listens to more than the control channel (its broker reconnects within
/// about 100 ms, and reads back what it missed).
pub fn cut_subscriber(redis: &Redis) {
    let clients = redis.command(&["CLIENT", "LIST", "TYPE", "pubsub"]).text();
    let id = clients
        .lines()
        .find(|line| {
            line.split(' ')
                .any(|field| field.starts_with("sub=") && field != "sub=1")
        })
        .and_then(|line| line.split(' ').find_map(|field| field.strip_prefix("id=")))
        .unwrap_or_else(|| panic!("no pub/sub client with subscriptions in {clients}"))
        .to_owned();
    redis.command(&["CLIENT", "KILL", "ID", &id]);
}
