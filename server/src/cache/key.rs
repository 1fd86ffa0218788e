//! The bundle cache's keys: an HMAC-SHA256 under the cache secret of
//! everything that decides a bundle's data, each part length-prefixed so
//! that parts cannot run into each other.

use hmac::{Hmac, Mac};
use mizan_channels::Context;

/// A cache key.
pub(crate) type Key = [u8; 32];

/// Makes keys under one secret.
pub(crate) struct Keys {
    secret: Vec<u8>,
}

impl Keys {
    /// Keys under `secret`; `None`: 32 random bytes of this process's own.
    pub(crate) fn new(secret: Option<&[u8]>) -> Self {
        let secret = match secret {
            Some(secret) => secret.to_vec(),
            None => (0..4).flat_map(|_| fastrand::u64(..).to_le_bytes()).collect(),
        };
        Self { secret }
    }

    /// The key of `context`'s bundle for `params` (canonical JSON) and, for
    /// a per-user context, `user`: over the context's name, each slot with
    /// its revision (`rev`), the params and the user.
    pub(crate) fn key(&self, context: &Context, params: &str, user: Option<&str>) -> Key {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        let mut part = |bytes: &[u8]| {
            mac.update(&(bytes.len() as u64).to_le_bytes());
            mac.update(bytes);
        };
        part(context.name().as_bytes());
        for (slot, rev) in context.slot_revisions() {
            part(slot.as_bytes());
            part(&rev.to_le_bytes());
        }
        part(params.as_bytes());
        part(user.unwrap_or("").as_bytes());
        mac.update(&[u8::from(user.is_some())]);
        mac.finalize().into_bytes().into()
    }
}

/// `key` in lower-case hex: its name in a shared store.
pub(crate) fn hex(key: &Key) -> String {
    use std::fmt::Write;
    key.iter().fold(String::with_capacity(64), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mizan_channels::{Cx, Error, Function, NoArgs, Registry};

    /// The contexts `user` (slot `profile`, at revision `rev`) and `other`.
    fn contexts(rev: u32) -> Registry {
        let read = |name: &str, context: &str| {
            Function::new(name, |_: Cx, _: NoArgs| async { Ok::<_, Error>(1) }).context(context)
        };
        Registry::builder()
            .function(read("profile", "user").rev(rev))
            .function(read("elsewhere", "other"))
            .build()
            .unwrap()
    }

    #[test]
    fn keys_depend_on_every_part_on_revisions_and_on_the_secret() {
        let registry = contexts(0);
        let (user, other) = (registry.context("user").unwrap(), registry.context("other").unwrap());
        let keys = Keys::new(Some(b"secret"));
        let key = keys.key(user, r#"{"user_id":1}"#, None);
        assert_eq!(key, keys.key(user, r#"{"user_id":1}"#, None));
        assert_ne!(key, keys.key(user, r#"{"user_id":2}"#, None));
        assert_ne!(key, keys.key(other, r#"{"user_id":1}"#, None));
        assert_ne!(key, keys.key(user, r#"{"user_id":1}"#, Some("ann")));
        assert_ne!(keys.key(user, "x", Some("ann")), keys.key(user, "x", Some("bob")));
        // Parts cannot run into each other.
        assert_ne!(keys.key(user, "x", Some("")), keys.key(user, "x", None));
        assert_ne!(keys.key(user, "xa", Some("b")), keys.key(user, "x", Some("ab")));
        // Another revision, another secret: other keys.
        let bumped = contexts(1);
        assert_ne!(key, keys.key(bumped.context("user").unwrap(), r#"{"user_id":1}"#, None));
        assert_ne!(key, Keys::new(Some(b"other")).key(user, r#"{"user_id":1}"#, None));
        assert_ne!(key, Keys::new(None).key(user, r#"{"user_id":1}"#, None));
        assert_eq!(hex(&key).len(), 64);
    }
}
