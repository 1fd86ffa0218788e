//! Soak test: a release fixture node under 30 minutes (by default) of mixed
//! load, sampled every minute for leaks and latency drift.
//!
//! Starts the release fixture as a child process (killed on exit) and,
//! from this process over loopback:
//!
//! - `--subscribers` sockets spread over `--rooms` chat rooms, and
//!   `--publishers` sockets sending `--chat-rate` messages a second in
//!   total, each carrying its room sequence number and send time
//!   (delivery latency; gaps in a room's sequence are lost messages);
//! - `--watchers` sockets, one per user, watching `user{user_id}`, while
//!   `--mutators` sockets call `update_profile` (an `invalidate` push) and
//!   `rename_user` (a `merge` push) on each user in turn at
//!   `--mutation-rate` calls a second in total (push latency from the
//!   call's start; a watcher refetches on `invalidate`);
//! - `--echoers` sockets calling `echo` at `--echo-rate` a second in total
//!   (round trip);
//! - churn: `--churn-rate` short-lived sockets a second that connect (timed
//!   to `hello`), subscribe, watch, stay 1–5 s and leave (unsubscribing
//!   first, closing cleanly, or dropping the TCP connection).
//!
//! Every `--sample-seconds` (60) it records the node's RSS, peak RSS,
//! threads, file descriptors and CPU (`/proc/<pid>`), its gauges and
//! counters from `GET /metrics`, p50/p99/max of each latency over the
//! interval (histograms reset each time), and the errors and losses seen.
//! A row before the load (sockets connected) and one after every load
//! socket closed (gauges should return to zero) frame the run. Results go
//! to a CSV and a markdown file under `--out`, rewritten after each sample.
//!
//! ```sh
//! cargo build --release --example fixture
//! cargo build --release -p mizan-bench --bin soak
//! nohup target/release/soak > soak.log 2>&1 &     # 30 minutes
//! target/release/soak --minutes 2 --sample-seconds 10   # a quick check
//! ```
//!
//! Every loop is bounded in count and time; everything runs on loopback.
//! The node keeps its default settings (`--node-env KEY=VALUE` to change
//! them); the rates per socket stay under its per-socket rate limit.
//! Results: `docs/benchmarks.md`.

mod calls;
mod chat;
mod churn;
mod contexts;
mod load;
mod node;
mod report;
mod sample;
mod stats;
mod ws;

use anyhow::{Context, ensure};
use calls::{Caller, Calls};
use chat::{Publisher, Subscriber};
use clap::Parser;
use contexts::Watcher;
use load::{Shared, connect_all, supervise};
use node::Node;
use sample::{Header, Sampler};
use stats::{Count, Stats, Taken};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::task::JoinHandle;

/// Soak test of a fixture node: mixed load for --minutes, sampled every
/// --sample-seconds (RSS, connections, p99 latencies, errors).
#[derive(Parser)]
struct Args {
    /// How long the load runs, in minutes.
    #[arg(long, default_value_t = 30)]
    minutes: u64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 60)]
    sample_seconds: u64,
    /// Chat subscriber sockets.
    #[arg(long, default_value_t = 500)]
    subscribers: usize,
    /// Chat rooms the subscribers are spread over.
    #[arg(long, default_value_t = 50)]
    rooms: usize,
    /// Publisher sockets (each room has one).
    #[arg(long, default_value_t = 10)]
    publishers: usize,
    /// Chat messages per second, all publishers together.
    #[arg(long, default_value_t = 500.0)]
    chat_rate: f64,
    /// Context watcher sockets, one per user (user ids 1..=N).
    #[arg(long, default_value_t = 200)]
    watchers: usize,
    /// Sockets calling `update_profile` / `rename_user`.
    #[arg(long, default_value_t = 2)]
    mutators: usize,
    /// Mutations per second, all mutators together.
    #[arg(long, default_value_t = 100.0)]
    mutation_rate: f64,
    /// Sockets calling `echo`.
    #[arg(long, default_value_t = 2)]
    echoers: usize,
    /// `echo` calls per second, all echoers together.
    #[arg(long, default_value_t = 200.0)]
    echo_rate: f64,
    /// Short-lived sockets started per second (0: no churn).
    #[arg(long, default_value_t = 10.0)]
    churn_rate: f64,
    /// Seconds readers keep reading after the senders stop.
    #[arg(long, default_value_t = 3)]
    drain_seconds: u64,
    /// Settings for the node, `MIZAN_SETTING=VALUE` (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    node_env: Vec<String>,
    /// The fixture binary (default: the release build beside this one).
    #[arg(long)]
    fixture: Option<PathBuf>,
    /// Where the CSV and markdown results go (default: $TMPDIR/mizan-soak).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The node's per-socket rate limit by default (`messages_per_second`).
