//! Which IP address a request comes from: the peer's, or, when the peer is a configured
//! trusted proxy, the nearest `X-Forwarded-For` hop that is not one. Each proxy appends the
//! address it received from, so only the hops the trusted proxies appended, read from the
//! right, are believed; anything further left was written by the client and proves nothing.

use std::net::IpAddr;
use std::str::FromStr;

/// One trusted network: an address and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The proxies whose `X-Forwarded-For` is believed: addresses or CIDR networks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

impl TrustedProxies {
    /// None: every request is attributed to its peer.
    pub fn none() -> Self {
        TrustedProxies(Vec::new())
    }

    /// True when `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(ip))
    }

    /// True when no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list such as `10.0.0.0/8, 192.168.1.7, fd00::/8`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut nets = Vec::new();
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (addr, prefix) = match entry.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (entry, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("{entry:?} is not an IP address or network"))?;
            let addr = addr.to_canonical();
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => max,
                Some(p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| format!("{entry:?} has a bad prefix length"))?,
            };
            nets.push(Network { addr, prefix });
        }
        Ok(TrustedProxies(nets))
    }
}

/// Parses one `X-Forwarded-For` hop: an address, optionally with a port ("1.2.3.4:5",
/// "[::1]:5").
fn hop(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    text.parse::<std::net::SocketAddr>().ok().map(|s| s.ip())
}

/// The client's address: walking `X-Forwarded-For` from the right while the address so
/// far is a trusted proxy, the first hop that is not one (or the leftmost, if every hop is
/// trusted); the peer itself when it is not trusted. A garbled hop stops the walk: nothing
/// to its left is believed. `None` when the peer is unknown.
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let mut client = peer.map(|p| p.to_canonical())?;
    let Some(header) = forwarded_for else {
        return Some(client);
    };
    for text in header.rsplit(',') {
        if !trusted.contains(client) {
            break;
        }
        let Some(next) = hop(text) else {
            break;
        };
        client = next.to_canonical();
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_peer_unless_it_is_a_trusted_proxy() {
        let trusted: TrustedProxies = "10.0.0.0/8, 192.168.1.7, fd00::/8".parse().unwrap();
        let xff = Some("203.0.113.9, 10.1.2.3");
        assert_eq!(
            client_ip(Some(ip("10.20.30.40")), xff, &trusted),
            Some(ip("203.0.113.9"))
        );
        // A client that writes its own header before the proxy appends to it: the
        // address the trusted proxy saw, not the one the client chose.
        assert_eq!(
            client_ip(
                Some(ip("10.0.0.5")),
                Some("1.1.1.1, 198.51.100.77"),
                &trusted
            ),
            Some(ip("198.51.100.77"))
        );
        // Garbage left of the believed hops changes nothing; garbage among them stops
        // the walk at the last hop a trusted proxy vouched for.
        assert_eq!(
            client_ip(
                Some(ip("10.0.0.5")),
                Some("junk, 198.51.100.77, 10.9.9.9"),
                &trusted
            ),
            Some(ip("198.51.100.77"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.5")), Some("198.51.100.77, junk"), &trusted),
            Some(ip("10.0.0.5"))
        );
        // Every hop a trusted proxy: the leftmost.
        assert_eq!(
            client_ip(Some(ip("10.0.0.5")), Some("10.0.0.7, 10.0.0.6"), &trusted),
            Some(ip("10.0.0.7"))
        );
        assert_eq!(
            client_ip(Some(ip("192.168.1.7")), Some("[2001:db8::1]:443"), &trusted),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(
            client_ip(Some(ip("fd12::1")), Some("198.51.100.2:1234"), &trusted),
            Some(ip("198.51.100.2"))
        );
        // An untrusted peer cannot choose its address.
        assert_eq!(
            client_ip(Some(ip("192.168.1.8")), xff, &trusted),
            Some(ip("192.168.1.8"))
        );
        // A trusted peer without (or with a garbled) header is the client itself.
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), None, &trusted),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), Some("unknown"), &trusted),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(client_ip(None, xff, &trusted), None);
        // IPv4-mapped IPv6 peers count as IPv4.
        assert_eq!(
            client_ip(Some(ip("::ffff:10.0.0.1")), xff, &trusted),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), xff, &TrustedProxies::none()),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn lists_parse_or_say_why_not() {
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
        assert!(
            "0.0.0.0/0"
                .parse::<TrustedProxies>()
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        for bad in ["10.0.0.0/33", "nonsense", "::/129", "1.2.3.4/x"] {
            assert!(bad.parse::<TrustedProxies>().is_err(), "{bad}");
        }
    }
}
