//! `ClientFrame::decode` on arbitrary bytes.
//!
//! Checks:
//! - `decode` never panics, whatever the bytes.
//! - Ok(frame): `encode` then `decode` gives back an equal frame, and the
//!   encoding is a fixed point (encoding the re-decoded frame gives the same
//!   text).
//! - Err(e): the `bad_frame` reply the server would send for it
//!   (`ServerFrame::from(e)`) encodes, and decodes back to the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mizan_protocol::{ClientFrame, ServerFrame};

fuzz_target!(|data: &[u8]| {
    match ClientFrame::decode(data) {
        Ok(frame) => {
            let text = frame.encode();
            let again = ClientFrame::decode(text.as_bytes())
                .unwrap_or_else(|e| panic!("re-decode of {text:?} failed: {e}; frame was {frame:?}"));
            assert_eq!(again, frame, "round trip changed the frame; encoded as {text:?}");
            assert_eq!(again.encode(), text, "encoding is not a fixed point");
            assert_eq!(again.id(), frame.id());
        }
        Err(e) => {
            let reply = ServerFrame::from(e.clone());
            let text = reply.encode();
            let back = ServerFrame::decode(text.as_bytes())
                .unwrap_or_else(|err| panic!("error reply {text:?} does not decode: {err}"));
            assert_eq!(back, reply, "error reply changed in a round trip; encoded as {text:?}");
        }
    }
});
