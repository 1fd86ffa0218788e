//! The HTTP side: routes, and how errors are answered.
//!
//! - `mod.rs`: the router (what is mounted where), [`HttpError`], and
//!   [`identify`], which the WebSocket upgrade shares.
//! - `request.rs`: what every `call` and `fetch` passes before it runs
//!   (origin, content type, rate, body limits and timeout, credentials).
//! - `api.rs`: `POST {base}/call/{fn}` and `POST {base}/fetch/{context}`.
//! - `ops.rs`: health, readiness, metrics and the manifest.

mod api;
mod ops;
mod request;

use crate::auth::Identity;
use crate::connection;
use crate::metrics::Refusal;
use crate::node::Node;
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mizan_channels::Error;
use std::net::IpAddr;
use std::sync::Arc;

/// The protocol's routes under the base path, and the operational
/// endpoints the settings mount (`health_path`, `ready_path`,
/// `metrics_path`).
pub(crate) fn router(node: Arc<Node>) -> Router {
    let api = Router::new()
        .route("/ws", get(connection::upgrade))
        .route("/call/{function}", post(api::call))
        .route("/fetch/{context}", post(api::fetch))
        .route("/manifest", get(ops::manifest));
    let config = &node.config;
    let mut router = Router::new().nest(&config.base_path, api);
    if let Some(path) = config.health_path.path() {
        router = router.route(path, get(ops::healthz));
    }
    if let Some(path) = config.ready_path.path() {
        router = router.route(path, get(ops::readyz));
    }
    if let Some(path) = config.metrics_path.path() {
        router = router.route(path, get(ops::metrics));
    }
    router.with_state(node)
}

/// Only the metrics, at `/metrics` whatever `metrics_path` says: for a
/// listener of their own (an internal port).
pub(crate) fn metrics_router(node: Arc<Node>) -> Router {
    Router::new().route("/metrics", get(ops::metrics)).with_state(node)
}

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
