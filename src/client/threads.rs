//! The client's side of thread handles: applying what they queued, through
//! the same send path as the game loop's own sends.

use super::{log, Client};
use crate::proto::Payload;

impl Client {
    /// Sends what handles queued since the last update; free while no handle
    /// was ever made.
    pub(super) fn apply_queued(&mut self) {
        for queued in self.inbox.drain() {
            if let Err(error) = self.send_routed(queued.route, Payload::Queued(queued.payload)) {
                self.inbox.note_failed();
                log::queued_send_failed(&error);
            }
        }
    }
}
