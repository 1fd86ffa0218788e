//! The results: one row per sample, written as CSV (everything) and as a
//! markdown table (the columns worth reading), with a summary.

use crate::node::ProcSample;
use crate::stats::{Count, Kind, Taken};
use std::fmt::Write as _;

/// One sample of the node and the load.
pub(crate) struct Row {
    /// The minute (`0`: connected, before the load; `after`: every load
    /// socket closed).
    pub(crate) label: String,
    pub(crate) elapsed_s: f64,
    pub(crate) node: ProcSample,
    /// The node's CPU use since the previous row, % of one core.
    pub(crate) cpu_pct: f64,
    pub(crate) loadgen_rss_kib: u64,
    /// This process's CPU use since the previous row, % of one core.
    pub(crate) loadgen_cpu_pct: f64,
    pub(crate) load1: f64,
    pub(crate) connections: f64,
    pub(crate) topics: f64,
    pub(crate) watchers: f64,
    pub(crate) frames_out_per_s: f64,
    pub(crate) closes: f64,
    pub(crate) closes_4008: f64,
    pub(crate) refused: f64,
    pub(crate) coalesced: f64,
    pub(crate) taken: Taken,
}

impl Row {
    /// Errors of any kind seen by the load: error frames, failed sockets,
    /// failed connects.
    pub(crate) fn errors(&self) -> u64 {
        let t = &self.taken;
        t.count(Count::ServerErrors) + t.count(Count::Disconnects) + t.count(Count::ConnectFailures)
    }

    fn is_load(&self) -> bool {
        self.label.parse::<u64>().is_ok_and(|m| m > 0)
    }
}

