//! Scenario outcomes and the comparison table.

use serde::Serialize;
use std::fmt::Write;

/// How a value prints.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) enum Unit {
    Count,
    PerSecond,
    Nanos,
    Micros,
    Millis,
    Bytes,
    /// Printed with two decimals: `99.95%`.
    Percent,
}

/// One measured value.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Cell {
    pub(crate) column: &'static str,
    pub(crate) value: f64,
    pub(crate) unit: Unit,
}

/// What a scenario measured on one server.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Outcome {
    pub(crate) cells: Vec<Cell>,
    /// The index in `cells` of the value the servers are ranked by.
    pub(crate) headline: usize,
    /// Whether a higher headline is better (throughput) or worse (latency,
    /// memory).
    pub(crate) higher_is_better: bool,
    /// What went wrong: lost deliveries, error replies, dropped sockets.
    /// A smoke run fails on any.
    pub(crate) problems: Vec<String>,
    /// What is worth saying but is not a failure (the smoke run passes):
    /// shown after the problems, as `note: …`.
    pub(crate) notes: Vec<String>,
    /// The headline of every run, when the row is the median of several.
    pub(crate) runs: Vec<f64>,
}

impl Outcome {
    pub(crate) fn push(&mut self, column: &'static str, value: f64, unit: Unit) -> &mut Self {
        self.cells.push(Cell { column, value, unit });
        self
    }

    /// Marks the value just pushed as the headline.
    pub(crate) fn headline(&mut self, higher_is_better: bool) -> &mut Self {
        self.headline = self.cells.len().saturating_sub(1);
        self.higher_is_better = higher_is_better;
        self
    }

    /// Adds the servers' CPU time over the measured part and its cost per
    /// unit of work (`per`: deliveries, calls or pushes).
    pub(crate) fn cpu(&mut self, used: std::time::Duration, per: &'static str, units: u64) -> &mut Self {
        self.push("server CPU", used.as_secs_f64() * 1000.0, Unit::Millis);
        self.push(per, used.as_nanos() as f64 / units.max(1) as f64, Unit::Nanos)
    }

    pub(crate) fn problem(&mut self, problem: String) {
        self.problems.push(problem);
    }

    pub(crate) fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    fn headline_value(&self) -> Option<f64> {
        self.cells.get(self.headline).map(|cell| cell.value)
    }

    /// The run with the median headline, keeping every run's headline and
    /// every run's problems (a loss in any run shows).
    pub(crate) fn median(mut runs: Vec<Outcome>) -> Option<Outcome> {
        let headline = |o: &Outcome| o.headline_value().unwrap_or(f64::NAN);
        let all: Vec<f64> = runs.iter().map(headline).collect();
        let problems: Vec<String> = if runs.len() == 1 {
            runs[0].problems.clone()
        } else {
            runs.iter()
                .enumerate()
                .flat_map(|(i, o)| o.problems.iter().map(move |p| format!("run {}: {p}", i + 1)))
                .collect()
        };
        let mut notes: Vec<String> = Vec::new();
        for note in runs.iter().flat_map(|o| &o.notes) {
            if !notes.contains(note) {
                notes.push(note.clone());
            }
        }
        runs.sort_by(|a, b| headline(a).total_cmp(&headline(b)));
        let mut median = runs.swap_remove(runs.len().checked_sub(1)? / 2);
        median.problems = problems;
        median.notes = notes;
        if all.len() > 1 {
            median.runs = all;
        }
        Some(median)
    }
}

/// One scenario's results, one row per server (`Err` when it could not
/// run there).
#[derive(Serialize)]
pub(crate) struct Section {
    pub(crate) scenario: String,
    pub(crate) description: String,
    pub(crate) rows: Vec<(String, Result<Outcome, String>)>,
}

/// The Markdown table of a section, with each server's headline as a ratio
/// of the floor's.
pub(crate) fn table(section: &Section) -> String {
    let mut out = format!("**{}**: {}\n\n", section.scenario, section.description);
    let Some(columns) = section.rows.iter().find_map(|(_, row)| row.as_ref().ok()) else {
        out.push_str("(no server ran it)\n");
        return out;
    };
    let floor = section
        .rows
        .iter()
        .find(|(name, _)| name == "floor")
        .and_then(|(_, row)| row.as_ref().ok())
        .and_then(Outcome::headline_value);
    out.push_str("| server |");
    for cell in &columns.cells {
        let _ = write!(out, " {} |", cell.column);
    }
    let ratio = floor.is_some();
    if ratio {
        out.push_str(" vs floor |");
    }
    let repeated = section
        .rows
        .iter()
        .any(|(_, row)| row.as_ref().is_ok_and(|o| !o.runs.is_empty()));
    if repeated {
        out.push_str(" each run |");
    }
    out.push_str(" problems |\n|---|");
    for _ in 0..columns.cells.len() + usize::from(ratio) + usize::from(repeated) {
        out.push_str("---:|");
    }
    out.push_str("---|\n");
    for (name, row) in &section.rows {
        let _ = write!(out, "| {name} |");
        match row {
            Ok(outcome) => {
                for cell in &outcome.cells {
                    let _ = write!(out, " {} |", format(cell.value, cell.unit));
                }
                if let (Some(floor), Some(value)) = (floor.filter(|_| ratio), outcome.headline_value()) {
                    let _ = write!(out, " {} |", ratio_text(value, floor));
                }
                if repeated {
                    let unit = outcome.cells.get(outcome.headline).map_or(Unit::Count, |c| c.unit);
                    let runs: Vec<String> = outcome.runs.iter().map(|v| format(*v, unit)).collect();
                    let _ = write!(
                        out,
                        " {} |",
                        if runs.is_empty() {
                            "–".to_owned()
                        } else {
                            runs.join(", ")
                        }
                    );
                }
                let notes = outcome.notes.iter().map(|note| format!("note: {note}"));
                let said: Vec<String> = outcome.problems.iter().cloned().chain(notes).collect();
                let _ = writeln!(out, " {} |", said.join("; ").replace('|', "/"));
            }
            Err(error) => {
                for _ in 0..columns.cells.len() + usize::from(ratio) + usize::from(repeated) {
                    out.push_str(" – |");
                }
                let _ = writeln!(out, " did not run: {} |", error.replace('|', "/").replace('\n', " "));
            }
        }
    }
    out
}

