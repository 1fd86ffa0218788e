//! The processes the benchmark runs: a `redis-server` of its own on a free
//! loopback port, and fixture nodes joined through it. Each is killed when
//! its handle is dropped.

use anyhow::{Context, bail};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a process may take to start.
const START: Duration = Duration::from_secs(15);

/// A process killed on drop.
pub(crate) struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `redis-server` on a free loopback port, without persistence.
pub(crate) struct Redis {
    pub(crate) port: u16,
    _process: Process,
}

impl Redis {
    pub(crate) fn start(binary: &str) -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot run `{binary}` (apt-get install redis-server)"))?;
        let redis = Self {
            port,
            _process: Process(child),
        };
        let deadline = Instant::now() + START;
        while redis.command(&["PING"]).ok().as_deref() != Some("+PONG") {
            if Instant::now() > deadline {
                bail!("redis-server did not answer on port {port}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(redis)
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs a command; returns the reply's first line (enough for `PING`
    /// and the integer replies used here).
    pub(crate) fn command(&self, args: &[&str]) -> std::io::Result<String> {
        let stream = TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        (&stream).write_all(request.as_bytes())?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        Ok(line.trim_end().to_owned())
    }

    /// How many connections (nodes) subscribe to `channel`.
    pub(crate) fn numsub(&self, channel: &str) -> anyhow::Result<u64> {
        let stream = TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let request = format!(
            "*3\r\n$6\r\nPUBSUB\r\n$6\r\nNUMSUB\r\n${}\r\n{channel}\r\n",
            channel.len()
        );
        (&stream).write_all(request.as_bytes())?;
        // *2 / $len / channel / :count
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        for _ in 0..4 {
            line.clear();
            reader.read_line(&mut line)?;
        }
        line.trim_end()
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("unexpected NUMSUB reply {line:?}"))
    }
}

/// A fixture node.
pub(crate) struct Node {
    pub(crate) addr: SocketAddr,
    _process: Process,
}

impl Node {
    pub(crate) fn start(binary: &Path, redis: &Redis) -> anyhow::Result<Self> {
        let mut child = Command::new(binary)
            .args(["--port", "0", "--redis", &redis.url()])
            .env(
                "RUST_LOG",
                std::env::var("MIZAN_BENCH_NODE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            // One publisher socket stands for many users: lift the
            // per-socket rate limit (200 frames/s by default).
            .env("MIZAN_MESSAGES_PER_SECOND", "10000000")
            .env("MIZAN_MESSAGE_BURST", "10000000")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot run {}", binary.display()))?;
        let stdout = child.stdout.take().context("the node's stdout")?;
        let process = Process(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || forward(stdout, tx));
        let addr = rx
            .recv_timeout(START)
            .context("the fixture did not print `listening on http://ADDR`")?;
        Ok(Self {
            addr,
            _process: process,
        })
    }

    pub(crate) fn ws_url(&self) -> String {
        format!("ws://{}/api/mizan/ws", self.addr)
    }
}

/// Reads a node's stdout until it closes: the `listening on` address goes
/// to `tx`, every other line to our stderr.
fn forward(stdout: impl Read, tx: std::sync::mpsc::Sender<SocketAddr>) {
    let mut tx = Some(tx);
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        match line.strip_prefix("listening on http://").map(|a| a.trim().parse()) {
            Some(Ok(addr)) if tx.is_some() => {
                let _ = tx.take().map(|tx| tx.send(addr));
            }
            _ => eprintln!("[node] {line}"),
        }
    }
}

/// The release fixture beside this binary (`target/release/examples/fixture`).
pub(crate) fn fixture_beside_me() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("the benchmark's folder")?;
    let binary = dir
        .join("examples")
        .join(format!("fixture{}", std::env::consts::EXE_SUFFIX));
    if !binary.exists() {
        bail!(
            "{} is missing: run `cargo build --release --example fixture` first (or pass --fixture PATH)",
            binary.display()
        );
    }
    Ok(binary)
}
