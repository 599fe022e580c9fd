//! Any datagram: `Packet::parse` and `FrameIter` never panic, and every packet
//! and frame that parses re-emits to bytes that parse to the same value.

#![no_main]

use lentil::wire::{
    emit_disconnect, emit_message, emit_ping, finish_handshake_packet, message_frame_len, Frame,
    FrameIter, MessageHeader, Packet, ResponseHeader, DATA_HEADER_LEN,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::parse(data) else {
        return;
    };
    let mut out = Vec::new();
    match &packet {
        Packet::ConnectRequest(req) => {
            req.emit(&mut out);
            assert_eq!(Packet::parse(&out).as_ref(), Ok(&packet), "{data:02x?}");
        }
        Packet::Challenge(challenge) => {
            challenge.emit(&mut out);
            // Fixed size, nothing optional: the bytes themselves round-trip.
            assert_eq!(out, data);
            assert_eq!(Packet::parse(&out).as_ref(), Ok(&packet));
        }
        Packet::ChallengeResponse(resp) => {
            let header = ResponseHeader {
                version: resp.version,
                nonce: resp.nonce,
                window: resp.window,
                insecure: resp.insecure,
                client_ephemeral: resp.client_ephemeral,
                server_ephemeral: resp.server_ephemeral,
                cookie: resp.cookie,
                token_expires: resp.token_expires,
                token: resp.token,
            };
            let ad = header.emit(&mut out, resp.sealed.len());
            assert_eq!(&out[..ad], resp.header);
            out.extend_from_slice(resp.sealed);
            finish_handshake_packet(&mut out);
            assert_eq!(Packet::parse(&out).as_ref(), Ok(&packet), "{data:02x?}");
        }
        Packet::Accept(accept) => {
            accept.emit(&mut out);
            assert_eq!(out, data);
            assert_eq!(Packet::parse(&out).as_ref(), Ok(&packet));
        }
        Packet::Reject(reject) => {
            reject.emit(&mut out);
            assert_eq!(Packet::parse(&out).as_ref(), Ok(&packet), "{data:02x?}");
        }
        Packet::Data { header, frames } => {
            header.emit(&mut out);
            assert_eq!(out.len(), DATA_HEADER_LEN);
            out.extend_from_slice(frames);
            // The data header is fixed-size and the body is kept as is.
            assert_eq!(out, data);
            assert_eq!(Packet::parse(&out).as_ref(), Ok(&packet));

            let mut errors = 0;
            let mut frame_out = Vec::new();
            for frame in FrameIter::new(frames) {
                let frame = match frame {
                    Ok(frame) => frame,
                    Err(_) => {
                        errors += 1;
                        continue;
                    }
                };
                frame_out.clear();
                match frame {
                    Frame::Message {
                        delivery,
                        channel,
                        id,
                        fragment,
                        payload,
                    } => {
                        let header = MessageHeader {
                            delivery,
                            channel,
                            id,
                            fragment,
                        };
                        emit_message(&mut frame_out, &header, payload);
                        assert_eq!(
                            frame_out.len(),
                            message_frame_len(delivery, fragment.is_some(), payload.len())
                        );
                    }
                    Frame::Ping => emit_ping(&mut frame_out),
                    Frame::Disconnect { code, text } => emit_disconnect(&mut frame_out, code, text),
                }
                let mut again = FrameIter::new(&frame_out);
                assert_eq!(again.next(), Some(Ok(frame)));
                assert_eq!(again.next(), None);
            }
            // The iterator stops after its first error.
            assert!(errors <= 1);
        }
    }
});
