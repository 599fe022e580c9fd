//! The one error type users see, and the reasons a connection ends.
//!
//! Every failure a caller can meet is a variant of [`Error`] with a message
//! that names its cause; nothing in lentil panics or returns a `String` error.

use std::net::SocketAddr;
use std::time::Duration;

#[cfg(feature = "serde")]
use serde::Serialize;

/// Everything that can go wrong in lentil, as seen by the game.
///
/// Every fallible call returns it, and handlers receive it; it displays a
/// sentence naming its cause. New variants may come in minor releases, so a
/// `match` ends with a catch-all arm.
///
/// ```
/// use lentil::{Client, Config, Delivery, Error};
///
/// let mut client = Client::new(Config::default());
/// // Sending before connecting is refused with a typed error, not a panic.
/// match client.send(b"hello", Delivery::ReliableOrdered) {
///     Err(Error::NotConnected) => {}
///     Err(Error::QueueFull { .. }) => { /* update, then retry or coalesce */ }
///     Err(other) => panic!("unexpected: {other}"),
///     Ok(()) => panic!("sent while not connected"),
/// }
/// assert_eq!(Error::NotConnected.to_string(), "cannot send: not connected");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `send` was called while the connection is not established.
    #[error("cannot send: not connected")]
    NotConnected,
    /// `connect` was called while connecting or connected.
    #[error("already connected or connecting; disconnect first")]
    AlreadyConnected,
    /// `listen` was called on a server that is already listening.
    #[error("server is already listening")]
    AlreadyListening,
    /// The server is not listening.
    #[error("server is not listening")]
    NotListening,
    /// An address could not be parsed or resolved.
    #[error("bad address {0:?}")]
    BadAddress(String),
    /// The message is larger than its channel carries: one packet's payload
    /// for unreliable modes, `Config::max_message_size` for reliable ones.
    #[error("message of {size} bytes is larger than the maximum of {max} bytes for its channel")]
    MessageTooLarge {
        /// Size of the rejected message.
        size: usize,
        /// Largest message the channel carries.
        max: usize,
    },
    /// No channel with this id is configured (`Config::channels`).
    #[error("no channel {0} is configured")]
    UnknownChannel(u8),
    /// No channel with this delivery mode is configured (`Config::channels`).
    #[error("no channel is configured for {0:?}")]
    NoChannelFor(crate::Delivery),
    /// The connect payload is larger than the protocol allows.
    #[error("connect payload of {size} bytes is larger than the maximum of {max} bytes")]
    ConnectPayloadTooLarge {
        /// Size of the rejected payload.
        size: usize,
        /// Largest allowed payload.
        max: usize,
    },
    /// The per-connection send buffer is full, or what is queued unsent
    /// already takes `Config::max_send_queue_delay` to leave at the current
    /// rate; try again after `update()`.
    #[error("send queue full: {queued_bytes} bytes queued, limit {limit_bytes}")]
    QueueFull {
        /// Bytes held by the connection's send buffer, or queued unsent
        /// when the delay bound refused the send.
        queued_bytes: usize,
        /// The limit reached: `Config::max_send_buffer_bytes`, or the unsent
        /// bytes the current rate carries in `Config::max_send_queue_delay`.
        limit_bytes: usize,
    },
    /// No peer with this id is connected.
    #[error("unknown peer {0}")]
    UnknownPeer(crate::PeerId),
    /// The configuration is inconsistent.
    #[error("invalid config: {0}")]
    InvalidConfig(&'static str),
    /// Nothing was heard from the other side for the configured timeout.
    #[error("connection timed out after {} s", .0.as_secs_f32())]
    TimedOut(Duration),
    /// The server did not answer the connect request in time.
    #[error("connect to {addr} timed out after {} s", .after.as_secs_f32())]
    ConnectTimedOut {
        /// The server address.
        addr: SocketAddr,
        /// How long the client tried.
        after: Duration,
    },
    /// The server refused the connection.
    #[error("rejected by server: {0}")]
    Rejected(RejectReason),
    /// The peer broke the protocol and was dropped.
    #[error("protocol violation: {0}")]
    ProtocolViolation(&'static str),
    /// A typed message could not be encoded or decoded.
    #[error("message codec: {0}")]
    Codec(String),
    /// A typed message could not be decoded as the expected type. It was
    /// dropped and counted; the connection stays up.
    #[error("message from {} could not be decoded: {reason}", sender(.peer))]
    Decode {
        /// The sender: `Some(peer)` on a server, `None` (the server) on a client.
        peer: Option<crate::PeerId>,
        /// What the decoder reported.
        reason: String,
    },
    /// A thread handle's queue is full: `update()` has not taken its
    /// messages yet. Nothing was queued; try again later.
    #[error("handle queue full: {capacity} messages are waiting for the next update")]
    HandleQueueFull {
        /// Most messages the queue holds.
        capacity: usize,
    },
    /// The client or server a thread handle belongs to was dropped.
    #[error("the client or server behind this handle was dropped")]
    EndpointDropped,
    /// The same client address completed a new handshake; the old session ended.
    #[error("session replaced by a new connection from the same address")]
    SessionReplaced,
    /// An operating-system I/O error on the socket.
    #[error("socket error: {0}")]
    Io(String),
}

/// Names the sender of an undecodable message.
fn sender(peer: &Option<crate::PeerId>) -> String {
    match peer {
        Some(peer) => format!("peer {peer}"),
        None => "the server".to_owned(),
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

/// Why a server refused a connection; reaches the client intact.
///
/// A server's `on_connect_request` handler refuses with a text, which the
/// client's `on_connect_rejected` handler sees as [`RejectReason::Custom`]:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
///
/// use lentil::{Client, Config, RejectReason, Server, SimNetwork};
///
/// let net = SimNetwork::new(1);
/// let mut server = Server::sandbox(Config::default(), &net);
/// server.on_connect_request(|_, request| {
///     if request.payload.is_empty() {
///         Err("name required".to_owned())
///     } else {
///         Ok(())
///     }
/// });
/// server.listen("127.0.0.1:9000")?;
///
/// let mut client = Client::sandbox(Config::default(), &net);
/// let rejected = Arc::new(Mutex::new(None));
/// let seen = Arc::clone(&rejected);
/// client.on_connect_rejected(move |_, reason| *seen.lock().unwrap() = Some(reason.clone()));
/// client.connect("127.0.0.1:9000")?; // no connect payload: no name
/// for _ in 0..100 {
///     server.update();
///     client.update();
///     net.clock().advance(Duration::from_millis(1));
/// }
/// let reason = rejected.lock().unwrap().clone();
/// assert_eq!(reason, Some(RejectReason::Custom("name required".into())));
/// # Ok::<(), lentil::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[non_exhaustive]
pub enum RejectReason {
    /// `max_clients` peers are already connected.
    #[error("server full")]
    ServerFull,
    /// The client speaks another protocol version.
    #[error("protocol version {client}, expected {server}")]
    VersionMismatch {
        /// The client's version.
        client: u16,
        /// The server's version.
        server: u16,
    },
    /// Chosen by the server's `on_connect_request` handler.
    #[error("{0}")]
    Custom(String),
    /// One side runs the explicit insecure mode (`Config::insecure`) and the other does not.
    #[error("security mode differs: server {}, client {}", mode_name(*server_insecure), mode_name(!*server_insecure))]
    ModeMismatch {
        /// The server runs the insecure mode.
        server_insecure: bool,
    },
    /// The server admits only holders of a valid connect token, and the
    /// client's was missing, expired, for another server, used before, or
    /// not minted with the server's key (or the server takes no tokens).
    #[error("connect token refused")]
    TokenRefused,
}

fn mode_name(insecure: bool) -> &'static str {
    if insecure {
        "insecure"
    } else {
        "sealed"
    }
}

/// Why a connection closed gracefully; carried by `on_disconnect`.
///
/// ```
/// use lentil::DisconnectReason;
///
/// let reason = DisconnectReason::Custom("round over".into());
/// assert_eq!(reason.to_string(), "round over");
/// // New reasons may come in minor releases: end a match with a catch-all.
/// let left_on_its_own = match reason {
///     DisconnectReason::ClientDisconnected => true,
///     DisconnectReason::Kicked | DisconnectReason::ServerShutdown => false,
///     _ => false,
/// };
/// assert!(!left_on_its_own);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The client called `disconnect`.
    #[error("client disconnected")]
    ClientDisconnected,
    /// The server called `disconnect(peer)`.
    #[error("disconnected by server")]
    Kicked,
    /// The server called `disconnect_all` or shut down.
    #[error("server shut down")]
    ServerShutdown,
    /// A reason given by the application.
    #[error("{0}")]
    Custom(String),
    /// The server dropped the peer: it kept making the server hold more
    /// than `Config::max_total_held_bytes` for messages it would not let be
    /// delivered (fragments never finished, gaps never filled).
    #[error("held too much undeliverable data on the server")]
    HeldTooMuch,
    /// The server dropped the peer: it kept sending more frames or bytes
    /// than `Config::max_frames_per_peer_sec` / `max_bytes_per_peer_sec`.
    #[error("sent more than the server's receive budget for too long")]
    Flooding,
}
