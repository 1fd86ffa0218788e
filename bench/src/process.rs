//! The processes the load generators run: servers under test (which print
//! `listening on [http://]ADDR` when ready) and a `redis-server` of their
//! own. Each is killed when its handle is dropped.

use anyhow::{Context, bail};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a process may take to start.
const START: Duration = Duration::from_secs(30);

/// A server process: killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its process id (the process whose memory is measured).
    pub pid: u32,
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Runs `command` (stdout piped) and waits until it prints `listening
    /// on ADDR` or `listening on http://ADDR`. Its other lines are copied
    /// to stderr, prefixed with `[name]`.
    pub fn start(name: &str, mut command: Command) -> anyhow::Result<Self> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot run {name} ({command:?})"))?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        let pid = child.id();
        let mut server = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            pid,
            child,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let name = name.to_owned();
        std::thread::spawn(move || forward(&name, stdout, tx));
        server.addr = rx
            .recv_timeout(START)
            .with_context(|| format!("{command:?} did not print `listening on ADDR` within {START:?}"))?;
        Ok(server)
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// CPU time (user and system) the process has used so far.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        cpu_time(&format!("/proc/{}", self.pid))
    }

    /// Resident memory (`VmRSS`), bytes.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .context("no VmRSS in /proc/PID/status")
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on
/// Linux).
const TICKS_PER_SECOND: u64 = 100;

/// CPU time (user and system) a process has used so far, from the `stat`
/// file of its `/proc` folder (`/proc/<pid>` or `/proc/self`; 10 ms
/// resolution).
///
/// ```
/// let used = mizan_bench::process::cpu_time("/proc/self").unwrap();
/// assert!(used < std::time::Duration::from_secs(3600));
/// ```
pub fn cpu_time(proc_dir: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("{proc_dir}/stat"))?;
    stat_cpu_time(&stat).with_context(|| format!("malformed {proc_dir}/stat"))
}

/// `utime + stime` of a `stat` line (fields 14 and 15; the command name,
/// field 2, is in parentheses and may hold spaces and parentheses).
fn stat_cpu_time(stat: &str) -> Option<Duration> {
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some(Duration::from_millis(
        (ticks(11)? + ticks(12)?) * 1000 / TICKS_PER_SECOND,
    ))
}

/// Reads a server's stdout until it closes: the `listening on` address
/// goes to `tx`, every other line to our stderr.
fn forward(name: &str, stdout: impl Read, tx: std::sync::mpsc::Sender<SocketAddr>) {
    let mut tx = Some(tx);
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let addr = line
            .strip_prefix("listening on ")
            .map(|rest| rest.trim().trim_start_matches("http://").trim_end_matches('/'))
            .and_then(|addr| addr.parse().ok());
        match addr {
            Some(addr) if tx.is_some() => {
                let _ = tx.take().map(|tx| tx.send(addr));
            }
            _ => eprintln!("[{name}] {line}"),
        }
    }
}

/// A binary built beside the running one: `beside_me("examples/fixture")`
/// is `target/release/examples/fixture` when run from `target/release`.
pub fn beside_me(relative: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("the running binary's folder")?;
    let binary = dir.join(format!("{relative}{}", std::env::consts::EXE_SUFFIX));
    if !binary.exists() {
        bail!("{} is missing: build it first (docs/benchmarks.md)", binary.display());
    }
    Ok(binary)
}

pub use mizan_testkit::{Redis, free_port};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_past_an_awkward_command_name() {
        let stat = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0";
        assert_eq!(stat_cpu_time(stat), Some(Duration::from_secs(2)));
        assert_eq!(stat_cpu_time("42 (x) S 1"), None);
    }
}
