//! Calls over HTTP: `POST {base}/call/{fn}`, statuses and error bodies.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Server, token};

async fn post(server: &Server, function: &str, body: &str, bearer: Option<&str>) -> (StatusCode, Value) {
    let mut request = support::post(server.http_url(&format!("/api/mizan/call/{function}")))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn echo_over_http() {
    let server = Server::fixture().await;
    let (status, body) = post(&server, "echo", r#"{"text":"hi"}"#, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"result": {"message": "hi"}, "invalidate": [], "merge": []})
    );
}

#[tokio::test]
async fn an_empty_body_is_empty_args() {
    let server = Server::fixture().await;
    let (status, body) = post(&server, "whoami", "", Some(&token("9", false))).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"], json!({"id": "9", "staff": false}));
}

#[tokio::test]
async fn errors_answer_with_their_status_and_code() {
    let server = Server::fixture().await;
    let alice = token("alice", false);
    let cases: [(&str, &str, Option<&str>, u16, &str); 8] = [
        ("echo", "not json", None, 400, "bad_frame"),
        ("echo", "[1]", None, 400, "bad_frame"),
        ("nope", "{}", None, 404, "not_found"),
        ("echo", r#"{"text":1}"#, None, 422, "invalid_args"),
        ("whoami", "{}", None, 401, "unauthenticated"),
        ("whoami", "{}", Some("garbage"), 401, "unauthenticated"),
        ("staff_only", "{}", Some(&alice), 403, "forbidden"),
        ("fail", "{}", None, 500, "internal"),
    ];
    for (function, body, bearer, status, code) in cases {
        let (got_status, got) = post(&server, function, body, bearer).await;
        assert_eq!(got_status.as_u16(), status, "{function} {body}");
        assert_eq!(got["type"], "error");
        assert_eq!(got["code"], code, "{function} {body}");
        assert!(got["message"].is_string());
        assert!(got.get("id").is_none());
    }
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let server = Server::fixture().await;
    let big = json!({"text": "x".repeat(70 * 1024)}).to_string();
    let (status, body) = post(&server, "echo", &big, None).await;
    assert_eq!(status, 413);
    assert_eq!(body["code"], "limit");
}

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let server = Server::fixture().await;
    let response = reqwest::get(server.http_url("/healthz")).await.unwrap();
    assert_eq!(response.status(), 200);
    let response = reqwest::get(server.http_url("/readyz")).await.unwrap();
    assert_eq!(
        (response.status().as_u16(), response.text().await.unwrap()),
        (200, "ready".to_owned())
    );
}
