//! The operational endpoints: health, readiness, metrics, the manifest.

use super::api::json_response;
use crate::client_addr::Peer;
use crate::config::ManifestAccess;
use crate::metrics::Refusal;
use crate::node::Node;
use crate::refusal::{HttpError, identify, refused};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mizan_channels::Error;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Liveness: the process serves HTTP.
pub(super) async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: 200 while the node can serve everything, 503 while it drains
/// or its broker is disconnected (local delivery still works, but other
/// nodes' events do not arrive).
pub(super) async fn readyz(State(node): State<Arc<Node>>) -> (StatusCode, &'static str) {
    if node.draining.load(Ordering::Acquire) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else if node.broker.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "broker disconnected")
    }
}

/// Prometheus' text format.
pub(super) async fn metrics(State(node): State<Arc<Node>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        node.render_metrics(),
    )
        .into_response()
}

/// `GET {base}/manifest`, as the `manifest` setting allows.
pub(super) async fn manifest(
    State(node): State<Arc<Node>>,
    peer: Peer,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    match node.config.manifest {
        ManifestAccess::Public => {}
        ManifestAccess::Off => {
            return Err(refused(
                &node,
                Refusal::Manifest,
                Error::not_found("no manifest is served here"),
            ));
        }
        ManifestAccess::Staff => {
            let address = node.client_addresses.of(peer, &headers);
            let identity = identify(&node, &headers, address)
                .await
                .map_err(|(why, e)| refused(&node, why, e))?;
            let staff = identity.is_some_and(|i| i.user.staff || i.user.superuser);
            if !staff {
                return Err(refused(
                    &node,
                    Refusal::Manifest,
                    Error::forbidden("the manifest is for staff"),
                ));
            }
        }
    }
    Ok(json_response(node.manifest.clone()))
}
