//! Who a request or socket acts as.
//!
//! An [`Authenticator`] turns a request's headers (on the WebSocket upgrade
//! or an HTTP call) or an `auth` frame's token into an [`Identity`]: the
//! user, and until when. [`Jwt`] is the built-in one; implement the trait
//! for identities that come from elsewhere (a session cookie, say).

mod dev_token;
mod jwt;

pub use dev_token::DevToken;
pub use jwt::{JwksAlgorithm, Jwt};

use axum::http::HeaderMap;
use mizan_channels::User;
use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

/// A verified user and when their credential stops being valid.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The user.
    pub user: User,
    /// When the credential expires (a socket is told, then closed with
    /// 4001 unless renewed); `None` for credentials that do not expire.
    pub expires_at: Option<SystemTime>,
}

/// A boxed future borrowing from the authenticator and its input.
pub type AuthFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Verifies credentials.
///
/// ```
/// use mizan_server::{AuthError, AuthFuture, Authenticator, Identity};
/// use mizan_server::channels::User;
/// use axum::http::HeaderMap;
///
/// /// Trusts a session cookie looked up in a table.
/// struct Sessions;
/// impl Authenticator for Sessions {
///     fn authenticate_request<'a>(&'a self, headers: &'a HeaderMap) -> AuthFuture<'a, Result<Option<Identity>, AuthError>> {
///         Box::pin(async move {
///             let cookie = headers.get("cookie").and_then(|v| v.to_str().ok()).unwrap_or("");
///             Ok(cookie.strip_prefix("session=").map(|id| Identity { user: User::new(id), expires_at: None }))
///         })
///     }
///     fn authenticate_token<'a>(&'a self, _token: &'a str) -> AuthFuture<'a, Result<Identity, AuthError>> {
///         Box::pin(async { Err(AuthError::Refused("this server takes session cookies".into())) })
///     }
/// }
/// ```
pub trait Authenticator: Send + Sync + 'static {
    /// The identity of an upgrade or HTTP request, from its headers;
    /// `Ok(None)` for an anonymous request. An error refuses the request
    /// with 401.
    fn authenticate_request<'a>(
        &'a self,
        headers: &'a HeaderMap,
    ) -> AuthFuture<'a, Result<Option<Identity>, AuthError>>;

    /// The identity of an `auth` frame's token. An error answers
    /// `unauthenticated` and leaves the socket as it was.
    fn authenticate_token<'a>(&'a self, token: &'a str) -> AuthFuture<'a, Result<Identity, AuthError>>;

    /// Why this authenticator is unsafe in production (a development
    /// secret), if it is. A node built with `production` refuses to start
    /// with it; otherwise it starts with a loud warning.
    fn insecure_reason(&self) -> Option<String> {
        None
    }
}

/// Why a credential was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The token is malformed, badly signed, expired, not yet valid, for
    /// another audience or issuer, or uses another algorithm.
    #[error("invalid token: {0}")]
    Invalid(InvalidToken),
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("the Authorization header must be `Bearer <token>`")]
    BadHeader,
    /// This server has no authenticator configured.
    #[error("this server does not accept credentials (no authenticator is configured)")]
    NotConfigured,
    /// A key could not be loaded.
    #[error("cannot load the key: {0}")]
    Key(String),
    /// Refused for another reason (custom authenticators).
    #[error("{0}")]
    Refused(String),
}

/// What is wrong with a refused token. The text is short and never
/// repeats the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidToken {
    /// Not three base64url parts of JSON, or a claim of the wrong type.
    #[error("malformed")]
    Malformed,
    /// The signature does not match.
    #[error("bad signature")]
    Signature,
    /// `exp` has passed.
    #[error("expired")]
    Expired,
    /// `nbf` has not come yet.
    #[error("not valid yet")]
    NotYetValid,
    /// Signed with another algorithm than the pinned one.
    #[error("wrong algorithm")]
    Algorithm,
    /// `iss` is not the configured issuer.
    #[error("wrong issuer")]
    Issuer,
    /// `aud` does not contain the configured audience.
    #[error("wrong audience")]
    Audience,
    /// A required claim (`sub`, `exp`, ...) is missing or mistyped.
    #[error("missing or mistyped claims")]
    Claims,
    /// `sub` is empty or holds control characters.
    #[error("bad subject")]
    Subject,
    /// The header lists `crit` extensions, which this server does not
    /// understand (RFC 7515 4.1.11).
    #[error("unsupported critical header")]
    Critical,
    /// No key of the JWKS has the token's `kid`.
    #[error("unknown key")]
    UnknownKey,
}

/// The authenticator of a node without one: anonymous requests pass, any
/// credential is refused.
pub(crate) struct NoAuthenticator;

impl Authenticator for NoAuthenticator {
    fn authenticate_request<'a>(
        &'a self,
        headers: &'a HeaderMap,
    ) -> AuthFuture<'a, Result<Option<Identity>, AuthError>> {
        let presented = headers.contains_key(axum::http::header::AUTHORIZATION);
        Box::pin(async move {
            if presented {
                Err(AuthError::NotConfigured)
            } else {
                Ok(None)
            }
        })
    }

    fn authenticate_token<'a>(&'a self, _token: &'a str) -> AuthFuture<'a, Result<Identity, AuthError>> {
        Box::pin(async { Err(AuthError::NotConfigured) })
    }
}
