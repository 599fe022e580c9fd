//! Packet layouts: the five handshake packets and the connected data packet.
//!
//! Every datagram opens with a kind byte. Handshake requests then carry the
//! magic, the protocol version and the client nonce at fixed offsets that no
//! future version may move, so a server can reject any version with a reason.
//! Every handshake packet ends with a CRC32C of the bytes before it, so a
//! corrupted one is dropped here (a request from another version is read
//! for its fixed prefix without it). A data packet ends with its AEAD tag
//! (or, in the insecure mode, a CRC32C): `crypto` checks and strips it before
//! this layer reads the frames.
//!
//! ```text
//! ConnectRequest     01 | "LNTL" | version u16 | nonce u64 | window u16 | mode u8 | zero padding | crc u32   (128 bytes)
//! Challenge          02 | nonce u64 | server static key [32] | server ephemeral key [32] | cookie | crc u32
//! ChallengeResponse  03 | "LNTL" | version u16 | nonce u64 | window u16 | mode u8
//!                       | client ephemeral key [32] | server ephemeral key [32] | cookie
//!                       | token expires u64 | token len u16 | token | len varint | sealed payload | tag [16] | crc u32
//! Accept             04 | nonce u64 | sealed (token u32 | window u16) | tag [16] | crc u32
//! Reject             05 | nonce u64 | code u8 | code-specific body | crc u32
//! Data               06 | token u32 | seq u16 | ack u16 | ack_bits u32 | frames... | tag [16]
//!
//! cookie:   expires_ms u64 | mac [16]
//! mode:     0 sealed data packets, 1 the explicit insecure mode
//! ack_bits: bit i set  <=>  packet (ack - 1 - i) was received, i in 0..32
//! ```
//!
//! All integers are big-endian.

use super::codec::{write_varint, Reader};
use super::{WireError, CONNECT_REQUEST_MIN_LEN, MAGIC, MAX_REASON_LEN, PROTOCOL_VERSION};
use crate::crypto::{
    append_crc, strip_crc, COOKIE_MAC_LEN, MAX_SEALED_TOKEN_LEN as MAX_TOKEN_LEN, PUBLIC_KEY_LEN,
    TAG_LEN,
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
pub const COOKIE_LEN: usize = 8 + COOKIE_MAC_LEN;
/// Bytes of an accept's sealed body: token, window and tag.
pub const ACCEPT_SEALED_LEN: usize = 6 + TAG_LEN;
/// Largest sealed body of a challenge response: the connect payload and its tag.
pub const MAX_RESPONSE_SEALED: usize = super::MAX_CONNECT_PAYLOAD + TAG_LEN;

/// Whether `datagram` is a data packet (the only kind sealed per connection).
pub fn is_data(datagram: &[u8]) -> bool {
    datagram.first() == Some(&KIND_DATA)
}

/// A stateless handshake cookie: the server's MAC over the client's address,
/// nonce, mode, the server's ephemeral key and the expiry time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cookie {
    /// Server-relative expiry time in milliseconds.
    pub expires_ms: u64,
    /// Keyed MAC (HMAC-SHA256, truncated) binding the cookie.
    pub mac: [u8; COOKIE_MAC_LEN],
}

impl Cookie {
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let expires_ms = r.u64()?;
        let mut mac = [0u8; COOKIE_MAC_LEN];
        mac.copy_from_slice(r.bytes(COOKIE_MAC_LEN)?);
        Ok(Cookie { expires_ms, mac })
    }

    /// The cookie's bytes, as they enter the transcript (the server's nonce).
    pub fn to_bytes(&self) -> [u8; COOKIE_LEN] {
        let mut out = [0u8; COOKIE_LEN];
        out[..8].copy_from_slice(&self.expires_ms.to_be_bytes());
        out[8..].copy_from_slice(&self.mac);
        out
    }

    fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }
}

fn read_key(r: &mut Reader<'_>) -> Result<[u8; PUBLIC_KEY_LEN], WireError> {
    let mut key = [0u8; PUBLIC_KEY_LEN];
    key.copy_from_slice(r.bytes(PUBLIC_KEY_LEN)?);
    Ok(key)
}

