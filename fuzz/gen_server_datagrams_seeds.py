#!/usr/bin/env python3
"""Writes the seed corpus of the server_datagrams target.

A record is `sel u8 | adv u8 | len u16 BE | bytes` (see
fuzz_targets/server_datagrams.rs): `sel & 0x0f` picks the source address,
`(sel >> 4) & 3` the kind (0 raw, 1 crafted ConnectRequest, 2 ChallengeResponse
echoing the last challenge, 3 data packet with the learned token), and the
clock then advances `adv * 4` ms. Byte layouts follow src/wire/packet.rs and
src/wire/frame.rs. Run from fuzz/: python3 gen_server_datagrams_seeds.py
"""
import struct

# The packet and frame builders are gen_seeds.py's.
from gen_seeds import (
    PING,
    challenge_response as raw_challenge_response,
    connect_request as raw_connect_request,
    data as raw_data,
    disconnect,
    msg,
    write,
)


RAW, CONNECT, RESPONSE, DATA = 0, 1, 2, 3


def record(src, kind, adv, body):
    return bytes([(kind << 4) | src, adv]) + struct.pack(">H", len(body)) + body


# Bodies of the crafted kinds.
def connect_body(nonce, window=8192, payload=b""):
    return struct.pack(">QH", nonce, window) + payload


def response_body(window=8192, payload=b""):
    return struct.pack(">H", window) + payload


def data_body(seq, ack, ack_bits, frames=b""):
    return struct.pack(">HHI", seq, ack, ack_bits) + frames


def handshake(src, nonce, adv=1, payload=b""):
    return record(src, CONNECT, adv, connect_body(nonce, payload=payload)) + record(src, RESPONSE, adv, response_body())


seeds = {
    "garbage": (record(0, RAW, 3, bytes(range(40)))
                + record(6, RAW, 0, b"\xff" * 200)
                + record(13, RAW, 10, b"")
                + record(9, RAW, 1, b"\x02" + b"\x00" * 24)
                + record(11, RAW, 50, b"\x04" + b"\x11" * 14)),
    "raw_handshake_packets": (record(1, RAW, 1, raw_connect_request(7, payload=b"hello"))
                              + record(1, RAW, 1, raw_connect_request(8, version=9))
                              + record(2, RAW, 1, raw_connect_request(9, pad=100))
                              + record(1, RAW, 1, raw_challenge_response(7, 5000, 0xDEADBEEF))
                              + record(3, RAW, 1, raw_data(0x12345678, 1, 0, 0, PING))),
    "handshake": handshake(6, 0x1122334455667788, payload=b"login"),
    "handshake_then_data": (handshake(8, 42)
                            + record(8, DATA, 2, data_body(1, 0, 0, msg(3, b"rel", 0) + msg(4, b"ord", 0)))
                            + record(8, DATA, 2, data_body(2, 1, 0, msg(1, b"u") + msg(2, b"s", 1) + PING))
                            + record(8, DATA, 2, data_body(3, 2, 1, msg(4, b"ord1", 1)))
                            + record(8, DATA, 5, data_body(4, 3, 3, disconnect(1)))),
    "many_sources": b"".join(handshake(i, 1000 + i) for i in (0, 5, 7, 10, 12, 14))
                    + b"".join(record(i, DATA, 1, data_body(1, 0, 0, PING)) for i in (0, 5, 7, 10, 12, 14)),
    # Handshake twice from one address (session replaced), then a stale cookie.
    "rehandshake_and_expiry": (handshake(4, 1) + handshake(4, 2)
                               + record(4, DATA, 0, data_body(1, 0, 0, msg(3, b"x", 0)))
                               + record(15, CONNECT, 255, connect_body(3))
                               + b"".join(record(15, RAW, 255, b"") for _ in range(5))
                               + record(15, RESPONSE, 1, response_body())),
}

write("server_datagrams", seeds)
