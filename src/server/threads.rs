//! The server's side of thread handles: applying what they queued, through
//! the same send path as the game loop's own sends.

use super::{log, Server};
use crate::proto::Payload;
use crate::threads::Recipient;

impl Server {
    /// Sends what handles queued since the last update; free while no handle
    /// was ever made.
    pub(super) fn apply_queued(&mut self) {
        for queued in self.inbox.drain() {
            let payload = Payload::Queued(queued.payload);
            match queued.to {
                Recipient::Peer(peer) => {
                    if let Err(error) = self.send_routed(peer, queued.route, payload) {
                        self.inbox.note_failed();
                        log::queued_send_failed(peer, &error);
                    }
                }
                Recipient::Everyone => {
                    self.core.broadcast(queued.route, payload);
                }
            }
        }
    }
}
