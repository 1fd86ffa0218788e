//! Signing HS256 tokens for tests and development, so that nobody
//! hand-rolls `jsonwebtoken` calls to sign in a test user.

use serde_json::{Map, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An HS256 token for a development or test user, in the claims [`Jwt`]
/// reads: `sub`, `staff`, `superuser`, `exp`, and any others.
///
/// Production tokens come from your identity provider; this is for tests,
/// seed scripts and a development sign-in page (pair it with
/// `Jwt::hs256(secret)` on the server).
///
/// ```
/// use mizan_server::{Authenticator, DevToken, Jwt};
/// use std::time::Duration;
/// let secret = b"a development secret of 32 bytes!";
/// let token = DevToken::new("erin").staff(true).valid_for(Duration::from_secs(60)).sign(secret);
/// let identity = Jwt::hs256(secret).verify(&token).unwrap();
/// assert_eq!((identity.user.id.as_str(), identity.user.staff), ("erin", true));
/// ```
///
/// [`Jwt`]: crate::Jwt
#[derive(Debug, Clone)]
#[must_use]
pub struct DevToken {
    claims: Map<String, Value>,
    valid_for: Duration,
}

impl DevToken {
    /// A token for user `sub`, valid for an hour.
    pub fn new(sub: impl Into<String>) -> Self {
        let mut claims = Map::new();
        claims.insert("sub".to_owned(), Value::String(sub.into()));
        Self {
            claims,
            valid_for: Duration::from_secs(3600),
        }
    }

    /// Marks the user staff (`"staff": true`).
    pub fn staff(self, staff: bool) -> Self {
        self.claim("staff", staff)
    }

    /// Marks the user superuser (`"superuser": true`).
    pub fn superuser(self, superuser: bool) -> Self {
        self.claim("superuser", superuser)
    }

    /// How long from now the token is valid (`exp`); an hour by default.
    pub fn valid_for(mut self, valid_for: Duration) -> Self {
        self.valid_for = valid_for;
        self
    }

    /// Any other claim (kept in `User::claims` for custom predicates).
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Signs it with the HS256 `secret`.
    pub fn sign(&self, secret: &[u8]) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let mut claims = self.claims.clone();
        claims.insert("exp".to_owned(), (now + self.valid_for).as_secs().into());
        let key = jsonwebtoken::EncodingKey::from_secret(secret);
        // Encoding a JSON object with an HMAC key has no failure path: the
        // claims serialize, and HS256 accepts any key.
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key)
            .unwrap_or_else(|e| unreachable!("HS256 signing of a JSON object failed: {e}"))
    }
}
