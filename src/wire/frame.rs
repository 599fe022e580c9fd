//! Frames: the units packed after a data packet's header, until the packet ends.
//!
//! ```text
//! Unreliable           01 | channel u8 | len varint | payload
//! UnreliableSequenced  02 | channel u8 | id u16 | len varint | payload
//! Reliable             03 | channel u8 | id u16 | len varint | payload
//! ReliableOrdered      04 | channel u8 | id u16 | len varint | payload
//! Reliable fragment    05 | channel u8 | id u16 | index u16 | count u16 | len varint | payload
//! Ordered fragment     06 | channel u8 | id u16 | index u16 | count u16 | len varint | payload
//! Ping                 10                       (asks for an ack; keepalive)
//! Disconnect           11 | code u8 | len varint | reason utf-8
//! ```
//!
//! A fragment is one piece of a reliable message too large for a packet. Each
//! piece takes its own message id, so the pieces of one message have
//! consecutive ids and the first piece's id is `id - index`; a fragment's
//! `count` is at least 2 and its `index` below `count`, or it does not parse.
//!
//! Disconnect codes: 1 client disconnected, 2 kicked, 3 server shutdown, 4 custom text.

use super::codec::{write_varint, Reader};
use super::packet::emit_reason;
use super::{WireError, MAX_MTU, MAX_REASON_LEN};
use crate::Delivery;

const FRAME_PING: u8 = 0x10;
const FRAME_DISCONNECT: u8 = 0x11;

/// Most bytes a message frame adds to its payload (type, channel, id, 3-byte length).
pub const MESSAGE_FRAME_MAX_OVERHEAD: usize = 1 + 1 + 2 + 3;

/// Most bytes a fragment frame adds to its payload (a message frame's, plus index and count).
pub const FRAGMENT_FRAME_MAX_OVERHEAD: usize = MESSAGE_FRAME_MAX_OVERHEAD + 4;

/// Where a fragment belongs in its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fragment {
    /// Position of this piece, `0..count`.
    pub index: u16,
    /// Number of pieces in the message, at least 2.
    pub count: u16,
}

/// One parsed frame, borrowing from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A message, or one fragment of a reliable message. `id` is 0 for `Unreliable`.
    Message {
        /// The delivery mode the sender's channel uses.
        delivery: Delivery,
        /// The channel id.
        channel: u8,
        /// Per-channel message id (wraps).
        id: u16,
        /// Set when this is one piece of a larger reliable message.
        fragment: Option<Fragment>,
        /// The message bytes.
        payload: &'a [u8],
    },
    /// Keepalive: asks the peer for an ack.
    Ping,
    /// The sender closes the connection.
    Disconnect {
        /// Reason code, 1..=4.
        code: u8,
        /// Reason text (empty unless code 4).
        text: &'a str,
    },
}

impl Frame<'_> {
    /// Whether receiving this frame obliges the receiver to send an ack soon.
    pub fn is_ack_eliciting(&self) -> bool {
        match self {
            Frame::Message { delivery, .. } => delivery.is_reliable(),
            Frame::Ping => true,
            Frame::Disconnect { .. } => false,
        }
    }
}

/// Iterates the frames of a data packet body. After the first error it yields nothing more.
#[derive(Debug, Clone)]
pub struct FrameIter<'a> {
    reader: Reader<'a>,
    failed: bool,
}

impl<'a> FrameIter<'a> {
    /// Frames of `body` (the bytes after the data header).
    pub fn new(body: &'a [u8]) -> Self {
        FrameIter {
            reader: Reader::new(body),
            failed: false,
        }
    }

    fn read_frame(&mut self) -> Result<Frame<'a>, WireError> {
        let r = &mut self.reader;
        let kind = r.u8()?;
        let (delivery, fragmented) = match kind {
            0x01 => (Delivery::Unreliable, false),
            0x02 => (Delivery::UnreliableSequenced, false),
            0x03 => (Delivery::Reliable, false),
            0x04 => (Delivery::ReliableOrdered, false),
            0x05 => (Delivery::Reliable, true),
            0x06 => (Delivery::ReliableOrdered, true),
            FRAME_PING => return Ok(Frame::Ping),
            FRAME_DISCONNECT => {
                let code = r.u8()?;
                if !(1..=4).contains(&code) {
                    return Err(WireError::BadCode(code));
                }
                let text = r.length_prefixed(MAX_REASON_LEN)?;
                let text = std::str::from_utf8(text).map_err(|_| WireError::BadUtf8)?;
                return Ok(Frame::Disconnect { code, text });
            }
            other => return Err(WireError::UnknownFrameType(other)),
        };
        let channel = r.u8()?;
        let id = if delivery.has_id() { r.u16()? } else { 0 };
        let fragment = if fragmented {
            let index = r.u16()?;
            let count = r.u16()?;
            if count < 2 || index >= count {
                return Err(WireError::BadFragment);
            }
            Some(Fragment { index, count })
        } else {
            None
        };
        let payload = r.length_prefixed(MAX_MTU)?;
        Ok(Frame::Message {
            delivery,
            channel,
            id,
            fragment,
            payload,
        })
    }
}

