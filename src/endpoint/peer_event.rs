//! What a connection's events mean to the game, said once for both sides:
//! a message, or the end of the connection and how it ended.

use crate::proto::{CloseCause, ConnEvent, Connection};
use crate::{DisconnectReason, Error, Message};

/// A connection's event, as the endpoint above it reports it.
#[derive(Debug)]
pub(crate) enum PeerEvent {
    /// A message arrived.
    Message(Message),
    /// The peer closed the connection gracefully, for this reason.
    ClosedByPeer(DisconnectReason),
    /// This side closed it (kick, disconnect, shutdown), for this reason.
    ClosedHere(DisconnectReason),
    /// The connection was lost: timeout or protocol violation.
    Lost(Error),
}

impl PeerEvent {
    /// The next event of `conn`, if any.
    pub(crate) fn poll(conn: &mut Connection) -> Option<PeerEvent> {
        Some(match conn.poll_event()? {
            ConnEvent::Message {
                delivery,
                channel,
                payload,
            } => PeerEvent::Message(Message {
                payload,
                delivery,
                channel,
            }),
            ConnEvent::Closed(CloseCause::PeerClosed(reason)) => PeerEvent::ClosedByPeer(reason),
            ConnEvent::Closed(CloseCause::LocalClosed) => PeerEvent::ClosedHere(
                conn.close_reason()
                    .cloned()
                    .unwrap_or(DisconnectReason::Kicked),
            ),
            ConnEvent::Closed(CloseCause::TimedOut(after)) => {
                PeerEvent::Lost(Error::TimedOut(after))
            }
            ConnEvent::Closed(CloseCause::Violation(why)) => {
                PeerEvent::Lost(Error::ProtocolViolation(why))
            }
        })
    }
}
