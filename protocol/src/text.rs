//! Bounding the client input an error message repeats.

use std::borrow::Cow;

/// The most characters of client input an error message quotes.
pub const QUOTE_CHARS: usize = 64;

/// The most characters an error frame's `message` holds.
pub const MESSAGE_CHARS: usize = 256;

/// `text` cut to at most `max` characters, with `…` where it was cut: for
/// quoting what a client sent (a name, a type) in an error message without
/// echoing kilobytes of it back.
///
/// ```
/// use mizan_protocol::excerpt;
/// assert_eq!(excerpt("echo", 64), "echo");
/// assert_eq!(excerpt(&"x".repeat(100), 5), "xxxxx…");
/// ```
pub fn excerpt(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((at, _)) => Cow::Owned(format!("{}…", &text[..at])),
    }
}

/// Client input quoted in an error message: [`excerpt`] at [`QUOTE_CHARS`].
///
/// ```
/// assert_eq!(mizan_protocol::quote(&"a".repeat(70)).chars().count(), 65);
/// ```
pub fn quote(text: &str) -> Cow<'_, str> {
    excerpt(text, QUOTE_CHARS)
}

/// An error message bounded to [`MESSAGE_CHARS`].
pub(crate) fn bounded(message: String) -> String {
    match excerpt(&message, MESSAGE_CHARS) {
        Cow::Borrowed(_) => message,
        Cow::Owned(cut) => cut,
    }
}

/// A serde_json error's text without the " at line L column C" it ends
/// with: noise when one field or arg is being read.
///
/// ```
/// let e = serde_json::from_str::<u8>("300").unwrap_err();
/// assert_eq!(mizan_protocol::without_position(&e.to_string()), "invalid value: integer `300`, expected u8");
/// ```
pub fn without_position(text: &str) -> &str {
    text.rfind(" at line ").map_or(text, |at| &text[..at])
}
