//! `ServerFrame::decode` on arbitrary bytes.
//!
//! Checks:
//! - `decode` never panics, whatever the bytes.
//! - Ok(frame): `encode` then `decode` gives back an equal frame, and the
//!   encoding is a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mizan_protocol::ServerFrame;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = ServerFrame::decode(data) {
        let text = frame.encode();
        let again = ServerFrame::decode(text.as_bytes())
            .unwrap_or_else(|e| panic!("re-decode of {text:?} failed: {e}; frame was {frame:?}"));
        assert_eq!(again, frame, "round trip changed the frame; encoded as {text:?}");
        assert_eq!(again.encode(), text, "encoding is not a fixed point");
    }
});
