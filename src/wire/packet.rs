//! Packet layouts: the four handshake packets, accept/reject, and the connected data packet.
//!
//! Every datagram opens with a kind byte. Handshake requests then carry the
//! magic, the protocol version and the client nonce at fixed offsets that no
//! future version may move, so a server can reject any version with a reason.
//!
//! ```text
//! ConnectRequest     01 | "LNTL" | version u16 | nonce u64 | window u16 | len varint | payload | zero padding to 128 bytes
//! Challenge          02 | nonce u64 | cookie (expires_ms u64, mac u64)
//! ChallengeResponse  03 | "LNTL" | version u16 | nonce u64 | window u16 | cookie | len varint | payload
//! Accept             04 | nonce u64 | token u32 | window u16
//! Reject             05 | nonce u64 | code u8 | code-specific body
//! Data               06 | token u32 | seq u16 | ack u16 | ack_bits u32 | frames...
//!
//! ack_bits: bit i set  <=>  packet (ack - 1 - i) was received, i in 0..32
//! ```
//!
//! All integers are big-endian.

use super::codec::{write_varint, Reader};
use super::{
    WireError, CONNECT_REQUEST_MIN_LEN, MAGIC, MAX_CONNECT_PAYLOAD, MAX_REASON_LEN,
    PROTOCOL_VERSION,
};

const KIND_CONNECT_REQUEST: u8 = 0x01;
const KIND_CHALLENGE: u8 = 0x02;
const KIND_CHALLENGE_RESPONSE: u8 = 0x03;
const KIND_ACCEPT: u8 = 0x04;
const KIND_REJECT: u8 = 0x05;
const KIND_DATA: u8 = 0x06;

/// Bytes of a data packet header.
pub const DATA_HEADER_LEN: usize = 13;
/// Bytes of a cookie on the wire.
pub const COOKIE_LEN: usize = 16;

/// A stateless handshake cookie: the server's MAC over the client's address,
/// nonce and the expiry time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cookie {
    /// Server-relative expiry time in milliseconds.
    pub expires_ms: u64,
    /// Keyed MAC binding the cookie to the address, nonce and expiry.
    pub mac: u64,
}

impl Cookie {
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Cookie {
            expires_ms: r.u64()?,
            mac: r.u64()?,
        })
    }

    fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.expires_ms.to_be_bytes());
        out.extend_from_slice(&self.mac.to_be_bytes());
    }
}

/// A client's first packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest<'a> {
    /// Protocol version of the client.
    pub version: u16,
    /// Random per-attempt nonce the server echoes.
    pub nonce: u64,
    /// Receive window the client offers (meaningful for the current version only).
    pub window: u16,
    /// User payload (empty when the version differs from ours).
    pub payload: &'a [u8],
}

/// The client's answer to a challenge, carrying the cookie back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeResponse<'a> {
    /// Protocol version of the client.
    pub version: u16,
    /// The nonce of the request.
    pub nonce: u64,
    /// Receive window the client offers.
    pub window: u16,
    /// The cookie from the challenge.
    pub cookie: Cookie,
    /// User payload, handed to `on_connect_request`.
    pub payload: &'a [u8],
}

/// The server accepted; from now on data packets carry `token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accept {
    /// The nonce of the request.
    pub nonce: u64,
    /// Random connection token.
    pub token: u32,
    /// Receive window the server offers.
    pub window: u16,
}

/// Why the server refused, in wire form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectCode<'a> {
    /// `max_clients` reached.
    ServerFull,
    /// The client's version differs from the server's.
    VersionMismatch {
        /// The server's version.
        server: u16,
        /// The client's version as the server read it.
        client: u16,
    },
    /// Reason text from the application.
    Custom(&'a str),
}

/// The server refused the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject<'a> {
    /// The nonce of the request.
    pub nonce: u64,
    /// Why.
    pub code: RejectCode<'a>,
}

/// Header of a connected data packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataHeader {
    /// Connection token chosen by the server.
    pub token: u32,
    /// Packet sequence number (wraps).
    pub seq: u16,
    /// Newest packet sequence received from the peer.
    pub ack: u16,
    /// Bit i set: packet `ack - 1 - i` was received.
    pub ack_bits: u32,
}

