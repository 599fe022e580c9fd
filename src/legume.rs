//! legume's names for sending, kept for games ported from it.
//!
//! legume is the Python networking library for games whose model lentil
//! follows: a client and a server updated once per tick, events delivered
//! to handlers, and three kinds of message (plain, reliable, in order). Its
//! send calls are named after those kinds; here they are those names over
//! lentil's delivery modes, and nothing more.

use crate::{Client, Delivery, Error, PeerId, Server};

impl Client {
    /// legume's `send_message`: unreliable.
    pub fn send_message(&mut self, message: impl AsRef<[u8]>) -> Result<(), Error> {
        self.send(message, Delivery::Unreliable)
    }

    /// legume's `send_reliable_message`: reliable, any order.
    pub fn send_reliable_message(&mut self, message: impl AsRef<[u8]>) -> Result<(), Error> {
        self.send(message, Delivery::Reliable)
    }

    /// legume's in-order message: reliable and ordered.
    pub fn send_ordered_message(&mut self, message: impl AsRef<[u8]>) -> Result<(), Error> {
        self.send(message, Delivery::ReliableOrdered)
    }
}

impl Server {
    /// legume's `send_message` to one peer: unreliable.
    pub fn send_message(&mut self, peer: PeerId, message: impl AsRef<[u8]>) -> Result<(), Error> {
        self.send(peer, message, Delivery::Unreliable)
    }

    /// legume's `send_reliable_message` to one peer.
    pub fn send_reliable_message(
        &mut self,
        peer: PeerId,
        message: impl AsRef<[u8]>,
    ) -> Result<(), Error> {
        self.send(peer, message, Delivery::Reliable)
    }

    /// legume's in-order message to one peer: reliable and ordered.
    pub fn send_ordered_message(
        &mut self,
        peer: PeerId,
        message: impl AsRef<[u8]>,
    ) -> Result<(), Error> {
        self.send(peer, message, Delivery::ReliableOrdered)
    }
}
