//! The client's address for rate limits, behind zero or more trusted proxies.
//!
//! - The TCP peer is the client unless it is a trusted proxy.
//! - Behind a trusted proxy, every `X-Forwarded-For` field line counts: RFC
//!   9110 §5.3 makes repeated lines one comma-separated list, in order.
//!   HAProxy's `option forwardfor` adds its own line after the client's,
//!   so reading only the first line would believe the client.
//! - The list is read from the right; trusted proxies are skipped; the first
//!   other hop is the client (everything left of it is client-made). A hop
//!   that does not parse stops the walk, and the peer (the proxy) is used.
//! - A hop may be `ip`, `ip:port`, `[v6]` or `[v6]:port`; IPv4-mapped IPv6
//!   (`::ffff:1.2.3.4`) is the IPv4 address, for hops, the peer and the
//!   trusted list alike.
//! - `Forwarded` (RFC 7239) is ignored: a proxy that writes one of the two
//!   headers passes the other through untouched, so reading both would let a
//!   client choose the one it forged. Proxies that write only `Forwarded`
//!   must be told to write `X-Forwarded-For`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use actix_web::http::header::HeaderValue;

/// The address rate limits count against, as text.
pub fn client_address<'a>(
    peer: Option<IpAddr>,
    forwarded_for: impl IntoIterator<Item = &'a HeaderValue>,
    trusted_proxies: &[IpAddr],
) -> String {
    let Some(peer) = peer.map(|ip| ip.to_canonical()) else {
        return "unknown".into();
    };
    if !is_trusted(peer, trusted_proxies) {
        return peer.to_string();
    }
    let lines: Vec<&HeaderValue> = forwarded_for.into_iter().collect();
    for line in lines.into_iter().rev() {
        // A line that is not visible ASCII is one hop that does not parse.
        let Ok(line) = line.to_str() else {
            return peer.to_string();
        };
        for hop in line.rsplit(',') {
            if hop.trim().is_empty() {
                continue; // empty list elements are ignored (RFC 9110 §5.6.1)
            }
            match parse_hop(hop) {
                Some(ip) if is_trusted(ip, trusted_proxies) => continue,
                Some(ip) => return ip.to_string(),
                None => return peer.to_string(),
            }
        }
    }
    peer.to_string()
}

fn is_trusted(ip: IpAddr, trusted_proxies: &[IpAddr]) -> bool {
    trusted_proxies.iter().any(|t| t.to_canonical() == ip)
}

/// One hop: `ip`, `ip:port`, `[v6]` or `[v6]:port`, IPv4-mapped IPv6 as IPv4.
pub fn parse_hop(raw: &str) -> Option<IpAddr> {
    let hop = raw.trim();
    let ip = if let Some(rest) = hop.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        IpAddr::V6(inside.parse::<Ipv6Addr>().ok()?)
    } else if let Ok(ip) = hop.parse::<IpAddr>() {
        ip
    } else {
        let (host, port) = hop.split_once(':')?;
        if !is_port(port) {
            return None;
        }
        IpAddr::V4(host.parse::<Ipv4Addr>().ok()?)
    };
    Some(ip.to_canonical())
}

