//! The address a device request comes from, for rate limits and budgets.
//!
//! Behind a reverse proxy every request arrives from the proxy, which names the client in a
//! header (`client_ip_header`, e.g. `x-forwarded-for` or `x-real-ip`). Anyone can send that
//! header, so it is honoured only when the TCP peer is one of the `trusted_proxies` (CIDR
//! blocks, none by default), and the client is the right-most address in it that is not a
//! trusted proxy: each proxy appends the address it received from, so entries to the left of
//! the nearest untrusted one were written by the client itself.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::http::{HeaderMap, HeaderName};
use serde::Deserialize;

/// A block of addresses: `10.0.0.0/8`, `2001:db8::/32`, or one address (`127.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// A CIDR block that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an address block such as 10.0.0.0/8, 2001:db8::/32 or 127.0.0.1")]
pub struct BadCidr(pub String);

impl FromStr for Cidr {
    type Err = BadCidr;

    fn from_str(text: &str) -> Result<Cidr, BadCidr> {
        let bad = || BadCidr(text.to_owned());
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Cidr { network, prefix })
    }
}

impl TryFrom<String> for Cidr {
    type Error = BadCidr;
    fn try_from(text: String) -> Result<Cidr, BadCidr> {
        text.parse()
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Cidr {
    /// Whether `ip` is in this block (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, width: u32, prefix: u8) -> u128 {
            let keep = u32::from(prefix).min(width);
            if keep == 0 { 0 } else { bits >> (width - keep) }
        }
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), 32, self.prefix) == masked(u32::from(ip).into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix) == masked(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// How client addresses are found: the settings, read once.
#[derive(Debug, Clone, Default)]
pub struct ClientAddress {
    header: Option<HeaderName>,
    trusted: Vec<Cidr>,
}

impl ClientAddress {
    /// From the settings. A header name that is not a valid header name is never present.
    pub fn new(header: Option<&str>, trusted: &[Cidr]) -> ClientAddress {
        let header = header.and_then(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok());
        if header.is_some() && trusted.is_empty() {
            tracing::warn!(
                "rate_limit.client_ip_header is set but rate_limit.trusted_proxies is empty: the header is ignored \
                 and every client counts by its TCP address; list your proxies' addresses in trusted_proxies"
            );
        }
        ClientAddress { header, trusted: trusted.to_vec() }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|block| block.contains(ip))
    }

    /// The client's address for a request from `peer`.
    pub fn of(&self, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
        let peer = peer.ip();
        let Some(name) = &self.header else { return peer };
        if !self.is_trusted(peer) {
            return peer;
        }
        // The header may come as several lines; together they are one list, oldest hop first.
        let entries = headers.get_all(name).iter().filter_map(|value| value.to_str().ok()).flat_map(|v| v.split(','));
        let mut nearest = peer;
        for entry in entries.collect::<Vec<_>>().into_iter().rev() {
            let Some(ip) = parse_entry(entry) else {
                // Unreadable: nothing to its left can be trusted either.
                return nearest;
            };
            if !self.is_trusted(ip) {
                return ip;
            }
            nearest = ip;
        }
        nearest
    }
}

/// One list entry: an address, possibly with a port (`1.2.3.4:5678`, `[2001:db8::1]:443`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|c| c.parse().unwrap()).collect()
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append("x-forwarded-for", value.parse().unwrap());
        }
        map
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 40000)
    }

    #[test]
    fn blocks_parse_and_contain() {
        let block: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(block.contains("10.200.1.1".parse().unwrap()));
        assert!(block.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!block.contains("11.0.0.1".parse().unwrap()));
        let host: Cidr = "::1".parse().unwrap();
        assert!(host.contains("::1".parse().unwrap()) && !host.contains("::2".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()) && !all.contains("::2".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()) && !v6.contains("2001:db9::1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/", "::/129", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_header_counts_only_from_trusted_peers_and_from_the_right() {
        let client = ClientAddress::new(Some("X-Forwarded-For"), &cidrs(&["10.0.0.0/8", "127.0.0.1"]));
        let spoofed = headers(&["6.6.6.6, 7.7.7.7"]);
        // From an untrusted peer the header is ignored.
        assert_eq!(client.of(&spoofed, peer("203.0.113.9")), "203.0.113.9".parse::<IpAddr>().unwrap());
        // From a proxy: the right-most entry that is not a proxy; what the client wrote to its
        // left does not matter.
        assert_eq!(
            client.of(&headers(&["6.6.6.6, 198.51.100.7"]), peer("127.0.0.1")),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client.of(&headers(&["6.6.6.6, 198.51.100.7, 10.1.1.1"]), peer("10.2.2.2")),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client.of(&headers(&["6.6.6.6", "198.51.100.7:5000"]), peer("127.0.0.1")),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        // Garbage next to the proxy: the proxy is the nearest known hop.
        assert_eq!(client.of(&headers(&["1.1.1.1, garbage"]), peer("10.2.2.2")), "10.2.2.2".parse::<IpAddr>().unwrap());
        // Every entry a proxy (or no header): the left-most proxy known.
        assert_eq!(client.of(&headers(&["10.9.9.9"]), peer("10.2.2.2")), "10.9.9.9".parse::<IpAddr>().unwrap());
        assert_eq!(client.of(&HeaderMap::new(), peer("10.2.2.2")), "10.2.2.2".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn without_trusted_proxies_the_header_is_never_read() {
        let client = ClientAddress::new(Some("x-forwarded-for"), &[]);
        assert_eq!(client.of(&headers(&["6.6.6.6"]), peer("127.0.0.1")), "127.0.0.1".parse::<IpAddr>().unwrap());
        let no_header = ClientAddress::new(None, &cidrs(&["127.0.0.1"]));
        assert_eq!(no_header.of(&headers(&["6.6.6.6"]), peer("127.0.0.1")), "127.0.0.1".parse::<IpAddr>().unwrap());
    }
}
