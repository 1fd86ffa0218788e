//! Which browser origins may open a WebSocket or make an HTTP call.

use serde::{Deserialize, Serialize};

/// Which browser origins may open a WebSocket or make an HTTP `call` or
/// `fetch` (cross-site WebSocket hijacking and CSRF defence). Requests
/// without an `Origin` header (non-browser clients) are always allowed: the
/// check protects browsers' ambient credentials (cookies), which other
/// clients do not send by accident.
///
/// In settings: `"same_host"`, `"any"`, or a list of origins.
///
/// `same_host` compares the origin with the request's own `Host` header,
/// which the browser writes from the address it connected to. It stops
/// another site's page from using a visitor's cookies here, but not a DNS
/// rebinding attack (a hostile name that resolves to this server, whose
/// page then sends a matching `Host`): in production list the origins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OriginPolicy {
    /// `"same_host"` or `"any"`.
    Named(NamedOrigins),
    /// The origin must be one of these, exactly (`https://app.example.com`).
    AllowList(Vec<String>),
}

/// The named origin policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamedOrigins {
    /// The origin must be `http://` or `https://` followed by exactly the
    /// request's `Host` (default ports written or not).
    SameHost,
    /// Any origin (only for development, or when another layer checks).
    Any,
}

#[allow(non_upper_case_globals)]
impl OriginPolicy {
    /// The origin must be `http(s)://` + the request's `Host` (default).
    pub const SameHost: Self = Self::Named(NamedOrigins::SameHost);
    /// Any origin.
    pub const Any: Self = Self::Named(NamedOrigins::Any);

    /// Whether a request with `origin` for `host` may go on.
    ///
    /// ```
    /// use mizan_server::OriginPolicy;
    /// let same = OriginPolicy::SameHost;
    /// assert!(same.allows(Some("http://127.0.0.1:3000"), Some("127.0.0.1:3000")));
    /// assert!(same.allows(Some("https://app.example"), Some("app.example:443")));
    /// assert!(!same.allows(Some("https://evil.example"), Some("127.0.0.1:3000")));
    /// assert!(!same.allows(Some("file://127.0.0.1:3000"), Some("127.0.0.1:3000")));
    /// assert!(!same.allows(Some("127.0.0.1:3000"), Some("127.0.0.1:3000")));
    /// assert!(!same.allows(Some("null"), Some("127.0.0.1:3000")));
    /// assert!(same.allows(None, Some("127.0.0.1:3000")));
    /// ```
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else { return true };
        match self {
            Self::Named(NamedOrigins::Any) => true,
            Self::AllowList(list) => list.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin)),
            Self::Named(NamedOrigins::SameHost) => host.is_some_and(|host| same_host(origin, host)),
        }
    }
}

/// Whether `origin` is `http(s)://HOST[:PORT]` naming the same host and
/// port as the `Host` header `host`.
fn same_host(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => "80",
        "https" => "443",
        _ => return false,
    };
    if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
        return false;
    }
    let with_port = |authority: &str| -> String {
        let lower = authority.to_ascii_lowercase();
        // `[::1]:80`, `host:80`: a port is what follows the last colon
        // outside an IPv6 literal.
        let has_port = lower.rsplit_once(':').is_some_and(|(_, port)| !port.contains(']'));
        if has_port {
            lower
        } else {
            format!("{lower}:{default_port}")
        }
    };
    with_port(authority) == with_port(host)
}
