//! The end user's public address (`UserIp`), which the cloud uses to pick a
//! machine near the user.
//!
//! The peer address is the user's unless the peer is a trusted proxy
//! (`TRUST_PROXY`); then the first parseable address of `X-Forwarded-For`,
//! else of `X-Real-IP`, is. Forwarding headers from anyone else are ignored:
//! believing them would let any client choose its own `UserIp`.

use super::ApiContext;
use super::reply::ApiError;
use crate::config::TrustedProxies;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName};
use std::net::{IpAddr, SocketAddr};

/// The user's address, as the cloud should see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<ApiContext> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, context: &ApiContext) -> Result<Self, ApiError> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or_else(|| ApiError::Internal("the connection has no peer address".into()))?;
        Ok(ClientIp(client_ip(
            peer.ip(),
            &parts.headers,
            &context.settings.http.trust_proxy,
        )))
    }
}

// Named once: looking a header up by `&str` parses the name on every call.
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Picks the user's address from the peer and, when the peer is trusted, its
/// forwarding headers. IPv4-mapped IPv6 addresses come out as plain IPv4.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let forwarded = |name: &HeaderName| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .find_map(parse_forwarded_address)
    };
    forwarded(&X_FORWARDED_FOR)
        .or_else(|| forwarded(&X_REAL_IP))
        .map_or(peer, |address| address.to_canonical())
}

/// One `X-Forwarded-For` item: an address, possibly bracketed or with a port.
fn parse_forwarded_address(item: &str) -> Option<IpAddr> {
    let item = item.trim();
    item.parse::<IpAddr>()
        .ok()
        .or_else(|| item.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
        .or_else(|| {
            item.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse().ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_TRUSTED_PROXIES, parse_cidrs};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_trusted_proxy_forwards_the_first_parseable_address() {
        let trusted = parse_cidrs(DEFAULT_TRUSTED_PROXIES).unwrap();
        let forwarded = headers(&[("x-forwarded-for", "garbage, 203.0.113.7, 10.0.0.1")]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &forwarded, &trusted),
            ip("203.0.113.7")
        );

        let real_ip = headers(&[("x-real-ip", "198.51.100.4")]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), &real_ip, &trusted),
            ip("198.51.100.4")
        );

        let with_port = headers(&[("x-forwarded-for", "[2001:db8::1]:443")]);
        assert_eq!(
            client_ip(ip("::1"), &with_port, &trusted),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address() {
        let trusted = parse_cidrs(DEFAULT_TRUSTED_PROXIES).unwrap();
        let forged = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-real-ip", "5.6.7.8")]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), &forged, &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn unparseable_forwarding_headers_fall_back_to_the_peer() {
        let trusted = parse_cidrs(DEFAULT_TRUSTED_PROXIES).unwrap();
        let junk = headers(&[
            ("x-forwarded-for", "unknown, , not-an-ip"),
            ("x-real-ip", "x"),
        ]);
        assert_eq!(client_ip(ip("10.0.0.2"), &junk, &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn mapped_ipv4_addresses_come_out_plain() {
        let trusted = TrustedProxies::default();
        assert_eq!(
            client_ip(ip("::ffff:203.0.113.7"), &HeaderMap::new(), &trusted),
            ip("203.0.113.7")
        );
        let trusted = parse_cidrs("127.0.0.0/8").unwrap();
        let forwarded = headers(&[("x-forwarded-for", "::ffff:198.51.100.1")]);
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), &forwarded, &trusted),
            ip("198.51.100.1")
        );
    }
}