/// Any parsed datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Handshake step 1.
    ConnectRequest(ConnectRequest<'a>),
    /// Handshake step 2.
    Challenge {
        /// The nonce of the request.
        nonce: u64,
        /// The cookie to echo.
        cookie: Cookie,
    },
    /// Handshake step 3.
    ChallengeResponse(ChallengeResponse<'a>),
    /// Handshake step 4, success.
    Accept(Accept),
    /// Handshake step 4, refusal.
    Reject(Reject<'a>),
    /// A connected packet; `frames` is the body after the header.
    Data {
        /// The header.
        header: DataHeader,
        /// The frames, to be read with `FrameIter`.
        frames: &'a [u8],
    },
}

impl<'a> Packet<'a> {
    /// Parses one datagram.
    pub fn parse(buf: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(buf);
        let kind = r.u8().map_err(|_| WireError::Empty)?;
        let packet = match kind {
            KIND_CONNECT_REQUEST => {
                if buf.len() < CONNECT_REQUEST_MIN_LEN {
                    return Err(WireError::NotPadded);
                }
                read_magic(&mut r)?;
                let version = r.u16()?;
                let nonce = r.u64()?;
                if version != PROTOCOL_VERSION {
                    // Only the fixed prefix is promised across versions.
                    return Ok(Packet::ConnectRequest(ConnectRequest {
                        version,
                        nonce,
                        window: 0,
                        payload: &[],
                    }));
                }
                let window = r.u16()?;
                let payload = r.length_prefixed(MAX_CONNECT_PAYLOAD)?;
                Packet::ConnectRequest(ConnectRequest {
                    version,
                    nonce,
                    window,
                    payload,
                })
            }
            KIND_CHALLENGE => {
                let nonce = r.u64()?;
                let cookie = Cookie::read(&mut r)?;
                expect_end(&r)?;
                Packet::Challenge { nonce, cookie }
            }
            KIND_CHALLENGE_RESPONSE => {
                read_magic(&mut r)?;
                let version = r.u16()?;
                let nonce = r.u64()?;
                let window = r.u16()?;
                let cookie = Cookie::read(&mut r)?;
                let payload = r.length_prefixed(MAX_CONNECT_PAYLOAD)?;
                expect_end(&r)?;
                Packet::ChallengeResponse(ChallengeResponse {
                    version,
                    nonce,
                    window,
                    cookie,
                    payload,
                })
            }
            KIND_ACCEPT => {
                let accept = Accept {
                    nonce: r.u64()?,
                    token: r.u32()?,
                    window: r.u16()?,
                };
                expect_end(&r)?;
                Packet::Accept(accept)
            }
            KIND_REJECT => {
                let nonce = r.u64()?;
                let code = match r.u8()? {
                    1 => RejectCode::ServerFull,
                    2 => RejectCode::VersionMismatch {
                        server: r.u16()?,
                        client: r.u16()?,
                    },
                    3 => {
                        let text = r.length_prefixed(MAX_REASON_LEN)?;
                        RejectCode::Custom(
                            std::str::from_utf8(text).map_err(|_| WireError::BadUtf8)?,
                        )
                    }
                    other => return Err(WireError::BadCode(other)),
                };
                expect_end(&r)?;
                Packet::Reject(Reject { nonce, code })
            }
            KIND_DATA => {
                let (header, frames) = DataHeader::read(buf).ok_or(WireError::Truncated)?;
                Packet::Data { header, frames }
            }
            other => return Err(WireError::UnknownPacketKind(other)),
        };
        Ok(packet)
    }
}

fn read_magic(r: &mut Reader<'_>) -> Result<(), WireError> {
    if r.bytes(MAGIC.len())? != MAGIC {
        return Err(WireError::BadMagic);
    }
    Ok(())
}

fn expect_end(r: &Reader<'_>) -> Result<(), WireError> {
    if r.is_empty() {
        Ok(())
    } else {
        Err(WireError::TrailingBytes)
    }
}

pub(crate) fn emit_reason(out: &mut Vec<u8>, text: &str) {
    let text = truncate_utf8(text, MAX_REASON_LEN);
    write_varint(out, text.len() as u32);
    out.extend_from_slice(text.as_bytes());
}

/// Cuts `text` to at most `max` bytes on a character boundary.
pub(crate) fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl ConnectRequest<'_> {
    /// Appends the padded request to `out`. The payload must be at most
    /// `MAX_CONNECT_PAYLOAD` bytes (checked by `Config::validate`); longer is cut.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(KIND_CONNECT_REQUEST);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(&self.window.to_be_bytes());
        let payload = &self.payload[..self.payload.len().min(MAX_CONNECT_PAYLOAD)];
        write_varint(out, payload.len() as u32);
        out.extend_from_slice(payload);
        let written = out.len() - start;
        if written < CONNECT_REQUEST_MIN_LEN {
            out.resize(start + CONNECT_REQUEST_MIN_LEN, 0);
        }
    }
}

/// Appends a challenge to `out`.
pub fn emit_challenge(out: &mut Vec<u8>, nonce: u64, cookie: &Cookie) {
    out.push(KIND_CHALLENGE);
    out.extend_from_slice(&nonce.to_be_bytes());
    cookie.emit(out);
}

impl ChallengeResponse<'_> {
    /// Appends the response to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(KIND_CHALLENGE_RESPONSE);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(&self.window.to_be_bytes());
        self.cookie.emit(out);
        let payload = &self.payload[..self.payload.len().min(MAX_CONNECT_PAYLOAD)];
        write_varint(out, payload.len() as u32);
        out.extend_from_slice(payload);
    }
}

