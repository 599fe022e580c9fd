//! Datagrams a sans-IO endpoint has made ready, waiting for its driver to
//! put them on a socket.
//!
//! The endpoint never touches a socket: its connections write packets into
//! buffers kept here, and the driver drains them in order. Each datagram
//! remembers which peer it belongs to, so a datagram the socket refuses is
//! counted against that peer's connection. Buffers are recycled, so steady
//! traffic allocates nothing.

use std::net::SocketAddr;
use std::time::Instant;

use crate::proto::Connection;
use crate::PeerId;

/// Spare buffers kept for reuse; a burst past this many is freed after it leaves.
const MAX_SPARE: usize = 256;

/// Who a datagram belongs to: a peer's connection, or the endpoint itself
/// (handshake packets, which no connection counts).
pub(crate) type Owner = Option<PeerId>;

/// One datagram ready to leave.
#[derive(Debug)]
pub(crate) struct Transmit {
    /// Where it goes.
    pub(crate) to: SocketAddr,
    /// Whose it is.
    pub(crate) owner: Owner,
    /// The datagram.
    pub(crate) data: Vec<u8>,
}

/// The queue of datagrams ready to leave, in the order they were made.
#[derive(Debug)]
pub(crate) struct Transmits {
    queue: Vec<Transmit>,
    spare: Vec<Vec<u8>>,
    /// The largest datagram the endpoint makes (its MTU).
    datagram_capacity: usize,
}

impl Transmits {
    /// A queue for datagrams of at most `mtu` bytes.
    pub(crate) fn new(mtu: usize) -> Self {
        Transmits {
            queue: Vec::new(),
            spare: Vec::new(),
            datagram_capacity: mtu,
        }
    }

    /// Queues every datagram `conn` has to send at `now`, addressed to `to`.
    pub(crate) fn push_conn(
        &mut self,
        conn: &mut Connection,
        now: Instant,
        to: SocketAddr,
        owner: Owner,
    ) {
        loop {
            let mut data = self.spare();
            // Sealed (or checksummed, in the insecure mode) as it is built.
            if !conn.poll_transmit_protected(now, &mut data) {
                self.spare.push(data);
                return;
            }
            self.queue.push(Transmit { to, owner, data });
        }
    }

    /// Queues one datagram that `write` puts into an empty buffer; nothing
    /// is queued if it writes nothing.
    pub(crate) fn push_with(
        &mut self,
        to: SocketAddr,
        owner: Owner,
        write: impl FnOnce(&mut Vec<u8>),
    ) {
        let mut data = self.spare();
        data.clear();
        write(&mut data);
        if data.is_empty() {
            self.spare.push(data);
        } else {
            self.queue.push(Transmit { to, owner, data });
        }
    }

    /// A buffer for one more datagram: a spare one, or a new one with room
    /// for the largest datagram, so filling it never reallocates.
    fn spare(&mut self) -> Vec<u8> {
        self.spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.datagram_capacity))
    }

    /// Whether nothing waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Hands every waiting datagram to `send`, in order, then keeps the
    /// buffers for reuse.
    pub(crate) fn drain(&mut self, mut send: impl FnMut(&Transmit)) {
        for transmit in self.queue.drain(..) {
            send(&transmit);
            if self.spare.len() < MAX_SPARE {
                self.spare.push(transmit.data);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_leave_in_order_and_their_buffers_are_reused() {
        let mut t = Transmits::new(1200);
        let to: SocketAddr = "127.0.0.1:9".parse().unwrap();
        t.push_with(to, Some(1), |b| b.extend_from_slice(b"one"));
        t.push_with(to, None, |_| {});
        t.push_with(to, Some(2), |b| b.extend_from_slice(b"two"));
        let mut seen = Vec::new();
        t.drain(|x| seen.push((x.owner, x.data.clone())));
        assert_eq!(
            seen,
            vec![(Some(1), b"one".to_vec()), (Some(2), b"two".to_vec())]
        );
        assert!(t.is_empty());
        let cap = t.spare.iter().map(Vec::capacity).max().unwrap();
        t.push_with(to, None, |b| b.push(0));
        assert!(
            t.queue[0].data.capacity() >= cap.min(3),
            "a recycled buffer is used"
        );
    }
}
