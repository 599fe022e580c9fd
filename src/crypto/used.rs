//! The single-use record of connect tokens, in bounded memory: a token's id
//! is kept until the token expires, and when the record is full a new token
//! is refused rather than an old one forgotten (so no token can be used
//! twice, at the cost of refusing logins while the record is full of live
//! tokens). It holds only tokens that opened under the server's key, so an
//! attacker cannot fill it without the backend.

use std::collections::{HashSet, VecDeque};

/// Ids of tokens already used, with their expiry.
#[derive(Debug)]
pub struct UsedTokens {
    ids: HashSet<[u8; 16]>,
    order: VecDeque<(u64, [u8; 16])>,
    capacity: usize,
}

impl UsedTokens {
    /// A record of at most `capacity` live tokens.
    pub fn new(capacity: usize) -> Self {
        UsedTokens {
            ids: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records token `id` (good until `expires_unix`) as used at `now_unix`.
    /// Returns false when it was used before or the record is full.
    pub fn use_once(&mut self, id: [u8; 16], expires_unix: u64, now_unix: u64) -> bool {
        // Tokens are minted with one lifetime, so the front expires first;
        // one minted for longer is kept a little longer than it needs.
        while let Some(&(expires, old)) = self.order.front() {
            if expires > now_unix {
                break;
            }
            self.order.pop_front();
            self.ids.remove(&old);
        }
        if self.ids.contains(&id) || self.ids.len() >= self.capacity {
            return false;
        }
        self.ids.insert(id);
        self.order.push_back((expires_unix, id));
        true
    }

    /// Live tokens recorded.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether none is recorded.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_use_bounded_and_forgets_expired() {
        let mut u = UsedTokens::new(2);
        assert!(u.use_once([1; 16], 100, 0));
        assert!(!u.use_once([1; 16], 100, 50), "reuse refused");
        assert!(u.use_once([2; 16], 100, 0));
        assert!(!u.use_once([3; 16], 100, 0), "full: refused, not evicted");
        assert!(!u.use_once([1; 16], 100, 99));
        assert!(u.use_once([3; 16], 200, 100), "expired ones make room");
        assert_eq!(u.len(), 1);
    }
}