/// `value / floor`, as `1.02×`, whichever way is better (0.9× the floor's
/// latency is better than the floor; [`Outcome::higher_is_better`] says).
fn ratio_text(value: f64, floor: f64) -> String {
    if floor == 0.0 {
        return "–".into();
    }
    format!("{:.2}×", value / floor)
}

/// `value` in `unit`; a value that could not be measured (NaN: a
/// latency of no message) as `–`.
fn format(value: f64, unit: Unit) -> String {
    if value.is_nan() {
        return "–".into();
    }
    match unit {
        Unit::Count => thousands(value),
        Unit::PerSecond => format!("{}/s", thousands(value)),
        Unit::Nanos if value >= 10_000.0 => format!("{:.1} µs", value / 1000.0),
        Unit::Nanos => format!("{value:.0} ns"),
        Unit::Micros if value >= 10_000.0 => format!("{:.1} ms", value / 1000.0),
        Unit::Micros => format!("{value:.0} µs"),
        Unit::Millis => format!("{value:.1} ms"),
        Unit::Bytes if value >= 10_240.0 => format!("{:.1} KiB", value / 1024.0),
        Unit::Bytes => format!("{value:.0} B"),
        Unit::Percent => format!("{value:.2}%"),
    }
}

/// `1234567` as `1,234,567`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 { format!("-{out}") } else { out }
}

/// Where the results go in the docs.
const BEGIN: &str = "<!-- compare:begin -->";
const END: &str = "<!-- compare:end -->";

/// Replaces the part of the Markdown file at `path` between [`BEGIN`] and
/// [`END`] with the date, the machine, the command and every table.
pub(crate) fn write_docs(
    path: &std::path::Path,
    sections: &[Section],
    elapsed: std::time::Duration,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let docs = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (Some(begin), Some(end)) = (docs.find(BEGIN), docs.find(END)) else {
        anyhow::bail!("{} has no {BEGIN} … {END} markers", path.display());
    };
    let mut results = format!(
        "{BEGIN}\nMeasured {} UTC on {}, in {:.1} min, with\n`{}`.\n\n",
        run(&["date", "-u", "+%Y-%m-%d %H:%M"]),
        machine(),
        elapsed.as_secs_f64() / 60.0,
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    for section in sections {
        results.push_str(&table(section));
        results.push('\n');
    }
    let updated = format!("{}{results}{}", &docs[..begin], &docs[end..]);
    std::fs::write(path, updated).with_context(|| format!("writing {}", path.display()))
}

/// `2 vCPUs (AMD EPYC ...), 24 GiB, Linux 6.x`, from /proc and uname.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpus = cpuinfo.lines().filter(|l| l.starts_with("processor")).count();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    format!("{cpus} vCPUs ({model}), {gib:.0} GiB, Linux {}", run(&["uname", "-r"]))
}

/// A command's trimmed output, or `?`.
fn run(command: &[&str]) -> String {
    std::process::Command::new(command[0])
        .args(&command[1..])
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_show_ratios_to_the_floor() {
        let outcome = |rate: f64| {
            let mut o = Outcome::default();
            o.push("deliveries/s", rate, Unit::PerSecond).headline(true);
            o.push("p99", 1500.0, Unit::Micros);
            o
        };
        let section = Section {
            scenario: "burst".into(),
            description: "d".into(),
            rows: vec![
                ("mizan".into(), Ok(outcome(900_000.0))),
                ("floor".into(), Ok(outcome(1_000_000.0))),
                ("django".into(), Err("not installed".into())),
            ],
        };
        let table = table(&section);
        assert!(table.contains("| mizan | 900,000/s | 1500 µs | 0.90× |  |"), "{table}");
        assert!(
            table.contains("| django | – | – | – | did not run: not installed |"),
            "{table}"
        );
    }
}
