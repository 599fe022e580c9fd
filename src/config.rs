//! Every tunable of a connection, with its default.
//!
//! A field exists here only if something reads it; the defaults are chosen so
//! that a clean path is never capped (no fixed send rate, a window large enough
//! for a loopback stream) while every buffer stays bounded.

use std::time::Duration;

use crate::error::Error;
use crate::proto::HELD_PIECE_OVERHEAD;
use crate::wire;
use crate::Delivery;

/// Longest duration any setting may have.
const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// Configuration shared by `Client` and `Server`.
///
/// Start from the defaults and change what the game needs; `connect` and
/// `listen` check the result with [`validate`](Self::validate).
///
/// ```
/// use std::time::Duration;
/// use lentil::{Config, Delivery};
///
/// let config = Config {
///     timeout: Duration::from_secs(5),
///     max_clients: 64,
///     // The player's name, seen by the server's `on_connect_request`.
///     connect_payload: b"alice".to_vec(),
///     ..Config::default()
/// };
/// assert!(config.validate().is_ok());
/// // The default channels: one per delivery mode.
/// assert_eq!(config.channel_for(Delivery::ReliableOrdered), Some(3));
/// ```
///
/// Both sides must use the same channel list:
///
/// ```
/// use lentil::{Config, Delivery};
///
/// let config = Config {
///     // 0: inputs, 1: chat, 2: world events, each ordered on its own.
///     channels: vec![
///         Delivery::UnreliableSequenced,
///         Delivery::ReliableOrdered,
///         Delivery::ReliableOrdered,
///     ],
///     ..Config::default()
/// };
/// assert!(config.validate().is_ok());
/// assert_eq!(config.channel_for(Delivery::ReliableOrdered), Some(1));
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest UDP payload lentil sends, in bytes. Default 1400.
    pub mtu: usize,
    /// A connection with nothing heard for this long ends in an error. Default 10 s.
    pub timeout: Duration,
    /// An idle connection sends a keepalive ping this often. Default 1 s; a
    /// value above a third of `timeout` is lowered to that, so a short timeout
    /// never fires on a merely idle connection.
    pub ping_interval: Duration,
    /// How often a connecting client repeats its handshake packet. Default 100 ms.
    pub handshake_resend_interval: Duration,
    /// Most peers a server holds; newcomers beyond are rejected "server full".
    /// A peer that is closing holds its slot until it is gone (at most
    /// `linger`, then its close). Default 1024.
    pub max_clients: usize,
    /// Most live connections a server takes from one IP address (an
    /// IPv4-mapped IPv6 address counts as its IPv4 one), so one host cannot
    /// fill `max_clients`; past it a handshake is rejected with
    /// `RejectReason::Custom`. Loopback addresses are not capped. Default 32.
    pub max_clients_per_ip: usize,
    /// Most live connections a server takes from one network: an IPv4 /24
    /// or an IPv6 /64. Default 128.
    pub max_clients_per_prefix: usize,
    /// Handshake replies to addresses not yet verified by a cookie (challenges,
    /// version rejects) a server sends to one source IP per second, also its burst. Default 1024: many players
    /// may share one address (a NAT, a LAN party, a test on loopback), each
    /// repeating its request every `handshake_resend_interval`, while one source
    /// still cannot take the whole global budget.
    pub handshake_replies_per_source: u32,
    /// Such replies a server sends per second in all. Default 20 000.
    pub handshake_replies_per_sec: u32,
    /// Bytes a connection may hold unsent or unacknowledged, counting each
    /// message's payload plus 64 bytes of bookkeeping; a send past it fails
    /// with `Error::QueueFull`. Default 8 MiB.
    pub max_send_buffer_bytes: usize,
    /// Most time the messages queued unsent on a connection may take to leave
    /// at its current send rate before a new reliable message that fits one
    /// packet is refused with `Error::QueueFull`: a game sending faster than
    /// the path carries hears it at once and can wait, drop or coalesce,
    /// instead of building seconds of delay behind its newest messages.
    /// Nothing leaves between the owner's updates, so the bound is at least
    /// two update intervals at the current rate, never under 4 KiB, plus
    /// what the congestion window and the pacer would let out at once, so a
    /// tick's burst on a quiet connection fits. Larger (fragmented) and
    /// unreliable messages are bounded by `max_send_buffer_bytes` alone.
    /// Default 5 ms; `None` turns it off.
    pub max_send_queue_delay: Option<Duration>,
    /// Most reliable messages per reliable channel in flight (sent, not yet
    /// acknowledged), and the size of the receive window this side offers for
    /// reordering and deduplication. The sender uses the smaller of its own value
    /// and the peer's. A power of two (the receive window is a ring indexed by
    /// message id); default 16384, the most: with small messages the window,
    /// not the rate, bounds a lossy stream, as a lost message holds its left
    /// edge for a loss-recovery time. What the receiver holds is capped by
    /// `max_held_bytes` whatever the window.
    pub reliable_window: u16,
    /// After a graceful `disconnect`, how long the messages queued before it
    /// (sent once for unreliable ones, until acknowledged for reliable ones)
    /// may keep flowing before the close is sent anyway. Default 1 s.
    pub linger: Duration,
    /// Smallest retransmission timeout. Default 15 ms.
    pub min_rto: Duration,
    /// Largest retransmission timeout, also the cap of the backoff. Default 1 s.
    pub max_rto: Duration,
    /// Retransmission timeout before the first RTT sample. Default 200 ms.
    pub initial_rto: Duration,
    /// Opaque bytes the client sends with its connect request (a login token,
    /// say); the server's `on_connect_request` handler sees them. Default empty.
    pub connect_payload: Vec<u8>,
    /// The channels of every connection, by id: `channels[i]` is the delivery
    /// mode of channel `i`. Each channel has its own ordering and id space, so
    /// a loss on one ordered channel never delays another. Both sides must use
    /// the same list; a message on a channel the receiver does not have, or
    /// with another mode, ends the connection. Default: one channel per mode,
    /// in [`Delivery::ALL`] order (0 unreliable, 1 sequenced, 2 reliable, 3
    /// ordered), which `send(.., delivery)` uses. At most 64.
    pub channels: Vec<Delivery>,
    /// Largest message a reliable channel carries, in bytes; a larger one is
    /// split into fragments that fill a packet each and joined on arrival.
    /// Unreliable messages must fit one packet (see
    /// [`max_packet_payload`](Self::max_packet_payload)). Default 1 MiB.
    pub max_message_size: usize,
    /// Most bytes a connection holds for messages that cannot be delivered
    /// yet: fragments of unfinished messages and ordered messages waiting for
    /// a gap, each charged its payload plus 64 bytes. Split evenly among the
    /// reliable channels; a sender keeps what it makes its peer hold under
    /// the same share, so only a misbehaving peer reaches it, and what it
    /// sends past it is dropped and counted. Each share must hold one message
    /// of `max_message_size`. Both sides should use the same value. Default 8 MiB.
    pub max_held_bytes: usize,
    /// An unordered message whose fragments stop arriving for this long is
    /// dropped. Default 10 s.
    pub reassembly_timeout: Duration,
    /// Most bytes a server holds for all its peers together for messages it
    /// cannot deliver yet, each piece charged the heap it really takes. Past
    /// it, the peer holding the most loses what it holds first, then the
    /// next, until the total fits; a peer cut back three times within 10 s is
    /// disconnected with `DisconnectReason::HeldTooMuch`. Must be at least
    /// `max_held_bytes`. Default 256 MiB.
    pub max_total_held_bytes: usize,
    /// Frames (messages, pings, closes) a server takes in from one peer per
    /// second, saving up at most 20 ms of it; past it the peer's data
    /// packets are dropped and counted (`ServerStats::datagrams_throttled`),
    /// and a peer that stays over it for 2 s is disconnected with
    /// `DisconnectReason::Flooding`. Default 16 000 000: above the honest
    /// stream of 32-byte reliable messages one peer sends over loopback
    /// (about 5 M a second on a 2-core machine), so the budget never caps a
    /// clean path; a game that knows its peers send less lowers it.
    pub max_frames_per_peer_sec: u64,
    /// Bytes of data packets a server takes in from one peer per second,
    /// judged like `max_frames_per_peer_sec`. Default 1 GiB.
    pub max_bytes_per_peer_sec: u64,
    /// Frames a server takes in per update, from all peers together; once
    /// they are, it reads no more datagrams until the next update, so the
    /// rest wait in the socket's buffer. Bounds an update's work and the
    /// events it raises. Default 16 384.
    pub max_frames_per_update: usize,
    /// Most bytes per second one connection sends (UDP payload, headers
    /// included), paced across ticks. Default `None`: no fixed cap; the rate
    /// control finds what the path carries, growing while it is clear and
    /// backing off on loss or queueing. Set it to share a server's uplink
    /// among players or to honour a per-player budget.
    pub max_send_rate: Option<u64>,
    /// Receive buffer the UDP socket asks the OS for, in bytes; `None`
    /// keeps the OS default (208 KiB on Linux), which a burst overflows: 256
    /// clients sending on one tick, or a fast stream while the game loop is
    /// busy, and the kernel drops what does not fit. Default 4 MiB. The OS
    /// may grant less (Linux: `net.core.rmem_max`). Ignored by the simulated
    /// network.
    pub socket_recv_buffer: Option<usize>,
    /// Send buffer the UDP socket asks the OS for, in bytes; `None` keeps
    /// the OS default. Default 1 MiB. The OS may grant less (Linux:
    /// `net.core.wmem_max`).
    pub socket_send_buffer: Option<usize>,
    /// The explicit insecure mode, for a LAN or tests: data packets travel in
    /// clear, guarded by a CRC32C against corruption only (the handshake is
    /// the same). Both sides must agree; a client and server that differ get
    /// `RejectReason::ModeMismatch`. Default false: every packet after the
    /// handshake is sealed.
    pub insecure: bool,
    /// Client: the server's static public key, when the game pins it (see
    /// `Server::static_public_key`); a challenge from any other key is
    /// ignored, so a man in the middle cannot complete the handshake.
    pub server_public_key: Option<[u8; 32]>,
    /// Server: its static key pair (a random one per server when `None`).
    pub static_key: Option<crate::crypto::StaticKey>,
    /// Server: the key shared with the game's backend. When set, only
    /// clients holding a valid connect token it minted are admitted.
    pub token_key: Option<crate::crypto::TokenKey>,
    /// Client: the connect token from the game's backend, sent in the
    /// handshake and mixed into the session keys.
    pub connect_token: Option<crate::crypto::ConnectToken>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mtu: 1400,
            timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(1),
            handshake_resend_interval: Duration::from_millis(100),
            max_clients: 1024,
            max_clients_per_ip: 32,
            max_clients_per_prefix: 128,
            handshake_replies_per_source: 1024,
            handshake_replies_per_sec: 20_000,
            max_send_buffer_bytes: 8 * 1024 * 1024,
            max_send_queue_delay: Some(Duration::from_millis(5)),
            reliable_window: 16384,
            linger: Duration::from_secs(1),
            min_rto: Duration::from_millis(15),
            max_rto: Duration::from_secs(1),
            initial_rto: Duration::from_millis(200),
            connect_payload: Vec::new(),
            channels: Delivery::ALL.to_vec(),
            max_message_size: 1024 * 1024,
            max_held_bytes: 8 * 1024 * 1024,
            reassembly_timeout: Duration::from_secs(10),
            max_total_held_bytes: 256 * 1024 * 1024,
            max_frames_per_peer_sec: 16_000_000,
            max_bytes_per_peer_sec: 1024 * 1024 * 1024,
            max_frames_per_update: 16_384,
            max_send_rate: None,
            socket_recv_buffer: Some(4 * 1024 * 1024),
            socket_send_buffer: Some(1024 * 1024),
            insecure: false,
            server_public_key: None,
            static_key: None,
            token_key: None,
            connect_token: None,
        }
    }
}

