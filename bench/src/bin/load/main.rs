//! The load generator: runs the same scenarios against Mizan and the
//! servers users would pick instead, each started fresh as its own process
//! on loopback, and prints one table per scenario.
//!
//! ```sh
//! bench/compare                          # everything: installs the peers, builds, runs (< 20 min)
//! target/release/load --servers mizan,floor --only fan-out-burst
//! target/release/load --smoke --servers mizan,floor   # tiny sizes; fails on any loss (CI)
//! ```
//!
//! Scenarios (`plan.rs`): fan-out in a burst and at fixed rates, many
//! topics, RPC echo, idle capacity (server RSS per socket), jitter
//! (subscribers cut off and resuming, `jitter.rs`), and, for Mizan only,
//! an invalidation storm, cross-node delivery through Redis and node
//! loss (watchers re-watching on node B after node A is killed,
//! `node_loss.rs`), and presence (`presence.rs`: a thousand sockets
//! joining one topic; `presence_stats` on a topic over two nodes), and the
//! bundle cache (`cache.rs`: a refetch storm and a cold start, each with
//! the cache off and on; the refetch storm also over two nodes joined
//! through Redis, the cache's Redis backend).
//! Servers (`servers.rs`): Mizan's fixture, the floor (`src/bin/floor.rs`),
//! Socket.IO 4 and Django Channels 4 (`bench/peers`). Every wait is
//! bounded; losses, error replies and dropped sockets are reported per row.
//! Results and the method: `docs/benchmarks.md`.

mod cache;
mod conn;
mod dialect;
mod fanout;
mod idle;
mod jitter;
mod node_loss;
mod plan;
mod presence;
mod reader;
mod report;
mod resume;
mod rng;
mod rpc;
mod servers;
mod storm;

use anyhow::Context;
use clap::Parser;
use mizan_bench::process::beside_me;
use report::{Outcome, Section};
use servers::{Kind, Programs};
use std::path::PathBuf;
use std::time::Instant;

/// Runs the comparison and prints a Markdown table per scenario.
#[derive(Parser)]
struct Args {
    /// Tiny sizes, for CI: exits non-zero on any loss, error reply, dropped
    /// socket or scenario that could not run.
    #[arg(long)]
    smoke: bool,
    /// The servers to measure.
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["mizan", "floor", "socket-io", "django"])]
    servers: Vec<Kind>,
    /// Runs of each step on Mizan and the floor (interleaved, the median
    /// shown): the goals compare those two, and one run's noise on a
    /// shared machine is larger than the gaps that matter. The peers run
    /// once: their gaps to the floor are far beyond noise, and so does the
    /// jitter step. Default 3 (1 with `--smoke`).
    #[arg(long)]
    repeat: Option<usize>,
    #[command(flatten)]
    jitter: jitter::Sizes,
    /// Only these scenarios (names as printed, lower case, spaces and
    /// slashes as `-`: `fan-out-burst`, `idle-capacity`, ...).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Replace the part of this Markdown file between `<!-- compare:begin
    /// -->` and `<!-- compare:end -->` with the results.
    #[arg(long)]
    write_docs: Option<PathBuf>,
    /// Also write every number as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The fixture binary (default: the one beside this binary).
    #[arg(long)]
    fixture: Option<PathBuf>,
    /// The floor binary (default: the one beside this binary).
    #[arg(long)]
    floor: Option<PathBuf>,
    /// The peers' folder.
    #[arg(long, default_value = "bench/peers")]
    peers: PathBuf,
    /// The Node.js binary, for Socket.IO.
    #[arg(long, default_value = "node")]
    node: String,
    /// The redis-server binary, for the cross-node scenario.
    #[arg(long, default_value = "redis-server")]
    redis_server: String,
}

/// `fan-out at 50/s` → `fan-out-at-50s`.
fn slug(name: &str) -> String {
    name.to_lowercase().replace('/', "").replace(' ', "-")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // On Ctrl-C or SIGTERM, drop the run (which kills the servers it
    // started) rather than leave them running.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = run(args) => result,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
        _ = terminate.recv() => anyhow::bail!("terminated"),
    }
}

/// Runs the selected steps on the selected servers and reports them.
async fn run(args: Args) -> anyhow::Result<()> {
    let programs = Programs {
        fixture: args.fixture.map_or_else(|| beside_me("examples/fixture"), Ok)?,
        floor: args.floor.map_or_else(|| beside_me("floor"), Ok)?,
        peers: args.peers,
        node: args.node,
    };
    let started = Instant::now();
    let mut sections = Vec::new();
    let repeat = args.repeat.unwrap_or(if args.smoke { 1 } else { 3 }).max(1);
    for step in plan::steps(args.smoke, args.jitter.scenario(args.smoke)) {
        if !args.only.is_empty() && !args.only.iter().any(|only| *only == slug(step.name)) {
            continue;
        }
        let mut section = Section {
            scenario: step.name.to_owned(),
            description: step.describe(),
            rows: Vec::new(),
        };
        let kinds: Vec<Kind> = args
            .servers
            .iter()
            .copied()
            .filter(|&kind| step.applies_to(kind))
            .collect();
        let mut runs: Vec<Vec<Outcome>> = vec![Vec::new(); kinds.len()];
        let mut failed: Vec<Option<String>> = vec![None; kinds.len()];
        for round in 0..repeat {
            for (i, &kind) in kinds.iter().enumerate() {
                if (round > 0 && !(kind.repeats() && step.repeats())) || failed[i].is_some() {
                    continue;
                }
                eprintln!(
                    "== {} on {} ({:.0} s in)",
                    step.name,
                    kind.name(),
                    started.elapsed().as_secs_f64()
                );
                match step.run(kind, &programs, &args.redis_server).await {
                    Ok(outcome) => runs[i].push(outcome),
                    Err(e) => {
                        eprintln!("   failed: {e:#}");
                        failed[i] = Some(format!("{e:#}"));
                    }
                }
            }
        }
        for ((kind, runs), failed) in kinds.iter().zip(runs).zip(failed) {
            let row = match failed {
                Some(error) => Err(error),
                None => Outcome::median(runs).ok_or_else(|| "no run".to_owned()),
            };
            section.rows.push((step.label(*kind), row));
        }
        println!("{}", report::table(&section));
        sections.push(section);
    }
    let elapsed = started.elapsed();
    println!("total: {:.0} s", elapsed.as_secs_f64());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&sections)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.write_docs {
        report::write_docs(path, &sections, elapsed)?;
    }
    let failed = sections
        .iter()
        .flat_map(|s| &s.rows)
        .filter(|(_, row)| row.as_ref().map_or(true, |o| !o.problems.is_empty()))
        .count();
    if args.smoke && failed > 0 {
        anyhow::bail!("{failed} rows failed or reported problems");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn scenario_names_become_slugs() {
        assert_eq!(super::slug("fan-out at 50/s"), "fan-out-at-50s");
        assert_eq!(super::slug("idle capacity"), "idle-capacity");
        assert_eq!(super::slug("RPC echo"), "rpc-echo");
        assert_eq!(super::slug("invalidation storm"), "invalidation-storm");
        assert_eq!(super::slug("jitter"), "jitter");
        assert_eq!(super::slug("node loss"), "node-loss");
        assert_eq!(super::slug("presence join"), "presence-join");
        assert_eq!(super::slug("presence stats"), "presence-stats");
        assert_eq!(super::slug("refetch storm cached"), "refetch-storm-cached");
        assert_eq!(super::slug("refetch storm redis cached"), "refetch-storm-redis-cached");
        assert_eq!(super::slug("cold start"), "cold-start");
    }
}
