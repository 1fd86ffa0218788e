//! HTTP before anything runs: connections that never finish (slowloris),
//! the caps on connections not yet upgraded, cross-site requests (CSRF),
//! request rates per address and per user, body limits, origins, and the
//! operational endpoints' settings.

mod support;

use mizan::{Endpoint, ManifestAccess, ServerConfig};
use serde_json::{Value, json};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use support::{Client, Server, token};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn ip(last: u8) -> IpAddr {
    [127, 0, 0, last].into()
}

async fn server(config: ServerConfig) -> Server {
    Server::start(support::fixture::builder(support::SECRET).config(config)).await
}

fn quick_timeouts() -> ServerConfig {
    support::config(|c| {
        c.http_header_timeout = Duration::from_millis(800);
        c.http_body_timeout = Duration::from_millis(800);
    })
}

/// A TCP connection from `source`.
async fn tcp_from(server: &Server, source: IpAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((source, 0).into()).unwrap();
    socket.connect(server.addr).await.unwrap()
}

/// Reads until the server closes the connection (or resets it); returns
/// what arrived, failing the test if it stays open for `limit`.
async fn until_closed(tcp: &mut TcpStream, limit: Duration) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => panic!("still open after {limit:?}; got {:?}", String::from_utf8_lossy(&seen)),
            Ok(Ok(0) | Err(_)) => return String::from_utf8_lossy(&seen).into_owned(),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn headers_that_trickle_in_are_cut_off() {
    let server = server(quick_timeouts()).await;
    let mut tcp = tcp_from(&server, ip(1)).await;
    let started = Instant::now();
    let trickle = async {
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if tcp.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    trickle.await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(3), "the trickle went on for {elapsed:?}");
    until_closed(&mut tcp, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let server = server(quick_timeouts()).await;
    let mut tcp = tcp_from(&server, ip(1)).await;
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = until_closed(&mut tcp, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "closed before it was idle for long"
    );
}

#[tokio::test]
async fn bodies_that_never_arrive_are_answered_and_closed() {
    let server = server(quick_timeouts()).await;
    // A huge Content-Length and no body.
    let mut tcp = tcp_from(&server, ip(1)).await;
    tcp.write_all(
        b"POST /api/mizan/call/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n{",
    )
    .await
    .unwrap();
    let answer = until_closed(&mut tcp, Duration::from_secs(3)).await;
    assert!(
        answer.starts_with("HTTP/1.1 413") || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    // A chunked body that never ends.
    let mut tcp = tcp_from(&server, ip(1)).await;
    tcp.write_all(
        b"POST /api/mizan/call/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let dripping = async {
        while started.elapsed() < Duration::from_secs(4) {
            if tcp.write_all(b"1\r\n \r\n").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    dripping.await;
    let answer = until_closed(&mut tcp, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the body dripped for {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn silent_connections_cannot_take_every_descriptor() {
    let server = server(support::config(|c| {
        c.http_header_timeout = Duration::from_secs(1);
        c.max_pending_connections = 40;
        c.max_pending_connections_per_address = 10;
    }))
    .await;
    // One address holds its ten; the eleventh is answered at once.
    let mut silent = Vec::new();
    for _ in 0..10 {
        silent.push(tcp_from(&server, ip(2)).await);
    }
    let mut over = tcp_from(&server, ip(2)).await;
    let answer = until_closed(&mut over, Duration::from_millis(500)).await;
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 429"), "{answer}");
    // Others still upgrade at once.
    let url = server.ws_url();
    assert!(Client::connect_from(&url, ip(3), &[]).await.is_ok());
    // Many addresses together fill the node's cap: a newcomer waits in the
    // backlog until the silent ones time out, then is served.
    for source in 10..14 {
        for _ in 0..10 {
            silent.push(tcp_from(&server, ip(source)).await);
        }
    }
    let started = Instant::now();
    let mut late = Client::connect_from(&url, ip(20), &[])
        .await
        .expect("served once others time out");
    assert!(matches!(
        late.call("echo", json!({"text": "x"})).await,
        mizan::protocol::ServerFrame::Result { .. }
    ));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    drop(silent);
}

/// A POST to `path` with a content type and maybe an `Origin`.
async fn post(server: &Server, path: &str, content_type: &str, origin: Option<&str>, body: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(server.http_url(path))
        .header("content-type", content_type)
        .body(body.to_owned());
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap()
}

async fn notes(server: &Server) -> Value {
    let reply = post(server, "/api/mizan/fetch/notifications", "application/json", None, "{}").await;
    reply.json::<Value>().await.unwrap()["data"]["notifications"].clone()
}

#[tokio::test]
async fn cross_site_posts_run_nothing() {
    let server = Server::fixture().await;
    let note = r#"{"text":"transfer all the money"}"#;
    // What a page on another site can send without a CORS preflight.
    let plain = post(
        &server,
        "/api/mizan/call/post_note",
        "text/plain",
        Some("https://evil.example"),
        note,
    )
    .await;
    assert_eq!(plain.status(), 403);
    let plain = post(&server, "/api/mizan/call/post_note", "text/plain", None, note).await;
    assert_eq!(plain.status(), 415);
    let form = post(
        &server,
        "/api/mizan/call/post_note",
        "application/x-www-form-urlencoded",
        None,
        note,
    )
    .await;
    assert_eq!(form.status(), 415);
    let foreign = post(
        &server,
        "/api/mizan/call/post_note",
        "application/json",
        Some("https://evil.example"),
        note,
    )
    .await;
    assert_eq!(foreign.status(), 403);
    let fetch = post(
        &server,
        "/api/mizan/fetch/notifications",
        "application/json",
        Some("https://evil.example"),
        "{}",
    )
    .await;
    assert_eq!(fetch.status(), 403);
    let fetch = post(&server, "/api/mizan/fetch/notifications", "text/plain", None, "{}").await;
    assert_eq!(fetch.status(), 415);
    assert_eq!(notes(&server).await, json!([]), "no refused request ran");
    let own = format!("http://{}", server.addr);
    let same = post(
        &server,
        "/api/mizan/call/post_note",
        "application/json; charset=utf-8",
        Some(&own),
        note,
    )
    .await;
    assert_eq!(same.status(), 200);
    assert_eq!(notes(&server).await, json!(["transfer all the money"]));
    let metrics = server.get_text("/metrics").await;
    assert!(
        metrics.contains("mizan_refused_requests_total{reason=\"content_type\"} 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mizan_refused_requests_total{reason=\"origin\"} 3\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn origins_must_name_this_host_over_http_or_https() {
    let server = Server::fixture().await;
    let host = server.addr.to_string();
    for origin in [
        format!("file://{host}"),
        host.clone(),
        "null".to_owned(),
        format!("http://{host}/path"),
    ] {
        let response = post(
            &server,
            "/api/mizan/call/echo",
            "application/json",
            Some(&origin),
            r#"{"text":"x"}"#,
        )
        .await;
        assert_eq!(response.status(), 403, "{origin}");
        let upgrade = Client::connect_from(&server.ws_url(), ip(1), &[("origin", origin.as_str())]).await;
        assert_eq!(upgrade.err(), Some(403), "{origin}");
    }
    for origin in [format!("http://{host}"), format!("HTTPS://{host}")] {
        let response = post(
            &server,
            "/api/mizan/call/echo",
            "application/json",
            Some(&origin),
            r#"{"text":"x"}"#,
        )
        .await;
        assert_eq!(response.status(), 200, "{origin}");
    }
}

#[tokio::test]
async fn http_requests_are_rate_limited_per_address_and_per_user() {
    let server = server(support::config(|c| {
        c.http_requests_per_second = 1.0;
        c.http_request_burst = 5.0;
    }))
    .await;
    let from = |source: u8| reqwest::Client::builder().local_address(ip(source)).build().unwrap();
    let call = |client: reqwest::Client, bearer: Option<String>| {
        let url = server.http_url("/api/mizan/call/echo");
        async move {
            let mut request = client
                .post(url)
                .header("content-type", "application/json")
                .body(r#"{"text":"x"}"#);
            if let Some(token) = bearer {
                request = request.bearer_auth(token);
            }
            request.send().await.unwrap().status().as_u16()
        }
    };
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(call(from(2), None).await);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    assert_eq!(call(from(3), None).await, 200, "another address has its own bucket");
    // One user spread over addresses shares one bucket.
    let ann = token("ann", false);
    let mut statuses = Vec::new();
    for source in 10..18 {
        statuses.push(call(from(source), Some(ann.clone())).await);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
}

#[tokio::test]
async fn bodies_obey_the_frame_limits() {
    let server = Server::fixture().await;
    let deep = format!("{{\"text\":{}1{}}}", "[".repeat(30_000), "]".repeat(30_000));
    let response = post(&server, "/api/mizan/call/echo", "application/json", None, &deep).await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "limit");
    let big = format!("{{\"text\":\"{}\"}}", "x".repeat(70 * 1024));
    assert_eq!(
        post(&server, "/api/mizan/call/echo", "application/json", None, &big)
            .await
            .status(),
        413
    );
}

#[tokio::test]
async fn operational_endpoints_follow_the_settings() {
    let defaults = Server::fixture().await;
    for path in ["/healthz", "/readyz", "/metrics", "/api/mizan/manifest"] {
        assert_eq!(
            reqwest::get(defaults.http_url(path)).await.unwrap().status(),
            200,
            "{path}"
        );
    }
    let moved = server(support::config(|c| {
        c.metrics_path = Endpoint::Off;
        c.health_path = Endpoint::at("/live");
        c.ready_path = Endpoint::Off;
        c.manifest = ManifestAccess::Off;
    }))
    .await;
    let status = |path: &str| {
        let url = moved.http_url(path);
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    assert_eq!(status("/metrics").await, 404);
    assert_eq!(status("/readyz").await, 404);
    assert_eq!(status("/healthz").await, 404);
    assert_eq!(status("/live").await, 200);
    assert_eq!(status("/api/mizan/manifest").await, 404);
    // The metrics on a listener of their own.
    let internal = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = internal.local_addr().unwrap();
    tokio::spawn(axum::serve(internal, moved.app.metrics_router()).into_future());
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("mizan_connections"), "{text}");

    let staff_only = server(support::config(|c| c.manifest = ManifestAccess::Staff)).await;
    let manifest = |bearer: Option<String>| {
        let url = staff_only.http_url("/api/mizan/manifest");
        async move {
            let mut request = reqwest::Client::new().get(url);
            if let Some(token) = bearer {
                request = request.bearer_auth(token);
            }
            request.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(manifest(None).await, 403);
    assert_eq!(manifest(Some(token("ann", false))).await, 403);
    assert_eq!(manifest(Some(token("boss", true))).await, 200);
}
