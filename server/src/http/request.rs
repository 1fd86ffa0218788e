//! What every HTTP `call` and `fetch` passes before it runs, in this
//! order: the origin policy (403), `Content-Type: application/json` (415),
//! the client address's request rate (429), the credentials (401, or 429
//! past the address's rate of token verifications), the user's request
//! rate (429), and the body: within `http_body_timeout` (408),
//! `max_frame_bytes` (413) and `max_json_depth` (413), a JSON object (400).
//! The server API (`server_api.rs`) passes the same, with its key in place
//! of the credentials. A view's request (`PageRequest`) passes the same but
//! for its body, which is a form's (`application/x-www-form-urlencoded`).

use crate::client_addr::Peer;
use crate::metrics::Refusal;
use crate::node::{InFlight, Node};
use crate::refusal::{HttpError, identify, refused};
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use mizan_channels::{Error, User};
use mizan_protocol::{ErrorCode, Payload, exceeds_depth};
use std::net::IpAddr;
use std::sync::Arc;

/// A request that passed every check: who asks, and the body's JSON
/// object. Counted as in flight (draining waits for it) while it lives.
pub(super) struct ApiRequest {
    pub(super) user: Option<Arc<User>>,
    pub(super) body: Payload,
    _running: InFlight,
}

impl FromRequest<Arc<Node>> for ApiRequest {
    type Rejection = HttpError;

    async fn from_request(request: Request, node: &Arc<Node>) -> Result<Self, HttpError> {
        let running = InFlight::start(node);
        let (mut parts, body) = request.into_parts();
        let address = admit(node, &mut parts).await?;
        let user = credentials(node, &parts, address).await?;
        let body = read_body(node, body).await?;
        Ok(Self {
            user,
            body,
            _running: running,
        })
    }
}

/// A view's request that passed every check (`admit_page`, the
/// credentials, a body that is a form's): who asks, and its args as one
/// urlencoded string, the path params first, then the query, then the
/// body. Counted as in flight while it lives.
pub(super) struct PageRequest {
    pub(super) user: Option<Arc<User>>,
    pub(super) args: String,
    /// A GET or HEAD, which changes nothing (RFC 9110).
    pub(super) safe: bool,
    _running: InFlight,
}

impl FromRequest<Arc<Node>> for PageRequest {
    type Rejection = HttpError;

    async fn from_request(request: Request, node: &Arc<Node>) -> Result<Self, HttpError> {
        let running = InFlight::start(node);
        let (mut parts, body) = request.into_parts();
        let address = admit_page(node, &mut parts).await?;
        let user = credentials(node, &parts, address).await?;
        let Ok(path) = axum::extract::RawPathParams::from_request_parts(&mut parts, node).await else {
            return Err(HttpError::from(Error::internal(
                "a view's path params could not be read",
            )));
        };
        let mut args = serde_urlencoded::to_string(path.iter().collect::<Vec<_>>()).map_err(Error::internal)?;
        let mut append = |more: &str| {
            if !more.is_empty() {
                if !args.is_empty() {
                    args.push('&');
                }
                args.push_str(more);
            }
        };
        append(parts.uri.query().unwrap_or(""));
        let bytes = read_bytes(node, body).await?;
        if !bytes.is_empty() {
            if !is_form(&parts.headers) {
                return Err(refused_with(
                    node,
                    Refusal::ContentType,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    Error::new(
                        ErrorCode::BadFrame,
                        "a view's body must be sent as `Content-Type: application/x-www-form-urlencoded`",
                    ),
                ));
            }
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                refused(
                    node,
                    Refusal::Body,
                    Error::new(ErrorCode::BadFrame, "the body is not UTF-8"),
                )
            })?;
            append(text);
        }
        Ok(Self {
            user,
            args,
            safe: parts.method.is_safe(),
            _running: running,
        })
    }
}

/// Who asks: the request's credentials, refused when bad (401) and past
/// the user's request rate (429).
async fn credentials(node: &Arc<Node>, parts: &Parts, address: Option<IpAddr>) -> Result<Option<Arc<User>>, HttpError> {
    let user = identify(node, &parts.headers, address)
        .await
        .map_err(|(why, e)| refused(node, why, e))?
        .map(|identity| Arc::new(identity.user));
    if let Some(user) = &user
        && !node.limits.allow_http(None, Some(&user.id))
    {
        return Err(refused(node, Refusal::Rate, too_fast()));
    }
    Ok(user)
}