impl Config {
    /// Checks that the values make sense together.
    pub fn validate(&self) -> Result<(), Error> {
        if self.mtu < wire::MIN_MTU || self.mtu > wire::MAX_MTU {
            return Err(Error::InvalidConfig("mtu must be between 576 and 65507"));
        }
        if !self.reliable_window.is_power_of_two()
            || self.reliable_window > wire::MAX_RELIABLE_WINDOW
        {
            return Err(Error::InvalidConfig(
                "reliable_window must be a power of two up to 16384",
            ));
        }
        if self.timeout.is_zero() || self.ping_interval.is_zero() {
            return Err(Error::InvalidConfig(
                "timeout and ping_interval must be non-zero",
            ));
        }
        // Deadlines are `Instant + Duration`; bounding every duration keeps that
        // arithmetic far from overflow.
        let durations = [
            self.timeout,
            self.ping_interval,
            self.handshake_resend_interval,
            self.linger,
            self.min_rto,
            self.max_rto,
            self.initial_rto,
            self.reassembly_timeout,
        ];
        if durations.iter().any(|d| *d > MAX_DURATION) {
            return Err(Error::InvalidConfig("durations must be at most 24 hours"));
        }
        if self.handshake_replies_per_source == 0 || self.handshake_replies_per_sec == 0 {
            return Err(Error::InvalidConfig(
                "handshake reply rates must be at least 1 per second",
            ));
        }
        if self.min_rto.is_zero() || self.min_rto > self.max_rto {
            return Err(Error::InvalidConfig(
                "min_rto must be non-zero and at most max_rto",
            ));
        }
        if self.channels.is_empty() || self.channels.len() > wire::MAX_CHANNELS {
            return Err(Error::InvalidConfig("channels must list 1 to 64 channels"));
        }
        let pieces = self
            .max_message_size
            .div_ceil(wire::fragment_payload(self.mtu).max(1));
        if self.max_message_size < self.max_packet_payload() || pieces > usize::from(u16::MAX) {
            return Err(Error::InvalidConfig(
                "max_message_size must be at least one packet's payload and split into at most 65535 fragments",
            ));
        }
        if self.held_bytes_per_channel() < self.held_cost_of_largest_message() {
            return Err(Error::InvalidConfig(
                "max_held_bytes must give each reliable channel room for one max_message_size message",
            ));
        }
        if self.max_send_rate == Some(0) {
            return Err(Error::InvalidConfig(
                "max_send_rate must be at least 1 byte per second",
            ));
        }
        if self.max_frames_per_peer_sec == 0
            || self.max_bytes_per_peer_sec == 0
            || self.max_frames_per_update == 0
        {
            return Err(Error::InvalidConfig("receive budgets must be non-zero"));
        }
        if self.max_clients_per_ip == 0 || self.max_clients_per_prefix == 0 {
            return Err(Error::InvalidConfig(
                "max_clients_per_ip and max_clients_per_prefix must be at least 1",
            ));
        }
        if self.max_total_held_bytes < self.max_held_bytes {
            return Err(Error::InvalidConfig(
                "max_total_held_bytes must be at least max_held_bytes",
            ));
        }
        if self.reassembly_timeout.is_zero() {
            return Err(Error::InvalidConfig("reassembly_timeout must be non-zero"));
        }
        if self.connect_payload.len() > wire::MAX_CONNECT_PAYLOAD {
            return Err(Error::ConnectPayloadTooLarge {
                size: self.connect_payload.len(),
                max: wire::MAX_CONNECT_PAYLOAD,
            });
        }
        Ok(())
    }

    /// The keepalive interval actually used: `ping_interval`, at most `timeout / 3`.
    pub fn effective_ping_interval(&self) -> std::time::Duration {
        self.ping_interval.min(self.timeout / 3)
    }

    /// The largest message that fits in one packet: the limit for unreliable
    /// messages; a larger reliable one is fragmented.
    pub fn max_packet_payload(&self) -> usize {
        wire::max_packet_payload(self.mtu)
    }

    /// The first channel with this delivery mode: where `send(.., delivery)` goes.
    pub fn channel_for(&self, delivery: Delivery) -> Option<u8> {
        self.channels
            .iter()
            .position(|d| *d == delivery)
            .map(|i| i as u8)
    }

    /// The share of `max_held_bytes` each reliable channel gets.
    pub(crate) fn held_bytes_per_channel(&self) -> usize {
        let reliable = self.channels.iter().filter(|d| d.is_reliable()).count();
        self.max_held_bytes / reliable.max(1)
    }

    fn held_cost_of_largest_message(&self) -> usize {
        let piece = wire::fragment_payload(self.mtu).max(1);
        let pieces = self.max_message_size.div_ceil(piece);
        self.max_message_size + pieces * HELD_PIECE_OVERHEAD
    }
}
