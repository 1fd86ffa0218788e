//! Entity tags for HTTP fetches (PROTOCOL.md section 12): a bundle's
//! `ETag` is a hash of its data, so the same request with `If-None-Match`
//! answers `304` with no body while the data is the same.

use axum::http::HeaderMap;
use axum::http::header::IF_NONE_MATCH;
use sha2::{Digest, Sha256};

/// The strong entity tag of `data`: the first 128 bits of its SHA-256, in
/// hex, quoted.
pub(super) fn etag_of(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for byte in &digest[..16] {
        tag.push_str(&format!("{byte:02x}"));
    }
    tag.push('"');
    tag
}

/// Whether the request's `If-None-Match` names `etag` (or is `*`). Weak
/// tags (`W/"…"`) match their strong twin, as RFC 9110 has it for
/// `If-None-Match`; an unreadable header matches nothing.
pub(super) fn matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn tags_are_stable_quoted_and_differ_with_the_data() {
        let a = etag_of(br#"{"name":"ann"}"#);
        assert_eq!(a, etag_of(br#"{"name":"ann"}"#));
        assert_ne!(a, etag_of(br#"{"name":"bob"}"#));
        assert!(a.starts_with('"') && a.ends_with('"') && a.len() == 34, "{a}");
    }

    #[test]
    fn if_none_match_lists_weak_tags_and_stars_match() {
        let tag = etag_of(b"x");
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
            matches(&headers, &tag)
        };
        assert!(with(&tag));
        assert!(with(&format!("\"other\", W/{tag}")));
        assert!(with("*"));
        assert!(!with("\"other\""));
        assert!(!matches(&HeaderMap::new(), &tag));
    }
}
