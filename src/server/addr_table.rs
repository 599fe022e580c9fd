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
    /// Lookups made ahead for the rest of a received batch, in the order
    /// its datagrams come out, so each datagram's sender is hashed once;
    /// dropped whenever the table changes.
    ahead: Vec<(SocketAddr, Option<PeerId>)>,
    /// The next of `ahead` to hand out.
    next: usize,
}

impl AddrTable {
    /// The peer sending from `addr`, if any.
    #[inline]
    pub(super) fn get(&self, addr: &SocketAddr) -> Option<PeerId> {
        self.map.get(&AddrKey(*addr)).copied()
    }

    /// Looks up the senders of datagrams still to come, in the order they
    /// will be asked for with [`get_next`](Self::get_next); returns the
    /// peers found.
    pub(super) fn look_ahead<'a>(
        &'a mut self,
        senders: &[Option<SocketAddr>],
    ) -> impl Iterator<Item = PeerId> + 'a {
        self.ahead.clear();
        self.next = 0;
        for from in senders.iter().flatten() {
            let id = self.get(from);
            self.ahead.push((*from, id));
        }
        self.ahead.iter().filter_map(|(_, id)| *id)
    }

    /// The peer sending from `addr`, taken from the lookups made ahead when
    /// `addr` is the sender they expect next, else looked up. A lookup made
    /// ahead is only ever used for its own address, and the table has not
    /// changed since, so a datagram out of the expected order (the one
    /// whose receive filled the batch) costs a lookup and nothing else.
    #[inline]
    pub(super) fn get_next(&mut self, addr: &SocketAddr) -> Option<PeerId> {
        match self.ahead.get(self.next) {
            Some((from, id)) if from == addr => {
                self.next += 1;
                *id
            }
            _ => self.get(addr),
        }
    }

    /// Records that `id` sends from `addr`.
    pub(super) fn insert(&mut self, addr: SocketAddr, id: PeerId) {
        self.forget_ahead();
        self.map.insert(AddrKey(addr), id);
    }

    /// Forgets `addr`, if it still belongs to `id` (another peer may have
    /// taken the address over since).
    pub(super) fn remove_if(&mut self, addr: &SocketAddr, id: PeerId) {
        if self.get(addr) == Some(id) {
            self.forget_ahead();
            self.map.remove(&AddrKey(*addr));
        }
    }

    fn forget_ahead(&mut self) {
        self.ahead.clear();
        self.next = 0;
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

    #[test]
    fn lookups_made_ahead_never_outlive_a_change() {
        let mut t = AddrTable::default();
        let a: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:1".parse().unwrap();
        t.insert(a, 1);
        let found: Vec<_> = t.look_ahead(&[Some(a), None, Some(b)]).collect();
        assert_eq!(found, vec![1]);
        assert_eq!(t.get_next(&a), Some(1));
        // `b` joins before its datagram is taken: the lookup made ahead is stale.
        t.insert(b, 2);
        assert_eq!(t.get_next(&b), Some(2));
        t.look_ahead(&[Some(a), Some(b)]).for_each(drop);
        // Out of the expected order: looked up, and the order kept.
        assert_eq!(t.get_next(&b), Some(2));
        assert_eq!(t.get_next(&a), Some(1));
        assert_eq!(t.get_next(&b), Some(2));
        t.look_ahead(&[Some(b)]).for_each(drop);
        t.remove_if(&b, 2);
        assert_eq!(t.get_next(&b), None);
    }
}
