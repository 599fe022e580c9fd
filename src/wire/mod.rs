//! The wire layer: parse and emit every packet and frame lentil puts on the network.
//!
//! It knows bytes only. A parse never panics, never allocates, and returns a
//! typed [`WireError`] for every malformed input; everything the protocol core
//! sees has been checked here once. Layouts are drawn in `packet.rs` and
//! `frame.rs`.

mod codec;
mod frame;
mod packet;

pub use codec::{varint_len, write_varint, Reader};
pub use frame::{
    emit_disconnect, emit_message, emit_ping, message_frame_len, Fragment, Frame, FrameIter,
    MessageHeader, FRAGMENT_FRAME_MAX_OVERHEAD, MESSAGE_FRAME_MAX_OVERHEAD,
};
pub use packet::{
    finish_handshake_packet, is_data, Accept, Challenge, ChallengeResponse, ConnectRequest, Cookie,
    DataHeader, Packet, Reject, RejectCode, ResponseHeader, ACCEPT_SEALED_LEN, COOKIE_LEN,
    DATA_HEADER_LEN, MAX_RESPONSE_SEALED,
};

/// Protocol version spoken by this build; a mismatch is rejected in the handshake.
pub const PROTOCOL_VERSION: u16 = 3;
/// Four bytes that open every handshake request, so stray traffic is dropped cheaply.
pub const MAGIC: [u8; 4] = *b"LNTL";
/// Smallest MTU lentil accepts (the IPv4 minimum reassembly size).
pub const MIN_MTU: usize = 576;
/// Largest UDP payload.
pub const MAX_MTU: usize = 65_507;
/// Largest user payload in a connect request.
pub const MAX_CONNECT_PAYLOAD: usize = 512;
/// Largest reason text in a reject or disconnect, in bytes.
pub const MAX_REASON_LEN: usize = 255;
/// A connect request is padded to at least this many bytes so that no reply to
/// an unverified address is larger than what it sent.
pub const CONNECT_REQUEST_MIN_LEN: usize = 128;
/// Largest reliable window either side may offer.
pub const MAX_RELIABLE_WINDOW: u16 = 16_384;

/// Bytes every data packet reserves after its frames for its trailer: the
/// AEAD tag (or, in the insecure mode, a CRC32C in the first four).
pub const PACKET_TRAILER_LEN: usize = crate::crypto::TAG_LEN;

/// The largest message payload that fits in one packet of `mtu` bytes.
pub fn max_packet_payload(mtu: usize) -> usize {
    mtu.saturating_sub(DATA_HEADER_LEN + PACKET_TRAILER_LEN + MESSAGE_FRAME_MAX_OVERHEAD)
}

/// The payload of each fragment (but the last) of a message split for `mtu`:
/// one fragment frame fills a packet.
pub fn fragment_payload(mtu: usize) -> usize {
    mtu.saturating_sub(DATA_HEADER_LEN + PACKET_TRAILER_LEN + FRAGMENT_FRAME_MAX_OVERHEAD)
}

/// Most channels a connection may have.
pub const MAX_CHANNELS: usize = 64;

/// Why a datagram or frame could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ended before the structure did.
    #[error("truncated")]
    Truncated,
    /// The datagram is empty.
    #[error("empty datagram")]
    Empty,
    /// The first byte names no packet kind.
    #[error("unknown packet kind {0:#04x}")]
    UnknownPacketKind(u8),
    /// A frame type byte names no frame.
    #[error("unknown frame type {0:#04x}")]
    UnknownFrameType(u8),
    /// A handshake packet does not start with the protocol magic.
    #[error("bad magic")]
    BadMagic,
    /// A varint is longer than its type allows.
    #[error("varint overflow")]
    VarintOverflow,
    /// A declared length runs past the end of the datagram.
    #[error("length past end")]
    LengthPastEnd,
    /// A declared length exceeds the protocol's bound for that field.
    #[error("field too long")]
    TooLong,
    /// A connect request shorter than the padding rule requires.
    #[error("connect request not padded")]
    NotPadded,
    /// Text that is not UTF-8.
    #[error("invalid utf-8")]
    BadUtf8,
    /// A code byte out of its range.
    #[error("invalid code {0}")]
    BadCode(u8),
    /// A fragment whose index is not below its count, or a count below 2.
    #[error("invalid fragment index or count")]
    BadFragment,
    /// Bytes left over after a fixed-size packet.
    #[error("trailing bytes")]
    TrailingBytes,
    /// A handshake packet's CRC32C does not match: it was corrupted.
    #[error("bad checksum")]
    BadChecksum,
}
