//! The fixture node under load: a child process (killed when dropped), its
//! memory, CPU and file descriptors from `/proc`, and its `/metrics`.

use anyhow::Context;
use mizan_bench::process::Server;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The fixture node: a [`Server`] process.
pub(crate) struct Node {
    pub(crate) addr: SocketAddr,
    pub(crate) pid: u32,
    server: Server,
}

impl Node {
    /// Starts `binary --port 0` with `env` added; waits for its address.
    pub(crate) fn start(binary: &Path, env: &[(String, String)]) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        command
            .args(["--port", "0"])
            .env(
                "RUST_LOG",
                std::env::var("MIZAN_BENCH_NODE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env("NO_COLOR", "1")
            .envs(env.iter().map(|(k, v)| (k, v)));
        let server = Server::start("node", command)?;
        Ok(Self {
            addr: server.addr,
            pid: server.pid,
            server,
        })
    }

    pub(crate) fn ws_url(&self) -> String {
        format!("ws://{}/api/mizan/ws", self.addr)
    }

    /// Whether the node has exited.
    pub(crate) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.server.exited()
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
        Ok(Self {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
            threads: field("Threads:"),
            cpu_seconds: mizan_bench::process::cpu_time(dir)?.as_secs_f64(),
            fds: std::fs::read_dir(format!("{dir}/fd")).map_or(0, |d| d.count() as u64),
        })
    }
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
    fn metrics_and_proc_parse() {
        let m = Metrics::parse(
            "# HELP x\nmizan_connections 12\nmizan_closes_total{code=\"4008\"} 2\nmizan_closes_total{code=\"1001\"} 3\nmizan_closes_total_x 9\n",
        );
        assert_eq!(m.get("mizan_connections"), 12.0);
        assert_eq!(m.sum("mizan_closes_total"), 5.0);
        assert_eq!(m.get("mizan_closes_total{code=\"4008\"}"), 2.0);
        assert!(ProcSample::of("/proc/self").unwrap().rss_kib > 0);
    }
}
