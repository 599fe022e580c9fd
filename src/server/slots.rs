//! Live connections per source address and per network prefix (an IPv4 /24,
//! an IPv6 /64), so one host, or one network, cannot take every slot of
//! `max_clients` and lock everyone else out (`Config::max_clients_per_ip`,
//! `Config::max_clients_per_prefix`).
//!
//! Counts change only when a peer enters or leaves the server's table, which
//! happens only after its cookie proved its address; nothing is kept for an
//! unverified sender. Loopback addresses are not capped: they are this host
//! (and every simulated client shares one). This module never decides anything else about a
//! handshake.

use std::collections::HashMap;
use std::net::IpAddr;

/// The network an address belongs to for the prefix cap: its first 24 bits
/// (IPv4) or 64 bits (IPv6). An IPv4-mapped IPv6 address counts as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Prefix {
    V4([u8; 3]),
    V6([u8; 8]),
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_of(ip: IpAddr) -> Prefix {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Prefix::V4([a, b, c])
        }
        IpAddr::V6(v6) => {
            let o = v6.octets();
            Prefix::V6([o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]])
        }
    }
}

/// Why a new connection may not take a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crowded {
    /// Its address already has the most live connections allowed.
    Address,
    /// Its network prefix already has the most allowed.
    Prefix,
}

impl std::fmt::Display for Crowded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Crowded::Address => "too many connections from this address",
            Crowded::Prefix => "too many connections from this network",
        })
    }
}

/// Live connections by address and by prefix.
#[derive(Debug)]
pub struct SlotCounts {
    per_ip: usize,
    per_prefix: usize,
    by_ip: HashMap<IpAddr, usize>,
    by_prefix: HashMap<Prefix, usize>,
}

impl SlotCounts {
    /// At most `per_ip` live connections per address and `per_prefix` per
    /// prefix.
    pub fn new(per_ip: usize, per_prefix: usize) -> Self {
        SlotCounts {
            per_ip,
            per_prefix,
            by_ip: HashMap::new(),
            by_prefix: HashMap::new(),
        }
    }

    /// Whether one more connection from `ip` fits; `replacing` says one of
    /// its live connections is about to leave for it.
    pub fn check(&self, ip: IpAddr, replacing: bool) -> Result<(), Crowded> {
        let ip = canonical(ip);
        if ip.is_loopback() {
            return Ok(());
        }
        let taken = |n: usize| n.saturating_sub(usize::from(replacing));
        if taken(self.by_ip.get(&ip).copied().unwrap_or(0)) >= self.per_ip {
            return Err(Crowded::Address);
        }
        let prefix = self.by_prefix.get(&prefix_of(ip)).copied().unwrap_or(0);
        if taken(prefix) >= self.per_prefix {
            return Err(Crowded::Prefix);
        }
        Ok(())
    }

    /// A connection from `ip` entered the table.
    pub fn add(&mut self, ip: IpAddr) {
        let ip = canonical(ip);
        if ip.is_loopback() {
            return;
        }
        *self.by_ip.entry(ip).or_insert(0) += 1;
        *self.by_prefix.entry(prefix_of(ip)).or_insert(0) += 1;
    }

    /// A connection from `ip` left the table.
    pub fn remove(&mut self, ip: IpAddr) {
        let ip = canonical(ip);
        if ip.is_loopback() {
            return;
        }
        fn down<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: K) {
            if let Some(n) = map.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
        down(&mut self.by_ip, ip);
        down(&mut self.by_prefix, prefix_of(ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn addresses_and_prefixes_are_capped_apart() {
        let mut s = SlotCounts::new(2, 3);
        s.add(ip("10.0.0.1"));
        s.add(ip("10.0.0.1"));
        assert_eq!(s.check(ip("10.0.0.1"), false), Err(Crowded::Address));
        assert_eq!(s.check(ip("10.0.0.1"), true), Ok(()), "a replacement fits");
        assert_eq!(s.check(ip("10.0.0.2"), false), Ok(()));
        s.add(ip("10.0.0.2"));
        assert_eq!(s.check(ip("10.0.0.3"), false), Err(Crowded::Prefix));
        assert_eq!(s.check(ip("10.0.1.3"), false), Ok(()), "another /24");
        // The same IPv4 host seen as an IPv4-mapped IPv6 address.
        assert_eq!(s.check(ip("::ffff:10.0.0.1"), false), Err(Crowded::Address));
        s.remove(ip("10.0.0.1"));
        assert_eq!(s.check(ip("10.0.0.1"), false), Ok(()), "a slot came free");
        s.add(ip("10.0.0.1"));
        assert_eq!(s.check(ip("10.0.0.4"), false), Err(Crowded::Prefix));
        s.remove(ip("10.0.0.1"));
        s.remove(ip("10.0.0.2"));
        assert_eq!(s.check(ip("10.0.0.9"), false), Ok(()));
        // This host is not capped.
        for _ in 0..10 {
            s.add(ip("127.0.0.1"));
        }
        assert_eq!(s.check(ip("127.0.0.1"), false), Ok(()));
        assert!(!s.by_ip.contains_key(&ip("127.0.0.1")));
    }

    #[test]
    fn ipv6_hosts_of_one_slash_64_share_its_cap() {
        let mut s = SlotCounts::new(10, 2);
        s.add(ip("2001:db8:1:2::1"));
        s.add(ip("2001:db8:1:2:ffff::9"));
        assert_eq!(s.check(ip("2001:db8:1:2::77"), false), Err(Crowded::Prefix));
        assert_eq!(s.check(ip("2001:db8:1:3::1"), false), Ok(()));
        s.remove(ip("2001:db8:1:2::1"));
        s.remove(ip("2001:db8:1:2:ffff::9"));
        assert!(
            s.by_ip.is_empty() && s.by_prefix.is_empty(),
            "nothing left behind"
        );
    }
}
