//! What a server tells `tracing`: one event per connect, disconnect (with its
//! reason), rejection and lost peer at info or warn level, and drops of single
//! datagrams at debug or trace level, so a busy server logs nothing per
//! packet unless asked to. Without a subscriber all of it costs a branch.

use std::net::SocketAddr;

use crate::wire::{Packet, RejectCode};
use crate::{Error, PeerId, ServerEvent, ServerStats};

/// Logs one event of the server's event stream; messages are not logged.
pub(super) fn event(event: &ServerEvent) {
    match event {
        ServerEvent::Connected { peer, addr } => {
            tracing::info!(peer, %addr, "peer connected");
        }
        ServerEvent::Disconnected { peer, reason } => {
            tracing::info!(peer, %reason, "peer disconnected");
        }
        ServerEvent::Error {
            peer,
            error: error @ Error::SessionReplaced,
        } => {
            tracing::info!(peer, %error, "peer replaced by a new session");
        }
        ServerEvent::Error {
            peer,
            error: error @ Error::ProtocolViolation(_),
        } => {
            tracing::warn!(peer, %error, "peer dropped for breaking the protocol");
        }
        ServerEvent::Error { peer, error } => {
            tracing::warn!(peer, %error, "peer lost");
        }
        ServerEvent::Message { .. } => {}
    }
}

/// The counters a handshake step may move, read before it runs, so what it
/// did can be logged afterwards without threading logs through the handshake.
pub(super) struct Handshake {
    rejected: u64,
    rate_limited: u64,
    ignored: u64,
}

impl Handshake {
    pub(super) fn counters(stats: &ServerStats) -> Self {
        Handshake {
            rejected: stats.rejected,
            rate_limited: stats.replies_rate_limited,
            ignored: stats.ignored_not_accepting,
        }
    }

    /// Logs what the step that ran since [`counters`](Self::counters) did.
    /// `reply` holds the packet it emitted (a reject is read back for its
    /// reason); `verified` says whether the sender's cookie checked out:
    /// only then is a rejection worth an info line, as an unverified
    /// address may be spoofed and flooding.
    pub(super) fn log_outcome(
        &self,
        from: SocketAddr,
        stats: &ServerStats,
        reply: &[u8],
        verified: bool,
    ) {
        if stats.rejected != self.rejected {
            let reason = reject_reason(reply);
            if verified {
                tracing::info!(addr = %from, %reason, "connection rejected");
            } else {
                tracing::debug!(addr = %from, %reason, "connect request rejected");
            }
        }
        if stats.replies_rate_limited != self.rate_limited {
            dropped(from, "handshake reply rate limited");
        }
        if stats.ignored_not_accepting != self.ignored {
            dropped(from, "not accepting new connections");
        }
    }
}

/// The reason of the reject packet in `reply`.
fn reject_reason(reply: &[u8]) -> String {
    match Packet::parse(reply) {
        Ok(Packet::Reject(reject)) => match reject.code {
            RejectCode::ServerFull => "server full".to_owned(),
            RejectCode::VersionMismatch { server, client } => {
                format!("protocol version {client}, expected {server}")
            }
            RejectCode::Custom(text) => text.to_owned(),
            RejectCode::ModeMismatch { .. } => "security mode differs".to_owned(),
            RejectCode::TokenRefused => "connect token refused".to_owned(),
        },
        _ => "unknown".to_owned(),
    }
}

/// Logs a datagram dropped before it reached a connection.
pub(super) fn dropped(from: SocketAddr, reason: &'static str) {
    tracing::trace!(%from, reason, "datagram dropped");
}

/// Logs a challenge response whose cookie did not check out.
pub(super) fn bad_cookie(from: SocketAddr) {
    tracing::debug!(%from, "challenge response dropped: bad or expired cookie");
}

/// Logs a message queued through a handle that the server could not take.
pub(super) fn queued_send_failed(peer: PeerId, error: &Error) {
    tracing::debug!(peer, %error, "message queued through a handle dropped");
}
