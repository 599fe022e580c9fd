//! Properties of the wire format on generated input: every packet and frame
//! kind round-trips through emit and parse, and parsing arbitrary bytes never
//! panics and stops at the first error.

use lentil::crypto::{COOKIE_MAC_LEN, TAG_LEN};
use lentil::wire::*;
use lentil::Delivery;
use proptest::prelude::*;

fn round_trip(bytes: &[u8]) -> Packet<'_> {
    Packet::parse(bytes).expect("parses")
}

fn delivery() -> impl Strategy<Value = Delivery> {
    prop::sample::select(Delivery::ALL.to_vec())
}

/// Whether frames of this mode carry a per-channel message id.
fn has_id(d: Delivery) -> bool {
    d != Delivery::Unreliable
}

mod codec {
    use super::*;

    proptest! {
        #[test]
        fn varint_round_trips(v in any::<u32>()) {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            prop_assert_eq!(out.len(), varint_len(v));
            let mut r = Reader::new(&out);
            prop_assert_eq!(r.varint().unwrap(), v);
            prop_assert!(r.is_empty());
        }
    }
}

mod frame {
    use super::*;

    proptest! {
        #[test]
        fn frames_round_trip(msgs in proptest::collection::vec((delivery(), any::<u8>(), any::<u16>(), proptest::option::of((any::<u16>(), 2..=u16::MAX)), proptest::collection::vec(any::<u8>(), 0..300)), 0..8), ping in any::<bool>(), text in "\\PC{0,40}") {
            let mut out = Vec::new();
            let mut expected = Vec::new();
            for (d, channel, id, fragment, payload) in &msgs {
                let id = if has_id(*d) { *id } else { 0 };
                let fragment = fragment
                    .filter(|_| d.is_reliable())
                    .map(|(index, count)| Fragment { index: index % count, count });
                let header = MessageHeader { delivery: *d, channel: *channel, id, fragment };
                let before = out.len();
                emit_message(&mut out, &header, payload);
                prop_assert_eq!(out.len() - before, message_frame_len(*d, fragment.is_some(), payload.len()));
                expected.push(Frame::Message { delivery: *d, channel: *channel, id, fragment, payload });
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
}

mod packet {
    use super::*;

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
            let _ = Packet::parse(&bytes);
        }

        #[test]
        fn connect_request_round_trips(nonce in any::<u64>(), window in any::<u16>(), insecure in any::<bool>()) {
            let req = ConnectRequest { version: PROTOCOL_VERSION, nonce, window, insecure };
            let mut out = Vec::new();
            req.emit(&mut out);
            prop_assert_eq!(out.len(), CONNECT_REQUEST_MIN_LEN);
            prop_assert_eq!(round_trip(&out), Packet::ConnectRequest(req));
        }

        #[test]
        fn challenge_response_round_trips(nonce in any::<u64>(), window in any::<u16>(), e in any::<u64>(), sealed in proptest::collection::vec(any::<u8>(), TAG_LEN..=MAX_RESPONSE_SEALED)) {
            let cookie = Cookie { expires_ms: e, mac: [3; COOKIE_MAC_LEN] };
            let h = ResponseHeader { version: PROTOCOL_VERSION, nonce, window, insecure: false, client_ephemeral: [4; 32], server_ephemeral: [5; 32], cookie, token_expires: e, token: b"sealed token" };
            let mut out = Vec::new();
            let ad = h.emit(&mut out, sealed.len());
            out.extend_from_slice(&sealed);
            finish_handshake_packet(&mut out);
            let Packet::ChallengeResponse(resp) = round_trip(&out) else { panic!("a response") };
            prop_assert_eq!(resp.nonce, nonce);
            prop_assert_eq!(resp.window, window);
            prop_assert_eq!(resp.cookie, h.cookie);
            prop_assert_eq!(resp.header, &out[..ad]);
            prop_assert_eq!(resp.token, b"sealed token");
            prop_assert_eq!(resp.token_expires, e);
            prop_assert_eq!(resp.sealed, &sealed[..]);
        }

        #[test]
        fn data_header_round_trips(token in any::<u32>(), seq in any::<u16>(), ack in any::<u16>(), ack_bits in any::<u32>()) {
            let header = DataHeader { token, seq, ack, ack_bits };
            let mut out = Vec::new();
            header.emit(&mut out);
            prop_assert_eq!(out.len(), DATA_HEADER_LEN);
            prop_assert_eq!(round_trip(&out), Packet::Data { header, frames: &[] });
        }

        #[test]
        fn reject_round_trips(nonce in any::<u64>(), text in "\\PC{0,80}", s in any::<u16>(), c in any::<u16>()) {
            for code in [RejectCode::ServerFull, RejectCode::VersionMismatch { server: s, client: c }, RejectCode::Custom(&text), RejectCode::ModeMismatch { server_insecure: true }, RejectCode::TokenRefused] {
                let reject = Reject { nonce, code };
                let mut out = Vec::new();
                reject.emit(&mut out);
                prop_assert_eq!(round_trip(&out), Packet::Reject(reject));
            }
        }
    }
}
