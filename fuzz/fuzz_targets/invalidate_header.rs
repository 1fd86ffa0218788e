//! `parse_invalidate_header` on arbitrary UTF-8 text.
//!
//! Checks:
//! - `parse_invalidate_header` never panics (input that is not UTF-8 is
//!   skipped: a header value reaches the parser as `&str`).
//! - Ok(entries): there is at least one entry, no context or key is empty,
//!   and no entry repeats a key.
//! - Ok(entries): writing each entry back with its `Display` impl, joined by
//!   `", "`, and parsing that again gives the same entries; writing those
//!   again gives the same text (the written form is canonical).
//! - Ok(entries): the writer agrees with the parser. The entries, turned into
//!   `InvalidateEntry`s (first half) and `MergeEntry`s (second half) with
//!   string param values, go through `invalidate_header`; parsing its output
//!   gives the entries with their params in key order, each distinct one
//!   once, in first-occurrence order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mizan_protocol::{
    HeaderEntry, InvalidateEntry, MergeEntry, Params, Payload, invalidate_header, parse_invalidate_header,
};

fn write(entries: &[HeaderEntry]) -> String {
    entries.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn params_of(entry: &HeaderEntry) -> Option<Params> {
    (!entry.params.is_empty()).then(|| {
        entry
            .params
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(entries) = parse_invalidate_header(text) else { return };

    assert!(!entries.is_empty(), "Ok with no entries for {text:?}");
    for e in &entries {
        assert!(!e.context.is_empty(), "empty context in {e:?} from {text:?}");
        for (i, (k, _)) in e.params.iter().enumerate() {
            assert!(!k.is_empty(), "empty key in {e:?} from {text:?}");
            assert!(e.params[..i].iter().all(|(k2, _)| k2 != k), "duplicate key in {e:?} from {text:?}");
        }
    }

    // Display round trip.
    let written = write(&entries);
    let again = parse_invalidate_header(&written)
        .unwrap_or_else(|e| panic!("re-parse of {written:?} (from {text:?}) failed: {e}"));
    assert_eq!(again, entries, "Display round trip changed the entries; written as {written:?}");
    assert_eq!(write(&again), written, "written form is not canonical");

    // Writer (`invalidate_header`) against the parser.
    let half = entries.len() / 2;
    let invalidate: Vec<InvalidateEntry> = entries[..half]
        .iter()
        .enumerate()
        .map(|(i, e)| {
            InvalidateEntry::broad(e.context.clone())
                // A function-level entry is written like its context's.
                .with_function((i % 2 == 1).then(|| "some_fn".to_owned()))
                .with_params(params_of(e))
        })
        .collect();
    let merge: Vec<MergeEntry> = entries[half..]
        .iter()
        .map(|e| MergeEntry::new(e.context.clone(), "slot", Payload::empty_object()).with_params(params_of(e)))
        .collect();
    let header = invalidate_header(&invalidate, &merge).expect("non-empty entries give a header");
    let mut expected: Vec<HeaderEntry> = Vec::new();
    for e in &entries {
        let mut e = e.clone();
        e.params.sort_by(|a, b| a.0.cmp(&b.0));
        if !expected.contains(&e) {
            expected.push(e);
        }
    }
    let parsed = parse_invalidate_header(&header)
        .unwrap_or_else(|e| panic!("invalidate_header wrote {header:?} (from {text:?}), which does not parse: {e}"));
    assert_eq!(parsed, expected, "invalidate_header wrote {header:?} from {text:?}");
});
