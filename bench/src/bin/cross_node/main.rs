//! Cross-node delivery through Redis: latency and throughput.
//!
//! Starts its own `redis-server` on a free loopback port and two release
//! fixture nodes joined through it, puts `--subscribers` sockets on node B
//! in one chat room and a publisher on node A, and sends chat messages
//! carrying their send time. Every subscriber times every message; the
//! report gives delivery latency (p50, p99, p99.9, max), throughput and
//! lost or duplicated deliveries. The publisher's own socket (a subscriber
//! on node A) gives the same-node latency for comparison.
//!
//! ```sh
//! cargo build --release --example fixture
//! cargo run --release -p mizan-bench --bin cross_node -- --rate 10000 --seconds 10
//! cargo run --release -p mizan-bench --bin cross_node -- --burst --messages 200000
//! ```
//!
//! The nodes run with the per-socket rate limit lifted
//! (`MIZAN_MESSAGES_PER_SECOND`): the one publisher socket stands for many
//! users. Everything runs on loopback; every loop is bounded in count and
//! time.
//! Results: `docs/benchmarks.md`.

mod clients;
mod processes;

use clap::Parser;
use clients::{Tally, now_ns};
use futures_util::{SinkExt, StreamExt};
use processes::{Node, Redis};
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

/// Cross-node delivery latency and throughput through Redis.
#[derive(Parser)]
struct Args {
    /// Messages per second the publisher sends (ignored with --burst).
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// How long to send at --rate, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Send --messages as fast as the window allows instead of at a rate.
    #[arg(long)]
    burst: bool,
    /// Messages to send with --burst.
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// Subscribers on node B.
    #[arg(long, default_value_t = 10)]
    subscribers: usize,
    /// Sends the publisher may have unanswered (the server queues at most
    /// 256 per socket and topic).
    #[arg(long, default_value_t = 200)]
    window: usize,
    /// How long to wait for late deliveries after the last send, in seconds.
    #[arg(long, default_value_t = 3)]
    drain: u64,
    /// The fixture binary (default: the release build beside this one).
    #[arg(long)]
    fixture: Option<std::path::PathBuf>,
    /// The redis-server binary.
    #[arg(long, default_value = "redis-server")]
    redis_server: String,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.subscribers >= 1 && args.window >= 1,
        "need a subscriber and a window"
    );
    anyhow::ensure!(args.rate >= 1 || args.burst, "the rate must be at least 1");
    let total = if args.burst {
        args.messages
    } else {
        usize::try_from(args.rate.saturating_mul(args.seconds))?
    };
    anyhow::ensure!(
        (1..=10_000_000).contains(&total),
        "send between 1 and 10 million messages"
    );
    let fixture = match args.fixture {
        Some(path) => path,
        None => processes::fixture_beside_me()?,
    };
    let redis = Redis::start(&args.redis_server)?;
    let a = Node::start(&fixture, &redis)?;
    let b = Node::start(&fixture, &redis)?;

    let mut subscribers = Vec::new();
    for _ in 0..args.subscribers {
        subscribers.push(clients::join(&b.ws_url()).await?.0);
    }
    let (publisher, topic) = clients::join(&a.ws_url()).await?;
    let channel = format!("mizan:t:{topic}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while redis.numsub(&channel)? < 2 {
        anyhow::ensure!(Instant::now() < deadline, "the nodes did not subscribe to {channel}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Readers start now; they stop when everything arrived, at `stop_at`
    // (set after the last send), or at the hard stop whatever happens.
    let budget = if args.burst { 120 } else { args.seconds + 60 };
    let hard_stop = Instant::now() + Duration::from_secs(budget + args.drain + 10);
    let stop_at = Arc::new(AtomicU64::new(0));
    let permits = Arc::new(Semaphore::new(args.window));
    let (mut sink, publisher_stream) = publisher.split();
    let mut readers = Vec::new();
    for ws in subscribers {
        let (_, stream) = ws.split();
        readers.push(tokio::spawn(clients::read(
            stream,
            total,
            Arc::clone(&stop_at),
            hard_stop,
            None,
        )));
    }
    let local = tokio::spawn(clients::read(
        publisher_stream,
        total,
        Arc::clone(&stop_at),
        hard_stop,
        Some(Arc::clone(&permits)),
    ));

    // Warm-up: a second's worth (at most 10k) of unmeasured messages.
    let warmup = if args.burst { 1000 } else { args.rate.min(10_000) };
    let warm_frame = format!(r#"{{"type":"send","id":1,"topic":"{topic}","data":{{"text":"w"}}}}"#);
    let started = Instant::now();
    for i in 0..warmup {
        if !args.burst {
            tokio::time::sleep_until((started + Duration::from_nanos(i * 1_000_000_000 / args.rate)).into()).await;
        }
        acquire(&permits, &mut sink).await?;
        sink.feed(Message::text(warm_frame.as_str())).await?;
    }
    sink.flush().await?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mode = if args.burst {
        format!("burst of {total} messages")
    } else {
        format!("{} messages/s for {} s", args.rate, args.seconds)
    };
    eprintln!("measuring: {mode}, {} subscribers on node B", args.subscribers);
    let first_ns = now_ns();
    let started = Instant::now();
    for seq in 0..total {
        if !args.burst {
            let due = started + Duration::from_nanos((seq as u64).saturating_mul(1_000_000_000) / args.rate);
            if Instant::now() < due {
                sink.flush().await?;
                tokio::time::sleep_until(due.into()).await;
            }
        }
        if Instant::now() >= hard_stop {
            anyhow::bail!("sending took too long");
        }
        acquire(&permits, &mut sink).await?;
        let frame = format!(
            r#"{{"type":"send","id":{},"topic":"{topic}","data":{{"text":"{seq} {}"}}}}"#,
            seq + 2,
            now_ns()
        );
        sink.feed(Message::text(frame)).await?;
    }
    sink.flush().await?;
    let sending = started.elapsed();
    stop_at.store(
        now_ns() + args.drain * 1_000_000_000,
        std::sync::atomic::Ordering::Relaxed,
    );

    let mut remote = Tally::new(0);
    let mut missing = 0;
    for reader in readers {
        let tally = reader.await?;
        missing += tally.missing();
        remote.absorb(&tally);
    }
    let local = local.await?;

    println!(
        "mode: {mode}; {} subscribers on node B; publisher on node A",
        args.subscribers
    );
    println!(
        "sent: {total} in {:.2} s ({:.0}/s); server errors: {}",
        sending.as_secs_f64(),
        total as f64 / sending.as_secs_f64(),
        local.errors
    );
    let expected = total as u64 * args.subscribers as u64;
    let span = (remote.last_ns.saturating_sub(first_ns)) as f64 / 1e9;
    println!(
        "cross-node (A -> Redis -> B): {}/{expected} deliveries, lost {missing}, duplicates {}, {:.0} deliveries/s",
        remote.received,
        remote.duplicates,
        remote.received as f64 / span.max(1e-9)
    );
    print_latency(&remote);
    println!(
        "same node (the publisher's own socket on A): {}/{total}, lost {}, duplicates {}",
        local.received,
        local.missing(),
        local.duplicates
    );
    print_latency(&local);
    for (name, node) in [("A", &a), ("B", &b)] {
        println!(
            "node {name} broker: {}",
            broker_stats(node).unwrap_or_else(|e| e.to_string())
        );
    }
    Ok(())
}

/// Waits for a send permit, flushing what is queued first if none is free.
async fn acquire(
    permits: &Semaphore,
    sink: &mut futures_util::stream::SplitSink<clients::Ws, Message>,
) -> anyhow::Result<()> {
    if let Ok(permit) = permits.try_acquire() {
        permit.forget();
        return Ok(());
    }
    sink.flush().await?;
    let permit = tokio::time::timeout(Duration::from_secs(10), permits.acquire())
        .await
        .map_err(|_| anyhow::anyhow!("no `ok` for 10 s"))??;
    permit.forget();
    Ok(())
}

fn print_latency(tally: &Tally) {
    let h = &tally.latency;
    if h.is_empty() {
        println!("  latency: no samples");
        return;
    }
    println!(
        "  latency µs: p50 {} | p90 {} | p99 {} | p99.9 {} | max {} | mean {:.0}",
        h.value_at_quantile(0.50),
        h.value_at_quantile(0.90),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
        h.mean()
    );
}

/// The node's broker counters, from its `/metrics` (plain HTTP/1.1).
fn broker_stats(node: &Node) -> std::io::Result<String> {
    let mut stream = std::net::TcpStream::connect_timeout(&node.addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        node.addr
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let counters: Vec<&str> = response
        .lines()
        .filter_map(|line| line.strip_prefix("mizan_broker_"))
        .collect();
    Ok(counters.join(", "))
}
