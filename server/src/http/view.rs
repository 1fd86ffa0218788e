//! View-path functions at their routes (`crate::view`): the request's
//! checks (`PageRequest`), the view's run, and its affects named in
//! `X-Mizan-Invalidate`.

use super::api::name_effects;
use super::request::PageRequest;
use crate::node::Node;
use crate::refusal::HttpError;
use crate::view::Mounted;
use axum::response::Response;
use std::sync::Arc;

/// Serves `view` for one request.
pub(super) async fn serve(node: Arc<Node>, view: Arc<Mounted>, request: PageRequest) -> Result<Response, HttpError> {
    let outcome = node
        .serve_view(node.cx(request.user), &view, &request.args, request.safe)
        .await?;
    let mut response = outcome.response;
    name_effects(&mut response, &outcome.invalidate, &outcome.merge);
    Ok(response)
}
