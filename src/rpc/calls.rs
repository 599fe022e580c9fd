//! Each connected peer's RPC state: its pending outgoing calls with their
//! deadlines, the next call id, and how many of its calls are in progress
//! here.
//!
//! It holds no bytes and sends nothing: ending a call means handing its
//! outcome to an event or a future, which the caller of these methods does.

use std::collections::HashMap;
use std::time::Instant;

use foldhash::fast::RandomState;

use super::command::CommandId;
use super::future::{fulfil, SharedSlot};
use super::outcome::{Answered, CallId, Outcome, RpcEvent};
use crate::PeerId;

/// Where the outcome of a pending call goes.
#[derive(Debug)]
pub(crate) enum Completion {
    /// An [`RpcEvent::Answered`] from `update`.
    Event,
    /// A [`CallFuture`](super::CallFuture)'s slot.
    Future(SharedSlot),
}

/// One call waiting for its answer.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) deadline: Instant,
    pub(crate) command: CommandId,
    pub(crate) completion: Completion,
}

/// The RPC state of one connection.
#[derive(Debug)]
pub(crate) struct PeerCalls {
    /// Which connection this is; answers made for an earlier one are dropped.
    pub(crate) epoch: u64,
    next_call: u32,
    /// Call ids are this side's, so a peer cannot choose which keys are hashed.
    pub(crate) pending: HashMap<u32, Pending, RandomState>,
    /// The peer's calls this side has not answered on the wire yet.
    pub(crate) incoming: usize,
}

impl PeerCalls {
    pub(crate) fn new(epoch: u64, max_pending: usize) -> Self {
        PeerCalls {
            epoch,
            next_call: 0,
            pending: HashMap::with_capacity_and_hasher(max_pending, RandomState::default()),
            incoming: 0,
        }
    }

    /// A call id no pending call uses.
    pub(crate) fn next_id(&mut self) -> u32 {
        loop {
            let id = self.next_call;
            self.next_call = self.next_call.wrapping_add(1);
            // At most `max_pending_calls` ids are taken, so this ends.
            if !self.pending.contains_key(&id) {
                return id;
            }
        }
    }
}

/// Hands a call's outcome to where it is awaited.
pub(crate) fn complete(
    events: &mut Vec<RpcEvent>,
    peer: PeerId,
    call: u32,
    pending: Pending,
    outcome: Outcome,
) {
    match pending.completion {
        Completion::Event => events.push(RpcEvent::Answered(Answered {
            peer,
            call: CallId(call),
            command: pending.command,
            outcome,
        })),
        Completion::Future(slot) => fulfil(&slot, outcome),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_skip_those_still_pending_across_the_wrap() {
        let mut peer = PeerCalls::new(1, 4);
        peer.next_call = u32::MAX;
        let pending = || Pending {
            deadline: Instant::now(),
            command: CommandId(1),
            completion: Completion::Event,
        };
        let last = peer.next_id();
        assert_eq!(last, u32::MAX);
        peer.pending.insert(0, pending());
        peer.pending.insert(1, pending());
        assert_eq!(peer.next_id(), 2);
    }
}
