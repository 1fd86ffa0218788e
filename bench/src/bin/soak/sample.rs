//! Sampling the node (`/proc` and `/metrics`, with rates since the last
//! sample) and writing the result files.

use crate::node::{self, Metrics, Node, ProcSample};
use crate::report::{self, Row};
use crate::stats::{Stats, Taken};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Samples the node: `/proc` and `/metrics`, with rates since the last
/// sample.
pub(crate) struct Sampler {
    started: Instant,
    last_at: Instant,
    last_cpu: f64,
    last_own_cpu: f64,
    last_frames_out: f64,
}

impl Sampler {
    pub(crate) async fn new(node: &Node) -> anyhow::Result<Self> {
        let last_frames_out = node.metrics().await?.sum("mizan_frames_out_total");
        let now = Instant::now();
        Ok(Self {
            started: now,
            last_at: now,
            last_cpu: node.sample()?.cpu_seconds,
            last_own_cpu: ProcSample::of("/proc/self")?.cpu_seconds,
            last_frames_out,
        })
    }

    pub(crate) async fn row(&mut self, label: &str, node: &Node, taken: Taken) -> Row {
        let now = Instant::now();
        let proc = node.sample().unwrap_or_else(|e| {
            eprintln!("[soak] reading /proc/{}: {e:#}", node.pid);
            ProcSample::default()
        });
        let metrics = node.metrics().await.unwrap_or_else(|e| {
            eprintln!("[soak] GET /metrics: {e:#}");
            Metrics::default()
        });
        let own = ProcSample::of("/proc/self").unwrap_or_default();
        let seconds = (now - self.last_at).as_secs_f64().max(1e-3);
        let frames_out = metrics.sum("mizan_frames_out_total");
        let row = Row {
            label: label.to_owned(),
            elapsed_s: (now - self.started).as_secs_f64(),
            node: proc,
            cpu_pct: (proc.cpu_seconds - self.last_cpu).max(0.0) / seconds * 100.0,
            loadgen_rss_kib: own.rss_kib,
            loadgen_cpu_pct: (own.cpu_seconds - self.last_own_cpu).max(0.0) / seconds * 100.0,
            load1: node::load_average(),
            connections: metrics.get("mizan_connections"),
            topics: metrics.get("mizan_topics"),
            watchers: metrics.get("mizan_watchers"),
            frames_out_per_s: (frames_out - self.last_frames_out).max(0.0) / seconds,
            closes: metrics.sum("mizan_closes_total"),
            closes_4008: metrics.get("mizan_closes_total{code=\"4008\"}"),
            refused: metrics.sum("mizan_refused_upgrades_total"),
            coalesced: metrics.get("mizan_coalesced_invalidations_total"),
            taken,
        };
        self.last_at = now;
        self.last_cpu = proc.cpu_seconds;
        self.last_own_cpu = own.cpu_seconds;
        self.last_frames_out = frames_out;
        row
    }
}

/// What the markdown file says above its table.
pub(crate) struct Header {
    pub(crate) command: String,
    pub(crate) started: String,
    pub(crate) load_at_start: String,
    pub(crate) csv: PathBuf,
}

impl Header {
    pub(crate) fn write(&self, rows: &[Row], stats: &Stats, csv_path: &Path, md_path: &Path) -> anyhow::Result<()> {
        std::fs::write(csv_path, report::csv(rows))?;
        let mut md = format!(
            "# Soak run\n\nCommand: `{}`\n\nStarted: {}; load average at start: {}; now: {}\n\nCSV: {}\n\n{}\n",
            self.command,
            self.started,
            self.load_at_start.trim(),
            std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
            self.csv.display(),
            report::table_header()
        );
        for row in rows {
            md.push_str(&report::table_row(row));
            md.push('\n');
        }
        md.push('\n');
        md.push_str(&report::summary(rows, &stats.whole()));
        std::fs::write(md_path, md)?;
        Ok(())
    }
}
