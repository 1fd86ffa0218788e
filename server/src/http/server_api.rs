//! `POST {base}/server/publish` and `POST {base}/server/invalidate`: the
//! server API over HTTP (PROTOCOL.md section 11), for other processes (a
//! worker, a webhook receiver, a service in another language).
//!
//! They exist only when an `api_key` is set (404 otherwise, like any path
//! that is not served). A request passes what every `call` passes (origin,
//! content type, the address's rate, the body's limits: `request.rs`), with
//! `X-Mizan-Api-Key` in place of the credentials: missing or wrong, 401.
//!
//! ```text
//! POST /api/mizan/server/publish     {"channel":"chat","params":{"room":"lobby"},"data":{"text":"hi","user":null}}
//!   200 {"topic":"chat:chat_lobby","epoch":"…","offset":7}
//! POST /api/mizan/server/invalidate  {"context":"user","params":{"user_id":5}}
//!   200 {"offset":12}
//! ```

use super::api::json_response;
use super::request::{admit, read_body};
use crate::config::{ApiKey, ServerConfig};
use crate::metrics::ApiRefusal;
use crate::node::{InFlight, Node};
use crate::refusal::HttpError;
use crate::server_api::ServerApi;
use axum::Router;
use axum::extract::{FromRequest, Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use mizan_channels::Error;
use mizan_protocol::{ErrorCode, InvalidateEntry, Params, Payload, without_position};
use serde::{Deserialize, Deserializer, Serialize};
use std::sync::Arc;

/// The header that carries the key.
const API_KEY_HEADER: &str = "x-mizan-api-key";

/// The server API's routes, when `config` has an `api_key`; without one
/// they do not exist. A weak key is announced loudly here, where the node
/// starts serving (`production` refuses to build a node with one).
pub(super) fn routes(config: &ServerConfig) -> Option<Router<Arc<Node>>> {
    if let Some(reason) = config.api_key.as_ref()?.weakness() {
        tracing::warn!("the server API is on with a weak key: {reason}");
        // Also on stderr: the warning must show even without a tracing subscriber.
        eprintln!("!! MIZAN: the server API is on with a weak key: {reason}.");
    }
    Some(
        Router::new()
            .route("/server/publish", post(publish))
            .route("/server/invalidate", post(invalidate)),
    )
}

/// `{"channel":"chat","params":{...},"data":<server message>}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    channel: String,
    #[serde(default = "Payload::empty_object")]
    params: Payload,
    data: Payload,
}

/// Publishes a server message to a channel's topic; answers the topic and
/// the message's position in it.
async fn publish(State(node): State<Arc<Node>>, request: KeyedRequest) -> Result<Response, HttpError> {
    let body: PublishBody = request.parse(&node)?;
    if !body.params.is_object() {
        return Err(refused(&node, bad_request("`params` must be an object")));
    }
    let published = ServerApi::new(Arc::clone(&node))
        .publish_json(&body.channel, &body.params, &body.data)
        .await
        .map_err(|e| refused(&node, e))?;
    Ok(json_response(
        serde_json::to_string(&published).map_err(Error::internal)?,
    ))
}

/// `{"context":"user","fn":"user_profile","params":{...}}`; `fn` and
/// `params` optional (no `params`: broad).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvalidateBody {
    context: String,
    #[serde(rename = "fn", default)]
    function: Option<String>,
    #[serde(default, deserialize_with = "present")]
    params: Option<Params>,
}

/// A field that, when present, must be an object: `null` is not absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Params>, D::Error> {
    Params::deserialize(d).map(Some)
}

#[derive(Serialize)]
struct Invalidated {
    /// The entry's offset in its context's stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
}

/// Invalidates a context (scoped, broad or function-level) on every node.
async fn invalidate(State(node): State<Arc<Node>>, request: KeyedRequest) -> Result<Response, HttpError> {
    let body: InvalidateBody = request.parse(&node)?;
    let entry = InvalidateEntry::broad(body.context)
        .with_function(body.function)
        .with_params(body.params);
    let offset = ServerApi::new(Arc::clone(&node))
        .invalidate(entry)
        .await
        .map_err(|e| refused(&node, e))?;
    Ok(json_response(
        serde_json::to_string(&Invalidated { offset }).map_err(Error::internal)?,
    ))
}

/// A request that passed every check, with the right key: its body's
/// JSON object. Counted as in flight (draining waits for it) while it
/// lives.
struct KeyedRequest {
    body: Payload,
    _running: InFlight,
}

impl KeyedRequest {
    /// The body as `T`; 400 when it does not have `T`'s fields.
    fn parse<'a, T: Deserialize<'a>>(&'a self, node: &Node) -> Result<T, HttpError> {
        self.body
            .parse()
            .map_err(|e| refused(node, bad_request(without_position(&e.to_string()))))
    }
}

impl FromRequest<Arc<Node>> for KeyedRequest {
    type Rejection = HttpError;

    async fn from_request(request: Request, node: &Arc<Node>) -> Result<Self, HttpError> {
        let running = InFlight::start(node);
        let (mut parts, body) = request.into_parts();
        admit(node, &mut parts).await?;
        // The routes exist only with a key; without one, nothing is served.
        let key = node.config.api_key.as_ref().ok_or_else(not_served)?;
        check_key(node, key, &parts.headers)?;
        let body = read_body(node, body).await?;
        Ok(Self {
            body,
            _running: running,
        })
    }
}

/// `X-Mizan-Api-Key` must be there and be the key (compared in constant
/// time): 401 otherwise.
fn check_key(node: &Node, key: &ApiKey, headers: &HeaderMap) -> Result<(), HttpError> {
    let (why, message) = match headers.get(API_KEY_HEADER) {
        Some(presented) if key.matches(presented.as_bytes()) => return Ok(()),
        Some(_) => (ApiRefusal::WrongKey, "the `X-Mizan-Api-Key` is not this server's key"),
        None => (ApiRefusal::NoKey, "the server API needs an `X-Mizan-Api-Key` header"),
    };
    node.metrics.refused_server_api(why);
    Err(Error::unauthenticated(message).into())
}

fn not_served() -> HttpError {
    Error::not_found("no server API is served here").into()
}

fn bad_request(message: &str) -> Error {
    Error::new(ErrorCode::BadFrame, message)
}

/// Counts a refused request (a body without the endpoint's fields, an
/// unknown channel or context, params or data of the wrong type) and
/// answers it with the code's status.
fn refused(node: &Node, error: Error) -> HttpError {
    let why = match error.code() {
        ErrorCode::BadFrame => Some(ApiRefusal::BadRequest),
        ErrorCode::NotFound => Some(ApiRefusal::NotFound),
        ErrorCode::InvalidArgs => Some(ApiRefusal::InvalidArgs),
        _ => None,
    };
    if let Some(why) = why {
        node.metrics.refused_server_api(why);
    }
    error.into()
}
