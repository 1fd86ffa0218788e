//! How fast one socket may send: frames in general, `auth` frames on their
//! own (each may cost a signature check), and what happens to a socket
//! that stays over its rate (closed with 4029).

use super::{Connection, dispatch};
use crate::config::ServerConfig;
use crate::limits::{Overage, RateLimiter};

/// A socket's rate limits, owned by its reader.
pub(super) struct Pace {
    frames: RateLimiter,
    auth: RateLimiter,
    overage: Overage,
}

/// What becomes of a frame.
pub(super) enum Admitted {
    /// Handle it.
    Yes,
    /// It was over the rate and has been answered `limit`.
    No,
    /// The socket stayed over its rate for `rate_limit_close_after`.
    Close,
}

impl Pace {
    pub(super) fn new(config: &ServerConfig) -> Self {
        Self {
            frames: RateLimiter::new(config.messages_per_second, config.message_burst),
            auth: RateLimiter::new(config.auth_frames_per_second, config.auth_frame_burst),
            overage: Overage::new(config.rate_limit_close_after),
        }
    }

    /// Takes a token for a frame, answering `limit` when there is none.
    pub(super) fn admit(&mut self, conn: &Connection, text: &str) -> Admitted {
        if self.frames.allow() {
            return Admitted::Yes;
        }
        if self.overage.refused() {
            tracing::info!("closing with 4029: the socket stayed over its rate limit");
            return Admitted::Close;
        }
        let rate = conn.node.config.messages_per_second;
        dispatch::refuse(
            conn,
            text,
            &format!("too many frames: at most {rate} a second on average"),
        );
        Admitted::No
    }

    /// Takes a token for an `auth` frame.
    pub(super) fn allow_auth(&mut self) -> bool {
        self.auth.allow()
    }
}