/// A client's first packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    /// Protocol version of the client.
    pub version: u16,
    /// Random per-attempt nonce the server echoes.
    pub nonce: u64,
    /// Receive window the client offers (meaningful for the current version only).
    pub window: u16,
    /// The client runs the explicit insecure mode.
    pub insecure: bool,
}

/// The server's answer to a request: its keys and a cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    /// The nonce of the request.
    pub nonce: u64,
    /// The server's long-lived public key (a client may pin it).
    pub server_static: [u8; PUBLIC_KEY_LEN],
    /// The server's current ephemeral public key.
    pub server_ephemeral: [u8; PUBLIC_KEY_LEN],
    /// The cookie to echo.
    pub cookie: Cookie,
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
    /// The client runs the explicit insecure mode.
    pub insecure: bool,
    /// The client's ephemeral public key.
    pub client_ephemeral: [u8; PUBLIC_KEY_LEN],
    /// The server ephemeral key the client answered.
    pub server_ephemeral: [u8; PUBLIC_KEY_LEN],
    /// The cookie from the challenge.
    pub cookie: Cookie,
    /// The connect token's expiry (0 without a token).
    pub token_expires: u64,
    /// The connect token's sealed part (empty without a token).
    pub token: &'a [u8],
    /// Everything before the sealed body: its associated data.
    pub header: &'a [u8],
    /// The sealed body with its tag.
    pub sealed: &'a [u8],
}

/// The server accepted; the token and window are sealed for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accept {
    /// The nonce of the request.
    pub nonce: u64,
    /// Token u32 and window u16, sealed, with the tag.
    pub sealed: [u8; ACCEPT_SEALED_LEN],
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
    /// One side runs the explicit insecure mode and the other does not.
    ModeMismatch {
        /// The server runs the insecure mode.
        server_insecure: bool,
    },
    /// The server admits only holders of a valid connect token.
    TokenRefused,
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
    ConnectRequest(ConnectRequest),
    /// Handshake step 2.
    Challenge(Challenge),
    /// Handshake step 3.
    ChallengeResponse(ChallengeResponse<'a>),
    /// Handshake step 4, success.
    Accept(Accept),
    /// Handshake step 4, refusal.
    Reject(Reject<'a>),
    /// A connected packet; `frames` is the body after the header (with the
    /// trailer, unless it was stripped).
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
        let kind = *buf.first().ok_or(WireError::Empty)?;
        if kind == KIND_DATA {
            let (header, frames) = DataHeader::read(buf).ok_or(WireError::Truncated)?;
            return Ok(Packet::Data { header, frames });
        }
        if kind == KIND_CONNECT_REQUEST {
            if buf.len() < CONNECT_REQUEST_MIN_LEN {
                return Err(WireError::NotPadded);
            }
            let mut r = Reader::new(&buf[1..]);
            read_magic(&mut r)?;
            let version = r.u16()?;
            let nonce = r.u64()?;
            if version != PROTOCOL_VERSION {
                // Only the fixed prefix is promised across versions.
                return Ok(Packet::ConnectRequest(ConnectRequest {
                    version,
                    nonce,
                    window: 0,
                    insecure: false,
                }));
            }
        }
        if !(KIND_CONNECT_REQUEST..=KIND_REJECT).contains(&kind) {
            return Err(WireError::UnknownPacketKind(kind));
        }
        let body = strip_crc(buf).ok_or(WireError::BadChecksum)?;
        let mut r = Reader::new(&body[1..]);
        let packet = match kind {
            KIND_CONNECT_REQUEST => {
                read_magic(&mut r)?;
                let version = r.u16()?;
                let nonce = r.u64()?;
                let window = r.u16()?;
                let insecure = read_mode(&mut r)?;
                // The rest is padding.
                Packet::ConnectRequest(ConnectRequest {
                    version,
                    nonce,
                    window,
                    insecure,
                })
            }
            KIND_CHALLENGE => {
                let challenge = Challenge {
                    nonce: r.u64()?,
                    server_static: read_key(&mut r)?,
                    server_ephemeral: read_key(&mut r)?,
                    cookie: Cookie::read(&mut r)?,
                };
                expect_end(&r)?;
                Packet::Challenge(challenge)
            }
            KIND_CHALLENGE_RESPONSE => {
                read_magic(&mut r)?;
                let version = r.u16()?;
                let nonce = r.u64()?;
                let window = r.u16()?;
                let insecure = read_mode(&mut r)?;
                let client_ephemeral = read_key(&mut r)?;
                let server_ephemeral = read_key(&mut r)?;
                let cookie = Cookie::read(&mut r)?;
                let token_expires = r.u64()?;
                let token_len = usize::from(r.u16()?);
                if token_len > MAX_TOKEN_LEN {
                    return Err(WireError::TooLong);
                }
                let token = r.bytes(token_len)?;
                let header = &body[..body.len() - r.remaining()];
                let sealed = r.length_prefixed(MAX_RESPONSE_SEALED)?;
                if sealed.len() < TAG_LEN {
                    return Err(WireError::Truncated);
                }
                expect_end(&r)?;
                Packet::ChallengeResponse(ChallengeResponse {
                    version,
                    nonce,
                    window,
                    insecure,
                    client_ephemeral,
                    server_ephemeral,
                    cookie,
                    token_expires,
                    token,
                    header,
                    sealed,
                })
            }
            KIND_ACCEPT => {
                let nonce = r.u64()?;
                let mut sealed = [0u8; ACCEPT_SEALED_LEN];
                sealed.copy_from_slice(r.bytes(ACCEPT_SEALED_LEN)?);
                expect_end(&r)?;
                Packet::Accept(Accept { nonce, sealed })
            }
            _ => {
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
                    4 => RejectCode::ModeMismatch {
                        server_insecure: read_mode(&mut r)?,
                    },
                    5 => RejectCode::TokenRefused,
                    other => return Err(WireError::BadCode(other)),
                };
                expect_end(&r)?;
                Packet::Reject(Reject { nonce, code })
            }
        };
        Ok(packet)
    }
}

