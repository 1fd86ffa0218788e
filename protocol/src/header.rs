//! The `X-Mizan-Invalidate` HTTP response header (PROTOCOL.md section 5).
//!
//! An HTTP call that invalidates or merges anything names the affected
//! contexts in this header, for caches in front of the server:
//!
//! ```text
//! X-Mizan-Invalidate: user;user_id=5, notifications
//! ```
//!
//! Entries are separated by `, `; an entry is the context name, then
//! `;key=value` for each param in key order. Every name, key and value is
//! percent-encoded (uppercase hex, UTF-8 bytes) outside the RFC 3986
//! unreserved characters `A-Z a-z 0-9 - . _ ~`, so `,`, `;`, `=`, `%` and
//! spaces inside them can never be mistaken for separators.

use crate::entries::{InvalidateEntry, MergeEntry};
use crate::values::Params;
use serde_json::Value;
use std::collections::HashSet;
use std::fmt;

/// The name of the response header that lists stale contexts.
///
/// ```
/// assert_eq!(mizan_protocol::INVALIDATE_HEADER, "X-Mizan-Invalidate");
/// ```
pub const INVALIDATE_HEADER: &str = "X-Mizan-Invalidate";

/// The value of the [`INVALIDATE_HEADER`] for a reply's invalidation and
/// merge entries, or `None` when there are none (no header is sent then).
///
/// Each entry is written as its context name followed by `;key=value` for
/// each param in key order. A value is the JSON scalar's text with strings
/// unquoted (`5`, `-1.5`, `true`, `null`, `Ann`); an array or object value is
/// written as its compact JSON text. Everything is percent-encoded outside
/// RFC 3986 unreserved characters. A function-level entry is written like
/// its context's (the function is dropped), merge entries contribute their
/// context and params the same way, and identical entries appear once, in
/// the order they first occur (invalidations first, then merges).
///
/// Two entries are identical when they are written identically, so a param
/// value `5` and a param value `"5"` give the same entry. Context names are
/// assumed non-empty: an empty name would give an entry that
/// [`parse_invalidate_header`] rejects.
///
/// ```
/// use mizan_protocol::{InvalidateEntry, Params, invalidate_header};
///
/// let mut params = Params::new();
/// params.insert("user_id".into(), 5.into());
/// let scoped = InvalidateEntry::broad("user").with_params(Some(params));
/// let broad = InvalidateEntry::broad("notifications");
///
/// assert_eq!(
///     invalidate_header(&[scoped, broad], &[]).as_deref(),
///     Some("user;user_id=5, notifications"),
/// );
/// assert_eq!(invalidate_header(&[], &[]), None);
/// ```
///
/// Separators and non-ASCII text inside a value are percent-encoded:
///
/// ```
/// use mizan_protocol::{InvalidateEntry, Params, invalidate_header};
///
/// let mut params = Params::new();
/// params.insert("name".into(), "José, Jr.".into());
/// let entry = InvalidateEntry::broad("user").with_function(Some("user_profile".into())).with_params(Some(params));
///
/// assert_eq!(invalidate_header(&[entry], &[]).as_deref(), Some("user;name=Jos%C3%A9%2C%20Jr."));
/// ```
pub fn invalidate_header(invalidate: &[InvalidateEntry], merge: &[MergeEntry]) -> Option<String> {
    let scopes = invalidate
        .iter()
        .map(|e| (e.context.as_str(), e.params.as_ref()))
        .chain(merge.iter().map(|e| (e.context.as_str(), e.params.as_ref())));
    let mut seen = HashSet::new();
    let mut header = String::new();
    for (context, params) in scopes {
        let entry = write_entry(context, params);
        if seen.contains(&entry) {
            continue;
        }
        if !header.is_empty() {
            header.push_str(", ");
        }
        header.push_str(&entry);
        seen.insert(entry);
    }
    (!header.is_empty()).then_some(header)
}

