//! JSON Web Tokens, with the algorithm pinned by the server.

use super::{AuthError, AuthFuture, Authenticator, Identity, InvalidToken};
use axum::http::{HeaderMap, header};
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mizan_channels::User;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use tokio::sync::Semaphore;

/// Verifies JWTs: HS256 with a shared secret by default, RS256 or ES256
/// with a PEM public key or a JWKS file. The algorithm is pinned: a token
/// naming any other (including `none`) is refused. `exp` is required;
/// `exp` and `nbf` are checked with a small leeway (5 s by default);
/// `iss` and `aud` are checked when configured. A token whose header lists
/// `crit` extensions is refused (none are understood, RFC 7515 4.1.11); so
/// is a `sub` that is empty or holds control characters.
///
/// Claims: `sub` (the user id), `staff` and `superuser` (booleans,
/// default false); every other claim is kept in [`User::claims`] for custom
/// predicates.
///
/// RS256 and ES256 signatures cost tens of microseconds each: they are
/// checked on tokio's blocking threads, at most
/// [`max_concurrent_verifications`](Self::max_concurrent_verifications) at
/// once, never on the threads that serve sockets.
///
/// ```
/// use mizan_server::Jwt;
/// let jwt = Jwt::hs256(b"a secret of thirty-two bytes or more!!").leeway(0).issuer("auth.example").audience("app");
/// assert!(jwt.verify("not-a-token").is_err());
/// ```
#[derive(Clone)]
pub struct Jwt {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Keys,
    validation: Validation,
    weak: Option<String>,
    /// Asymmetric verifications in progress, at most.
    slots: Arc<Semaphore>,
}

enum Keys {
    One(DecodingKey),
    /// By `kid`, from a JWKS.
    Set(HashMap<String, DecodingKey>),
}

