//! Authentication: tokens on the upgrade, in `auth` frames, renewal and
//! expiry; signatures, algorithms, audience and issuer; RS256, ES256,
//! JWKS; custom authenticators; production refusing a development secret.

mod support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mizan::protocol::ServerFrame;
use mizan::{Access, Cx, Error, Function, Jwt, Mizan, NoArgs, ServerConfig};
use serde_json::{Value, json};
use std::time::Duration;
use support::{Client, Server, error_code, now, result_json, token, token_with};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const RSA_PRIVATE: &[u8] = include_bytes!("keys/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("keys/rsa_public.pem");
const EC_PRIVATE: &[u8] = include_bytes!("keys/ec_private.pem");
const EC_PUBLIC: &[u8] = include_bytes!("keys/ec_public.pem");

fn signed(algorithm: Algorithm, key: &EncodingKey, claims: Value) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), &claims, key).unwrap()
}

fn claims(sub: &str) -> Value {
    json!({"sub": sub, "exp": now() + 600})
}

/// The status of an upgrade with `Authorization: Bearer <token>`.
async fn upgrade_status(server: &Server, token: &str) -> u16 {
    let mut request = server.ws_url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("{e}"),
    }
}

async fn whoami(client: &mut Client) -> ServerFrame {
    client.call("whoami", json!({})).await
}

#[tokio::test]
async fn no_token_header_token_and_auth_frame() {
    let server = Server::fixture().await;
    let mut anonymous = server.client().await;
    assert_eq!(error_code(&whoami(&mut anonymous).await), "unauthenticated");

    let mut header = server.client_with_token(&token("7", false)).await;
    assert_eq!(
        result_json(&whoami(&mut header).await),
        json!({"id": "7", "staff": false})
    );

    let id = anonymous
        .request(json!({"type": "auth", "token": token("8", true)}))
        .await;
    assert!(matches!(
        anonymous.reply(id).await,
        ServerFrame::Ok { user: Some(_), .. }
    ));
    assert_eq!(
        result_json(&whoami(&mut anonymous).await),
        json!({"id": "8", "staff": true})
    );
}

#[tokio::test]
async fn bad_tokens_are_refused_everywhere() {
    let server = Server::fixture().await;
    let other_key = token_with(claims("x"), "another-secret-another-secret-!!");
    let expired = token_with(json!({"sub": "x", "exp": now() - 5}), support::SECRET);
    let not_yet = token_with(
        json!({"sub": "x", "exp": now() + 600, "nbf": now() + 300}),
        support::SECRET,
    );
    let no_sub = token_with(json!({"exp": now() + 600}), support::SECRET);
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims("root").to_string());
    let alg_none = format!("{header}.{body}.");
    let rs256 = signed(
        Algorithm::RS256,
        &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
        claims("x"),
    );
    for bad in [
        &other_key,
        &expired,
        &not_yet,
        &no_sub,
        &alg_none,
        &rs256,
        &"garbage".to_owned(),
    ] {
        assert_eq!(upgrade_status(&server, bad).await, 401, "{bad}");
        let mut client = server.client().await;
        let id = client.request(json!({"type": "auth", "token": bad})).await;
        assert_eq!(error_code(&client.reply(id).await), "unauthenticated", "{bad}");
        assert_eq!(error_code(&whoami(&mut client).await), "unauthenticated");
        let status = support::post(server.http_url("/api/mizan/call/whoami"))
            .bearer_auth(bad)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 401);
    }
}

#[tokio::test]
async fn audience_and_issuer_are_checked_when_configured() {
    let secret = "a-test-secret-that-is-long-enough-32";
    let jwt = Jwt::hs256(secret.as_bytes())
        .issuer("https://auth.example")
        .audience("mizan-app");
    let server = Server::start(support::fixture::builder(secret).jwt(jwt)).await;
    let good = token_with(
        json!({"sub": "a", "exp": now() + 600, "iss": "https://auth.example", "aud": "mizan-app"}),
        secret,
    );
    let wrong_aud = token_with(
        json!({"sub": "a", "exp": now() + 600, "iss": "https://auth.example", "aud": "other"}),
        secret,
    );
    let wrong_iss = token_with(
        json!({"sub": "a", "exp": now() + 600, "iss": "https://evil.example", "aud": "mizan-app"}),
        secret,
    );
    let neither = token_with(json!({"sub": "a", "exp": now() + 600}), secret);
    assert_eq!(upgrade_status(&server, &good).await, 101);
    for bad in [wrong_aud, wrong_iss, neither] {
        assert_eq!(upgrade_status(&server, &bad).await, 401);
    }
}

