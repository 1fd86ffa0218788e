//! A cheap pre-check of JSON nesting depth, before any parsing.

/// Whether the JSON text `bytes` nests arrays and objects deeper than
/// `max`. Scans bytes once, skipping string contents (escapes included);
/// never allocates, never panics, whatever the input.
///
/// ```
/// use mizan_protocol::exceeds_depth;
/// assert!(!exceeds_depth(br#"{"a":[1,{"b":2}]}"#, 3));
/// assert!(exceeds_depth(br#"{"a":[1,{"b":2}]}"#, 2));
/// assert!(!exceeds_depth(br#"{"s":"[[[[[[[["}"#, 1));
/// ```
pub fn exceeds_depth(bytes: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::exceeds_depth;

    #[test]
    fn counts_only_structure_outside_strings() {
        assert!(!exceeds_depth(b"", 0));
        assert!(!exceeds_depth(b"5", 0));
        assert!(exceeds_depth(b"[]", 0));
        assert!(!exceeds_depth(b"[[]]", 2));
        assert!(exceeds_depth(b"[[[]]]", 2));
        assert!(!exceeds_depth(br#"["\"[[[[", "\\", "[["]"#, 1));
        assert!(!exceeds_depth(b"]]]]]][", 1));
    }
}
