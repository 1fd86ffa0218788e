//! Who a socket acts as, until when, and what happens when that changes.
//!
//! A socket starts with the identity of its upgrade request (or none) and
//! may change it with `auth` frames. Whenever the identity changes (another
//! user, other levels or claims) or the token expires, every topic the
//! socket joined and every context it watches is authorized again for the
//! new identity, and what it may no longer hold is dropped with an
//! `unsubscribed` or `unwatched` push (PROTOCOL.md section 3). For an
//! `auth` frame the checks run *before* the new identity takes effect, so
//! the switch and the pruning happen together.
//!
//! When the credential expires the socket is told (an `unauthenticated`
//! error push), acts as nobody from then on, and is closed with 4001 unless
//! an `auth` frame renews it within the grace period. An anonymous socket
//! admitted on probation (the node's anonymous share was full) is closed
//! with 1008 unless an `auth` frame signs it in within
//! `anonymous_probation`.

use super::{Connection, refused_error, subscriptions, watches};
use crate::auth::Identity;
use crate::limits::ConnectionSlot;
use mizan_channels::{Error, User};
use mizan_protocol::{CloseCode, ErrorCode, RequestId, ServerFrame};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// A socket's identity state.
pub(super) struct SocketIdentity {
    state: Mutex<State>,
}

struct State {
    user: Option<Arc<User>>,
    /// The user the socket's per-user watches follow (kept after expiry).
    watches_follow: Option<String>,
    expiry: Expiry,
    slot: ConnectionSlot,
}

enum Expiry {
    Never,
    /// The credential is valid until then.
    At(Instant),
    /// It expired; the socket closes then unless renewed.
    Grace(Instant),
    /// Anonymous on probation; the socket closes then unless signed in.
    Probation(Instant),
}

/// What the reader does when the identity's deadline passes.
pub(super) enum Deadline {
    /// Nothing (the deadline moved).
    Nothing,
    /// The token expired: authorize the socket's topics and watches again
    /// as nobody ([`expired`]).
    Expired,
    /// Close the socket.
    Close(CloseCode),
}

