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
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a process may take to start.
const START: Duration = Duration::from_secs(10);

/// Log lines kept per process.
const LOG_LINES: usize = 2000;

/// A free TCP port on the loopback interface (free when asked; the process
/// that gets it binds it a moment later).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A `redis-server` of the test's own: loopback only, no persistence.
pub struct Redis {
    port: u16,
    child: Option<Child>,
    log: Log,
}

impl Redis {
    /// Starts one on a free port and waits until it answers `PING`.
    pub fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            child: None,
            log: Log::default(),
        };
        redis.spawn();
        redis
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL: no goodbye to its clients, like a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty: nothing is persisted).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn spawn(&mut self) {
        let port = self.port.to_string();
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `redis-server` ({e}); install it (`apt-get install redis-server`; scripts/test does)"
                )
            });
        self.log.follow(child.stdout.take(), None);
        self.log.follow(child.stderr.take(), None);
        self.child = Some(child);
        let deadline = Instant::now() + START;
        loop {
            if let Ok(Resp::Simple(pong)) = self.try_command(&["PING"])
                && pong == "PONG"
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {}:\n{}",
                self.port,
                self.log.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs one command, failing the test on an I/O error.
    pub fn command(&self, args: &[&str]) -> Resp {
        self.try_command(args)
            .unwrap_or_else(|e| panic!("redis {args:?} failed: {e}"))
    }

    fn try_command(&self, args: &[&str]) -> std::io::Result<Resp> {
        let stream = TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
        }
        (&stream).write_all(&request)?;
        Resp::read(&mut BufReader::new(stream))
    }

    /// `PUBSUB CHANNELS pattern`, sorted.
    pub fn channels(&self, pattern: &str) -> Vec<String> {
        let mut channels: Vec<String> = self
            .command(&["PUBSUB", "CHANNELS", pattern])
            .array()
            .iter()
            .map(Resp::text)
            .collect();
        channels.sort();
        channels
    }

    /// How many connections are subscribed to `channel` (`PUBSUB NUMSUB`):
    /// with the Redis broker, how many nodes are interested.
    pub fn numsub(&self, channel: &str) -> i64 {
        match self.command(&["PUBSUB", "NUMSUB", channel]).array() {
            [_, Resp::Int(n)] => *n,
            other => panic!("unexpected NUMSUB reply {other:?}"),
        }
    }

    /// `PUBSUB NUMPAT`: pattern subscriptions (the broker makes none).
    pub fn numpat(&self) -> i64 {
        match self.command(&["PUBSUB", "NUMPAT"]) {
            Resp::Int(n) => n,
            other => panic!("unexpected NUMPAT reply {other:?}"),
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A RESP reply (the part of RESP2 these tests need).
#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Resp>),
}

impl Resp {
    fn read(reader: &mut impl BufRead) -> std::io::Result<Self> {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end_matches("\r\n");
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad RESP line {line:?}"));
        let (kind, rest) = line.split_at_checked(1).ok_or_else(bad)?;
        Ok(match kind {
            "+" => Self::Simple(rest.to_owned()),
            "-" => Self::Error(rest.to_owned()),
            ":" => Self::Int(rest.parse().map_err(|_| bad())?),
            "$" => match rest.parse::<i64>().map_err(|_| bad())? {
                n if n < 0 => Self::Bulk(None),
                n => {
                    let mut data = vec![0; usize::try_from(n).map_err(|_| bad())? + 2];
                    reader.read_exact(&mut data)?;
                    data.truncate(data.len() - 2);
                    Self::Bulk(Some(data))
                }
            },
            "*" => {
                let n = rest.parse::<i64>().map_err(|_| bad())?;
                let items = (0..n.max(0)).map(|_| Self::read(reader)).collect::<Result<_, _>>()?;
                Self::Array(items)
            }
            _ => return Err(bad()),
        })
    }

    /// The items of an array reply.
    pub fn array(&self) -> &[Resp] {
        match self {
            Self::Array(items) => items,
            other => panic!("expected an array, got {other:?}"),
        }
    }

    /// The text of a string reply.
    pub fn text(&self) -> String {
        match self {
            Self::Simple(s) => s.clone(),
            Self::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("expected a string, got {other:?}"),
        }
    }
}

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
fn fixture_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/fixture
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps");
    let binary = profile_dir
        .join("examples")
        .join(format!("fixture{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --examples` before the tests (scripts/test does)",
        binary.display()
    );
    binary
}

/// A process's output, line by line, kept in memory (the last
/// [`LOG_LINES`]).
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    /// Reads `pipe` on a thread until it closes; the first
    /// `listening on http://ADDR` line's address goes to `listening`.
    fn follow(&self, pipe: Option<impl Read + Send + 'static>, listening: Option<std::sync::mpsc::Sender<SocketAddr>>) {
        let Some(pipe) = pipe else { return };
        let lines = Arc::clone(&self.0);
        std::thread::spawn(move || {
            let mut listening = listening;
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on http://")
                    && let Ok(addr) = addr.trim().parse()
                    && let Some(tx) = listening.take()
                {
                    let _ = tx.send(addr);
                }
                let mut lines = lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if lines.len() >= LOG_LINES {
                    lines.remove(0);
                }
                lines.push(line);
            }
        });
    }

    fn text(&self) -> String {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .join("\n")
    }
}
