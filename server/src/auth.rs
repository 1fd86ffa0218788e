//! Verifying bearer tokens (JWT).

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mizan_channels::User;
use serde::Deserialize;

/// Verifies JWTs signed with a shared secret (HS256). The algorithm is
/// pinned: a token that names any other (including `none`) is refused.
///
/// ```
/// use mizan_server::Jwt;
/// let jwt = Jwt::hs256(b"secret");
/// assert!(jwt.verify("not-a-token").is_err());
/// ```
#[derive(Clone)]
pub struct Jwt {
    key: DecodingKey,
    validation: Validation,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token is malformed, badly signed, expired, or uses another algorithm.
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    /// This server has no token verifier configured.
    #[error("this server does not accept tokens (no JWT key is configured)")]
    NotConfigured,
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("the Authorization header must be `Bearer <token>`")]
    BadHeader,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    staff: bool,
    #[serde(default)]
    superuser: bool,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl Jwt {
    /// HS256 with `secret`; `exp` is required and checked with no leeway.
    pub fn hs256(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            key: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Verifies a token and returns its user.
    pub fn verify(&self, token: &str) -> Result<User, AuthError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)?.claims;
        Ok(User {
            id: claims.sub,
            staff: claims.staff,
            superuser: claims.superuser,
            claims: claims.rest,
        })
    }

    /// Verifies the token of an `Authorization: Bearer` header value.
    pub fn verify_header(&self, header: &[u8]) -> Result<User, AuthError> {
        let text = std::str::from_utf8(header).map_err(|_| AuthError::BadHeader)?;
        let token = text.strip_prefix("Bearer ").ok_or(AuthError::BadHeader)?;
        self.verify(token.trim())
    }
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwt")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}
