//! The address a request really comes from. Behind a reverse proxy every
//! socket's peer is the proxy, so a per-address limit (the failed-join
//! throttle) would lump a whole classroom together: a few mistyped codes
//! and nobody could join. When the peer is a proxy the operator trusts, the
//! client is read from `X-Forwarded-For` instead; from anyone else that
//! header is ignored, so a client cannot dodge the throttle by forging it.

use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// One trusted proxy: an address or a network (`10.0.0.5`, `10.0.0.0/8`,
/// `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy(IpNet);

impl FromStr for TrustedProxy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(TrustedProxy(net));
        }
        text.parse::<IpAddr>()
            .map(|ip| TrustedProxy(IpNet::from(ip)))
            .map_err(|_| format!("`{text}` is neither an IP address nor a network like 10.0.0.0/8"))
    }
}

impl TrustedProxy {
    fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&canonical(ip))
    }
}

/// The client's address: `peer` itself unless `peer` is a trusted proxy;
/// then the nearest `X-Forwarded-For` entry that is not a trusted proxy
/// (proxies append, so entries to the right were added by proxies we
/// trust and the first untrusted one from the right is who connected to
/// them). A missing or unreadable header leaves `peer`.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[TrustedProxy]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|t| t.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return peer;
        };
        for entry in value.split(',') {
            match parse_hop(entry) {
                Some(ip) => hops.push(ip),
                None => return peer,
            }
        }
    }
    hops.into_iter()
        .rev()
        .find(|ip| !is_trusted(*ip))
        .unwrap_or(peer)
}

/// One `X-Forwarded-For` entry: an address, possibly with a port
/// (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    entry
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|addr| canonical(addr.ip()))
}

/// An IPv4 address seen through an IPv6 socket (`::ffff:10.0.0.5`) is the
/// IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn proxies(list: &[&str]) -> Vec<TrustedProxy> {
        list.iter().map(|p| p.parse().unwrap()).collect()
    }

    fn xff(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_static(v));
        }
        h
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted = proxies(&["10.0.0.5"]);
        let got = client_addr(ip("192.0.2.7"), &xff(&["203.0.113.9"]), &trusted);
        assert_eq!(got, ip("192.0.2.7"));
        assert_eq!(
            client_addr(ip("10.0.0.5"), &xff(&["203.0.113.9"]), &[]),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let got = client_addr(ip("10.0.0.5"), &xff(&["203.0.113.9"]), &trusted);
        assert_eq!(got, ip("203.0.113.9"));
    }

    #[test]
    fn forged_entries_left_of_the_real_client_are_ignored() {
        // The client sent "1.1.1.1" itself; the proxy appended what it saw.
        let trusted = proxies(&["10.0.0.5", "10.0.0.6"]);
        let headers = xff(&["1.1.1.1, 203.0.113.9", "10.0.0.6"]);
        assert_eq!(
            client_addr(ip("10.0.0.5"), &headers, &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn ports_and_mapped_addresses_are_understood() {
        let trusted = proxies(&["::1", "127.0.0.1"]);
        let headers = xff(&["[2001:db8::7]:4711"]);
        assert_eq!(
            client_addr(ip("::1"), &headers, &trusted),
            ip("2001:db8::7")
        );
        let headers = xff(&["203.0.113.9:5000"]);
        assert_eq!(
            client_addr(ip("::ffff:127.0.0.1"), &headers, &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_missing_or_broken_header_leaves_the_proxy() {
        let trusted = proxies(&["10.0.0.5"]);
        assert_eq!(
            client_addr(ip("10.0.0.5"), &HeaderMap::new(), &trusted),
            ip("10.0.0.5")
        );
        let broken = xff(&["203.0.113.9, not-an-ip"]);
        assert_eq!(
            client_addr(ip("10.0.0.5"), &broken, &trusted),
            ip("10.0.0.5")
        );
        // Only trusted hops: nothing better than the peer is known.
        assert_eq!(
            client_addr(ip("10.0.0.5"), &xff(&["10.0.0.5"]), &trusted),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn proxies_parse_as_addresses_or_networks() {
        assert!("10.0.0.5".parse::<TrustedProxy>().is_ok());
        assert!("10.0.0.0/8".parse::<TrustedProxy>().is_ok());
        assert!("fd00::/8".parse::<TrustedProxy>().is_ok());
        let err = "proxy.local".parse::<TrustedProxy>().unwrap_err();
        assert!(err.contains("proxy.local"), "{err}");
    }
}
