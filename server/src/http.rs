//! The HTTP side: routes, `POST /call/{fn}`, health, and error responses.

use crate::auth::Identity;
use crate::connection;
use crate::node::InFlight;
use crate::node::Node;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mizan_channels::{Error, User};
use mizan_protocol::{ErrorCode, INVALIDATE_HEADER, InvalidateEntry, MergeEntry, Params, Payload, invalidate_header};
use serde::Serialize;
use std::sync::Arc;

/// All of a node's routes.
pub(crate) fn router(node: Arc<Node>) -> Router {
    let api = Router::new()
        .route("/ws", get(connection::upgrade))
        .route("/call/{function}", post(call))
        .route("/fetch/{context}", post(fetch))
        .route(
            "/manifest",
            get(|State(node): State<Arc<Node>>| async move { json_response(node.manifest.clone()) }),
        )
        .layer(DefaultBodyLimit::max(node.config.max_frame_bytes));
    Router::new()
        .nest(&node.config.base_path, api)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(|State(node): State<Arc<Node>>| async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    node.render_metrics(),
                )
            }),
        )
        .with_state(node)
}

/// `GET /readyz`: 200 while the node can serve everything, 503 while its
/// broker is disconnected (local delivery still works, but other nodes'
/// events do not arrive).
async fn readyz(State(node): State<Arc<Node>>) -> (StatusCode, &'static str) {
    if node.draining.load(std::sync::atomic::Ordering::Acquire) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else if node.broker.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "broker disconnected")
    }
}

/// An error answered over HTTP: the status comes from the code, the body
/// is the protocol's error object.
pub(crate) struct HttpError {
    pub(crate) status: StatusCode,
    pub(crate) error: Error,
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
/// with 401.
pub(crate) async fn identify(node: &Node, headers: &HeaderMap) -> Result<Option<Identity>, HttpError> {
    node.auth
        .authenticate_request(headers)
        .await
        .map_err(|e| Error::unauthenticated(e.to_string()).into())
}

/// The user of a request, for a one-shot HTTP call.
async fn request_user(node: &Node, headers: &HeaderMap) -> Result<Option<Arc<User>>, HttpError> {
    Ok(identify(node, headers).await?.map(|identity| Arc::new(identity.user)))
}

#[derive(Serialize)]
struct CallReply<'a> {
    result: &'a Payload,
    invalidate: &'a [InvalidateEntry],
    merge: &'a [MergeEntry],
}

async fn call(
    State(node): State<Arc<Node>>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let _running = InFlight::start(&node);
    let user = request_user(&node, &headers).await?;
    let args = object_body(body)?;
    let outcome = node.call(node.cx(user), &function, &args).await?;
    let reply = CallReply {
        result: &outcome.result,
        invalidate: &outcome.invalidate,
        merge: &outcome.merge,
    };
    let body = serde_json::to_string(&reply).map_err(Error::internal)?;
    let mut response = json_response(body);
    if let Some(value) = invalidate_header(&outcome.invalidate, &outcome.merge) {
        // The codec percent-encodes everything outside RFC 3986's unreserved
        // set, so the value is always a valid header value.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(INVALIDATE_HEADER.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

#[derive(Serialize)]
struct FetchReply<'a> {
    context: &'a str,
    params: &'a Params,
    data: &'a Payload,
}

/// `POST {base}/fetch/{context}`: one bundle, for server-side rendering.
async fn fetch(
    State(node): State<Arc<Node>>,
    Path(context): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let _running = InFlight::start(&node);
    let user = request_user(&node, &headers).await?;
    let params: Params = object_body(body)?.parse().map_err(Error::internal)?;
    let data = node.bundle(node.cx(user), &context, &params).await?;
    let reply = FetchReply {
        context: &context,
        params: &params,
        data: &data,
    };
    let mut response = json_response(serde_json::to_string(&reply).map_err(Error::internal)?);
    if node.registry.context(&context).is_some_and(|c| c.is_per_user()) {
        // One user's data: no shared cache (a CDN) may keep it.
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    }
    Ok(response)
}

fn json_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The JSON object of a request body (a call's args or a fetch's params),
/// `{}` when empty.
fn object_body(body: Result<Bytes, BytesRejection>) -> Result<Payload, HttpError> {
    let body = body.map_err(|rejection| {
        let code = match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::Limit,
            _ => ErrorCode::BadFrame,
        };
        HttpError {
            status: rejection.status(),
            error: Error::new(code, rejection.body_text()),
        }
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Payload::empty_object());
    }
    let bad = |message: String| HttpError::from(Error::new(ErrorCode::BadFrame, message));
    let text = std::str::from_utf8(&body).map_err(|_| bad("the body is not UTF-8".into()))?;
    let args = Payload::from_json(text).map_err(|e| bad(format!("the body is not valid JSON: {e}")))?;
    if !args.is_object() {
        return Err(bad("the body must be a JSON object".into()));
    }
    Ok(args)
}
