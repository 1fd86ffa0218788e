//! Real processes for Mizan's tests and benchmarks: a `redis-server` of
//! their own on a free loopback port (killed by PID when dropped), a RESP
//! client just big enough to inspect it, and the logs of child processes.
//! Shared by `tests/` and `mizan-bench`; not published.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod cluster;
pub use cluster::RedisCluster;

/// How long a process may take to start.
pub const START: Duration = Duration::from_secs(10);

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
#[derive(Debug)]
pub struct Redis {
    port: u16,
    binary: String,
    /// Arguments beyond the port, bind and persistence ones (a cluster
    /// node's).
    extra: Vec<String>,
    child: Option<Child>,
    log: Log,
}

impl Redis {
    /// Starts `redis-server` on a free port and waits until it answers
    /// `PING`; panics (the test fails) when it cannot.
    pub fn start() -> Self {
        Self::try_start("redis-server").unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts `binary` (a `redis-server`) on a free port and waits until it
    /// answers `PING`.
    pub fn try_start(binary: &str) -> Result<Self, String> {
        Self::start_with(binary, free_port(), Vec::new())
    }

    /// Starts `binary` on `port` with `extra` arguments, and waits until it
    /// answers `PING`.
    pub(crate) fn start_with(binary: &str, port: u16, extra: Vec<String>) -> Result<Self, String> {
        let mut redis = Self {
            port,
            binary: binary.to_owned(),
            extra,
            child: None,
            log: Log::default(),
        };
        redis.spawn()?;
        Ok(redis)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Whether it runs (it was not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
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
        self.spawn().unwrap_or_else(|e| panic!("{e}"));
    }

    fn spawn(&mut self) -> Result<(), String> {
        let port = self.port.to_string();
        let mut child = Command::new(&self.binary)
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
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot run `{}` ({e}); install it (`apt-get install redis-server`; scripts/test does)",
                    self.binary
                )
            })?;
        self.log.follow(child.stdout.take(), None);
        self.log.follow(child.stderr.take(), None);
        self.child = Some(child);
        let deadline = Instant::now() + START;
        loop {
            if let Ok(Resp::Simple(pong)) = self.try_command(&["PING"])
                && pong == "PONG"
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "redis-server did not answer on port {}:\n{}",
                    self.port,
                    self.log.text()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs one command, failing the test on an I/O error.
    pub fn command(&self, args: &[&str]) -> Resp {
        self.try_command(args)
            .unwrap_or_else(|e| panic!("redis {args:?} failed: {e}"))
    }

    pub(crate) fn try_command(&self, args: &[&str]) -> std::io::Result<Resp> {
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
    /// `+text`.
    Simple(String),
    /// `-error`.
    Error(String),
    /// `:n`.
    Int(i64),
    /// `$n` and its bytes, `None` for `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*n` and its items.
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

/// A process's output, line by line, kept in memory (the last 2,000
/// lines).
#[derive(Debug, Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    /// Reads `pipe` on a thread until it closes; the first
    /// `listening on http://ADDR` line's address goes to `listening`.
    pub fn follow(
        &self,
        pipe: Option<impl Read + Send + 'static>,
        listening: Option<std::sync::mpsc::Sender<SocketAddr>>,
    ) {
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

    /// Everything kept so far, one line each.
    pub fn text(&self) -> String {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .join("\n")
    }
}
