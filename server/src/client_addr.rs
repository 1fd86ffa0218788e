//! Who is at the other end: a request's client address, for the limits
//! kept per address.
//!
//! The client is the TCP peer, unless the peer is a configured trusted
//! proxy: then it is the rightmost address of the forwarded-for header that
//! is not itself a trusted proxy (the addresses left of it were written by
//! the client and prove nothing). IPv6 clients are counted per /64 network,
//! the block one subscriber usually holds, so rotating through one's own
//! addresses buys nothing.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The TCP peer of a request, when the server that accepted it recorded
/// one (`Mizan::serve` does; so does axum's
/// `into_make_service_with_connect_info::<SocketAddr>()`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub(crate) Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| *addr),
        ))
    }
}

/// How a node finds a request's client address.
#[derive(Debug)]
pub(crate) struct ClientAddresses {
    proxies: Vec<IpNet>,
    header: String,
}

impl ClientAddresses {
    /// From the `trusted_proxies` and `client_address_header` settings;
    /// an entry that is neither an address nor a network is an error.
    pub(crate) fn new(proxies: &[String], header: &str) -> Result<Self, String> {
        let proxies = proxies
            .iter()
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`trusted_proxies`: `{entry}` is not an address or a network"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            proxies,
            header: header.to_ascii_lowercase(),
        })
    }

    /// Whether `ip` is a trusted proxy.
    pub(crate) fn is_proxy(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client address of a request from `peer` with `headers`,
    /// bucketed (see [`bucket`]); `None` when the peer is unknown.
    pub(crate) fn of(&self, peer: Peer, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = canonical(peer.0?.ip());
        if !self.is_proxy(peer) {
            return Some(bucket(peer));
        }
        let forwarded = headers
            .get_all(self.header.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|hop| parse_hop(hop.trim()))
            .collect::<Vec<_>>();
        let client = forwarded
            .into_iter()
            .rev()
            .find(|ip| !self.is_proxy(*ip))
            .unwrap_or(peer);
        Some(bucket(client))
    }
}

/// One hop of a forwarded-for list: `1.2.3.4`, `1.2.3.4:5678`, `::1` or
/// `[::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// The key an address is counted under: an IPv4 address itself, an IPv6
/// address its /64 network.
pub(crate) fn bucket(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 @ IpAddr::V4(_) => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn peer(addr: &str) -> Peer {
        Peer(Some(addr.parse().unwrap()))
    }

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_peer_is_the_client_unless_it_is_a_trusted_proxy() {
        let addrs = ClientAddresses::new(&["10.0.0.0/8".into(), "192.168.1.1".into()], "X-Forwarded-For").unwrap();
        let spoofed = forwarded("6.6.6.6");
        assert_eq!(addrs.of(peer("1.2.3.4:5"), &spoofed), Some([1, 2, 3, 4].into()));
        assert_eq!(
            addrs.of(peer("10.1.2.3:5"), &forwarded("6.6.6.6, 5.5.5.5, 10.0.0.9")),
            Some([5, 5, 5, 5].into()),
            "the rightmost hop that is not a proxy"
        );
        assert_eq!(
            addrs.of(peer("192.168.1.1:5"), &HeaderMap::new()),
            Some([192, 168, 1, 1].into()),
            "a proxy that forwarded nothing is the client"
        );
        assert_eq!(addrs.of(Peer(None), &spoofed), None);
        assert!(ClientAddresses::new(&["nonsense".into()], "x").is_err());
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_v4_as_v4() {
        let a = bucket("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = bucket("2001:db8:1:2:bbbb::9".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, bucket("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(bucket("::ffff:1.2.3.4".parse().unwrap()), IpAddr::from([1, 2, 3, 4]));
        assert_eq!(parse_hop("[2001:db8::1]:443"), Some("2001:db8::1".parse().unwrap()));
    }
}