/// One entry of the header as text: `context;key=value;...`.
fn write_entry(context: &str, params: Option<&Params>) -> String {
    let mut out = String::new();
    percent_encode(context, &mut out);
    for (key, value) in params.map(crate::sorted_entries).into_iter().flatten() {
        out.push(';');
        percent_encode(key, &mut out);
        out.push('=');
        match value {
            Value::String(s) => percent_encode(s, &mut out),
            // Numbers, booleans and null as serde_json prints them; arrays
            // and objects as compact JSON text, keys sorted.
            other => percent_encode(&crate::canonical_json(other), &mut out),
        }
    }
    out
}

/// Whether `b` is an RFC 3986 unreserved character, written as is.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Appends `text` to `out`, every byte outside the unreserved set as `%XX`.
fn percent_encode(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in text.as_bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
    }
}

/// One entry of a parsed [`INVALIDATE_HEADER`] value, with every part
/// percent-decoded.
///
/// The header carries text only, so the JSON types of the params are lost:
/// the number `5` and the string `"5"` both come back as `"5"`, `true` as
/// `"true"`, and an array or object value as its compact JSON text.
///
/// Its [`Display`](fmt::Display) writes the entry back in header form.
///
/// ```
/// use mizan_protocol::{HeaderEntry, parse_invalidate_header};
///
/// let entries = parse_invalidate_header("user;user_id=5, notifications").unwrap();
/// assert_eq!(entries[0], HeaderEntry {
///     context: "user".into(),
///     params: vec![("user_id".into(), "5".into())],
/// });
/// assert_eq!(entries[1].to_string(), "notifications");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeaderEntry {
    /// The context name.
    pub context: String,
    /// The params as `(key, value)` pairs, in the order the header gives
    /// them (key order, for a header this crate wrote). Empty for a broad
    /// entry.
    pub params: Vec<(String, String)>,
}

impl fmt::Display for HeaderEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        percent_encode(&self.context, &mut out);
        for (key, value) in &self.params {
            out.push(';');
            percent_encode(key, &mut out);
            out.push('=');
            percent_encode(value, &mut out);
        }
        f.write_str(&out)
    }
}

/// Why an [`INVALIDATE_HEADER`] value could not be parsed. `entry` is the
/// 0-based position of the offending entry in the header.
///
/// ```
/// use mizan_protocol::{HeaderError, parse_invalidate_header};
///
/// let err = parse_invalidate_header("user;user_id").unwrap_err();
/// assert_eq!(err, HeaderError::MissingEquals { entry: 0, param: "user_id".into() });
/// assert_eq!(err.to_string(), "entry 0: parameter `user_id` has no `=`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// An entry with nothing in it: an empty header, or `,` with nothing
    /// (or only whitespace) before or after it.
    #[error("entry {entry} is empty")]
    EmptyEntry {
        /// Position of the entry.
        entry: usize,
    },
    /// An entry that starts with `;`: params without a context name.
    #[error("entry {entry} has no context name")]
    EmptyContext {
        /// Position of the entry.
        entry: usize,
    },
    /// A `;` not followed by a `key=value` param (the raw param text is
    /// kept, possibly empty).
    #[error("entry {entry}: parameter `{param}` has no `=`")]
    MissingEquals {
        /// Position of the entry.
        entry: usize,
        /// The param as written.
        param: String,
    },
    /// A param of the form `=value`.
    #[error("entry {entry}: a parameter has an empty name")]
    EmptyKey {
        /// Position of the entry.
        entry: usize,
    },
    /// The same param key twice in one entry.
    #[error("entry {entry}: parameter `{key}` appears more than once")]
    DuplicateKey {
        /// Position of the entry.
        entry: usize,
        /// The decoded key.
        key: String,
    },
    /// A `%` not followed by two hexadecimal digits.
    #[error("entry {entry}: bad percent escape `{escape}` (expected `%` and two hex digits)")]
    BadEscape {
        /// Position of the entry.
        entry: usize,
        /// The `%` and the (at most two) characters after it.
        escape: String,
    },
    /// A character that must be percent-encoded but was written as is
    /// (anything outside `A-Z a-z 0-9 - . _ ~` other than the separators,
    /// e.g. a space or `"` inside an entry).
    #[error("entry {entry}: character {ch:?} must be percent-encoded")]
    UnencodedChar {
        /// Position of the entry.
        entry: usize,
        /// The offending character.
        ch: char,
    },
    /// Percent-escapes that decode to bytes that are not UTF-8.
    #[error("entry {entry}: `{text}` is not valid UTF-8 once percent-decoded")]
    InvalidUtf8 {
        /// Position of the entry.
        entry: usize,
        /// The encoded part (context name, key or value) as written.
        text: String,
    },
}

