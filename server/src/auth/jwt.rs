//! JSON Web Tokens, with the algorithm pinned by the server.

use super::{AuthError, AuthFuture, Authenticator, Identity};
use axum::http::{HeaderMap, header};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mizan_channels::User;
use serde::Deserialize;
use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

/// Verifies JWTs: HS256 with a shared secret by default, RS256 or ES256
/// with a PEM public key or a JWKS file. The algorithm is pinned: a token
/// naming any other (including `none`) is refused. `exp` is required;
/// `exp` and `nbf` are checked with a small leeway (5 s by default);
/// `iss` and `aud` are checked when configured.
///
/// Claims: `sub` (the user id), `staff` and `superuser` (booleans,
/// default false); every other claim is kept in [`User::claims`] for custom
/// predicates.
///
/// ```
/// use mizan_server::Jwt;
/// let jwt = Jwt::hs256(b"a secret of thirty-two bytes or more!!").leeway(0).issuer("auth.example").audience("app");
/// assert!(jwt.verify("not-a-token").is_err());
/// ```
#[derive(Clone)]
pub struct Jwt {
    keys: Keys,
    validation: Validation,
    weak: Option<String>,
}

#[derive(Clone)]
enum Keys {
    One(DecodingKey),
    /// By `kid`, from a JWKS.
    Set(HashMap<String, DecodingKey>),
}

/// HS256 secrets known from examples and docs.
const DEV_SECRETS: [&str; 5] = ["fixture-secret", "secret", "changeme", "dev", "mizan-dev-secret"];

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    staff: bool,
    #[serde(default)]
    superuser: bool,
    exp: u64,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl Jwt {
    fn with(keys: Keys, algorithm: Algorithm) -> Self {
        let mut validation = Validation::new(algorithm);
        validation.leeway = 5;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            keys,
            validation,
            weak: None,
        }
    }

    /// HS256 with a shared secret. A secret shorter than 32 bytes, or one
    /// of the well-known development secrets, is reported by
    /// [`Authenticator::insecure_reason`].
    pub fn hs256(secret: &[u8]) -> Self {
        let mut jwt = Self::with(Keys::One(DecodingKey::from_secret(secret)), Algorithm::HS256);
        jwt.weak = if DEV_SECRETS.iter().any(|s| s.as_bytes() == secret) {
            Some("the JWT secret is a well-known development secret".to_owned())
        } else if secret.len() < 32 {
            Some(format!(
                "the JWT secret is {} bytes long; use at least 32 random bytes",
                secret.len()
            ))
        } else {
            None
        };
        jwt
    }

    /// RS256 with an RSA public key in PEM.
    pub fn rs256_pem(pem: &[u8]) -> Result<Self, AuthError> {
        let key = DecodingKey::from_rsa_pem(pem).map_err(|e| AuthError::Key(e.to_string()))?;
        Ok(Self::with(Keys::One(key), Algorithm::RS256))
    }

    /// ES256 with an EC (P-256) public key in PEM.
    pub fn es256_pem(pem: &[u8]) -> Result<Self, AuthError> {
        let key = DecodingKey::from_ec_pem(pem).map_err(|e| AuthError::Key(e.to_string()))?;
        Ok(Self::with(Keys::One(key), Algorithm::ES256))
    }

    /// RS256 or ES256 with the keys of a JWKS document, chosen by the
    /// token's `kid`. `algorithm` is pinned whatever the document says.
    pub fn from_jwks(json: &str, algorithm: Algorithm) -> Result<Self, AuthError> {
        if !matches!(algorithm, Algorithm::RS256 | Algorithm::ES256) {
            return Err(AuthError::Key(format!(
                "a JWKS takes RS256 or ES256, not {algorithm:?}"
            )));
        }
        let set: JwkSet = serde_json::from_str(json).map_err(|e| AuthError::Key(format!("not a JWKS: {e}")))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let kid = jwk
                .common
                .key_id
                .clone()
                .ok_or_else(|| AuthError::Key("a JWKS key has no `kid`".into()))?;
            keys.insert(
                kid,
                DecodingKey::from_jwk(jwk).map_err(|e| AuthError::Key(e.to_string()))?,
            );
        }
        Ok(Self::with(Keys::Set(keys), algorithm))
    }

    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    #[must_use]
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.validation.leeway = seconds;
        self
    }

    /// Requires the `iss` claim to be `issuer`.
    #[must_use]
    pub fn issuer(mut self, issuer: &str) -> Self {
        self.validation.set_issuer(&[issuer]);
        self.validation.required_spec_claims.insert("iss".to_owned());
        self
    }

    /// Requires the `aud` claim to contain `audience`.
    #[must_use]
    pub fn audience(mut self, audience: &str) -> Self {
        self.validation.set_audience(&[audience]);
        self.validation.required_spec_claims.insert("aud".to_owned());
        self
    }

    /// Verifies a token.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let key = match &self.keys {
            Keys::One(key) => key,
            Keys::Set(keys) => {
                let kid = jsonwebtoken::decode_header(token)?.kid.unwrap_or_default();
                keys.get(&kid)
                    .ok_or_else(|| AuthError::Refused(format!("no key with kid `{kid}`")))?
            }
        };
        let claims = jsonwebtoken::decode::<Claims>(token, key, &self.validation)?.claims;
        Ok(Identity {
            user: User {
                id: claims.sub,
                staff: claims.staff,
                superuser: claims.superuser,
                claims: claims.rest,
            },
            expires_at: Some(
                UNIX_EPOCH + Duration::from_secs(claims.exp) + Duration::from_secs(self.validation.leeway),
            ),
        })
    }

    /// Verifies the token of an `Authorization: Bearer` header value.
    pub fn verify_header(&self, header: &[u8]) -> Result<Identity, AuthError> {
        let text = std::str::from_utf8(header).map_err(|_| AuthError::BadHeader)?;
        let token = text.strip_prefix("Bearer ").ok_or(AuthError::BadHeader)?;
        self.verify(token.trim())
    }
}

impl Authenticator for Jwt {
    fn authenticate_request<'a>(
        &'a self,
        headers: &'a HeaderMap,
    ) -> AuthFuture<'a, Result<Option<Identity>, AuthError>> {
        let result = headers
            .get(header::AUTHORIZATION)
            .map(|value| self.verify_header(value.as_bytes()))
            .transpose();
        Box::pin(std::future::ready(result))
    }

    fn authenticate_token<'a>(&'a self, token: &'a str) -> AuthFuture<'a, Result<Identity, AuthError>> {
        Box::pin(std::future::ready(self.verify(token)))
    }

    fn insecure_reason(&self) -> Option<String> {
        self.weak.clone()
    }
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwt")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}
