//! What a client tells `tracing`: connects, rejections, disconnects (with
//! their reason) and lost connections at info or warn level, and dropped
//! datagrams at trace level, so nothing is logged per packet unless asked for.
//! Without a subscriber all of it costs a branch.

use std::net::SocketAddr;

use crate::{ClientEvent, Error};

/// Logs one event of the client's event stream; messages are not logged.
pub(super) fn event(event: &ClientEvent) {
    match event {
        ClientEvent::ConnectAccepted => tracing::info!("connected"),
        ClientEvent::ConnectRejected(reason) => {
            tracing::info!(%reason, "connection rejected");
        }
        ClientEvent::Disconnected(reason) => {
            tracing::info!(%reason, "disconnected by the server");
        }
        ClientEvent::Error(error @ Error::ConnectTimedOut { .. }) => {
            tracing::warn!(%error, "connect failed");
        }
        ClientEvent::Error(error @ Error::ProtocolViolation(_)) => {
            tracing::warn!(%error, "connection dropped: the server broke the protocol");
        }
        ClientEvent::Error(error) => tracing::warn!(%error, "connection lost"),
        ClientEvent::Message(_) => {}
    }
}

/// Logs a datagram dropped before it reached the connection.
pub(super) fn dropped(from: SocketAddr, reason: &'static str) {
    tracing::trace!(%from, reason, "datagram dropped");
}

/// Logs a message queued through a handle that the client could not take.
pub(super) fn queued_send_failed(error: &Error) {
    tracing::debug!(%error, "message queued through a handle dropped");
}