/// Parses an [`INVALIDATE_HEADER`] value into its entries, percent-decoding
/// every context name, key and value.
///
/// The header is text, so the JSON types of the param values cannot be
/// recovered: `user_id=5` decodes to the string `"5"` whether the server had
/// the number `5` or the string `"5"`, and an array or object value comes
/// back as its compact JSON text. Entries and params are returned in the
/// order written; nothing is deduplicated or re-sorted.
///
/// Spaces and tabs around the `,` separators (and at either end) are
/// allowed, since an intermediary may fold or re-join header lines; any
/// other character outside the unreserved set must be percent-encoded.
/// Lowercase hex digits in escapes are accepted. This function never
/// panics; malformed input gives a [`HeaderError`].
///
/// ```
/// use mizan_protocol::{HeaderEntry, parse_invalidate_header};
///
/// let entries = parse_invalidate_header("user;user_id=5 ,notifications, chat;room=caf%C3%A9").unwrap();
/// assert_eq!(entries, vec![
///     HeaderEntry { context: "user".into(), params: vec![("user_id".into(), "5".into())] },
///     HeaderEntry { context: "notifications".into(), params: vec![] },
///     HeaderEntry { context: "chat".into(), params: vec![("room".into(), "café".into())] },
/// ]);
///
/// assert!(parse_invalidate_header("user, , notifications").is_err());
/// assert!(parse_invalidate_header("user;name=a%2").is_err());
/// ```
pub fn parse_invalidate_header(value: &str) -> Result<Vec<HeaderEntry>, HeaderError> {
    value
        .split(',')
        .enumerate()
        .map(|(entry, text)| parse_entry(entry, text.trim_matches([' ', '\t'])))
        .collect()
}

/// One entry, already trimmed.
fn parse_entry(entry: usize, text: &str) -> Result<HeaderEntry, HeaderError> {
    if text.is_empty() {
        return Err(HeaderError::EmptyEntry { entry });
    }
    let mut parts = text.split(';');
    // `split` always yields at least one item.
    let context = parts.next().unwrap_or_default();
    if context.is_empty() {
        return Err(HeaderError::EmptyContext { entry });
    }
    let context = percent_decode(entry, context)?;
    let mut params: Vec<(String, String)> = Vec::new();
    for param in parts {
        let Some((key, value)) = param.split_once('=') else {
            return Err(HeaderError::MissingEquals {
                entry,
                param: param.to_owned(),
            });
        };
        if key.is_empty() {
            return Err(HeaderError::EmptyKey { entry });
        }
        let key = percent_decode(entry, key)?;
        let value = percent_decode(entry, value)?;
        if params.iter().any(|(k, _)| *k == key) {
            return Err(HeaderError::DuplicateKey { entry, key });
        }
        params.push((key, value));
    }
    Ok(HeaderEntry { context, params })
}

/// Decodes one context name, key or value.
fn percent_decode(entry: usize, text: &str) -> Result<String, HeaderError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if is_unreserved(b) {
            out.push(b);
            i += 1;
        } else if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_digit);
            let lo = bytes.get(i + 2).copied().and_then(hex_digit);
            let (Some(hi), Some(lo)) = (hi, lo) else {
                // `i` is at the ASCII `%`, so it is a char boundary.
                let escape = text.get(i..).unwrap_or_default().chars().take(3).collect();
                return Err(HeaderError::BadEscape { entry, escape });
            };
            out.push((hi << 4) | lo);
            i += 3;
        } else {
            // Everything before `i` was ASCII, so `i` is a char boundary.
            let ch = text.get(i..).and_then(|rest| rest.chars().next()).unwrap_or('\u{FFFD}');
            return Err(HeaderError::UnencodedChar { entry, ch });
        }
    }
    String::from_utf8(out).map_err(|_| HeaderError::InvalidUtf8 {
        entry,
        text: text.to_owned(),
    })
}

/// The value of one hexadecimal digit (either case).
fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}
