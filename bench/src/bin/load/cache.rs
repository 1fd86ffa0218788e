//! The bundle cache (Mizan only; PROTOCOL.md section 12, docs/caching.md):
//! how many times a context function runs when many sockets ask for the
//! same bundle, and how long they wait, with the cache off and on. Each
//! step has two variants, the server started with
//! `MIZAN_BUNDLE_CACHE_BYTES=0` (off) or `=67108864` (64 MiB, on).
//!
//! - `refetch storm` (`refetch.rs`): sockets watching one `user` context
//!   refetch it on the `invalidate` push of one `update_profile`, as the
//!   generated client does; `user_profile` runs per round, the time to the
//!   last push and to the last socket holding the new name. Also over
//!   two nodes joined through Redis (`refetch storm redis`, `… cached`),
//!   the cache with its Redis backend: `user_profile` runs on each node.
//! - `cold start` (`cold_start.rs`): concurrent `fetch`es of a bundle
//!   never computed before; `user_profile` runs and the time to the last
//!   answer.
//!
//! `user_profile` runs are read from the fixture's `fixture_stats` (after
//! minus before each round), on a socket of their own; the cache's hits
//! and misses from the server's `GET /metrics` (the same), on each node.

mod cold_start;
mod refetch;

pub(crate) use cold_start::ColdStart;
pub(crate) use refetch::RefetchStorm;

use anyhow::Context;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The fixture's setting for the cache's size (`bundle_cache_bytes`).
const SETTING: &str = "MIZAN_BUNDLE_CACHE_BYTES";
/// 64 MiB: docs/caching.md's example; the steps' bundles need a few KiB.
const BYTES: &str = "67108864";
/// The key secret of nodes sharing bundles through Redis: the same on
/// every node (or they never share one), 32 bytes or more (a shorter one,
/// or none, gets the development default and its warning).
const SECRET: &str = "load-generator-cache-secret-not-a-default";

/// The environment a step's server is started with: the cache on or off
/// (off set explicitly, whatever the generator's own environment says);
/// with `shared`, nodes joined through Redis, its Redis backend and the
/// nodes' common key secret (which do nothing with the cache off: set
/// anyway, so that the two variants differ in the size alone).
pub(crate) fn env(cached: bool, shared: bool) -> Vec<(&'static str, &'static str)> {
    let mut env = vec![(SETTING, if cached { BYTES } else { "0" })];
    if shared {
        env.extend([("MIZAN_BUNDLE_CACHE_BACKEND", "redis"), ("MIZAN_CACHE_SECRET", SECRET)]);
    }
    env
}

/// `cache on` or `cache off`, for rows and descriptions.
pub(crate) fn label(cached: bool) -> &'static str {
    if cached { "cache on" } else { "cache off" }
}

/// The bundle cache's counters on the server at `addr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counters {
    hits: u64,
    /// Taken from the shared (Redis) tier: another node's computation.
    shared_hits: u64,
    misses: u64,
    refused: u64,
    /// Failed or timed-out Redis reads and writes (each a computation).
    errors: u64,
}

impl Counters {
    /// From the server's `GET /metrics`; zero when it has none (the cache
    /// is off).
    async fn read(addr: SocketAddr) -> anyhow::Result<Self> {
        let body = tokio::time::timeout(crate::conn::STEP, async {
            let mut stream = tokio::net::TcpStream::connect(addr).await?;
            let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await?;
            let mut response = Vec::new();
            stream.take(16 << 20).read_to_end(&mut response).await?;
            anyhow::Ok(response)
        })
        .await
        .context("GET /metrics timed out")??;
        Ok(Self::parse(&String::from_utf8_lossy(&body)))
    }

    fn parse(body: &str) -> Self {
        let value = |name: &str| {
            body.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
                .map_or(0, |v| v as u64)
        };
        Self {
            hits: value("mizan_bundle_cache_hits_total"),
            shared_hits: value("mizan_bundle_cache_shared_hits_total"),
            misses: value("mizan_bundle_cache_misses_total"),
            refused: value("mizan_bundle_cache_refused_total"),
            errors: value("mizan_bundle_cache_errors_total"),
        }
    }

    /// `self + other`.
    fn plus(self, other: Self) -> Self {
        Self {
            hits: self.hits + other.hits,
            shared_hits: self.shared_hits + other.shared_hits,
            misses: self.misses + other.misses,
            refused: self.refused + other.refused,
            errors: self.errors + other.errors,
        }
    }

    /// `self - before`.
    fn since(self, before: Self) -> Self {
        Self {
            hits: self.hits.saturating_sub(before.hits),
            shared_hits: self.shared_hits.saturating_sub(before.shared_hits),
            misses: self.misses.saturating_sub(before.misses),
            refused: self.refused.saturating_sub(before.refused),
            errors: self.errors.saturating_sub(before.errors),
        }
    }
}

/// The median and the largest of `values` (not empty; a NaN, a value
/// that could not be measured, sorts last).
fn median_max(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    (values[values.len() / 2], values[values.len() - 1])
}

/// Whether `frame` holds `needle`.
fn contains(frame: &[u8], needle: &[u8]) -> bool {
    frame.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_set_either_way() {
        assert_eq!(env(true, false), [("MIZAN_BUNDLE_CACHE_BYTES", "67108864")]);
        assert_eq!(env(false, false), [("MIZAN_BUNDLE_CACHE_BYTES", "0")]);
        let shared = env(true, true);
        assert_eq!(shared[1], ("MIZAN_BUNDLE_CACHE_BACKEND", "redis"));
        assert!(
            shared[2].1.len() >= 32,
            "the server refuses a shorter secret in production"
        );
        assert_eq!(env(false, true)[0], ("MIZAN_BUNDLE_CACHE_BYTES", "0"));
        assert_eq!(median_max(vec![5.0, 1.0, 3.0]), (3.0, 5.0));
        assert!(median_max(vec![f64::NAN, 1.0]).1.is_nan());
        assert!(contains(br#"{"name":"r1"}"#, br#""name":"r1""#));
        assert!(!contains(br#"{"name":"r10"}"#, br#""name":"r1""#));
        let body = "# TYPE mizan_bundle_cache_hits_total counter\nmizan_bundle_cache_hits_total 9999\nmizan_bundle_cache_shared_hits_total 2\nmizan_bundle_cache_misses_total 1\nmizan_bundle_cache_refused_total 0\nmizan_bundle_cache_errors_total 3\n";
        let counters = Counters::parse(body);
        assert_eq!(
            counters,
            Counters {
                hits: 9999,
                shared_hits: 2,
                misses: 1,
                refused: 0,
                errors: 3,
            }
        );
        assert_eq!(counters.since(counters), Counters::default());
        assert_eq!(counters.plus(counters).since(counters), counters);
        assert_eq!(Counters::parse("mizan_connections 3\n"), Counters::default());
    }
}