fn read_mode(r: &mut Reader<'_>) -> Result<bool, WireError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(WireError::BadCode(other)),
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

impl ConnectRequest {
    /// Appends the padded request to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(KIND_CONNECT_REQUEST);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(&self.window.to_be_bytes());
        out.push(u8::from(self.insecure));
        out.resize(start + CONNECT_REQUEST_MIN_LEN - 4, 0);
        append_crc(out);
    }
}

impl Challenge {
    /// Appends the challenge to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(KIND_CHALLENGE);
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(&self.server_static);
        out.extend_from_slice(&self.server_ephemeral);
        self.cookie.emit(out);
        append_crc(out);
    }
}

/// The fields of a challenge response before its sealed body.
#[derive(Debug, Clone, Copy)]
pub struct ResponseHeader<'a> {
    /// Protocol version of the client.
    pub version: u16,
    /// The nonce of the request.
    pub nonce: u64,
    /// Receive window the client offers.
    pub window: u16,
    /// The client runs the explicit insecure mode.
    pub insecure: bool,
    /// The client's ephemeral public key.
    pub client_ephemeral: [u8; PUBLIC_KEY_LEN],
    /// The server ephemeral key answered.
    pub server_ephemeral: [u8; PUBLIC_KEY_LEN],
    /// The cookie from the challenge.
    pub cookie: Cookie,
    /// The connect token's expiry (0 without a token).
    pub token_expires: u64,
    /// The connect token's sealed part (empty without a token).
    pub token: &'a [u8],
}

impl ResponseHeader<'_> {
    /// Appends the header of a response to `out`, then the length of a
    /// sealed body of `sealed_len` bytes (tag included). Returns the length
    /// of the associated data (the header without the length) from where
    /// `out` started.
    pub fn emit(&self, out: &mut Vec<u8>, sealed_len: usize) -> usize {
        let start = out.len();
        out.push(KIND_CHALLENGE_RESPONSE);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(&self.window.to_be_bytes());
        out.push(u8::from(self.insecure));
        out.extend_from_slice(&self.client_ephemeral);
        out.extend_from_slice(&self.server_ephemeral);
        self.cookie.emit(out);
        out.extend_from_slice(&self.token_expires.to_be_bytes());
        let token = &self.token[..self.token.len().min(MAX_TOKEN_LEN)];
        out.extend_from_slice(&(token.len() as u16).to_be_bytes());
        out.extend_from_slice(token);
        let header = out.len() - start;
        write_varint(out, sealed_len as u32);
        header
    }
}