impl Accept {
    /// Appends the accept to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(KIND_ACCEPT);
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(&self.token.to_be_bytes());
        out.extend_from_slice(&self.window.to_be_bytes());
    }
}

impl Reject<'_> {
    /// Appends the reject to `out`; reason text is cut to `MAX_REASON_LEN` bytes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(KIND_REJECT);
        out.extend_from_slice(&self.nonce.to_be_bytes());
        match self.code {
            RejectCode::ServerFull => out.push(1),
            RejectCode::VersionMismatch { server, client } => {
                out.push(2);
                out.extend_from_slice(&server.to_be_bytes());
                out.extend_from_slice(&client.to_be_bytes());
            }
            RejectCode::Custom(text) => {
                out.push(3);
                emit_reason(out, text);
            }
        }
    }
}

impl DataHeader {
    /// Reads the header at the start of `packet` (its kind byte first), and
    /// returns it with the frames after it; `None` if `packet` is shorter.
    /// Every datagram of a connection starts so: one bounds check for the
    /// whole header, fields at fixed offsets.
    fn read(packet: &[u8]) -> Option<(Self, &[u8])> {
        let (head, frames) = packet.split_first_chunk::<DATA_HEADER_LEN>()?;
        let [_, t0, t1, t2, t3, s0, s1, a0, a1, b0, b1, b2, b3] = *head;
        let header = DataHeader {
            token: u32::from_be_bytes([t0, t1, t2, t3]),
            seq: u16::from_be_bytes([s0, s1]),
            ack: u16::from_be_bytes([a0, a1]),
            ack_bits: u32::from_be_bytes([b0, b1, b2, b3]),
        };
        Some((header, frames))
    }

    /// Appends the header to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(KIND_DATA);
        out.extend_from_slice(&self.token.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.ack.to_be_bytes());
        out.extend_from_slice(&self.ack_bits.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(bytes: &[u8]) -> Packet<'_> {
        Packet::parse(bytes).expect("parses")
    }

    #[test]
    fn challenge_and_accept_round_trip() {
        let cookie = Cookie {
            expires_ms: 7,
            mac: 0xdead_beef,
        };
        let mut out = Vec::new();
        emit_challenge(&mut out, 42, &cookie);
        assert_eq!(round_trip(&out), Packet::Challenge { nonce: 42, cookie });
        let accept = Accept {
            nonce: 9,
            token: 0xabcd,
            window: 512,
        };
        out.clear();
        accept.emit(&mut out);
        assert_eq!(round_trip(&out), Packet::Accept(accept));
    }

    #[test]
    fn challenge_is_smaller_than_request() {
        let mut out = Vec::new();
        emit_challenge(
            &mut out,
            1,
            &Cookie {
                expires_ms: 1,
                mac: 1,
            },
        );
        assert!(out.len() < CONNECT_REQUEST_MIN_LEN);
        out.clear();
        Reject {
            nonce: 1,
            code: RejectCode::VersionMismatch {
                server: 1,
                client: 2,
            },
        }
        .emit(&mut out);
        assert!(out.len() < CONNECT_REQUEST_MIN_LEN);
    }

    #[test]
    fn malformed_inputs_are_typed_errors() {
        assert_eq!(Packet::parse(&[]), Err(WireError::Empty));
        assert_eq!(
            Packet::parse(&[0x77]),
            Err(WireError::UnknownPacketKind(0x77))
        );
        assert_eq!(Packet::parse(&[KIND_DATA, 1, 2]), Err(WireError::Truncated));
        let mut short = vec![KIND_CONNECT_REQUEST];
        short.extend_from_slice(&MAGIC);
        assert_eq!(Packet::parse(&short), Err(WireError::NotPadded));
        let mut bad_magic = vec![0u8; CONNECT_REQUEST_MIN_LEN];
        bad_magic[0] = KIND_CONNECT_REQUEST;
        assert_eq!(Packet::parse(&bad_magic), Err(WireError::BadMagic));
        assert_eq!(
            Packet::parse(&[KIND_REJECT, 0, 0, 0, 0, 0, 0, 0, 0, 9]),
            Err(WireError::BadCode(9))
        );
        let mut accept = Vec::new();
        Accept {
            nonce: 1,
            token: 2,
            window: 3,
        }
        .emit(&mut accept);
        accept.push(0);
        assert_eq!(Packet::parse(&accept), Err(WireError::TrailingBytes));
    }

    #[test]
    fn other_version_parses_fixed_prefix_only() {
        let mut out = Vec::new();
        ConnectRequest {
            version: 9,
            nonce: 5,
            window: 1,
            payload: b"x",
        }
        .emit(&mut out);
        assert_eq!(
            Packet::parse(&out),
            Ok(Packet::ConnectRequest(ConnectRequest {
                version: 9,
                nonce: 5,
                window: 0,
                payload: &[]
            }))
        );
    }
}
