//! Frames: the units packed after a data packet's header, until the packet ends.
//!
//! ```text
//! Unreliable           01 | len varint | payload
//! UnreliableSequenced  02 | id u16 | len varint | payload
//! Reliable             03 | id u16 | len varint | payload
//! ReliableOrdered      04 | id u16 | len varint | payload
//! Ping                 10                       (asks for an ack; keepalive)
//! Disconnect           11 | code u8 | len varint | reason utf-8
//! ```
//!
//! Disconnect codes: 1 client disconnected, 2 kicked, 3 server shutdown, 4 custom text.

use super::codec::{write_varint, Reader};
use super::packet::emit_reason;
use super::{WireError, MAX_MTU, MAX_REASON_LEN};
use crate::Delivery;

const FRAME_PING: u8 = 0x10;
const FRAME_DISCONNECT: u8 = 0x11;

/// Most bytes a message frame adds to its payload (type, id, 3-byte length).
pub const MESSAGE_FRAME_MAX_OVERHEAD: usize = 1 + 2 + 3;

/// One parsed frame, borrowing from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A message. `id` is 0 for `Unreliable`.
    Message {
        /// The delivery mode, which is also the channel.
        delivery: Delivery,
        /// Per-channel message id (wraps).
        id: u16,
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
        let delivery = match kind {
            0x01 => Delivery::Unreliable,
            0x02 => Delivery::UnreliableSequenced,
            0x03 => Delivery::Reliable,
            0x04 => Delivery::ReliableOrdered,
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
        let id = if delivery.has_id() { r.u16()? } else { 0 };
        let payload = r.length_prefixed(MAX_MTU)?;
        Ok(Frame::Message {
            delivery,
            id,
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

fn delivery_code(delivery: Delivery) -> u8 {
    match delivery {
        Delivery::Unreliable => 0x01,
        Delivery::UnreliableSequenced => 0x02,
        Delivery::Reliable => 0x03,
        Delivery::ReliableOrdered => 0x04,
    }
}

/// Bytes a message frame with this payload length takes.
pub fn message_frame_len(delivery: Delivery, payload_len: usize) -> usize {
    1 + if delivery.has_id() { 2 } else { 0 } + super::varint_len(payload_len as u32) + payload_len
}

/// Appends a message frame.
pub fn emit_message(out: &mut Vec<u8>, delivery: Delivery, id: u16, payload: &[u8]) {
    out.push(delivery_code(delivery));
    if delivery.has_id() {
        out.extend_from_slice(&id.to_be_bytes());
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
    use proptest::prelude::*;

    fn delivery() -> impl Strategy<Value = Delivery> {
        prop::sample::select(Delivery::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn frames_round_trip(msgs in proptest::collection::vec((delivery(), any::<u16>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..8), ping in any::<bool>(), text in "\\PC{0,40}") {
            let mut out = Vec::new();
            let mut expected = Vec::new();
            for (d, id, payload) in &msgs {
                let id = if d.has_id() { *id } else { 0 };
                let before = out.len();
                emit_message(&mut out, *d, id, payload);
                prop_assert_eq!(out.len() - before, message_frame_len(*d, payload.len()));
                expected.push(Frame::Message { delivery: *d, id, payload });
            }
            if ping {
                emit_ping(&mut out);
                expected.push(Frame::Ping);
            }
            emit_disconnect(&mut out, 4, &text);
            expected.push(Frame::Disconnect { code: 4, text: &text });
            let parsed: Result<Vec<_>, _> = FrameIter::new(&out).collect();
            prop_assert_eq!(parsed.unwrap(), expected);
        }

        #[test]
        fn parsing_garbage_never_panics_and_stops(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
            let mut errors = 0;
            for f in FrameIter::new(&bytes) {
                if f.is_err() { errors += 1; }
            }
            prop_assert!(errors <= 1);
        }
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        fn first(b: &[u8]) -> Result<Frame<'_>, WireError> {
            FrameIter::new(b).next().unwrap()
        }
        assert_eq!(first(&[0x99]), Err(WireError::UnknownFrameType(0x99)));
        assert_eq!(first(&[0x03, 0, 1, 10, 1]), Err(WireError::LengthPastEnd));
        assert_eq!(first(&[0x11, 0, 0]), Err(WireError::BadCode(0)));
        assert_eq!(first(&[0x11, 4, 2, 0xff, 0xfe]), Err(WireError::BadUtf8));
        assert_eq!(first(&[0x02, 0]), Err(WireError::Truncated));
    }
}
