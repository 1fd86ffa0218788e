//! Every limit trips with the right code, and other sockets carry on.

mod support;

use mizan::protocol::ServerFrame;
use mizan::{Cx, Error, Function, NoArgs, OriginPolicy, ServerConfig};
use serde_json::json;
use std::time::Duration;
use support::{Client, Server, error_code, result_json, token};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn server_with(config: ServerConfig) -> Server {
    let slow = Function::new("slow", |_cx: Cx, _: NoArgs| async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok::<_, Error>(true)
    });
    Server::start(support::fixture::builder(support::SECRET).function(slow).config(config)).await
}

/// A bystander socket still gets answers.
async fn bystander_works(server: &Server) {
    let mut other = server.client().await;
    assert_eq!(
        result_json(&other.call("echo", json!({"text": "fine"})).await),
        json!({"message": "fine"})
    );
}

/// The HTTP status of an upgrade with these headers.
async fn upgrade_status(server: &Server, headers: &[(&'static str, &str)]) -> u16 {
    let mut request = server.ws_url().into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn subscriptions_per_connection() {
    let server = server_with(support::config(|c| {
        c.max_subscriptions_per_connection = 2;
    }))
    .await;
    let mut client = server.client().await;
    client.join("chat", json!({"room": "a"})).await;
    client.join("chat", json!({"room": "b"})).await;
    assert_eq!(
        client.join("chat", json!({"room": "a"})).await,
        "chat:chat_a",
        "rejoining is not a new topic"
    );
    assert_eq!(
        error_code(&client.subscribe("chat", json!({"room": "c"})).await),
        "limit"
    );
    let id = client
        .request(json!({"type": "unsubscribe", "topic": "chat:chat_a"}))
        .await;
    client.reply(id).await;
    client.join("chat", json!({"room": "c"})).await;
    bystander_works(&server).await;
}

#[tokio::test]
async fn watches_per_connection() {
    let server = server_with(support::config(|c| {
        c.max_watches_per_connection = 2;
    }))
    .await;
    let mut client = server.client().await;
    for user in [1, 2] {
        let id = client
            .request(json!({"type": "watch", "context": "user", "params": {"user_id": user}}))
            .await;
        assert!(matches!(client.reply(id).await, ServerFrame::Bundle { .. }));
    }
    let id = client
        .request(json!({"type": "watch", "context": "user", "params": {"user_id": 3}}))
        .await;
    assert_eq!(error_code(&client.reply(id).await), "limit");
    assert_eq!(server.app.local_watch_count(), 2);
    bystander_works(&server).await;
}

#[tokio::test]
async fn message_rate_per_connection() {
    let config = support::config(|c| {
        c.messages_per_second = 5.0;
        c.message_burst = 5.0;
    });
    let server = server_with(config).await;
    let mut client = server.client().await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(
            client
                .request(json!({"type": "call", "fn": "echo", "args": {"text": i.to_string()}}))
                .await,
        );
    }
    let mut limited = 0;
    for id in ids {
        match client.reply(id).await {
            ServerFrame::Result { .. } => {}
            other => {
                assert_eq!(error_code(&other), "limit");
                limited += 1;
            }
        }
    }
    assert!((5..=7).contains(&limited), "{limited} of 12 limited");
    bystander_works(&server).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(matches!(
        client.call("echo", json!({"text": "later"})).await,
        ServerFrame::Result { .. }
    ));
}

#[tokio::test]
async fn connections_per_node() {
    let server = server_with(support::config(|c| {
        c.max_connections = 2;
    }))
    .await;
    let first = server.client().await;
    let _second = server.client().await;
    assert_eq!(upgrade_status(&server, &[]).await, 429);
    drop(first);
    let deadline = std::time::Instant::now() + support::WAIT;
    while server.app.connection_count() > 1 {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(upgrade_status(&server, &[]).await, 101);
}

#[tokio::test]
async fn connections_per_user() {
    let server = server_with(support::config(|c| {
        c.max_connections_per_user = 1;
    }))
    .await;
    let ann = token("ann", false);
    let _first = server.client_with_token(&ann).await;
    assert_eq!(
        upgrade_status(&server, &[("authorization", &format!("Bearer {ann}"))]).await,
        429
    );
    let bob = token("bob", false);
    assert_eq!(
        upgrade_status(&server, &[("authorization", &format!("Bearer {bob}"))]).await,
        101
    );
    // Switching an anonymous socket to ann with an `auth` frame is refused too.
    let mut anonymous = server.client().await;
    let id = anonymous.request(json!({"type": "auth", "token": ann})).await;
    assert_eq!(error_code(&anonymous.reply(id).await), "limit");
    assert_eq!(
        error_code(&anonymous.call("whoami", json!({})).await),
        "unauthenticated"
    );
}

#[tokio::test]
async fn json_nesting_depth() {
    let server = server_with(support::config(|c| {
        c.max_json_depth = 4;
    }))
    .await;
    let mut client = server.client().await;
    client
        .send_text(r#"{"type":"call","id":9,"fn":"echo","args":{"text":"x","deep":[[[[1]]]]}}"#)
        .await;
    let reply = client.reply(9).await;
    assert_eq!(error_code(&reply), "limit");
    client
        .send_text(r#"{"type":"call","id":10,"fn":"echo","args":{"text":"x","ok":[[1]]}}"#)
        .await;
    assert!(matches!(client.reply(10).await, ServerFrame::Result { .. }));
}

#[tokio::test]
async fn handler_timeout() {
    let server = server_with(support::config(|c| {
        c.handler_timeout = Duration::from_millis(300);
    }))
    .await;
    let mut client = server.client().await;
    let slow = client.request(json!({"type": "call", "fn": "slow"})).await;
    assert!(matches!(
        client.call("echo", json!({"text": "meanwhile"})).await,
        ServerFrame::Result { .. }
    ));
    let ServerFrame::Error { code, message, .. } = client.reply(slow).await else {
        panic!()
    };
    assert_eq!(code.as_str(), "internal");
    assert!(message.contains("timed out"), "{message}");
    bystander_works(&server).await;
}

#[tokio::test]
async fn origins() {
    let server = server_with(ServerConfig::default()).await;
    let host = server.addr.to_string();
    let same = format!("http://{host}");
    assert_eq!(upgrade_status(&server, &[("origin", &same)]).await, 101);
    assert_eq!(
        upgrade_status(&server, &[("origin", "https://evil.example")]).await,
        403
    );
    assert_eq!(
        upgrade_status(&server, &[]).await,
        101,
        "non-browser clients send no Origin"
    );

    let listed = support::config(|c| {
        c.origins = OriginPolicy::AllowList(vec!["https://app.example".into()]);
    });
    let server = server_with(listed).await;
    assert_eq!(upgrade_status(&server, &[("origin", "https://app.example")]).await, 101);
    assert_eq!(
        upgrade_status(&server, &[("origin", &format!("http://{}", server.addr))]).await,
        403
    );

    let any = server_with(support::config(|c| {
        c.origins = OriginPolicy::Any;
    }))
    .await;
    assert_eq!(upgrade_status(&any, &[("origin", "https://evil.example")]).await, 101);
    let _ = Client::connect(&any.ws_url(), None).await;
}
