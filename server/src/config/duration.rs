//! Durations in settings: `"250ms"`, `"30s"`, `"2m"`, `"1h"`, or a number of seconds.

use serde::{Deserialize, Deserializer, Serializer};
use std::time::Duration;

pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    match d.subsec_millis() {
        0 => s.serialize_str(&format!("{}s", d.as_secs())),
        _ => s.serialize_str(&format!("{}ms", d.as_millis())),
    }
}

pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(f64),
        Text(String),
    }
    let seconds = match Raw::deserialize(d)? {
        Raw::Seconds(s) => s,
        Raw::Text(text) => parse(&text).map_err(serde::de::Error::custom)?,
    };
    Duration::try_from_secs_f64(seconds).map_err(serde::de::Error::custom)
}

fn parse(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like \"30s\""))?;
    let scale = match unit {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("unknown unit in `{text}`: use ms, s, m or h")),
    };
    Ok(n * scale)
}
