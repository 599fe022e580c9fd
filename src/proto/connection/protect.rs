//! The connection's packet protection at its edges: every datagram
//! `poll_transmit` builds is sealed on its way out, and every data packet is
//! opened in place before `handle_data` sees it. A packet that fails to open
//! is counted and changes nothing else: no timer, no keepalive, no ack.

use std::time::Instant;

use super::Connection;
use crate::crypto::{CryptoError, Protection};

impl Connection {
    /// Replaces the connection's packet protection (the handshake's result).
    pub fn set_protection(&mut self, protection: Protection) {
        self.protection = protection;
    }

    /// As [`poll_transmit`](Self::poll_transmit), with the datagram sealed
    /// (or, in the insecure mode, checksummed): what goes on the wire.
    pub fn poll_transmit_protected(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        loop {
            if !self.poll_transmit(now, out) {
                return false;
            }
            if self.protection.protect(out) {
                return true;
            }
        }
    }

    /// Whether nothing authenticated has arrived for `quiet` (the session
    /// may be dead).
    pub fn silent_for(&self, now: Instant, quiet: std::time::Duration) -> bool {
        now.saturating_duration_since(self.last_recv) >= quiet
    }

    /// Opens the data packet in `datagram` in place. Returns the length of
    /// its header and frames, now in clear at its start, or `None` (counted)
    /// when it is altered, forged, truncated or replayed.
    pub fn unprotect(&mut self, datagram: &mut [u8]) -> Option<usize> {
        match self.protection.unprotect(datagram) {
            Ok(opened) => Some(opened.len),
            Err(CryptoError::Replayed) => {
                // A packet the network duplicated is one of these too.
                self.stats.replays_dropped += 1;
                self.stats.duplicates_dropped += 1;
                None
            }
            Err(_) => {
                self.stats.auth_failures += 1;
                None
            }
        }
    }
}