impl<'a> Iterator for FrameIter<'a> {
    type Item = Result<Frame<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.reader.is_empty() {
            return None;
        }
        let frame = self.read_frame();
        self.failed = frame.is_err();
        Some(frame)
    }
}

fn kind_code(delivery: Delivery, fragmented: bool) -> u8 {
    match (delivery, fragmented) {
        (Delivery::Unreliable, _) => 0x01,
        (Delivery::UnreliableSequenced, _) => 0x02,
        (Delivery::Reliable, false) => 0x03,
        (Delivery::ReliableOrdered, false) => 0x04,
        (Delivery::Reliable, true) => 0x05,
        (Delivery::ReliableOrdered, true) => 0x06,
    }
}

/// Bytes a message frame with this payload length takes.
pub fn message_frame_len(delivery: Delivery, fragmented: bool, payload_len: usize) -> usize {
    let id = if delivery.has_id() { 2 } else { 0 };
    let fragment = if fragmented { 4 } else { 0 };
    2 + id + fragment + super::varint_len(payload_len as u32) + payload_len
}

/// The fixed part of a message frame: everything but the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHeader {
    /// Delivery mode of the channel.
    pub delivery: Delivery,
    /// Channel id.
    pub channel: u8,
    /// Per-channel message id (ignored for `Unreliable`).
    pub id: u16,
    /// Set for one piece of a larger reliable message; ignored for unreliable modes.
    pub fragment: Option<Fragment>,
}

/// Appends a message frame.
pub fn emit_message(out: &mut Vec<u8>, header: &MessageHeader, payload: &[u8]) {
    let fragment = header.fragment.filter(|_| header.delivery.is_reliable());
    out.push(kind_code(header.delivery, fragment.is_some()));
    out.push(header.channel);
    if header.delivery.has_id() {
        out.extend_from_slice(&header.id.to_be_bytes());
    }
    if let Some(f) = fragment {
        out.extend_from_slice(&f.index.to_be_bytes());
        out.extend_from_slice(&f.count.to_be_bytes());
    }
    write_varint(out, payload.len() as u32);
    out.extend_from_slice(payload);
}

/// Appends a ping frame.
pub fn emit_ping(out: &mut Vec<u8>) {
    out.push(FRAME_PING);
}

/// Appends a disconnect frame; `text` is cut to `MAX_REASON_LEN` bytes.
pub fn emit_disconnect(out: &mut Vec<u8>, code: u8, text: &str) {
    out.push(FRAME_DISCONNECT);
    out.push(code);
    emit_reason(out, text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_frames_are_typed_errors() {
        fn first(b: &[u8]) -> Result<Frame<'_>, WireError> {
            FrameIter::new(b).next().unwrap()
        }
        assert_eq!(first(&[0x99]), Err(WireError::UnknownFrameType(0x99)));
        assert_eq!(
            first(&[0x03, 0, 0, 1, 10, 1]),
            Err(WireError::LengthPastEnd)
        );
        assert_eq!(
            first(&[0x05, 0, 0, 1, 0, 2, 0, 2, 1, 9]),
            Err(WireError::BadFragment),
            "index past count"
        );
        assert_eq!(
            first(&[0x06, 0, 0, 1, 0, 0, 0, 1, 1, 9]),
            Err(WireError::BadFragment),
            "a message of one fragment"
        );
        assert_eq!(first(&[0x11, 0, 0]), Err(WireError::BadCode(0)));
        assert_eq!(first(&[0x11, 4, 2, 0xff, 0xfe]), Err(WireError::BadUtf8));
        assert_eq!(first(&[0x02, 0, 0]), Err(WireError::Truncated));
    }
}
