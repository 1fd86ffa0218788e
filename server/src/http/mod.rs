//! The HTTP side: routes, and how errors are answered.
//!
//! - `mod.rs`: the router (what is mounted where). Refusals and
//!   `identify`, which the WebSocket upgrade shares, are in `refusal.rs`.
//! - `request.rs`: what every `call` and `fetch` passes before it runs
//!   (origin, content type, rate, body limits and timeout, credentials).
//! - `api.rs`: `POST {base}/call/{fn}` and `POST {base}/fetch/{context}`.
//! - `ops.rs`: health, readiness, metrics and the manifest.
//! - `server_api.rs`: `POST {base}/server/publish` and
//!   `POST {base}/server/invalidate`, when an `api_key` is set.
//! - `view.rs`: view-path functions, at their own routes.

mod api;
mod etag;
mod ops;
mod request;
mod server_api;
mod view;

use crate::connection;
use crate::node::Node;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use std::sync::Arc;

/// The protocol's routes under the base path (the server API's when an
/// `api_key` is set), and the operational endpoints the settings mount
/// (`health_path`, `ready_path`, `metrics_path`).
pub(crate) fn router(node: Arc<Node>) -> Router {
    let config = &node.config;
    let mut api = Router::new()
        .route("/ws", get(connection::upgrade))
        .route("/call/{function}", post(api::call))
        .route("/fetch/{context}", post(api::fetch))
        .route("/manifest", get(ops::manifest));
    if let Some(server_api) = server_api::routes(config) {
        api = api.merge(server_api);
    }
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
    for mounted in node.views.get().into_iter().flatten() {
        let route = mounted.route.clone();
        let mounted = Arc::new(mounted.clone());
        let serve = move |State(node): State<Arc<Node>>, request: request::PageRequest| {
            view::serve(node, Arc::clone(&mounted), request)
        };
        router = router.route(&route, get(serve.clone()).post(serve));
    }
    router.with_state(node)
}

/// Only the metrics, at `/metrics` whatever `metrics_path` says: for a
/// listener of their own (an internal port).
pub(crate) fn metrics_router(node: Arc<Node>) -> Router {
    Router::new().route("/metrics", get(ops::metrics)).with_state(node)
}
