//! The Mizan application model: what a user of Mizan writes.
//!
//! Server functions with typed arguments and outputs, channels with typed
//! params and messages, access levels, and the [`Registry`] that gathers
//! them once, validates them, and is then read by the server. This crate
//! knows nothing about sockets or HTTP; the server crate drives it.
//!
//! # Layout
//!
//! - [`Function`] (`function.rs`): a server function built from an async
//!   closure over a typed args struct, and its erased form the server calls.
//! - [`Channel`] (`channel.rs`): the trait a channel implements
//!   (`authorize`, `group`, `receive`), and [`ChannelEntry`], its erased
//!   form.
//! - [`Context`] (`context.rs`): a named group of read functions sharing
//!   params, and its bundle.
//! - [`Effects`] (`effects.rs`): a mutation's `affects` and `merge` targets,
//!   resolved when the registry is built, and the entries a call produces.
//! - [`WatchIndex`] (`watch_index.rs`): which watchers of a context an
//!   entry reaches, through an index by param value.
//! - `manifest.rs`: [`Registry::manifest`], the schema manifest client
//!   generators read.
//! - [`Access`] (`access.rs`): public, user, staff, superuser, or a custom
//!   predicate, checked before any handler runs.
//! - [`Cx`] and [`User`] (`cx.rs`, `user.rs`): who is asking, on which node
//!   and session.
//! - [`Error`] (`error.rs`): what a handler returns when it fails, mapped
//!   to a protocol error code; [`BuildError`]: what building a registry
//!   rejects.
//! - [`Registry`] (`registry.rs`): everything registered, looked up by name.
//!
//! # Example
//!
//! ```
//! use mizan_channels::{Access, Cx, Error, Function, Registry};
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct EchoArgs { text: String }
//! #[derive(Serialize, JsonSchema)]
//! struct EchoOut { message: String }
//!
//! let echo = Function::new("echo", |_cx: Cx, args: EchoArgs| async move {
//!     Ok::<_, Error>(EchoOut { message: args.text })
//! });
//! let registry = Registry::builder().function(echo).build().unwrap();
//! assert!(registry.function("echo").is_some());
//! assert_eq!(registry.function("echo").unwrap().access_level(), &Access::Public);
//! ```

mod access;
mod channel;
mod context;
mod cx;
mod effects;
mod error;
mod form;
mod function;
mod manifest;
mod registry;
mod user;
mod watch_index;

pub use access::Access;
pub use channel::{Channel, ChannelEntry, History, MemberInfo, Subscription};
pub use context::{Context, GLOBAL};
pub use cx::{AppState, Cx, Emitted, Emitter};
pub use effects::Effects;
pub use error::{BuildError, Error};
pub use form::{Errors, FieldKind, FieldSpec, Fields, Form, FormSchema, Validation};
pub use function::{Args, Function, FunctionDecl, NoArgs};
pub use mizan_protocol as protocol;
pub use registry::{Registry, RegistryBuilder};
pub use user::User;
pub use watch_index::WatchIndex;

/// A boxed, sendable future, as erased handlers return.
pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'static>>;