#[tokio::test]
async fn rs256_es256_and_jwks() {
    let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap();
    let ec = EncodingKey::from_ec_pem(EC_PRIVATE).unwrap();
    let rs = Server::start(support::fixture::builder("unused").jwt(Jwt::rs256_pem(RSA_PUBLIC).unwrap())).await;
    let mut client = rs
        .client_with_token(&signed(Algorithm::RS256, &rsa, claims("rsa-user")))
        .await;
    assert_eq!(result_json(&whoami(&mut client).await)["id"], "rsa-user");
    // An HS256 token made with the public key as the secret (the classic
    // algorithm confusion attack) must not pass.
    let confused = token_with(claims("evil"), std::str::from_utf8(RSA_PUBLIC).unwrap());
    assert_eq!(upgrade_status(&rs, &confused).await, 401);

    let es = Server::start(support::fixture::builder("unused").jwt(Jwt::es256_pem(EC_PUBLIC).unwrap())).await;
    let mut client = es
        .client_with_token(&signed(Algorithm::ES256, &ec, claims("ec-user")))
        .await;
    assert_eq!(result_json(&whoami(&mut client).await)["id"], "ec-user");
    assert_eq!(
        upgrade_status(&es, &signed(Algorithm::RS256, &rsa, claims("x"))).await,
        401
    );

    let mut jwk =
        serde_json::to_value(jsonwebtoken::jwk::Jwk::from_encoding_key(&rsa, Algorithm::RS256).unwrap()).unwrap();
    jwk["kid"] = json!("key-1");
    let jwks = json!({"keys": [jwk]}).to_string();
    let server = Server::start(
        support::fixture::builder("unused").jwt(Jwt::from_jwks(&jwks, mizan::JwksAlgorithm::Rs256).unwrap()),
    )
    .await;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("key-1".into());
    let with_kid = jsonwebtoken::encode(&header, &claims("jwks-user"), &rsa).unwrap();
    let mut client = server.client_with_token(&with_kid).await;
    assert_eq!(result_json(&whoami(&mut client).await)["id"], "jwks-user");
    header.kid = Some("key-2".into());
    let unknown_kid = jsonwebtoken::encode(&header, &claims("x"), &rsa).unwrap();
    assert_eq!(upgrade_status(&server, &unknown_kid).await, 401);
}

fn quick_expiry() -> ServerConfig {
    support::config(|c| {
        c.token_grace = Duration::from_millis(800);
    })
}

#[tokio::test]
async fn an_expired_token_is_announced_then_closes_with_4001() {
    let server = Server::start(support::fixture::builder(support::SECRET).config(quick_expiry())).await;
    let short = token_with(json!({"sub": "s", "exp": now() + 2}), support::SECRET);
    let mut client = server.client_with_token(&short).await;
    assert_eq!(result_json(&whoami(&mut client).await)["id"], "s");
    let ServerFrame::Error { id, code, message, .. } = client.push().await else {
        panic!()
    };
    assert_eq!((id, code.as_str()), (None, "unauthenticated"));
    assert!(message.contains("auth"), "{message}");
    // During the grace period the socket acts as nobody.
    assert_eq!(error_code(&whoami(&mut client).await), "unauthenticated");
    assert_eq!(client.closed().await, 4001);
}

#[tokio::test]
async fn an_auth_frame_renews_before_expiry() {
    let server = Server::start(support::fixture::builder(support::SECRET).config(quick_expiry())).await;
    let short = token_with(json!({"sub": "r", "exp": now() + 2}), support::SECRET);
    let mut client = server.client_with_token(&short).await;
    let id = client
        .request(json!({"type": "auth", "token": token("r", false)}))
        .await;
    assert!(matches!(client.reply(id).await, ServerFrame::Ok { .. }));
    client.assert_silent(Duration::from_millis(3500)).await;
    assert_eq!(result_json(&whoami(&mut client).await)["id"], "r");
}

