//! The fixture node under load: a child process (killed when dropped), its
//! memory, CPU and file descriptors from `/proc`, and its `/metrics`.

use anyhow::{Context, bail};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the node may take to start.
const START: Duration = Duration::from_secs(15);
/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on
/// Linux).
const TICKS_PER_SECOND: f64 = 100.0;

pub(crate) struct Node {
    pub(crate) addr: SocketAddr,
    pub(crate) pid: u32,
    child: Child,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// Starts `binary --port 0` with `env` added; waits for its address.
    pub(crate) fn start(binary: &Path, env: &[(String, String)]) -> anyhow::Result<Self> {
        let mut child = Command::new(binary)
            .args(["--port", "0"])
            .env(
                "RUST_LOG",
                std::env::var("MIZAN_BENCH_NODE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env("NO_COLOR", "1")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot run {}", binary.display()))?;
        let stdout = child.stdout.take().context("the node's stdout")?;
        let pid = child.id();
        let mut node = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            pid,
            child,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || forward(stdout, tx));
        node.addr = rx
            .recv_timeout(START)
            .context("the fixture did not print `listening on http://ADDR`")?;
        Ok(node)
    }

    pub(crate) fn ws_url(&self) -> String {
        format!("ws://{}/api/mizan/ws", self.addr)
    }

    /// Whether the node has exited.
    pub(crate) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub(crate) fn sample(&self) -> anyhow::Result<ProcSample> {
        ProcSample::of(&format!("/proc/{}", self.pid))
    }

    /// `GET /metrics`, parsed.
    pub(crate) async fn metrics(&self) -> anyhow::Result<Metrics> {
        let body = tokio::time::timeout(Duration::from_secs(5), async {
            let mut stream = tokio::net::TcpStream::connect(self.addr).await?;
            let request = format!(
                "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.addr
            );
            stream.write_all(request.as_bytes()).await?;
            let mut response = Vec::new();
            stream.take(16 << 20).read_to_end(&mut response).await?;
            anyhow::Ok(String::from_utf8_lossy(&response).into_owned())
        })
        .await
        .context("GET /metrics timed out")??;
        Ok(Metrics::parse(&body))
    }
}

/// Reads the node's stdout until it closes: the `listening on` address
/// goes to `tx`, every other line to our stderr.
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

/// A process's memory, threads, CPU time and open files.
#[derive(Clone, Copy, Default)]
pub(crate) struct ProcSample {
    pub(crate) rss_kib: u64,
    /// Peak RSS so far.
    pub(crate) hwm_kib: u64,
    pub(crate) threads: u64,
    /// User plus system CPU time, seconds.
    pub(crate) cpu_seconds: f64,
    pub(crate) fds: u64,
}

impl ProcSample {
    /// Reads `/proc/<pid>` (or `/proc/self`).
    pub(crate) fn of(dir: &str) -> anyhow::Result<Self> {
        let status = std::fs::read_to_string(format!("{dir}/status"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        let stat = std::fs::read_to_string(format!("{dir}/stat"))?;
        Ok(Self {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
            threads: field("Threads:"),
            cpu_seconds: cpu_ticks(&stat).unwrap_or(0) as f64 / TICKS_PER_SECOND,
            fds: std::fs::read_dir(format!("{dir}/fd")).map_or(0, |d| d.count() as u64),
        })
    }
}

/// `utime + stime` from a `/proc/<pid>/stat` line (fields 14 and 15; the
/// command name in parentheses may hold spaces).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The one-minute load average.
pub(crate) fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Prometheus samples: `name{labels}` to value.
#[derive(Default)]
pub(crate) struct Metrics(HashMap<String, f64>);

impl Metrics {
    fn parse(body: &str) -> Self {
        let samples = body
            .lines()
            .filter(|line| line.starts_with("mizan_"))
            .filter_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                Some((name.to_owned(), value.parse().ok()?))
            })
            .collect();
        Self(samples)
    }

    /// One sample (0 when absent).
    pub(crate) fn get(&self, name: &str) -> f64 {
        self.0.get(name).copied().unwrap_or(0.0)
    }

    /// The sum of a metric over its labels.
    pub(crate) fn sum(&self, metric: &str) -> f64 {
        self.0
            .iter()
            .filter(|(name, _)| {
                name.strip_prefix(metric)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('{'))
            })
            .map(|(_, value)| value)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_and_stat_parse() {
        let m = Metrics::parse(
            "# HELP x\nmizan_connections 12\nmizan_closes_total{code=\"4008\"} 2\nmizan_closes_total{code=\"1001\"} 3\nmizan_closes_total_x 9\n",
        );
        assert_eq!(m.get("mizan_connections"), 12.0);
        assert_eq!(m.sum("mizan_closes_total"), 5.0);
        assert_eq!(m.get("mizan_closes_total{code=\"4008\"}"), 2.0);
        let stat = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0";
        assert_eq!(cpu_ticks(stat), Some(200));
        assert!(ProcSample::of("/proc/self").unwrap().rss_kib > 0);
    }
}