/// The asymmetric algorithms a JWKS may be used with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksAlgorithm {
    /// RSA with SHA-256.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
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
        let slots = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
        Self {
            inner: Arc::new(Inner {
                keys,
                validation,
                weak: None,
                slots: Arc::new(Semaphore::new(slots)),
            }),
        }
    }

    /// Changes a setting of a `Jwt` being configured (no clone exists yet,
    /// so this never copies keys in practice).
    fn edit(mut self, change: impl FnOnce(&mut Inner)) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => change(inner),
            None => {
                let mut inner = Inner {
                    keys: match &self.inner.keys {
                        Keys::One(key) => Keys::One(key.clone()),
                        Keys::Set(keys) => Keys::Set(keys.clone()),
                    },
                    validation: self.inner.validation.clone(),
                    weak: self.inner.weak.clone(),
                    slots: Arc::clone(&self.inner.slots),
                };
                change(&mut inner);
                self.inner = Arc::new(inner);
            }
        }
        self
    }

    /// HS256 with a shared secret. A secret shorter than 32 bytes, or one
    /// of the well-known development secrets, is reported by
    /// [`Authenticator::insecure_reason`].
    pub fn hs256(secret: &[u8]) -> Self {
        let weak = if DEV_SECRETS.iter().any(|s| s.as_bytes() == secret) {
            Some("the JWT secret is a well-known development secret".to_owned())
        } else if secret.len() < 32 {
            Some(format!(
                "the JWT secret is {} bytes long; use at least 32 random bytes",
                secret.len()
            ))
        } else {
            None
        };
        Self::with(Keys::One(DecodingKey::from_secret(secret)), Algorithm::HS256).edit(|inner| inner.weak = weak)
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
    pub fn from_jwks(json: &str, algorithm: JwksAlgorithm) -> Result<Self, AuthError> {
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
        let algorithm = match algorithm {
            JwksAlgorithm::Rs256 => Algorithm::RS256,
            JwksAlgorithm::Es256 => Algorithm::ES256,
        };
        Ok(Self::with(Keys::Set(keys), algorithm))
    }

    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    #[must_use]
    pub fn leeway(self, seconds: u64) -> Self {
        self.edit(|inner| inner.validation.leeway = seconds)
    }

    /// Requires the `iss` claim to be `issuer`.
    #[must_use]
    pub fn issuer(self, issuer: &str) -> Self {
        self.edit(|inner| {
            inner.validation.set_issuer(&[issuer]);
            inner.validation.required_spec_claims.insert("iss".to_owned());
        })
    }

    /// Requires the `aud` claim to contain `audience`.
    #[must_use]
    pub fn audience(self, audience: &str) -> Self {
        self.edit(|inner| {
            inner.validation.set_audience(&[audience]);
            inner.validation.required_spec_claims.insert("aud".to_owned());
        })
    }

    /// How many RS256/ES256 signatures are checked at once (default: half
    /// the CPUs, at least one); more wait their turn.
    #[must_use]
    pub fn max_concurrent_verifications(self, n: usize) -> Self {
        self.edit(|inner| inner.slots = Arc::new(Semaphore::new(n.max(1))))
    }

    /// Verifies a token, here and now.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let inner = &*self.inner;
        refuse_critical(token)?;
        let key = match &inner.keys {
            Keys::One(key) => key,
            Keys::Set(keys) => {
                let kid = jsonwebtoken::decode_header(token)
                    .map_err(invalid)?
                    .kid
                    .unwrap_or_default();
                keys.get(&kid).ok_or(AuthError::Invalid(InvalidToken::UnknownKey))?
            }
        };
        let claims = jsonwebtoken::decode::<Claims>(token, key, &inner.validation)
            .map_err(invalid)?
            .claims;
        if claims.sub.is_empty() || claims.sub.chars().any(char::is_control) {
            return Err(AuthError::Invalid(InvalidToken::Subject));
        }
        // `exp` is any u64: past what the clock can hold, the token does not
        // expire in this process's lifetime.
        let expires_at = claims
            .exp
            .checked_add(inner.validation.leeway)
            .and_then(|secs| UNIX_EPOCH.checked_add(Duration::from_secs(secs)));
        Ok(Identity {
            user: User {
                id: claims.sub,
                staff: claims.staff,
                superuser: claims.superuser,
                claims: claims.rest,
            },
            expires_at,
        })
    }

    /// Verifies the token of an `Authorization: Bearer` header value.
    pub fn verify_header(&self, header: &[u8]) -> Result<Identity, AuthError> {
        self.verify(bearer(header)?)
    }

    /// Verifies `token` where it costs the serving threads nothing: HS256
    /// inline (a hash), RS256/ES256 on a blocking thread, bounded.
    async fn verify_off_workers(&self, token: String) -> Result<Identity, AuthError> {
        if self.inner.validation.algorithms == [Algorithm::HS256] {
            return self.verify(&token);
        }
        let _slot = Arc::clone(&self.inner.slots)
            .acquire_owned()
            .await
            .map_err(|_| AuthError::Refused("the verifier is shutting down".into()))?;
        let jwt = self.clone();
        tokio::task::spawn_blocking(move || jwt.verify(&token))
            .await
            .map_err(|_| AuthError::Refused("the token verifier failed".into()))?
    }
}

/// The token of an `Authorization: Bearer <token>` header value.
fn bearer(header: &[u8]) -> Result<&str, AuthError> {
    let text = std::str::from_utf8(header).map_err(|_| AuthError::BadHeader)?;
    let token = text.strip_prefix("Bearer ").ok_or(AuthError::BadHeader)?;
    Ok(token.trim())
}

/// RFC 7515 4.1.11: a `crit` header names extensions the recipient must
/// understand; this server understands none, so any is refused.
fn refuse_critical(token: &str) -> Result<(), AuthError> {
    let header = token.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthError::Invalid(InvalidToken::Malformed))?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|_| AuthError::Invalid(InvalidToken::Malformed))?;
    if header.contains_key("crit") {
        return Err(AuthError::Invalid(InvalidToken::Critical));
    }
    Ok(())
}

