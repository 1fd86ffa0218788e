//! Prometheus metrics: counters a node keeps as it works, rendered in the
//! text exposition format at `GET /metrics`.
//!
//! Counters on hot paths are plain atomics indexed by frame type (no
//! lookups); fan-out adds one count per event, not per recipient. They are
//! sharded by thread: each thread counts in a cache-line-aligned shard of
//! its own, so two cores counting every frame do not fight over the same
//! cache lines, and a scrape sums the shards. Gauges (connections, topics,
//! watchers, broker state) are read when scraped.

use dashmap::DashMap;
use mizan_protocol::{ClientFrame, CloseCode, ErrorCode, ServerFrame};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

/// Inbound counters: one per request type, then one for frames that did
/// not decode.
const IN_COUNTERS: usize = ClientFrame::KINDS.len() + 1;
/// Outbound counters: one per frame type.
const OUT_COUNTERS: usize = ServerFrame::KINDS.len();
/// Call latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Shards per node: more than the threads a node usually runs on.
const SHARDS: usize = 8;

/// Counters of one node.
#[derive(Default)]
pub(crate) struct Metrics {
    shards: [Shard; SHARDS],
}

/// One thread's counters (threads beyond [`SHARDS`] share).
#[derive(Default)]
#[repr(align(128))]
struct Shard {
    frames_in: [AtomicU64; IN_COUNTERS],
    bytes_in: [AtomicU64; IN_COUNTERS],
    frames_out: [AtomicU64; OUT_COUNTERS],
    bytes_out: [AtomicU64; OUT_COUNTERS],
    closes: [AtomicU64; CloseCode::ALL.len()],
    errors: [AtomicU64; ErrorCode::ALL.len()],
    coalesced: [AtomicU64; 1],
    panics: [AtomicU64; 1],
    refused_upgrades: [AtomicU64; REFUSALS.len()],
    refused_requests: [AtomicU64; REFUSALS.len()],
    refused_tcp: [AtomicU64; 1],
    refused_server_api: [AtomicU64; API_REFUSALS.len()],
    calls: DashMap<String, Histogram>,
}

/// This thread's shard index, handed out in turn.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Relaxed) % SHARDS;
    }
    INDEX.with(|i| *i)
}

/// Why an upgrade or an HTTP request was refused, for
/// `mizan_refused_upgrades_total` and `mizan_refused_requests_total`.
#[derive(Clone, Copy)]
pub(crate) enum Refusal {
    /// The origin policy refused the `Origin`.
    Origin,
    /// Connection counts (node, user, client address) were full.
    Connections,
    /// The node's or the address's rate of new sockets, or the HTTP rate.
    Rate,
    /// The node is draining.
    Draining,
    /// The address's rate of token verifications.
    Verifications,
    /// A bad or expired credential.
    Credentials,
    /// An HTTP body that is not `application/json`.
    ContentType,
    /// An HTTP body that did not arrive in time.
    BodyTimeout,
    /// An HTTP body over the size or depth limits, or not a JSON object.
    Body,
    /// The manifest is off or restricted.
    Manifest,
}

const REFUSALS: [&str; 10] = [
    "origin",
    "connections",
    "rate",
    "draining",
    "verifications",
    "credentials",
    "content_type",
    "body_timeout",
    "body",
    "manifest",
];

/// Why a server API request (PROTOCOL.md section 11) was refused, for
/// `mizan_server_api_refused_total`. What it shares with every HTTP
/// request (origin, content type, rate, body) counts as a [`Refusal`].
#[derive(Clone, Copy)]
pub(crate) enum ApiRefusal {
    /// No `X-Mizan-Api-Key` header (401).
    NoKey,
    /// A key that is not the configured one (401).
    WrongKey,
    /// A body without the fields the endpoint reads (400).
    BadRequest,
    /// An unknown channel, context or function (404).
    NotFound,
    /// Params or data that do not match their types (422).
    InvalidArgs,
}

const API_REFUSALS: [&str; 5] = ["no_key", "wrong_key", "bad_request", "not_found", "invalid_args"];

/// A push fanned out to many sockets, counted per recipient.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pushed {
    /// A channel `message`.
    Message,
    /// An `invalidate`.
    Invalidate,
    /// A `merge`.
    Merge,
}

impl Pushed {
    /// Its index among the outbound frame types.
    const fn index(self) -> usize {
        match self {
            Self::Message => kind_index("message"),
            Self::Invalidate => kind_index("invalidate"),
            Self::Merge => kind_index("merge"),
        }
    }
}

