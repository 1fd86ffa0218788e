//! Budgets one client cannot take from the others: new sockets and open
//! sockets per client address (from several 127.0.0.x sources), the
//! client address a trusted proxy forwards, and the headroom anonymous
//! sockets cannot take from signed-in ones.

mod support;

use mizan::ServerConfig;
use mizan::protocol::ServerFrame;
use serde_json::json;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use support::{Client, Server, token};

fn ip(last: u8) -> IpAddr {
    [127, 0, 0, last].into()
}

/// The test settings, with the per-address limits back at their
/// defaults, then `edit`.
fn settings(edit: impl FnOnce(&mut ServerConfig)) -> ServerConfig {
    let defaults = ServerConfig::default();
    support::config(|c| {
        c.new_connections_per_address_per_second = defaults.new_connections_per_address_per_second;
        c.new_connection_burst_per_address = defaults.new_connection_burst_per_address;
        c.max_connections_per_address = defaults.max_connections_per_address;
        edit(c);
    })
}

async fn server(config: ServerConfig) -> Server {
    Server::start(support::fixture::builder(support::SECRET).config(config)).await
}

#[tokio::test]
async fn one_address_opening_and_closing_in_a_loop_spends_only_its_own_budget() {
    let server = server(settings(|c| {
        c.new_connections_per_address_per_second = 2.0;
        c.new_connection_burst_per_address = 10.0;
    }))
    .await;
    let url = server.ws_url();
    let mut refused = 0;
    for _ in 0..40 {
        match Client::connect_from(&url, ip(2), &[]).await {
            Ok(client) => drop(client),
            Err(status) => {
                assert_eq!(status, 429);
                refused += 1;
            }
        }
    }
    assert!(refused >= 25, "the looping address was refused only {refused} times");
    // Everyone else's upgrades are untouched.
    for source in 3..=8 {
        for _ in 0..5 {
            let client = Client::connect_from(&url, ip(source), &[]).await;
            assert!(client.is_ok(), "127.0.0.{source} was refused");
        }
    }
}

#[tokio::test]
async fn one_address_cannot_take_every_connection_slot() {
    let server = server(settings(|c| c.max_connections_per_address = 5)).await;
    let url = server.ws_url();
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(Client::connect_from(&url, ip(2), &[]).await.unwrap());
    }
    assert_eq!(Client::connect_from(&url, ip(2), &[]).await.err(), Some(429));
    let mut other = Client::connect_from(&url, ip(3), &[]).await.unwrap();
    assert!(matches!(
        other.call("echo", json!({"text": "hi"})).await,
        ServerFrame::Result { .. }
    ));
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        Client::connect_from(&url, ip(2), &[]).await.is_ok(),
        "a closed socket gives its place back"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_counted() {
    let server = server(settings(|c| {
        c.max_connections_per_address = 2;
        c.trusted_proxies = vec!["127.0.0.1".into()];
    }))
    .await;
    let url = server.ws_url();
    let from = |client: &'static str| [("x-forwarded-for", client)];
    let _a = Client::connect_from(&url, ip(1), &from("203.0.113.7")).await.unwrap();
    let _b = Client::connect_from(&url, ip(1), &from("203.0.113.7")).await.unwrap();
    assert_eq!(
        Client::connect_from(&url, ip(1), &from("203.0.113.7")).await.err(),
        Some(429),
        "the forwarded client is at its cap"
    );
    assert!(
        Client::connect_from(&url, ip(1), &from("203.0.113.8")).await.is_ok(),
        "another client behind the same proxy is not"
    );
    // A peer that is not a trusted proxy cannot pick its address.
    let _c = Client::connect_from(&url, ip(9), &from("198.51.100.1")).await.unwrap();
    let _d = Client::connect_from(&url, ip(9), &from("198.51.100.2")).await.unwrap();
    assert_eq!(
        Client::connect_from(&url, ip(9), &from("198.51.100.3")).await.err(),
        Some(429)
    );
}

#[tokio::test]
async fn anonymous_sockets_past_their_share_must_sign_in_or_leave() {
    let server = server(settings(|c| {
        c.max_connections = 10;
        c.anonymous_connection_share = 0.3;
        c.anonymous_probation = Duration::from_millis(600);
    }))
    .await;
    let url = server.ws_url();
    // An anonymous flood from many addresses: three fit in the share.
    let mut within = Vec::new();
    for source in 2..5 {
        within.push(Client::connect_from(&url, ip(source), &[]).await.unwrap());
    }
    let mut lurker = Client::connect_from(&url, ip(5), &[]).await.unwrap();
    let mut newcomer = Client::connect_from(&url, ip(6), &[]).await.unwrap();
    let signed_in = newcomer
        .request(json!({"type": "auth", "token": token("ann", false)}))
        .await;
    assert!(matches!(newcomer.reply(signed_in).await, ServerFrame::Ok { .. }));
    let started = Instant::now();
    assert_eq!(lurker.closed().await, 1008, "on probation and never signed in");
    assert!(started.elapsed() < Duration::from_secs(3));
    // The one that signed in stays, and so do those within the share.
    assert!(matches!(
        newcomer.call("whoami", json!({})).await,
        ServerFrame::Result { .. }
    ));
    for client in &mut within {
        assert!(matches!(
            client.call("echo", json!({"text": "x"})).await,
            ServerFrame::Result { .. }
        ));
    }
    // A socket that signs in on the upgrade is never on probation.
    let bob = token("bob", false);
    let authorization = format!("Bearer {bob}");
    let mut upgraded = Client::connect_from(&url, ip(7), &[("authorization", authorization.as_str())])
        .await
        .unwrap();
    upgraded.assert_silent(Duration::from_millis(900)).await;
}