const NODE_RATE_LIMIT: f64 = 200.0;

impl Args {
    fn check(&self) -> anyhow::Result<Vec<(String, String)>> {
        ensure!((1..=1440).contains(&self.minutes), "--minutes: 1 to 1440");
        ensure!((5..=3600).contains(&self.sample_seconds), "--sample-seconds: 5 to 3600");
        ensure!(
            self.rooms >= 1 && self.subscribers >= self.rooms,
            "need a room and a subscriber per room"
        );
        ensure!(
            (1..=self.rooms).contains(&self.publishers),
            "--publishers: 1 to --rooms"
        );
        ensure!(
            self.watchers >= 1 && self.mutators >= 1 && self.echoers >= 1,
            "need a watcher, a mutator and an echoer"
        );
        let sockets = self.subscribers + self.publishers + self.watchers + self.mutators + self.echoers;
        ensure!(
            sockets <= 9000,
            "at most 9000 long-lived sockets (the node serves 10000 by default)"
        );
        for (name, rate) in [
            ("--chat-rate", self.chat_rate),
            ("--mutation-rate", self.mutation_rate),
            ("--echo-rate", self.echo_rate),
        ] {
            ensure!(rate > 0.0 && rate <= 100_000.0, "{name}: above 0, at most 100000");
        }
        ensure!((0.0..=500.0).contains(&self.churn_rate), "--churn-rate: 0 to 500");
        ensure!(self.drain_seconds <= 60, "--drain-seconds: at most 60");
        ensure!(
            self.watchers as f64 / self.mutation_rate >= 0.5,
            "each user must be mutated at most twice a second (raise --watchers or lower --mutation-rate)"
        );
        let env: Vec<(String, String)> = self
            .node_env
            .iter()
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .with_context(|| format!("--node-env {kv}: expected KEY=VALUE"))
            })
            .collect::<anyhow::Result<_>>()?;
        if !env.iter().any(|(k, _)| k == "MIZAN_MESSAGES_PER_SECOND") {
            for (name, per_socket) in [
                ("chat", self.chat_rate / self.publishers as f64),
                ("mutation", self.mutation_rate / self.mutators as f64),
                ("echo", self.echo_rate / self.echoers as f64),
            ] {
                ensure!(
                    per_socket <= NODE_RATE_LIMIT * 0.9,
                    "{name}: {per_socket:.0}/s per socket is near the node's limit of {NODE_RATE_LIMIT}/s: \
                     add sockets or pass --node-env MIZAN_MESSAGES_PER_SECOND=N"
                );
            }
        }
        Ok(env)
    }
}

