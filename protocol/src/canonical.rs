//! The canonical text of JSON values: object keys sorted at every level,
//! whatever order the map keeps.
//!
//! `serde_json::Map` keeps keys sorted only while serde_json's
//! `preserve_order` feature is off, and any crate in an application's
//! dependency graph can turn it on (features are unified). Everything that
//! compares params by their text (watch keys, the watch index, the
//! `X-Mizan-Invalidate` header) goes through here instead.

use serde_json::{Map, Value};
use std::fmt::Write as _;

/// The canonical JSON text of `value`: compact, with the keys of every
/// object sorted.
///
/// ```
/// use serde_json::json;
/// use mizan_protocol::canonical_json;
/// assert_eq!(canonical_json(&json!({"b": [{"d": 1, "c": 2}], "a": null})), r#"{"a":null,"b":[{"c":2,"d":1}]}"#);
/// ```
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// The canonical JSON text of a params object.
///
/// ```
/// let mut params = mizan_protocol::Params::new();
/// params.insert("user_id".into(), 5.into());
/// params.insert("order_id".into(), 2.into());
/// assert_eq!(mizan_protocol::canonical_params(&params), r#"{"order_id":2,"user_id":5}"#);
/// ```
pub fn canonical_params(params: &Map<String, Value>) -> String {
    let mut out = String::new();
    write_object(params, &mut out);
    out
}

/// An object's entries, by key.
pub fn sorted_entries(object: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = object.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    entries
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(object) => write_object(object, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        // Scalars print the same in any build.
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

fn write_object(object: &Map<String, Value>, out: &mut String) {
    out.push('{');
    for (i, (key, value)) in sorted_entries(object).into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}:", Value::String(key.clone()));
        write(value, out);
    }
    out.push('}');
}