/// What a request passes before its credentials are read: the origin
/// policy (403), `Content-Type: application/json` (415) and the client
/// address's request rate (429). Answers the client address.
pub(super) async fn admit(node: &Arc<Node>, parts: &mut Parts) -> Result<Option<IpAddr>, HttpError> {
    check_origin(node, &parts.headers)?;
    if !is_json(&parts.headers) {
        return Err(refused_with(
            node,
            Refusal::ContentType,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::new(
                ErrorCode::BadFrame,
                "the body must be sent as `Content-Type: application/json`",
            ),
        ));
    }
    admit_rate(node, parts).await
}

/// What a view's request passes before its credentials are read: the
/// origin policy (403) and the client address's request rate (429); its
/// body is a form's, not JSON. Answers the client address.
pub(super) async fn admit_page(node: &Arc<Node>, parts: &mut Parts) -> Result<Option<IpAddr>, HttpError> {
    check_origin(node, &parts.headers)?;
    admit_rate(node, parts).await
}

/// The client address, when its request rate allows one more.
async fn admit_rate(node: &Arc<Node>, parts: &mut Parts) -> Result<Option<IpAddr>, HttpError> {
    let Ok(peer) = Peer::from_request_parts(parts, node).await;
    let address = node.client_addresses.of(peer, &parts.headers);
    if !node.limits.allow_http(address, None) {
        return Err(refused(node, Refusal::Rate, too_fast()));
    }
    Ok(address)
}

fn too_fast() -> Error {
    Error::limit("too many requests: retry in a moment")
}

/// A request whose `Origin` the policy refuses is answered 403: a page on
/// another site must not make a browser run a mutation with its cookies.
fn check_origin(node: &Node, headers: &HeaderMap) -> Result<(), HttpError> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if headers.contains_key(header::ORIGIN) && origin.is_none() || !node.config.origins.allows(origin, host) {
        return Err(refused(
            node,
            Refusal::Origin,
            Error::forbidden("requests from this origin are not allowed here"),
        ));
    }
    Ok(())
}

/// `application/json`, parameters (`; charset=utf-8`) allowed. A
/// `text/plain` POST needs no CORS preflight, so any page could send one.
fn is_json(headers: &HeaderMap) -> bool {
    has_type(headers, "application/json")
}

/// `application/x-www-form-urlencoded`: what an HTML form posts.
fn is_form(headers: &HeaderMap) -> bool {
    has_type(headers, "application/x-www-form-urlencoded")
}

/// Whether the request's `Content-Type` is `mime` (parameters allowed).
fn has_type(headers: &HeaderMap, mime: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|found| found.trim().eq_ignore_ascii_case(mime))
}

/// The body's JSON object (`{}` when empty), read within the time, size
/// and depth limits.
pub(super) async fn read_body(node: &Node, body: Body) -> Result<Payload, HttpError> {
    let bytes = read_bytes(node, body).await?;
    let config = &node.config;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Payload::empty_object());
    }
    let max = config.max_json_depth;
    if exceeds_depth(&bytes, max) {
        return Err(refused_with(
            node,
            Refusal::Body,
            StatusCode::PAYLOAD_TOO_LARGE,
            Error::limit(format!("the body nests deeper than {max} levels")),
        ));
    }
    let bad = |message: &str| refused(node, Refusal::Body, Error::new(ErrorCode::BadFrame, message));
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("the body is not UTF-8"))?;
    let body = Payload::from_json(text).map_err(|_| bad("the body is not valid JSON"))?;
    if !body.is_object() {
        return Err(bad("the body must be a JSON object"));
    }
    Ok(body)
}

/// The body's bytes, read within `http_body_timeout` and
/// `max_frame_bytes`.
pub(super) async fn read_bytes(node: &Node, body: Body) -> Result<bytes::Bytes, HttpError> {
    let config = &node.config;
    let limit = config.max_frame_bytes;
    match tokio::time::timeout(config.http_body_timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(refused_with(
            node,
            Refusal::BodyTimeout,
            StatusCode::REQUEST_TIMEOUT,
            Error::limit(format!("the body did not arrive within {:?}", config.http_body_timeout)),
        )),
        Ok(Err(_)) => Err(refused_with(
            node,
            Refusal::Body,
            StatusCode::PAYLOAD_TOO_LARGE,
            Error::limit(format!("the body is larger than {limit} bytes, or was cut off")),
        )),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

fn refused_with(node: &Node, why: Refusal, status: StatusCode, error: Error) -> HttpError {
    node.metrics.refused_request(why);
    HttpError::with_status(status, error)
}
