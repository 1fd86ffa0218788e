//! Limits: how many sockets, how fast, and how much they may hold.
//!
//! - `connections.rs`: open sockets per node, per user, per client address,
//!   and the anonymous share.
//! - `rate.rs`: token buckets, one per socket ([`RateLimiter`]) or keyed by
//!   client address or user ([`KeyedRate`]), and [`Overage`], which tells a
//!   socket that stays over its rate.
//! - `budget.rs`: node-wide totals of subscriptions and watches.

mod budget;
mod connections;
mod rate;

pub(crate) use budget::{Budget, BudgetSlot};
pub(crate) use connections::{ConnectionLimits, ConnectionSlot, Connections, Refused};
pub(crate) use rate::{KeyedRate, Overage, RateLimiter};

use crate::config::ServerConfig;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Every limit a node keeps across its sockets and requests.
pub(crate) struct NodeLimits {
    /// New sockets per second, node-wide.
    upgrades: Mutex<RateLimiter>,
    /// New sockets per second, per client address.
    pub(crate) upgrades_per_address: KeyedRate<IpAddr>,
    /// HTTP requests per second, per client address.
    pub(crate) http_per_address: KeyedRate<IpAddr>,
    /// HTTP requests per second, per user.
    pub(crate) http_per_user: KeyedRate<Arc<str>>,
    /// Token verifications per second, per client address.
    pub(crate) verifications_per_address: KeyedRate<IpAddr>,
    /// Subscriptions all sockets hold.
    pub(crate) subscriptions: Arc<Budget>,
    /// Watches all sockets hold.
    pub(crate) watches: Arc<Budget>,
    /// The ceilings of [`Connections::open`].
    pub(crate) connections: ConnectionLimits,
}

impl NodeLimits {
    pub(crate) fn new(config: &ServerConfig) -> Self {
        Self {
            upgrades: Mutex::new(RateLimiter::new(
                config.max_new_connections_per_second,
                config.new_connection_burst,
            )),
            upgrades_per_address: KeyedRate::new(
                config.new_connections_per_address_per_second,
                config.new_connection_burst_per_address,
            ),
            http_per_address: KeyedRate::new(config.http_requests_per_second, config.http_request_burst),
            http_per_user: KeyedRate::new(config.http_requests_per_second, config.http_request_burst),
            verifications_per_address: KeyedRate::new(
                config.token_verifications_per_address_per_second,
                config.token_verification_burst_per_address,
            ),
            subscriptions: Budget::new(config.max_subscriptions),
            watches: Budget::new(config.max_watches),
            connections: ConnectionLimits {
                total: config.max_connections,
                per_user: config.max_connections_per_user,
                per_address: config.max_connections_per_address,
                anonymous: config.anonymous_connections(),
            },
        }
    }

    /// Takes a token for a new socket from `address`: its own bucket first,
    /// so one busy address does not spend the node's.
    pub(crate) fn allow_upgrade(&self, address: Option<IpAddr>) -> bool {
        address.is_none_or(|a| self.upgrades_per_address.allow(&a))
            && self.upgrades.lock().unwrap_or_else(PoisonError::into_inner).allow()
    }

    /// Takes a token for an HTTP request from `address` (by `user`, once
    /// known).
    pub(crate) fn allow_http(&self, address: Option<IpAddr>, user: Option<&str>) -> bool {
        address.is_none_or(|a| self.http_per_address.allow(&a))
            && user.is_none_or(|u| self.http_per_user.allow(&u.into()))
    }
}
