//! The server's table from a sender's address to its peer, read for every
//! datagram that arrives.
//!
//! Senders choose their addresses, so the hash is keyed, with a key drawn at
//! random per table. A key is hashed in one or two integer writes (an IPv4
//! address and port make one 64-bit word) rather than one per field as
//! `SocketAddr`'s own `Hash` writes it: each write is a mixing step.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;

use crate::PeerId;

/// A socket address hashed as few words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AddrKey(SocketAddr);

impl Hash for AddrKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Everything `SocketAddr`'s equality compares goes in, so equal
        // keys hash alike.
        match self.0 {
            SocketAddr::V4(a) => {
                state.write_u64(u64::from(a.ip().to_bits()) << 16 | u64::from(a.port()));
            }
            SocketAddr::V6(a) => {
                state.write_u128(a.ip().to_bits());
                let rest = u64::from(a.flowinfo()) << 32 | u64::from(a.scope_id());
                state.write_u64(rest ^ u64::from(a.port()).rotate_right(16));
            }
        }
    }
}

/// Peers by the address they send from.
#[derive(Debug, Default)]
pub(super) struct AddrTable {
    map: HashMap<AddrKey, PeerId, foldhash::quality::RandomState>,
}

impl AddrTable {
    /// The peer sending from `addr`, if any.
    #[inline]
    pub(super) fn get(&self, addr: &SocketAddr) -> Option<PeerId> {
        self.map.get(&AddrKey(*addr)).copied()
    }

    /// Records that `id` sends from `addr`.
    pub(super) fn insert(&mut self, addr: SocketAddr, id: PeerId) {
        self.map.insert(AddrKey(addr), id);
    }

    /// Forgets `addr`, if it still belongs to `id` (another peer may have
    /// taken the address over since).
    pub(super) fn remove_if(&mut self, addr: &SocketAddr, id: PeerId) {
        if self.get(addr) == Some(id) {
            self.map.remove(&AddrKey(*addr));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_of_either_family_are_told_apart() {
        let mut t = AddrTable::default();
        let v4: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        let v4_other_port: SocketAddr = "10.0.0.1:4001".parse().unwrap();
        let v6: SocketAddr = "[::ffff:10.0.0.1]:4000".parse().unwrap();
        let v6_scoped: SocketAddr = "[fe80::1%2]:4000".parse().unwrap();
        let v6_other_scope: SocketAddr = "[fe80::1%3]:4000".parse().unwrap();
        for (i, a) in [v4, v4_other_port, v6, v6_scoped, v6_other_scope]
            .into_iter()
            .enumerate()
        {
            t.insert(a, i as PeerId);
        }
        assert_eq!(t.get(&v4), Some(0));
        assert_eq!(t.get(&v4_other_port), Some(1));
        assert_eq!(t.get(&v6), Some(2));
        assert_eq!(t.get(&v6_scoped), Some(3));
        assert_eq!(t.get(&v6_other_scope), Some(4));
        t.remove_if(&v4, 9);
        assert_eq!(t.get(&v4), Some(0), "only its own peer removes it");
        t.remove_if(&v4, 0);
        assert_eq!(t.get(&v4), None);
    }
}
