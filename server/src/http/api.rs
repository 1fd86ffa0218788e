//! `POST {base}/call/{fn}` and `POST {base}/fetch/{context}`: the same
//! functions and bundles as the socket's `call` and `fetch`.

use super::etag;
use super::request::ApiRequest;
use crate::node::Node;
use crate::refusal::HttpError;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mizan_channels::Error;
use mizan_protocol::{INVALIDATE_HEADER, InvalidateEntry, MergeEntry, Params, Payload, invalidate_header};
use serde::Serialize;
use std::sync::Arc;

#[derive(Serialize)]
struct CallReply<'a> {
    result: &'a Payload,
    invalidate: &'a [InvalidateEntry],
    merge: &'a [MergeEntry],
}

/// Runs a function; what it affects also goes into `X-Mizan-Invalidate`.
pub(super) async fn call(
    State(node): State<Arc<Node>>,
    Path(function): Path<String>,
    request: ApiRequest,
) -> Result<Response, HttpError> {
    let outcome = node.call(node.cx(request.user), &function, &request.body).await?;
    let reply = CallReply {
        result: &outcome.result,
        invalidate: &outcome.invalidate,
        merge: &outcome.merge,
    };
    let mut response = json_response(serde_json::to_string(&reply).map_err(Error::internal)?);
    name_effects(&mut response, &outcome.invalidate, &outcome.merge);
    Ok(response)
}

#[derive(Serialize)]
struct FetchReply<'a> {
    context: &'a str,
    params: &'a Params,
    data: &'a Payload,
    /// The context stream's position the bundle reflects (section 9).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    position: Option<mizan_protocol::Position>,
}

/// One bundle, for server-side rendering, with an `ETag` of its data: the
/// same request with `If-None-Match` naming it answers `304` with no body
/// while the data is the same.
pub(super) async fn fetch(
    State(node): State<Arc<Node>>,
    Path(context): Path<String>,
    headers: HeaderMap,
    request: ApiRequest,
) -> Result<Response, HttpError> {
    let params: Params = request.body.parse().map_err(Error::internal)?;
    // Read before the bundle is computed: every entry up to it is in it.
    let position = node.context_position(&context).await;
    let data = node
        .cached_bundle(node.cx(request.user), &context, &params, position.as_ref())
        .await?;
    let etag = etag::etag_of(data.get().as_bytes());
    let mut response = if etag::matches(&headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let reply = FetchReply {
            context: &context,
            params: &params,
            data: &data,
            position,
        };
        json_response(serde_json::to_string(&reply).map_err(Error::internal)?)
    };
    let etag = HeaderValue::from_str(&etag).map_err(Error::internal)?;
    response.headers_mut().insert(header::ETAG, etag);
    let cache_control = cache_control(&node, &context).map_err(Error::internal)?;
    response.headers_mut().insert(header::CACHE_CONTROL, cache_control);
    Ok(response)
}

/// The `Cache-Control` of `context`'s HTTP fetches: `private, no-store`
/// for a per-user context (one user's data: no shared cache, a CDN, may
/// keep it); the `cache_control` setting for the others, or `no-cache`
/// (kept, but asked again each time: the `ETag` makes that cheap).
fn cache_control(node: &Node, context: &str) -> Result<HeaderValue, axum::http::header::InvalidHeaderValue> {
    if node
        .registry
        .context(context)
        .is_some_and(mizan_channels::Context::is_per_user)
    {
        return Ok(HeaderValue::from_static("private, no-store"));
    }
    match node.config.cache_control.get(context) {
        Some(setting) => HeaderValue::from_str(setting),
        None => Ok(HeaderValue::from_static("no-cache")),
    }
}

/// Names what a request affected in its response's `X-Mizan-Invalidate`
/// header (none when it affected nothing).
pub(super) fn name_effects(response: &mut Response, invalidate: &[InvalidateEntry], merge: &[MergeEntry]) {
    if let Some(value) = invalidate_header(invalidate, merge) {
        // The codec percent-encodes everything outside RFC 3986's unreserved
        // set, so the value is always a valid header value.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(INVALIDATE_HEADER.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
}

pub(super) fn json_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
