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
//! app.serve(listener).with_shutdown(mizan::shutdown_signal()).await?;
//! # Ok(()) }
//! ```

pub use mizan_channels::{
    Access, AppState, Args, Channel, Cx, Emitted, Emitter, Error, FieldKind, Form, Function, FunctionDecl, History,
    MemberInfo, NoArgs, User,
};
pub use mizan_protocol as protocol;
pub use mizan_server::{
    ApiKey, AuthError, AuthFuture, Authenticator, BuildError, BundleCacheBackend, CacheSecret, ConfigError, DevToken,
    Endpoint, Identity, InvalidToken, JwksAlgorithm, Jwt, ManifestAccess, Mizan, MizanBuilder, OriginPolicy, Published,
    Serve, ServerApi, ServerConfig, View, ViewDecl, broker, shutdown_signal,
};

/// Declares a server function: an `async fn` whose first parameter is the
/// request context and whose other parameters are its args stays as it is
/// (callable from Rust), and gains a [`FunctionDecl`] constant named like it
/// in upper case (`user_profile` -> `USER_PROFILE`), ready for
/// [`MizanBuilder::functions`].
///
/// ```
/// use mizan::{Cx, Error, Mizan};
/// use schemars::JsonSchema;
/// use serde::Serialize;
///
/// #[derive(Serialize, JsonSchema)]
/// struct Profile { id: i64, name: String }
///
/// /// A user's public profile.
/// #[mizan::function(context = "user")]
/// async fn user_profile(_cx: &Cx, user_id: i64) -> Result<Profile, Error> {
///     Ok(Profile { id: user_id, name: "Ada".into() })
/// }
///
/// /// Renames a user; their open `user` contexts refetch.
/// #[mizan::function(affects = "user", auth = "user")]
/// async fn rename_user(cx: &Cx, user_id: i64, name: String) -> Result<bool, Error> {
///     Ok(cx.user().is_some_and(|u| u.id == user_id.to_string()) && !name.is_empty())
/// }
///
/// let app = Mizan::builder().functions([USER_PROFILE, RENAME_USER]).build().unwrap();
/// # drop(app);
/// ```
///
/// The args travel as a JSON object (`{"user_id": 7, "name": "Ada"}` for
/// `rename_user`) and its JSON Schema is named after the fn
/// (`RenameUserArgs`). The fn's doc comment is the generated client's
/// JSDoc.
///
/// | key | meaning |
/// | --- | --- |
/// | `context = "user"` | a read function: a slot of context `user`, its args the context's params |
/// | `per_user` | (with `context`) the data depends on who asks: the context needs a signed-in user, and what mutations report about it reaches only the user who made the change |
/// | `affects = "user"` / `["a", "b"]` | a successful call makes these contexts (or context functions) stale, scoped by the args named like their params |
/// | `merge = "user"` | the output replaces the slot of the context whose function returns the same type |
/// | `broad` | what `affects`/`merge` cannot scope (no arg named like a param) is broad on purpose: without it that is a build error |
/// | `auth = "user"` / `is_owner` | who may call: `public`, `user`, `staff`, `superuser`, or a predicate |
///
/// `per_user` is about whose data it is, not who may see it: "my votes"
/// is per-user; "who voted", shown to the poll's creator, is one list for
/// everyone allowed to see it (use `auth` for that), since per-user
/// changes are pushed only to the user who made them. See
/// `docs/functions.md` for everything the attribute generates and the
/// mistakes it reports.
pub use mizan_macros::function;

/// What `#[mizan::function]` expands to names these, so that a crate using
/// the attribute needs no direct dependency on them. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use mizan_channels;
    pub use schemars;
    pub use serde;
}
