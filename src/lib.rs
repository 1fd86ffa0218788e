//! Mizan: a WebSocket-first realtime server.
//!
//! Write typed server functions and channels in Rust; one socket carries
//! calls, channel traffic and server pushes; HTTP carries the same calls.
//! This crate is the facade: it re-exports what an application uses from
//! [`mizan_protocol`], [`mizan_channels`] and [`mizan_server`].
//!
//! ```no_run
//! use mizan::{Cx, Error, Function, Mizan};
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct EchoArgs { text: String }
//! #[derive(Serialize, JsonSchema)]
//! struct Echoed { message: String }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let echo = Function::new("echo", |_cx: Cx, args: EchoArgs| async move {
//!     Ok::<_, Error>(Echoed { message: args.text })
//! });
//! let app = Mizan::builder().function(echo).build()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app.router()).await?;
//! # Ok(()) }
//! ```

pub use mizan_channels::{Access, Channel, Cx, Error, Function, NoArgs, User};
pub use mizan_protocol as protocol;
pub use mizan_server::{Jwt, Mizan, MizanBuilder, ServerConfig, broker};
