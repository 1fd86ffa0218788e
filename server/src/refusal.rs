//! How a request that may not go on is answered over HTTP (the upgrade
//! and `call`/`fetch` alike), and who a request is: shared by `http/` and
//! `connection/`, so that neither depends on the other's internals.

use crate::auth::Identity;
use crate::metrics::Refusal;
use crate::node::Node;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mizan_channels::Error;
use std::net::IpAddr;

/// An error answered over HTTP: the status comes from the code, the body
/// is the protocol's error object.
pub(crate) struct HttpError {
    pub(crate) status: StatusCode,
    pub(crate) error: Error,
}

impl HttpError {
    /// An error with a status of its own (not the code's).
    pub(crate) fn with_status(status: StatusCode, error: Error) -> Self {
        Self { status, error }
    }
}

impl From<Error> for HttpError {
    fn from(error: Error) -> Self {
        let status = StatusCode::from_u16(error.code().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self { status, error }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let body = self.error.to_frame(None).encode();
        (self.status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

/// The identity of a request (its bearer token, or whatever the
/// authenticator reads), if any. A bad or expired credential is refused
/// (`unauthenticated`, 401); a request carrying a token from an address
/// past its rate of token verifications, before any verification (`limit`,
/// 429). The caller counts the refusal.
pub(crate) async fn identify(
    node: &Node,
    headers: &HeaderMap,
    address: Option<IpAddr>,
) -> Result<Option<Identity>, (Refusal, Error)> {
    if headers.contains_key(header::AUTHORIZATION)
        && let Some(address) = address
        && !node.limits.verifications_per_address.allow(&address)
    {
        return Err((
            Refusal::Verifications,
            Error::limit("too many token verifications from this address: retry in a moment"),
        ));
    }
    node.auth
        .authenticate_request(headers)
        .await
        .map_err(|e| (Refusal::Credentials, Error::unauthenticated(e.to_string())))
}

/// Counts an HTTP refusal and answers it.
pub(crate) fn refused(node: &Node, why: Refusal, error: Error) -> HttpError {
    node.metrics.refused_request(why);
    error.into()
}