/// jsonwebtoken's error, as one of ours (its type stays out of our API,
/// and its text, which quotes parser internals, out of replies).
fn invalid(e: jsonwebtoken::errors::Error) -> AuthError {
    AuthError::Invalid(match e.kind() {
        ErrorKind::InvalidSignature => InvalidToken::Signature,
        ErrorKind::ExpiredSignature => InvalidToken::Expired,
        ErrorKind::ImmatureSignature => InvalidToken::NotYetValid,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName | ErrorKind::UnsupportedAlgorithm => {
            InvalidToken::Algorithm
        }
        ErrorKind::InvalidIssuer => InvalidToken::Issuer,
        ErrorKind::InvalidAudience => InvalidToken::Audience,
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) | ErrorKind::InvalidSubject => {
            InvalidToken::Claims
        }
        _ => InvalidToken::Malformed,
    })
}

impl Authenticator for Jwt {
    fn authenticate_request<'a>(
        &'a self,
        headers: &'a HeaderMap,
    ) -> AuthFuture<'a, Result<Option<Identity>, AuthError>> {
        Box::pin(async move {
            let Some(value) = headers.get(header::AUTHORIZATION) else {
                return Ok(None);
            };
            let token = bearer(value.as_bytes())?.to_owned();
            self.verify_off_workers(token).await.map(Some)
        })
    }

    fn authenticate_token<'a>(&'a self, token: &'a str) -> AuthFuture<'a, Result<Identity, AuthError>> {
        Box::pin(self.verify_off_workers(token.to_owned()))
    }

    fn insecure_reason(&self) -> Option<String> {
        self.inner.weak.clone()
    }
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwt")
            .field("algorithms", &self.inner.validation.algorithms)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(header: serde_json::Value, claims: serde_json::Value) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        let secret = b"a secret of thirty-two bytes or more!!";
        let body = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let key = jsonwebtoken::EncodingKey::from_secret(secret);
        let signature = jsonwebtoken::crypto::sign(body.as_bytes(), &key, Algorithm::HS256).unwrap();
        format!("{body}.{signature}")
    }

    fn jwt() -> Jwt {
        Jwt::hs256(b"a secret of thirty-two bytes or more!!")
    }

    #[test]
    fn an_exp_past_what_the_clock_holds_means_no_expiry_not_a_panic() {
        let token = sign(
            serde_json::json!({"alg": "HS256", "typ": "JWT"}),
            serde_json::json!({"sub": "ann", "exp": u64::MAX}),
        );
        let identity = jwt().verify(&token).unwrap();
        assert_eq!(identity.expires_at, None);
        let near = sign(
            serde_json::json!({"alg": "HS256"}),
            serde_json::json!({"sub": "ann", "exp": (1u64 << 63) + 1}),
        );
        assert_eq!(jwt().verify(&near).unwrap().expires_at, None);
    }

    #[test]
    fn critical_extensions_and_bad_subjects_are_refused_with_short_messages() {
        let exp = 4_000_000_000u64;
        let crit = sign(
            serde_json::json!({"alg": "HS256", "crit": ["x-ours"], "x-ours": 1}),
            serde_json::json!({"sub": "ann", "exp": exp}),
        );
        let e = jwt().verify(&crit).unwrap_err();
        assert!(matches!(e, AuthError::Invalid(InvalidToken::Critical)), "{e}");
        for sub in ["", "ann\u{0}", "line\nbreak"] {
            let token = sign(
                serde_json::json!({"alg": "HS256"}),
                serde_json::json!({"sub": sub, "exp": exp}),
            );
            assert!(matches!(
                jwt().verify(&token),
                Err(AuthError::Invalid(InvalidToken::Subject))
            ));
        }
        let float_exp = sign(
            serde_json::json!({"alg": "HS256"}),
            serde_json::json!({"sub": "a", "exp": 1.5}),
        );
        let e = jwt().verify(&float_exp).unwrap_err().to_string();
        assert!(e.len() < 80 && !e.contains("line"), "{e}");
    }
}
