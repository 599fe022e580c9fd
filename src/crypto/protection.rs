//! One connection's packet protection after the handshake: seal what leaves,
//! open what arrives, with a 64-bit packet number per direction that never
//! repeats under one key, a key update every [`KEY_UPDATE_INTERVAL`]
//! packets, and the replay window; or, in the explicit insecure mode, a
//! CRC32C trailer only.
//!
//! A data packet's layout is `header (13 bytes) | frames | trailer`: the
//! header travels in clear as associated data, its `seq` being the packet
//! number's low 16 bits. Opening changes nothing when it fails, and the
//! replay window learns a number only from a packet that authenticated.

use super::cipher::{PacketKey, TAG_LEN};
use super::crc::{append_crc, strip_crc, CRC_LEN};
use super::pn::decode_packet_number;
use super::replay::ReplayWindow;
use super::schedule::{next_secret, packet_key, Secret};
use super::CryptoError;

/// Packets sealed under one key before both sides move to the next: the
/// confidentiality limit RFC 9001 (section 6.6) gives AES-GCM for full-size
/// packets. The nonce (the full 64-bit packet number) could not repeat within
/// a key even without it.
pub const KEY_UPDATE_INTERVAL: u64 = 1 << 23;

/// Bytes of the clear header that is associated data.
const HEADER_LEN: usize = crate::wire::DATA_HEADER_LEN;
/// Offset of the packet number's low bits (`seq`) in the header.
const SEQ_AT: usize = 5;

/// A direction's current secret and key, and which key epoch they are.
struct Epoch {
    secret: Secret,
    key: PacketKey,
    index: u64,
}

impl Epoch {
    fn first(secret: Secret) -> Self {
        Epoch {
            key: packet_key(&secret),
            secret,
            index: 0,
        }
    }

    fn next(&self) -> Self {
        let secret = next_secret(&self.secret);
        Epoch {
            key: packet_key(&secret),
            secret,
            index: self.index + 1,
        }
    }
}

/// The sealing state of one established session.
pub struct Sealed {
    send: Epoch,
    next_send: u64,
    recv: Epoch,
    /// The receive key of the epoch before, for packets reordered across an update.
    recv_previous: Option<PacketKey>,
    window: ReplayWindow,
    interval: u64,
}

/// How a connection's packets are protected.
pub enum Protection {
    /// The explicit insecure mode: a CRC32C trailer guards against
    /// corruption, nothing against an attacker.
    Crc,
    /// Sealed with the session's keys.
    Sealed(Box<Sealed>),
}

impl std::fmt::Debug for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Protection::Crc => f.write_str("Protection::Crc"),
            Protection::Sealed(s) => write!(f, "Protection::Sealed(next {})", s.next_send),
        }
    }
}

/// A packet that opened: its plaintext length (header and frames) and
/// full packet number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unprotected {
    /// Bytes of header and frames, now in clear at the start of the buffer.
    pub len: usize,
    /// The packet's full number (0 in the insecure mode).
    pub packet_number: u64,
}

impl Protection {
    /// Sealing with `send` for what this side sends and `recv` for what it receives.
    pub fn sealed(send: Secret, recv: Secret) -> Self {
        Self::sealed_with_interval(send, recv, KEY_UPDATE_INTERVAL)
    }

    /// As [`sealed`](Self::sealed), updating keys every `interval` packets
    /// (both sides must agree; tests use a small one).
    pub fn sealed_with_interval(send: Secret, recv: Secret, interval: u64) -> Self {
        Protection::Sealed(Box::new(Sealed {
            send: Epoch::first(send),
            next_send: 0,
            recv: Epoch::first(recv),
            recv_previous: None,
            window: ReplayWindow::default(),
            interval: interval.max(1),
        }))
    }

    /// Bytes this protection appends to a packet.
    pub fn overhead(&self) -> usize {
        match self {
            Protection::Crc => CRC_LEN,
            Protection::Sealed(_) => TAG_LEN,
        }
    }

    /// Protects the data packet in `out` (header and frames) in place,
    /// appending the trailer. Returns false, and clears `out`, when the
    /// packet must not leave: its number would not be newer than the last
    /// sealed (which the connection's counter never causes).
    pub fn protect(&mut self, out: &mut Vec<u8>) -> bool {
        let Protection::Sealed(s) = self else {
            append_crc(out);
            return true;
        };
        let Some(seq) = read_seq(out) else {
            out.clear();
            return false;
        };
        let pn = decode_packet_number(s.next_send, seq);
        if pn < s.next_send {
            out.clear();
            return false;
        }
        while pn / s.interval > s.send.index {
            s.send = s.send.next();
        }
        let (header, body) = out.split_at_mut(HEADER_LEN);
        let tag = s.send.key.seal(pn, header, body);
        out.extend_from_slice(&tag);
        s.next_send = pn + 1;
        true
    }