#[tokio::test]
async fn an_auth_frame_during_the_grace_period_keeps_the_socket() {
    let server = Server::start(support::fixture::builder(support::SECRET).config(quick_expiry())).await;
    let short = token_with(json!({"sub": "g", "exp": now() + 1}), support::SECRET);
    let mut client = server.client_with_token(&short).await;
    assert!(matches!(client.push().await, ServerFrame::Error { .. }));
    let id = client
        .request(json!({"type": "auth", "token": token("g", false)}))
        .await;
    assert!(matches!(client.reply(id).await, ServerFrame::Ok { .. }));
    client.assert_silent(Duration::from_millis(1500)).await;
    assert_eq!(result_json(&whoami(&mut client).await)["id"], "g");
}

#[tokio::test]
async fn staff_and_superuser_levels() {
    let root =
        Function::new("root_only", |_cx: Cx, _: NoArgs| async { Ok::<_, Error>(true) }).access(Access::Superuser);
    let server = Server::start(support::fixture::builder(support::SECRET).function(root)).await;
    let super_token = token_with(
        json!({"sub": "su", "superuser": true, "exp": now() + 600}),
        support::SECRET,
    );
    let cases = [
        (None, "staff_only", "unauthenticated"),
        (Some(token("u", false)), "staff_only", "forbidden"),
        (Some(token("s", true)), "staff_only", "ok"),
        (Some(super_token.clone()), "staff_only", "ok"),
        (None, "root_only", "unauthenticated"),
        (Some(token("s", true)), "root_only", "forbidden"),
        (Some(super_token), "root_only", "ok"),
    ];
    for (token, function, expected) in cases {
        let mut client = match &token {
            Some(t) => server.client_with_token(t).await,
            None => server.client().await,
        };
        let got = match client.call(function, json!({})).await {
            ServerFrame::Result { .. } => "ok",
            other => error_code(&other),
        };
        assert_eq!(got, expected, "{function} as {token:?}");
    }
}

#[tokio::test]
async fn a_custom_authenticator_reads_a_session_cookie() {
    use mizan::{AuthError, AuthFuture, Authenticator, Identity, User};
    struct Cookie;
    impl Authenticator for Cookie {
        fn authenticate_request<'a>(
            &'a self,
            headers: &'a axum::http::HeaderMap,
        ) -> AuthFuture<'a, Result<Option<Identity>, AuthError>> {
            let cookie = headers.get("cookie").and_then(|v| v.to_str().ok()).map(str::to_owned);
            Box::pin(async move {
                match cookie.as_deref().and_then(|c| c.strip_prefix("session=")) {
                    Some("valid") => Ok(Some(Identity {
                        user: User::new("cookie-user"),
                        expires_at: None,
                    })),
                    Some(_) => Err(AuthError::Refused("unknown session".into())),
                    None => Ok(None),
                }
            })
        }
        fn authenticate_token<'a>(&'a self, _token: &'a str) -> AuthFuture<'a, Result<Identity, AuthError>> {
            Box::pin(async { Err(AuthError::Refused("use the session cookie".into())) })
        }
    }
    let server = Server::start(support::fixture::builder(support::SECRET).authenticator(Cookie)).await;
    let mut request = server.ws_url().into_client_request().unwrap();
    request.headers_mut().insert("cookie", "session=valid".parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut client = Client::from_stream(ws).await;
    assert_eq!(result_json(&whoami(&mut client).await)["id"], "cookie-user");
    let mut request = server.ws_url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", "session=stolen".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(request).await.is_err());
}

#[test]
fn production_refuses_a_development_secret() {
    let production = support::config(|c| {
        c.production = true;
    });
    for weak in ["fixture-secret", "short"] {
        let err = match Mizan::builder()
            .jwt(Jwt::hs256(weak.as_bytes()))
            .config(production.clone())
            .build()
        {
            Ok(_) => panic!("{weak} was accepted in production"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("refusing to start in production"), "{err}");
    }
    let strong = Jwt::hs256(b"0123456789abcdef0123456789abcdef-strong");
    assert!(Mizan::builder().jwt(strong).config(production).build().is_ok());
    // Outside production the same weak secret starts (with a warning).
    assert!(Mizan::builder().jwt(Jwt::hs256(b"fixture-secret")).build().is_ok());
}
