//! The wire form of RPC frames, each the whole payload of one reliable
//! message on the RPC channel.
//!
//! It knows bytes only: parsing never panics and never allocates, and a
//! malformed frame is a typed [`FrameError`]. Bodies are bincode, encoded
//! and decoded elsewhere.
//!
//! ```text
//! +------+-------------+------------------+---------------------+
//! | kind | call varint | command u32 (LE) | body (rest)         |
//! | u8   | 1..5 bytes  | Request only     | Request/Reply/Error |
//! +------+-------------+------------------+---------------------+
//! ```

use crate::wire::{write_varint, Reader};

use super::command::CommandId;

const REQUEST: u8 = 0;
const REPLY: u8 = 1;
const ERROR: u8 = 2;
const UNKNOWN: u8 = 3;
const UNDECODABLE: u8 = 4;
const ABANDONED: u8 = 5;

/// One parsed frame, borrowing its body from the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A call: run `command` with these arguments and answer `call`.
    Request {
        call: u32,
        command: CommandId,
        args: &'a [u8],
    },
    /// The command's reply to `call`.
    Reply { call: u32, body: &'a [u8] },
    /// The command's own error for `call`.
    Error { call: u32, body: &'a [u8] },
    /// No responder is registered for the command of `call`.
    Unknown { call: u32 },
    /// The arguments of `call` did not decode as the command's `Args`.
    Undecodable { call: u32 },
    /// The responder let `call` go without an answer it could send.
    Abandoned { call: u32 },
}

/// Why bytes on the RPC channel are not a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    /// Its header is cut short, or its call id overflows.
    #[error("rpc frame header truncated or malformed")]
    BadHeader,
    /// A kind byte this version does not know.
    #[error("unknown rpc frame kind {0}")]
    UnknownKind(u8),
    /// A frame without a body carried bytes after its header.
    #[error("rpc frame with trailing bytes")]
    Trailing,
}

/// The kind of an answer frame, for [`write_answer_header`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnswerKind {
    Reply,
    Error,
    Unknown,
    Undecodable,
    Abandoned,
}

impl<'a> Frame<'a> {
    /// Parses one frame.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, FrameError> {
        let mut r = Reader::new(bytes);
        let kind = r.u8().map_err(|_| FrameError::BadHeader)?;
        let call = r.varint().map_err(|_| FrameError::BadHeader)?;
        let frame = match kind {
            REQUEST => {
                let id = r.bytes(4).map_err(|_| FrameError::BadHeader)?;
                let command = CommandId(u32::from_le_bytes([id[0], id[1], id[2], id[3]]));
                let args = r.rest();
                return Ok(Frame::Request {
                    call,
                    command,
                    args,
                });
            }
            REPLY => {
                return Ok(Frame::Reply {
                    call,
                    body: r.rest(),
                })
            }
            ERROR => {
                return Ok(Frame::Error {
                    call,
                    body: r.rest(),
                })
            }
            UNKNOWN => Frame::Unknown { call },
            UNDECODABLE => Frame::Undecodable { call },
            ABANDONED => Frame::Abandoned { call },
            other => return Err(FrameError::UnknownKind(other)),
        };
        if r.is_empty() {
            Ok(frame)
        } else {
            Err(FrameError::Trailing)
        }
    }
}

/// Writes a request header; the arguments follow.
pub(crate) fn write_request_header(out: &mut Vec<u8>, call: u32, command: CommandId) {
    out.push(REQUEST);
    write_varint(out, call);
    out.extend_from_slice(&command.0.to_le_bytes());
}

/// Writes an answer header; a reply or error body follows, other kinds end here.
pub(crate) fn write_answer_header(out: &mut Vec<u8>, call: u32, kind: AnswerKind) {
    out.push(match kind {
        AnswerKind::Reply => REPLY,
        AnswerKind::Error => ERROR,
        AnswerKind::Unknown => UNKNOWN,
        AnswerKind::Undecodable => UNDECODABLE,
        AnswerKind::Abandoned => ABANDONED,
    });
    write_varint(out, call);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        let mut out = Vec::new();
        write_request_header(&mut out, 300, CommandId(0xdead_beef));
        out.extend_from_slice(b"args");
        assert_eq!(
            Frame::parse(&out),
            Ok(Frame::Request {
                call: 300,
                command: CommandId(0xdead_beef),
                args: b"args"
            })
        );
        for (kind, body) in [(AnswerKind::Reply, &b"r"[..]), (AnswerKind::Error, b"e")] {
            out.clear();
            write_answer_header(&mut out, 7, kind);
            out.extend_from_slice(body);
            let parsed = Frame::parse(&out).unwrap();
            match kind {
                AnswerKind::Reply => assert_eq!(parsed, Frame::Reply { call: 7, body }),
                _ => assert_eq!(parsed, Frame::Error { call: 7, body }),
            }
        }
        for (kind, frame) in [
            (AnswerKind::Unknown, Frame::Unknown { call: u32::MAX }),
            (
                AnswerKind::Undecodable,
                Frame::Undecodable { call: u32::MAX },
            ),
            (AnswerKind::Abandoned, Frame::Abandoned { call: u32::MAX }),
        ] {
            out.clear();
            write_answer_header(&mut out, u32::MAX, kind);
            assert_eq!(Frame::parse(&out), Ok(frame));
        }
    }

    #[test]
    fn malformed_frames_are_typed_errors() {
        assert_eq!(Frame::parse(&[]), Err(FrameError::BadHeader));
        assert_eq!(Frame::parse(&[REQUEST]), Err(FrameError::BadHeader));
        assert_eq!(
            Frame::parse(&[REQUEST, 1, 0, 0]),
            Err(FrameError::BadHeader)
        );
        assert_eq!(Frame::parse(&[REPLY, 0xff]), Err(FrameError::BadHeader));
        assert_eq!(Frame::parse(&[9, 1]), Err(FrameError::UnknownKind(9)));
        assert_eq!(Frame::parse(&[UNKNOWN, 1, 0]), Err(FrameError::Trailing));
    }
}