fn ms(micros: u64) -> String {
    format!("{:.2}", micros as f64 / 1000.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

pub(crate) fn csv(rows: &[Row]) -> String {
    let mut out = String::from(
        "label,elapsed_s,rss_kib,hwm_kib,threads,fds,node_cpu_pct,loadgen_rss_kib,loadgen_cpu_pct,load1,\
         connections,topics,watchers,frames_out_per_s,closes_total,closes_4008,refused_upgrades,coalesced_invalidations",
    );
    for kind in Kind::ALL {
        let k = kind.name();
        let _ = write!(out, ",{k}_count,{k}_p50_us,{k}_p99_us,{k}_max_us");
    }
    for count in Count::ALL {
        let _ = write!(out, ",{}", count.name());
    }
    out.push('\n');
    for r in rows {
        let _ = write!(
            out,
            "{},{:.1},{},{},{},{},{:.1},{},{:.1},{:.2},{},{},{},{:.0},{},{},{},{}",
            r.label,
            r.elapsed_s,
            r.node.rss_kib,
            r.node.hwm_kib,
            r.node.threads,
            r.node.fds,
            r.cpu_pct,
            r.loadgen_rss_kib,
            r.loadgen_cpu_pct,
            r.load1,
            r.connections,
            r.topics,
            r.watchers,
            r.frames_out_per_s,
            r.closes,
            r.closes_4008,
            r.refused,
            r.coalesced
        );
        for s in &r.taken.latency {
            let _ = write!(out, ",{},{},{},{}", s.count, s.p50, s.p99, s.max);
        }
        for n in &r.taken.counts {
            let _ = write!(out, ",{n}");
        }
        out.push('\n');
    }
    out
}

/// The markdown table's header.
pub(crate) fn table_header() -> String {
    "| min | node RSS MiB | node CPU % | conns | topics | watchers | fds | frames out/s \
     | chat p50 / p99 ms | invalidate p99 | merge p99 | echo p99 | mutation p99 | connect p99 \
     | max ms | errors | lost | churned | load 1m |\n\
     | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        .to_owned()
}

/// One markdown table row.
pub(crate) fn table_row(r: &Row) -> String {
    let l = |kind: Kind| r.taken.latency[kind as usize];
    let p99 = |kind: Kind| {
        let s = l(kind);
        if s.count == 0 { "–".to_owned() } else { ms(s.p99) }
    };
    let chat = if l(Kind::Chat).count == 0 {
        "–".to_owned()
    } else {
        format!("{} / {}", ms(l(Kind::Chat).p50), ms(l(Kind::Chat).p99))
    };
    format!(
        "| {} | {} | {:.0} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} |",
        r.label,
        mib(r.node.rss_kib),
        r.cpu_pct,
        r.connections,
        r.topics,
        r.watchers,
        r.node.fds,
        r.frames_out_per_s,
        chat,
        p99(Kind::Invalidate),
        p99(Kind::Merge),
        p99(Kind::Echo),
        p99(Kind::Mutation),
        p99(Kind::Connect),
        ms(r.taken.max()),
        r.errors(),
        r.taken.lost(),
        r.taken.count(Count::Churned),
        r.load1
    )
}

/// Least-squares slope of `ys` over `0, 1, 2, …` (per step).
fn slope(ys: &[f64]) -> f64 {
    let n = ys.len() as f64;
    if ys.len() < 2 {
        return 0.0;
    }
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = ys.iter().sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, y) in ys.iter().enumerate() {
        let dx = i as f64 - mean_x;
        num += dx * (y - mean_y);
        den += dx * dx;
    }
    num / den
}

fn median(mut xs: Vec<u64>) -> u64 {
    xs.sort_unstable();
    xs.get(xs.len() / 2).copied().unwrap_or(0)
}

/// The summary under the table: RSS trend, p99 drift, totals.
pub(crate) fn summary(rows: &[Row], whole: &Taken) -> String {
    let mut out = String::new();
    let load: Vec<&Row> = rows.iter().filter(|r| r.is_load()).collect();
    if let (Some(first), Some(last)) = (load.first(), load.last()) {
        let rss: Vec<u64> = load.iter().map(|r| r.node.rss_kib).collect();
        let (min, max) = (
            rss.iter().min().copied().unwrap_or(0),
            rss.iter().max().copied().unwrap_or(0),
        );
        // From the second minute on: the first holds the warm-up.
        let steady: Vec<f64> = rss.iter().skip(1).map(|&k| k as f64).collect();
        let _ = writeln!(
            out,
            "- node RSS: minute {} {} MiB, minute {} {} MiB (min {}, max {}); \
             least-squares slope from minute 2 on: {:+.1} KiB/min; peak (VmHWM) {} MiB",
            first.label,
            mib(first.node.rss_kib),
            last.label,
            mib(last.node.rss_kib),
            mib(min),
            mib(max),
            slope(&steady),
            mib(last.node.hwm_kib)
        );
        let _ = writeln!(
            out,
            "- node file descriptors: minute {} {}, minute {} {}; threads {} → {}",
            first.label, first.node.fds, last.label, last.node.fds, first.node.threads, last.node.threads
        );
        let third = (load.len() / 3).max(1);
        for kind in Kind::ALL {
            let p99s: Vec<u64> = load
                .iter()
                .map(|r| r.taken.latency[kind as usize])
                .filter(|s| s.count > 0)
                .map(|s| s.p99)
                .collect();
            if p99s.is_empty() {
                continue;
            }
            let head = median(p99s.iter().take(third).copied().collect());
            let tail = median(p99s.iter().rev().take(third).copied().collect());
            let s = whole.latency[kind as usize];
            let _ = writeln!(
                out,
                "- {}: {} samples; whole run p50 {} ms, p99 {} ms, max {} ms; \
                 median per-minute p99, first third {} ms, last third {} ms",
                kind.name(),
                s.count,
                ms(s.p50),
                ms(s.p99),
                ms(s.max),
                ms(head),
                ms(tail)
            );
        }
    }
    if let Some(after) = rows.iter().find(|r| r.label == "after") {
        let _ = writeln!(
            out,
            "- after every load socket closed: {} connections, {} topics, {} watchers, {} fds, RSS {} MiB",
            after.connections,
            after.topics,
            after.watchers,
            after.node.fds,
            mib(after.node.rss_kib)
        );
    }
    let counts: Vec<String> = Count::ALL
        .iter()
        .map(|&c| format!("{} {}", c.name(), whole.count(c)))
        .collect();
    let _ = writeln!(out, "- totals: {}", counts.join(", "));
    out
}

/// `YYYY-MM-DD HH:MM:SS UTC` of a Unix time.
pub(crate) fn utc(unix: u64) -> String {
    let (days, secs) = (unix / 86_400, unix % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_795_000_000), "2026-11-18 11:06:40 UTC");
        assert!((slope(&[1.0, 2.0, 3.0]) - 1.0).abs() < 1e-9);
        assert_eq!(median(vec![5, 1, 3]), 3);
    }
}
