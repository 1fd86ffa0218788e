//! Who a socket acts as, until when, and what happens when that ends.
//!
//! A socket starts with the identity of its upgrade request (or none) and
//! may change it with `auth` frames. When the credential expires the
//! socket is told (an `unauthenticated` error push), acts as nobody from
//! then on, and is closed with 4001 unless an `auth` frame renews it within
//! the grace period.

use super::{Connection, refused_error, watches};
use crate::auth::Identity;
use crate::limits::ConnectionSlot;
use mizan_channels::{Error, User};
use mizan_protocol::{CloseCode, ErrorCode, RequestId, ServerFrame};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

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
}

impl SocketIdentity {
    pub(super) fn new(identity: Option<Identity>, slot: ConnectionSlot) -> Self {
        let (user, expiry) = match identity {
            Some(identity) => (Some(identity.user), expiry(identity.expires_at)),
            None => (None, Expiry::Never),
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
            Expiry::At(at) | Expiry::Grace(at) => Some(at),
        }
    }
}

fn expiry(expires_at: Option<SystemTime>) -> Expiry {
    match expires_at {
        None => Expiry::Never,
        Some(at) => {
            let left = at.duration_since(SystemTime::now()).unwrap_or_default();
            Expiry::At(Instant::now() + left)
        }
    }
}

/// The deadline passed: warn and start the grace period, or close.
pub(super) fn on_deadline(conn: &Connection) -> Option<CloseCode> {
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
            None
        }
        Expiry::Grace(at) if at <= now => Some(CloseCode::TokenExpired),
        _ => None,
    }
}

/// `auth`: verifies the token, then the socket acts as its user (renewing
/// the expiry). A refused token leaves the socket as it was.
pub(super) async fn auth(conn: &Connection, id: RequestId, token: &str) {
    let limit = conn.node.config.handler_timeout;
    let identity = match tokio::time::timeout(limit, conn.node.auth.authenticate_token(token)).await {
        Ok(Ok(identity)) => identity,
        Ok(Err(e)) => return conn.reply(&Error::unauthenticated(e.to_string()).to_frame(Some(id))),
        Err(_) => return conn.reply(&Error::timeout(limit).to_frame(Some(id))),
    };
    let info = identity.user.info();
    let mut state = conn.identity.lock();
    let max = conn.node.config.max_connections_per_user;
    if let Err(refused) = state.slot.switch_user(&identity.user.id, max) {
        drop(state);
        return conn.reply(&refused_error(refused).to_frame(Some(id)));
    }
    let switched = state.watches_follow.as_deref() != Some(identity.user.id.as_str());
    state.watches_follow = Some(identity.user.id.clone());
    state.expiry = expiry(identity.expires_at);
    state.user = Some(Arc::new(identity.user));
    drop(state);
    if switched {
        watches::user_changed(conn, &info.id);
    }
    conn.reply(&ServerFrame::Ok { id, user: Some(info) });
}
