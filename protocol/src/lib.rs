//! The Mizan wire protocol, version 1, as plain data.
//!
//! This crate is the contract between a Mizan server and its clients. It has
//! no runtime (no tokio, no I/O): an edge worker, a load generator or a test
//! can use it to speak the protocol without pulling in a server.
//!
//! # Layout
//!
//! - [`ClientFrame`] (`client_frame.rs`): every request a client sends, and
//!   [`ClientFrame::decode`], which never panics and turns bad input into a
//!   [`FrameError`] that says what was wrong (and carries the request `id`
//!   when it could be read).
//! - [`ServerFrame`] (`server_frame.rs`): replies, pushes and errors the
//!   server sends, with [`ServerFrame::encode`] and [`ServerFrame::decode`].
//! - [`ErrorCode`] and [`CloseCode`] (`codes.rs`): the error codes with their
//!   HTTP statuses, and the WebSocket close codes.
//! - [`exceeds_depth`] (`depth.rs`): a one-pass nesting-depth check that
//!   runs before parsing, so deep input is refused cheaply.
//! - [`InvalidateEntry`] and [`MergeEntry`] (`entries.rs`): what a mutation
//!   reports as stale or patched.
//! - [`invalidate_header`] and [`parse_invalidate_header`] (`header.rs`): the
//!   [`INVALIDATE_HEADER`] (`X-Mizan-Invalidate`) an HTTP reply carries for
//!   caches in front of the server, its [`HeaderEntry`] and [`HeaderError`].
//! - [`Manifest`] (`manifest.rs`): the schema manifest client generators
//!   read.
//! - [`RequestId`], [`Payload`], [`Params`], [`UserInfo`] (`values.rs`): the
//!   small value types frames are made of.
//! - [`excerpt`] and [`quote`] (`text.rs`): bounding the client input an
//!   error message repeats.
//! - [`canonical_json`], [`canonical_params`] (`canonical.rs`): JSON text
//!   with keys sorted at every level, in any serde_json build.
//! - `fields.rs` (private): the field-by-field reader both decoders share.
//!
//! # Example
//!
//! ```
//! use mizan_protocol::{ClientFrame, ErrorCode, ServerFrame};
//!
//! let frame = ClientFrame::decode(br#"{"type":"call","id":2,"fn":"echo","args":{"text":"hi"}}"#)
//!     .unwrap();
//! assert!(matches!(frame, ClientFrame::Call { ref function, .. } if function == "echo"));
//!
//! let err = ClientFrame::decode(br#"{"type":"call","id":3}"#).unwrap_err();
//! assert_eq!(err.id.map(|id| id.get()), Some(3));
//! let reply = ServerFrame::from(err);
//! assert!(matches!(reply, ServerFrame::Error { code: ErrorCode::BadFrame, .. }));
//! ```

mod canonical;
mod client_frame;
mod codes;
mod depth;
mod entries;
mod fields;
mod header;
mod manifest;
mod server_frame;
mod text;
mod values;

pub use canonical::{canonical_json, canonical_params, sorted_entries};
pub use client_frame::{ClientFrame, FrameError};
pub use codes::{CloseCode, ErrorCode};
pub use depth::exceeds_depth;
pub use entries::{InvalidateEntry, MergeEntry};
pub use header::{HeaderEntry, HeaderError, INVALIDATE_HEADER, invalidate_header, parse_invalidate_header};
pub use manifest::{ChannelManifest, ContextManifest, FormManifest, FunctionManifest, Manifest};
pub use server_frame::ServerFrame;
pub use text::{MESSAGE_CHARS, QUOTE_CHARS, excerpt, quote, without_position};
pub use values::{Member, Params, Payload, Position, RequestId, UserInfo};

/// The protocol version this crate speaks, sent in the `hello` frame.
pub const PROTOCOL_VERSION: u32 = 1;

/// The WebSocket subprotocol the server offers and selects when asked.
pub const SUBPROTOCOL: &str = "mizan.v1";