    /// Opens the data packet in `buf` in place. On success the header and
    /// frames are in clear at the start of `buf`; on any error nothing in
    /// this state changed.
    pub fn unprotect(&mut self, buf: &mut [u8]) -> Result<Unprotected, CryptoError> {
        let Protection::Sealed(s) = self else {
            let len = strip_crc(buf).ok_or(CryptoError::Forged)?.len();
            if len < HEADER_LEN {
                return Err(CryptoError::Truncated);
            }
            return Ok(Unprotected {
                len,
                packet_number: 0,
            });
        };
        if buf.len() < HEADER_LEN + TAG_LEN {
            return Err(CryptoError::Truncated);
        }
        let seq = read_seq(buf).ok_or(CryptoError::Truncated)?;
        let pn = decode_packet_number(s.window.expected(), seq);
        if !s.window.check(pn) {
            return Err(CryptoError::Replayed);
        }
        let body_end = buf.len() - TAG_LEN;
        let (head, tag) = buf.split_at_mut(body_end);
        let tag: &[u8; TAG_LEN] = (&*tag).try_into().map_err(|_| CryptoError::Truncated)?;
        let (header, body) = head.split_at_mut(HEADER_LEN);
        let epoch = pn / s.interval;
        if epoch == s.recv.index {
            s.recv.key.open(pn, header, body, tag)?;
        } else if epoch + 1 == s.recv.index {
            let previous = s.recv_previous.as_ref().ok_or(CryptoError::Forged)?;
            previous.open(pn, header, body, tag)?;
        } else if epoch == s.recv.index + 1 {
            // The peer moved to the next key: derive it, and keep it only
            // if the packet opens under it.
            let next = s.recv.next();
            next.key.open(pn, header, body, tag)?;
            let old = std::mem::replace(&mut s.recv, next);
            s.recv_previous = Some(old.key);
        } else {
            return Err(CryptoError::Forged);
        }
        s.window.accept(pn);
        Ok(Unprotected {
            len: body_end,
            packet_number: pn,
        })
    }
}

fn read_seq(packet: &[u8]) -> Option<u16> {
    if packet.len() < HEADER_LEN {
        return None;
    }
    Some(u16::from_be_bytes([packet[SEQ_AT], packet[SEQ_AT + 1]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::DataHeader;
    use zeroize::Zeroizing;

    fn pair(interval: u64) -> (Protection, Protection) {
        let a = Zeroizing::new([1u8; 32]);
        let b = Zeroizing::new([2u8; 32]);
        (
            Protection::sealed_with_interval(a.clone(), b.clone(), interval),
            Protection::sealed_with_interval(b, a, interval),
        )
    }

    fn packet(seq: u16, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        DataHeader {
            token: 0xabcd,
            seq,
            ack: 0,
            ack_bits: 0,
        }
        .emit(&mut out);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn round_trip_hides_the_payload() {
        let (mut tx, mut rx) = pair(KEY_UPDATE_INTERVAL);
        let mut p = packet(0, b"secret message");
        assert!(tx.protect(&mut p));
        assert_eq!(p.len(), HEADER_LEN + 14 + TAG_LEN);
        assert!(!p.windows(6).any(|w| w == b"secret"));
        let got = rx.unprotect(&mut p).unwrap();
        assert_eq!(&p[HEADER_LEN..got.len], b"secret message");
    }

    #[test]
    fn tamper_truncation_and_replay_refused_without_state_change() {
        let (mut tx, mut rx) = pair(KEY_UPDATE_INTERVAL);
        let mut sealed = Vec::new();
        for seq in 0..3u16 {
            let mut p = packet(seq, b"payload bytes");
            assert!(tx.protect(&mut p));
            sealed.push(p);
        }
        for i in 0..sealed[0].len() * 8 {
            let mut b = sealed[0].clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(rx.unprotect(&mut b).is_err(), "bit {i}");
        }
        for cut in 0..sealed[0].len() {
            let mut b = sealed[0][..cut].to_vec();
            assert!(rx.unprotect(&mut b).is_err(), "cut at {cut}");
        }
        // None of that moved the window: packet 0 still opens, once.
        let mut b = sealed[0].clone();
        assert_eq!(rx.unprotect(&mut b).unwrap().packet_number, 0);
        let mut again = sealed[0].clone();
        assert_eq!(rx.unprotect(&mut again), Err(CryptoError::Replayed));
        let mut late = sealed[2].clone();
        assert_eq!(rx.unprotect(&mut late).unwrap().packet_number, 2);
        let mut early = sealed[1].clone();
        assert_eq!(rx.unprotect(&mut early).unwrap().packet_number, 1);
    }

    #[test]
    fn numbers_past_the_16_bit_wrap_and_key_updates_stay_in_step() {
        let (mut tx, mut rx) = pair(1000);
        let mut held = None;
        for n in 0..70_000u64 {
            let mut p = packet(n as u16, &n.to_be_bytes());
            assert!(tx.protect(&mut p));
            if n % 997 == 5 {
                // Delivered after the next one: reordered, maybe across a key update.
                held = Some((n, p));
                continue;
            }
            let got = rx.unprotect(&mut p).unwrap();
            assert_eq!(got.packet_number, n);
            assert_eq!(&p[HEADER_LEN..got.len], &n.to_be_bytes());
            if let Some((m, mut q)) = held.take() {
                assert_eq!(rx.unprotect(&mut q).unwrap().packet_number, m);
            }
        }
    }

    #[test]
    fn other_session_keys_fail() {
        let (mut tx, _) = pair(KEY_UPDATE_INTERVAL);
        let (_, mut rx) = {
            let a = Zeroizing::new([3u8; 32]);
            let b = Zeroizing::new([2u8; 32]);
            (
                Protection::sealed(a.clone(), b.clone()),
                Protection::sealed(b, a),
            )
        };
        let mut p = packet(0, b"x");
        assert!(tx.protect(&mut p));
        assert_eq!(rx.unprotect(&mut p), Err(CryptoError::Forged));
    }

    #[test]
    fn crc_mode_drops_corruption() {
        let mut tx = Protection::Crc;
        let mut rx = Protection::Crc;
        let mut p = packet(0, b"plain");
        assert!(tx.protect(&mut p));
        let mut bad = p.clone();
        bad[HEADER_LEN] ^= 4;
        assert!(rx.unprotect(&mut bad).is_err());
        assert_eq!(rx.unprotect(&mut p).unwrap().len, HEADER_LEN + 5);
    }
}