/// Appends the CRC32C trailer that ends every handshake packet to a
/// response or other handshake packet assembled in `out`.
pub fn finish_handshake_packet(out: &mut Vec<u8>) {
    append_crc(out);
}

impl Accept {
    /// Appends the accept to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(KIND_ACCEPT);
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(&self.sealed);
        append_crc(out);
    }

    /// The associated data of the sealed body: kind and nonce.
    pub fn associated(nonce: u64) -> [u8; 9] {
        let mut ad = [KIND_ACCEPT; 9];
        ad[1..].copy_from_slice(&nonce.to_be_bytes());
        ad
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
            RejectCode::ModeMismatch { server_insecure } => {
                out.push(4);
                out.push(u8::from(server_insecure));
            }
            RejectCode::TokenRefused => out.push(5),
        }
        append_crc(out);
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

    fn challenge(e: u64) -> Challenge {
        Challenge {
            nonce: 42,
            server_static: [1; 32],
            server_ephemeral: [2; 32],
            cookie: Cookie {
                expires_ms: e,
                mac: [3; COOKIE_MAC_LEN],
            },
        }
    }

    #[test]
    fn challenge_and_accept_round_trip() {
        let mut out = Vec::new();
        challenge(7).emit(&mut out);
        assert_eq!(round_trip(&out), Packet::Challenge(challenge(7)));
        let accept = Accept {
            nonce: 9,
            sealed: [6; ACCEPT_SEALED_LEN],
        };
        out.clear();
        accept.emit(&mut out);
        assert_eq!(round_trip(&out), Packet::Accept(accept));
    }

    #[test]
    fn corrupted_handshake_packets_fail_their_checksum() {
        let mut out = Vec::new();
        challenge(7).emit(&mut out);
        for i in 0..out.len() * 8 {
            let mut b = out.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(Packet::parse(&b).is_err() || i < 8, "bit {i}");
        }
        assert_eq!(
            Packet::parse(&out[..out.len() - 1]),
            Err(WireError::BadChecksum)
        );
    }

    #[test]
    fn challenge_is_smaller_than_request() {
        let mut out = Vec::new();
        challenge(1).emit(&mut out);
        assert!(out.len() < CONNECT_REQUEST_MIN_LEN);
        out.clear();
        Reject {
            nonce: 1,
            code: RejectCode::Custom(&"x".repeat(MAX_REASON_LEN)),
        }
        .emit(&mut out);
        assert!(
            out.len() > CONNECT_REQUEST_MIN_LEN,
            "only ever sent to a proven address"
        );
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
        let mut bad_code = vec![KIND_REJECT, 0, 0, 0, 0, 0, 0, 0, 0, 9];
        append_crc(&mut bad_code);
        assert_eq!(Packet::parse(&bad_code), Err(WireError::BadCode(9)));
        let mut accept = vec![KIND_ACCEPT];
        accept.extend_from_slice(&[0; 8 + ACCEPT_SEALED_LEN + 1]);
        append_crc(&mut accept);
        assert_eq!(Packet::parse(&accept), Err(WireError::TrailingBytes));
    }

    #[test]
    fn other_version_parses_fixed_prefix_only() {
        let mut out = Vec::new();
        ConnectRequest {
            version: 9,
            nonce: 5,
            window: 1,
            insecure: true,
        }
        .emit(&mut out);
        out[20] ^= 0xff; // no checksum is read for another version
        assert_eq!(
            Packet::parse(&out),
            Ok(Packet::ConnectRequest(ConnectRequest {
                version: 9,
                nonce: 5,
                window: 0,
                insecure: false,
            }))
        );
    }
}
