//! `exceeds_depth` on arbitrary bytes, against a reference.
//!
//! Checks, for every input:
//! - `exceeds_depth` never panics.
//! - It is monotone in `max`: if it says true for some `max`, it says true
//!   for every smaller `max` (the scan is the same; only where it stops
//!   differs).
//! - It is false for `max >= data.len()` (each level needs a byte) and for
//!   `usize::MAX`.
//!
//! And, for inputs that are valid JSON per serde_json (that is,
//! `serde_json::from_slice::<serde_json::Value>` accepts them, which also
//! means at most 128 levels, serde_json's recursion limit):
//! - `exceeds_depth(data, max) == (depth(data) > max)`, for a fixed list of
//!   `max` values and for `depth - 1`, `depth` and `depth + 1`, where the
//!   reference depth is defined on the parse tree:
//!
//!   depth(scalar) = 0
//!   depth([v1, ..., vn]) = 1 + max(0, depth(v1), ..., depth(vn))
//!   depth({k1: v1, ..., kn: vn}) = 1 + max(0, depth(v1), ..., depth(vn))
//!
//!   Every member counts, including each value of a repeated key. That is
//!   why the reference is computed with its own serde visitor and not on a
//!   `serde_json::Value`: a `Value` keeps only the last value of a repeated
//!   key, so `{"a":[[1]],"a":1}` would have depth 1 there while its text
//!   nests 3 deep, and the assertion would be false.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mizan_protocol::exceeds_depth;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// The nesting depth of one JSON value, as defined above.
struct Depth(usize);

impl<'de> Deserialize<'de> for Depth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DepthVisitor).map(Depth)
    }
}

struct DepthVisitor;

impl<'de> Visitor<'de> for DepthVisitor {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_i64<E>(self, _: i64) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_u64<E>(self, _: u64) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_f64<E>(self, _: f64) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_str<E>(self, _: &str) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_unit<E>(self) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut deepest = 0;
        while let Some(Depth(d)) = seq.next_element()? {
            deepest = deepest.max(d);
        }
        Ok(deepest + 1)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
        let mut deepest = 0;
        while let Some((IgnoredAny, Depth(d))) = map.next_entry()? {
            deepest = deepest.max(d);
        }
        Ok(deepest + 1)
    }
}

const MAXES: [usize; 14] = [0, 1, 2, 3, 4, 5, 8, 16, 32, 64, 127, 128, 129, 1000];

fuzz_target!(|data: &[u8]| {
    // Any bytes: monotone in `max`, false once `max` reaches the length.
    let mut previous = true;
    for max in MAXES {
        let now = exceeds_depth(data, max);
        assert!(previous || !now, "true for max {max} but false for a smaller max");
        previous = now;
    }
    assert!(!exceeds_depth(data, data.len()));
    assert!(!exceeds_depth(data, usize::MAX));

    // Valid JSON: exact agreement with the reference.
    if serde_json::from_slice::<serde_json::Value>(data).is_err() {
        return;
    }
    let depth = match serde_json::from_slice::<Depth>(data) {
        Ok(Depth(d)) => d,
        Err(e) => panic!("harness bug: serde_json accepts the input as a Value but the depth visitor fails: {e}"),
    };
    let extra = [depth.saturating_sub(1), depth, depth + 1];
    for max in MAXES.into_iter().chain(extra) {
        assert_eq!(
            exceeds_depth(data, max),
            depth > max,
            "exceeds_depth(max = {max}) disagrees with the reference depth {depth}"
        );
    }
});