fn period(total_rate: f64, sockets: usize) -> Duration {
    Duration::from_secs_f64(sockets as f64 / total_rate)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let env = args.check()?;
    let fixture = match &args.fixture {
        Some(path) => path.clone(),
        None => mizan_bench::process::beside_me("examples/fixture")?,
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("mizan-soak"));
    std::fs::create_dir_all(&out)?;
    let unix = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH)?.as_secs();
    let (csv_path, md_path) = (
        out.join(format!("soak-{unix}.csv")),
        out.join(format!("soak-{unix}.md")),
    );
    let load_at_start = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    let mut node = Node::start(&fixture, &env)?;
    let url = node.ws_url();
    eprintln!(
        "[soak] node pid {} at {}; results in {}",
        node.pid,
        node.addr,
        out.display()
    );

    let setup = Instant::now();
    let rooms = args.rooms;
    let subscribers = connect_all(
        (0..args.subscribers).map(|i| Subscriber::new(i % rooms)).collect(),
        &url,
        32,
    )
    .await?;
    let publishers = (0..args.publishers)
        .map(|p| {
            let own = (0..rooms).filter(|r| r % args.publishers == p).collect();
            Publisher::new(own, period(args.chat_rate, args.publishers))
        })
        .collect();
    let publishers = connect_all(publishers, &url, 32).await?;
    let watchers = connect_all((0..args.watchers).map(Watcher::new).collect(), &url, 32).await?;
    let turns = Arc::new(AtomicU64::new(0));
    let mutators = (0..args.mutators)
        .map(|i| {
            Caller::new(
                i,
                Calls::Mutations(Arc::clone(&turns)),
                period(args.mutation_rate, args.mutators),
            )
        })
        .collect();
    let mutators = connect_all(mutators, &url, 32).await?;
    let echoers = (0..args.echoers)
        .map(|i| Caller::new(i, Calls::Echo, period(args.echo_rate, args.echoers)))
        .collect();
    let echoers = connect_all(echoers, &url, 32).await?;
    eprintln!("[soak] connected in {:.1} s", setup.elapsed().as_secs_f64());
    let mut sampler = Sampler::new(&node).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut rows = vec![sampler.row("0", &node, Taken::default()).await];
    let start = Instant::now();
    let end = start + Duration::from_secs(args.minutes * 60);
    let shared = Arc::new(Shared {
        url,
        stats: Stats::new(),
        end,
        read_until: end + Duration::from_secs(args.drain_seconds),
        pending: (0..args.watchers).map(|_| AtomicU64::new(0)).collect(),
        chat_sent: (0..rooms).map(|_| AtomicU64::new(0)).collect(),
    });
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    spawn_all(&mut tasks, subscribers, &shared);
    spawn_all(&mut tasks, publishers, &shared);
    spawn_all(&mut tasks, watchers, &shared);
    spawn_all(&mut tasks, mutators, &shared);
    spawn_all(&mut tasks, echoers, &shared);
    tasks.push(tokio::spawn(churn::run(Arc::clone(&shared), args.churn_rate, rooms)));

    let header = Header {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        started: report::utc(unix),
        load_at_start,
        csv: csv_path.clone(),
    };
    println!("{}\n{}", report::table_header(), report::table_row(&rows[0]));
    let samples = (args.minutes * 60).div_ceil(args.sample_seconds);
    let mut interrupted = false;
    for sample in 1..=samples {
        let due = (start + Duration::from_secs(sample * args.sample_seconds)).min(end);
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {}
            _ = tokio::signal::ctrl_c() => {
                interrupted = true;
                break;
            }
        }
        if let Some(status) = node.exited() {
            anyhow::bail!("the node exited during the load: {status}");
        }
        let row = sampler.row(&sample.to_string(), &node, shared.stats.take()).await;
        println!("{}", report::table_row(&row));
        rows.push(row);
        header.write(&rows, &shared.stats, &csv_path, &md_path)?;
    }
    if interrupted {
        eprintln!("[soak] interrupted: stopping");
        for task in &tasks {
            task.abort();
        }
    }
    // Every task ends by `read_until` (plus a visit or a close); wait a
    // little longer at most.
    let deadline = tokio::time::Instant::from(shared.read_until) + Duration::from_secs(30);
    for task in tasks {
        if tokio::time::timeout_at(deadline, task).await.is_err() {
            eprintln!("[soak] a load task did not finish in time");
        }
    }
    let unanswered = shared.pending.iter().filter(|p| p.load(Ordering::Acquire) != 0).count();
    shared.stats.add(Count::PushLost, unanswered as u64);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = sampler.row("after", &node, shared.stats.take()).await;
    println!("{}", report::table_row(&after));
    rows.push(after);
    header.write(&rows, &shared.stats, &csv_path, &md_path)?;
    println!("\n{}", report::summary(&rows, &shared.stats.whole()));
    println!(
        "load average at the end: {}",
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );
    eprintln!("[soak] wrote {} and {}", csv_path.display(), md_path.display());
    drop(node);
    Ok(())
}

fn spawn_all<C: load::Client>(tasks: &mut Vec<JoinHandle<()>>, clients: Vec<(C, ws::Ws)>, shared: &Arc<Shared>) {
    for (client, ws) in clients {
        tasks.push(tokio::spawn(supervise(client, ws, Arc::clone(shared))));
    }
}