const fn kind_index(kind: &str) -> usize {
    let mut i = 0;
    while i < ServerFrame::KINDS.len() {
        if eq(ServerFrame::KINDS[i].as_bytes(), kind.as_bytes()) {
            return i;
        }
        i += 1;
    }
    panic!("not a frame type")
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A latency histogram with fixed buckets.
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// What the node reports at scrape time.
pub(crate) struct Gauges {
    pub(crate) connections: usize,
    pub(crate) topics: usize,
    pub(crate) watchers: usize,
    pub(crate) draining: bool,
    pub(crate) broker: crate::broker::BrokerStats,
    /// The bundle cache's counters, when it runs.
    pub(crate) cache: Option<crate::cache::CacheCounts>,
}

impl Metrics {
    /// A frame read from a client (`None`: it did not decode).
    pub(crate) fn frame_in(&self, frame: Option<&ClientFrame>, bytes: usize) {
        let i = frame.map_or(ClientFrame::KINDS.len(), ClientFrame::kind_index);
        let shard = self.shard();
        shard.frames_in[i].fetch_add(1, Relaxed);
        shard.bytes_in[i].fetch_add(bytes as u64, Relaxed);
    }

    /// `count` copies of an encoded frame queued to sockets.
    pub(crate) fn frames_out(&self, frame: &ServerFrame, count: usize, bytes: usize) {
        let i = frame.kind_index();
        let shard = self.shard();
        shard.frames_out[i].fetch_add(count as u64, Relaxed);
        shard.bytes_out[i].fetch_add((count * bytes) as u64, Relaxed);
        if let ServerFrame::Error { code, .. } = frame {
            let e = ErrorCode::ALL.iter().position(|c| c == code).unwrap_or_default();
            shard.errors[e].fetch_add(count as u64, Relaxed);
        }
    }

    /// A push queued to `count` sockets.
    pub(crate) fn pushed(&self, kind: Pushed, count: usize, bytes: usize) {
        let shard = self.shard();
        let i = kind.index();
        shard.frames_out[i].fetch_add(count as u64, Relaxed);
        shard.bytes_out[i].fetch_add((count * bytes) as u64, Relaxed);
    }

    /// A socket closed with `code`.
    pub(crate) fn closed(&self, code: CloseCode) {
        if let Some(i) = CloseCode::ALL.iter().position(|c| *c == code) {
            self.shard().closes[i].fetch_add(1, Relaxed);
        }
    }

    /// An invalidation was dropped because an identical one was still queued.
    pub(crate) fn coalesced(&self) {
        self.shard().coalesced[0].fetch_add(1, Relaxed);
    }

    /// Request work panicked outside a handler (a broker, a queue's job).
    pub(crate) fn panicked(&self) {
        self.shard().panics[0].fetch_add(1, Relaxed);
    }

    /// An upgrade was refused.
    pub(crate) fn refused(&self, why: Refusal) {
        self.shard().refused_upgrades[why as usize].fetch_add(1, Relaxed);
    }

    /// An HTTP request was refused before it ran.
    pub(crate) fn refused_request(&self, why: Refusal) {
        self.shard().refused_requests[why as usize].fetch_add(1, Relaxed);
    }

    /// A server API request was refused.
    pub(crate) fn refused_server_api(&self, why: ApiRefusal) {
        self.shard().refused_server_api[why as usize].fetch_add(1, Relaxed);
    }

    /// A TCP connection was answered 429 and closed at once: its address
    /// holds `max_pending_connections_per_address` not yet upgraded.
    pub(crate) fn refused_tcp(&self) {
        self.shard().refused_tcp[0].fetch_add(1, Relaxed);
    }

    /// A call of `function` took `elapsed`.
    pub(crate) fn call(&self, function: &str, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let record = |h: &Histogram| {
            if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
                h.buckets[i].fetch_add(1, Relaxed);
            }
            h.count.fetch_add(1, Relaxed);
            h.sum_micros.fetch_add(elapsed.as_micros() as u64, Relaxed);
        };
        let calls = &self.shard().calls;
        match calls.get(function) {
            Some(h) => record(&h),
            None => record(&calls.entry(function.to_owned()).or_default()),
        }
    }

    fn shard(&self) -> &Shard {
        &self.shards[shard_index()]
    }

    /// A counter array summed over the shards.
    fn sum<const N: usize>(&self, counters: impl Fn(&Shard) -> &[AtomicU64; N]) -> [u64; N] {
        let mut total = [0; N];
        for shard in &self.shards {
            for (t, c) in total.iter_mut().zip(counters(shard)) {
                *t += c.load(Relaxed);
            }
        }
        total
    }

    /// Every metric in Prometheus' text format.
    pub(crate) fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let mut family = |name: &str, kind: &str, help: &str, samples: &mut dyn Iterator<Item = (String, f64)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let one = |v: f64| std::iter::once((String::new(), v));
        family(
            "mizan_connections",
            "gauge",
            "Open sockets.",
            &mut one(gauges.connections as f64),
        );
        family(
            "mizan_topics",
            "gauge",
            "Topics with local subscribers.",
            &mut one(gauges.topics as f64),
        );
        family(
            "mizan_watchers",
            "gauge",
            "Context watches held by local sockets.",
            &mut one(gauges.watchers as f64),
        );
        family(
            "mizan_draining",
            "gauge",
            "1 while the node drains for shutdown.",
            &mut one(f64::from(u8::from(gauges.draining))),
        );
        let labelled = |counters: &[u64], names: &[&str], label: &str| -> Vec<(String, f64)> {
            counters
                .iter()
                .zip(names)
                .map(|(c, n)| (format!("{{{label}=\"{n}\"}}"), *c as f64))
                .collect()
        };
        let in_kinds: Vec<&str> = ClientFrame::KINDS.iter().copied().chain(["bad_frame"]).collect();
        family(
            "mizan_frames_in_total",
            "counter",
            "Frames received, by request type.",
            &mut labelled(&self.sum(|s| &s.frames_in), &in_kinds, "type").into_iter(),
        );
        family(
            "mizan_bytes_in_total",
            "counter",
            "Bytes received, by request type.",
            &mut labelled(&self.sum(|s| &s.bytes_in), &in_kinds, "type").into_iter(),
        );
        family(
            "mizan_frames_out_total",
            "counter",
            "Frames queued to sockets, by frame type.",
            &mut labelled(&self.sum(|s| &s.frames_out), &ServerFrame::KINDS, "type").into_iter(),
        );
        family(
            "mizan_bytes_out_total",
            "counter",
            "Bytes queued to sockets, by frame type.",
            &mut labelled(&self.sum(|s| &s.bytes_out), &ServerFrame::KINDS, "type").into_iter(),
        );
        let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        family(
            "mizan_errors_total",
            "counter",
            "Error frames sent, by code.",
            &mut labelled(&self.sum(|s| &s.errors), &codes, "code").into_iter(),
        );
        let closes: Vec<String> = CloseCode::ALL.iter().map(|c| c.as_u16().to_string()).collect();
        let closes: Vec<&str> = closes.iter().map(String::as_str).collect();
        family(
            "mizan_closes_total",
            "counter",
            "Sockets closed by the server, by close code (4008: outbound queue overflow).",
            &mut labelled(&self.sum(|s| &s.closes), &closes, "code").into_iter(),
        );
        family(
            "mizan_coalesced_invalidations_total",
            "counter",
            "Invalidations dropped because an identical one was still queued.",
            &mut one(self.sum(|s| &s.coalesced)[0] as f64),
        );
        family(
            "mizan_panics_total",
            "counter",
            "Request work that panicked outside a handler (a broker, a queued job): contained and logged.",
            &mut one(self.sum(|s| &s.panics)[0] as f64),
        );
        family(
            "mizan_refused_upgrades_total",
            "counter",
            "WebSocket upgrades refused, by reason.",
            &mut labelled(&self.sum(|s| &s.refused_upgrades), &REFUSALS, "reason").into_iter(),
        );
        family(
            "mizan_refused_requests_total",
            "counter",
            "HTTP requests refused before they ran, by reason.",
            &mut labelled(&self.sum(|s| &s.refused_requests), &REFUSALS, "reason").into_iter(),
        );
        family(
            "mizan_refused_tcp_total",
            "counter",
            "TCP connections answered 429 at once: their address holds too many not yet upgraded.",
            &mut one(self.sum(|s| &s.refused_tcp)[0] as f64),
        );
        family(
            "mizan_server_api_refused_total",
            "counter",
            "Server API requests refused, by reason (what every HTTP request passes counts in mizan_refused_requests_total).",
            &mut labelled(&self.sum(|s| &s.refused_server_api), &API_REFUSALS, "reason").into_iter(),
        );
        let b = gauges.broker;
        family(
            "mizan_broker_connected",
            "gauge",
            "1 while the broker is connected.",
            &mut one(f64::from(u8::from(b.connected))),
        );
        family(
            "mizan_broker_published_total",
            "counter",
            "Events handed to other nodes.",
            &mut one(b.published as f64),
        );
        family(
            "mizan_broker_received_total",
            "counter",
            "Events received from other nodes.",
            &mut one(b.received as f64),
        );
        family(
            "mizan_broker_dropped_total",
            "counter",
            "Events for other nodes dropped (publish buffer full, or a failed publish).",
            &mut one(b.dropped as f64),
        );
        family(
            "mizan_broker_reconnects_total",
            "counter",
            "Broker reconnections.",
            &mut one(b.reconnects as f64),
        );
        if let Some(c) = gauges.cache {
            let cache: [(&str, &str, &str, u64); 7] = [
                (
                    "mizan_bundle_cache_hits_total",
                    "counter",
                    "Bundles served from the bundle cache's memory.",
                    c.hits,
                ),
                (
                    "mizan_bundle_cache_shared_hits_total",
                    "counter",
                    "Bundles served from the shared (Redis) bundle cache.",
                    c.shared_hits,
                ),
                (
                    "mizan_bundle_cache_misses_total",
                    "counter",
                    "Bundles computed for the bundle cache (absent, or no longer valid).",
                    c.misses,
                ),
                (
                    "mizan_bundle_cache_refused_total",
                    "counter",
                    "Shared computations too old for a request that waited on them (computed again).",
                    c.refused,
                ),
                (
                    "mizan_bundle_cache_evictions_total",
                    "counter",
                    "Bundles the bundle cache's memory dropped for room or age.",
                    c.evicted,
                ),
                (
                    "mizan_bundle_cache_errors_total",
                    "counter",
                    "Failed or timed-out reads and writes of the shared cache or the stream store (each a computation).",
                    c.errors,
                ),
                (
                    "mizan_bundle_cache_entries",
                    "gauge",
                    "Bundles the bundle cache keeps in memory.",
                    c.entries,
                ),
            ];
            for (name, kind, help, value) in cache {
                family(name, kind, help, &mut one(value as f64));
            }
        }
        self.render_calls(&mut out);
        out
    }

    fn render_calls(&self, out: &mut String) {
        let name = "mizan_call_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Server function latency, by function.\n# TYPE {name} histogram"
        );
        // Every function any shard has seen, with the shards' counts summed.
        let mut functions: std::collections::BTreeMap<String, ([u64; BUCKETS.len()], u64, u64)> = Default::default();
        for shard in &self.shards {
            for entry in shard.calls.iter() {
                let (buckets, count, sum) = functions.entry(entry.key().clone()).or_default();
                for (b, c) in buckets.iter_mut().zip(&entry.buckets) {
                    *b += c.load(Relaxed);
                }
                *count += entry.count.load(Relaxed);
                *sum += entry.sum_micros.load(Relaxed);
            }
        }
        for (function, (buckets, count, sum_micros)) in functions {
            let mut cumulative = 0;
            for (bound, bucket) in BUCKETS.iter().zip(buckets) {
                cumulative += bucket;
                let _ = writeln!(
                    out,
                    "{name}_bucket{{function=\"{function}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(out, "{name}_bucket{{function=\"{function}\",le=\"+Inf\"}} {count}");
            let _ = writeln!(out, "{name}_sum{{function=\"{function}\"}} {}", sum_micros as f64 / 1e6);
            let _ = writeln!(out, "{name}_count{{function=\"{function}\"}} {count}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_histograms() {
        let m = Metrics::default();
        m.frame_in(None, 10);
        m.call("echo", Duration::from_millis(3));
        m.call("echo", Duration::from_secs(20));
        m.closed(CloseCode::SlowClient);
        m.refused_server_api(ApiRefusal::WrongKey);
        let text = m.render(&Gauges {
            connections: 3,
            topics: 1,
            watchers: 2,
            draining: false,
            broker: crate::broker::BrokerStats::default(),
            cache: None,
        });
        assert!(text.contains("mizan_connections 3\n"));
        assert!(text.contains("mizan_frames_in_total{type=\"bad_frame\"} 1\n"));
        assert!(text.contains("mizan_closes_total{code=\"4008\"} 1\n"));
        assert!(text.contains("mizan_server_api_refused_total{reason=\"wrong_key\"} 1\n"));
        assert!(text.contains("mizan_server_api_refused_total{reason=\"no_key\"} 0\n"));
        assert!(text.contains("mizan_call_duration_seconds_bucket{function=\"echo\",le=\"0.005\"} 1\n"));
        assert!(text.contains("mizan_call_duration_seconds_bucket{function=\"echo\",le=\"+Inf\"} 2\n"));
        assert!(text.contains("mizan_call_duration_seconds_count{function=\"echo\"} 2\n"));
    }

    #[test]
    fn counts_from_several_threads_are_summed() {
        let m = std::sync::Arc::new(Metrics::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = std::sync::Arc::clone(&m);
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        m.frame_in(None, 2);
                        m.call("echo", Duration::from_millis(1));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = m.render(&Gauges {
            connections: 0,
            topics: 0,
            watchers: 0,
            draining: false,
            broker: crate::broker::BrokerStats::default(),
            cache: None,
        });
        assert!(
            text.contains("mizan_frames_in_total{type=\"bad_frame\"} 400\n"),
            "{text}"
        );
        assert!(
            text.contains("mizan_bytes_in_total{type=\"bad_frame\"} 800\n"),
            "{text}"
        );
        assert!(
            text.contains("mizan_call_duration_seconds_count{function=\"echo\"} 400\n"),
            "{text}"
        );
    }
}