fn is_port(p: &str) -> bool {
    (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn lines(values: &[&str]) -> Vec<HeaderValue> {
        values
            .iter()
            .map(|v| HeaderValue::from_str(v).unwrap())
            .collect()
    }

    fn client(peer: &str, values: &[&str], trusted: &[&str]) -> String {
        let trusted: Vec<IpAddr> = trusted.iter().map(|t| ip(t)).collect();
        client_address(Some(ip(peer)), &lines(values), &trusted)
    }

    #[test]
    fn hop_forms() {
        assert_eq!(parse_hop("203.0.113.7"), Some(ip("203.0.113.7")));
        assert_eq!(parse_hop(" 203.0.113.7 "), Some(ip("203.0.113.7")));
        assert_eq!(parse_hop("203.0.113.7:54321"), Some(ip("203.0.113.7")));
        assert_eq!(parse_hop("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("[2001:db8::1]"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("[2001:db8::1]:443"), Some(ip("2001:db8::1")));
    }

    #[test]
    fn ipv4_mapped_ipv6_is_ipv4() {
        assert_eq!(parse_hop("::ffff:192.0.2.1"), Some(ip("192.0.2.1")));
        assert_eq!(parse_hop("[::ffff:192.0.2.1]:80"), Some(ip("192.0.2.1")));
        assert_eq!(parse_hop("::ffff:c000:201"), Some(ip("192.0.2.1")));
    }

    #[test]
    fn garbage_hops_do_not_parse() {
        for bad in [
            "",
            "unknown",
            "_hidden",
            "203.0.113.7:",
            "203.0.113.7:port",
            "203.0.113.7:99999",
            "203.0.113.7:80:80",
            "2001:db8::1:443x",
            "[2001:db8::1",
            "[2001:db8::1]443",
            "[203.0.113.7]",
            "203.0.113.07",
            "300.1.1.1",
            "fe80::1%eth0",
            "\"203.0.113.7\"",
            "for=203.0.113.7",
        ] {
            assert_eq!(parse_hop(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_the_header_says() {
        assert_eq!(
            client("198.51.100.1", &["203.0.113.7"], &[]),
            "198.51.100.1"
        );
        assert_eq!(
            client("198.51.100.1", &["203.0.113.7"], &["10.0.0.1"]),
            "198.51.100.1"
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = ["10.0.0.1", "10.0.0.2"];
        assert_eq!(
            client("10.0.0.1", &["1.2.3.4, 203.0.113.7, 10.0.0.2"], &trusted),
            "203.0.113.7"
        );
        assert_eq!(client("10.0.0.1", &[], &trusted), "10.0.0.1");
        assert_eq!(client("10.0.0.1", &["10.0.0.2"], &trusted), "10.0.0.1");
    }

    #[test]
    fn repeated_lines_are_one_list() {
        // HAProxy's `option forwardfor` adds a line after the client's forged one.
        assert_eq!(
            client("10.0.0.1", &["1.2.3.4", "203.0.113.7"], &["10.0.0.1"]),
            "203.0.113.7"
        );
        assert_eq!(
            client(
                "10.0.0.1",
                &["1.2.3.4, 5.6.7.8", "203.0.113.7, 10.0.0.2"],
                &["10.0.0.1", "10.0.0.2"]
            ),
            "203.0.113.7"
        );
        assert_eq!(
            client("10.0.0.1", &["1.2.3.4", "203.0.113.7,, "], &["10.0.0.1"]),
            "203.0.113.7",
            "empty elements are ignored"
        );
    }

    #[test]
    fn ports_and_brackets_are_understood() {
        assert_eq!(
            client("10.0.0.1", &["203.0.113.7:61000"], &["10.0.0.1"]),
            "203.0.113.7"
        );
        assert_eq!(
            client("10.0.0.1", &["[2001:db8::7]:61000"], &["10.0.0.1"]),
            "2001:db8::7"
        );
    }

    #[test]
    fn mapped_addresses_match_the_trusted_list_both_ways() {
        assert_eq!(
            client("::ffff:10.0.0.1", &["203.0.113.7"], &["10.0.0.1"]),
            "203.0.113.7",
            "a mapped peer is the trusted proxy"
        );
        assert_eq!(
            client("10.0.0.1", &["203.0.113.7"], &["::ffff:10.0.0.1"]),
            "203.0.113.7",
            "a mapped trusted entry"
        );
        assert_eq!(
            client(
                "10.0.0.1",
                &["203.0.113.7, ::ffff:10.0.0.2"],
                &["10.0.0.1", "10.0.0.2"]
            ),
            "203.0.113.7",
            "a mapped hop is skipped as trusted"
        );
        assert_eq!(
            client("::ffff:198.51.100.1", &[], &[]),
            "198.51.100.1",
            "an untrusted mapped peer is shown as IPv4"
        );
        assert_eq!(
            client("10.0.0.1", &["::ffff:203.0.113.7"], &["10.0.0.1"]),
            "203.0.113.7"
        );
    }

    #[test]
    fn garbage_stops_at_the_proxy() {
        // The proxy's own entry is garbage: the proxy is all we know.
        assert_eq!(
            client("10.0.0.1", &["203.0.113.7, garbage"], &["10.0.0.1"]),
            "10.0.0.1"
        );
        // Garbage left of the client's real hop is never reached.
        assert_eq!(
            client("10.0.0.1", &["garbage, 203.0.113.7"], &["10.0.0.1"]),
            "203.0.113.7"
        );
        let opaque = HeaderValue::from_bytes(b"\xff\xfe").unwrap();
        let ok = HeaderValue::from_static("203.0.113.7");
        assert_eq!(
            client_address(Some(ip("10.0.0.1")), [&opaque, &ok], &[ip("10.0.0.1")]),
            "203.0.113.7",
            "an opaque client line before the proxy's"
        );
        assert_eq!(
            client_address(Some(ip("10.0.0.1")), [&ok, &opaque], &[ip("10.0.0.1")]),
            "10.0.0.1"
        );
        assert_eq!(client_address(None, [&ok], &[]), "unknown");
    }
}