impl SocketIdentity {
    /// The identity of the upgrade; `probation` for an anonymous socket
    /// admitted past the anonymous share.
    pub(super) fn new(identity: Option<Identity>, slot: ConnectionSlot, probation: Option<Duration>) -> Self {
        let (user, expiry) = match identity {
            Some(identity) => (Some(identity.user), expiry(identity.expires_at)),
            None => (
                None,
                probation.map_or(Expiry::Never, |p| Expiry::Probation(Instant::now() + p)),
            ),
        };
        Self {
            state: Mutex::new(State {
                watches_follow: user.as_ref().map(|u| u.id.clone()),
                user: user.map(Arc::new),
                expiry,
                slot,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The user the socket acts as now.
    pub(super) fn user(&self) -> Option<Arc<User>> {
        self.lock().user.clone()
    }

    /// When the reader must next call [`on_deadline`].
    pub(super) fn deadline(&self) -> Option<Instant> {
        match self.lock().expiry {
            Expiry::Never => None,
            Expiry::At(at) | Expiry::Grace(at) | Expiry::Probation(at) => Some(at),
        }
    }
}

fn expiry(expires_at: Option<SystemTime>) -> Expiry {
    match expires_at {
        None => Expiry::Never,
        Some(at) => {
            let left = at.duration_since(SystemTime::now()).unwrap_or_default();
            // Checked: an expiry centuries away must not overflow the clock.
            Instant::now().checked_add(left).map_or(Expiry::Never, Expiry::At)
        }
    }
}

/// The deadline passed: start the grace period (and re-authorize as
/// nobody), or close.
pub(super) fn on_deadline(conn: &Connection) -> Deadline {
    let mut state = conn.identity.lock();
    let now = Instant::now();
    match state.expiry {
        Expiry::At(at) if at <= now => {
            state.user = None;
            let grace = conn.node.config.token_grace;
            state.expiry = Expiry::Grace(now + grace);
            drop(state);
            tracing::debug!("token expired; waiting for an auth frame");
            conn.reply(&ServerFrame::error(
                None,
                ErrorCode::Unauthenticated,
                format!("the token expired: send an `auth` frame within {grace:?} or the socket closes with 4001"),
            ));
            Deadline::Expired
        }
        Expiry::Grace(at) if at <= now => Deadline::Close(CloseCode::TokenExpired),
        Expiry::Probation(at) if at <= now => {
            tracing::info!("closing an anonymous socket on probation that did not sign in");
            Deadline::Close(CloseCode::Policy)
        }
        _ => Deadline::Nothing,
    }
}

/// The token expired: the socket's topics and watches are authorized
/// again as nobody.
pub(super) async fn expired(conn: &Connection) {
    let cx = conn.node.cx(None).with_session(Arc::clone(&conn.session));
    let topics = subscriptions::recheck(conn, &cx).await;
    let refused = watches::recheck(conn, &cx);
    subscriptions::apply(conn, topics);
    watches::apply(conn, refused, None);
}

/// `auth`: verifies the token; when the identity changes, re-authorizes
/// the socket's topics and watches for it; then the socket acts as its
/// user (renewing the expiry), what it may no longer hold is dropped, and
/// `ok` follows. A refused token leaves the socket as it was.
pub(super) async fn auth(conn: &Connection, id: RequestId, token: &str) {
    let node = &conn.node;
    if let Some(address) = conn.address
        && !node.limits.verifications_per_address.allow(&address)
    {
        let e = Error::limit("too many token verifications from this address: retry in a moment");
        return conn.reply(&e.to_frame(Some(id)));
    }
    let limit = node.config.handler_timeout;
    let identity = match tokio::time::timeout(limit, node.auth.authenticate_token(token)).await {
        Ok(Ok(identity)) => identity,
        Ok(Err(e)) => return conn.reply(&Error::unauthenticated(e.to_string()).to_frame(Some(id))),
        Err(_) => return conn.reply(&Error::timeout(limit).to_frame(Some(id))),
    };
    let user = Arc::new(identity.user);
    let changed = !same_identity(conn.identity.user().as_deref(), &user);
    let rechecked = if changed {
        let cx = node.cx(Some(Arc::clone(&user))).with_session(Arc::clone(&conn.session));
        Some((subscriptions::recheck(conn, &cx).await, watches::recheck(conn, &cx)))
    } else {
        None
    };
    let info = user.info();
    let mut state = conn.identity.lock();
    let max = node.config.max_connections_per_user;
    if let Err(refused) = state.slot.switch_user(&user.id, max) {
        drop(state);
        return conn.reply(&refused_error(refused).to_frame(Some(id)));
    }
    let switched = state.watches_follow.as_deref() != Some(user.id.as_str());
    state.watches_follow = Some(user.id.clone());
    state.expiry = expiry(identity.expires_at);
    state.user = Some(user);
    drop(state);
    if let Some((topics, refused)) = rechecked {
        subscriptions::apply(conn, topics);
        watches::apply(conn, refused, switched.then_some(info.id.as_str()));
    }
    conn.reply(&ServerFrame::Ok { id, user: Some(info) });
}

/// Whether `before` and `after` are the same identity for authorization:
/// same id, levels and claims, ignoring the claims every renewal changes.
fn same_identity(before: Option<&User>, after: &User) -> bool {
    const RENEWED: [&str; 4] = ["exp", "iat", "nbf", "jti"];
    let Some(before) = before else { return false };
    let lasting = |u: &User| {
        u.claims
            .iter()
            .filter(|(k, _)| !RENEWED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    before.id == after.id
        && before.staff == after.staff
        && before.superuser == after.superuser
        && lasting(before) == lasting(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewing_the_same_user_is_the_same_identity_and_other_levels_are_not() {
        let mut ann = User::new("ann");
        ann.claims.insert("exp".into(), 1.into());
        let mut renewed = ann.clone();
        renewed.claims.insert("exp".into(), 2.into());
        assert!(same_identity(Some(&ann), &renewed));
        assert!(!same_identity(Some(&ann), &renewed.clone().with_staff(true)));
        assert!(!same_identity(Some(&ann), &User::new("bob")));
        assert!(!same_identity(None, &ann));
        let mut other_team = ann.clone();
        other_team.claims.insert("team".into(), "b".into());
        assert!(!same_identity(Some(&ann), &other_team));
    }
}
