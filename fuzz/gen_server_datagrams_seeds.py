#!/usr/bin/env python3
"""Writes the seed corpus of the server_datagrams target.

A record is `sel u8 | adv u8 | len u16 BE | bytes` (see
fuzz_targets/server_datagrams.rs): `sel & 0x0f` picks the source address,
`(sel >> 4) & 3` the kind (0 raw, 1 crafted ConnectRequest, 2 ChallengeResponse
echoing the last challenge, 3 data packet with the learned token), and the
clock then advances `adv * 4` ms. Byte layouts follow src/wire/packet.rs and
src/wire/frame.rs (protocol 2: a channel byte in every message frame, fragment
frames for large reliable messages); the server has the default channels
(0 unreliable, 1 sequenced, 2 reliable, 3 ordered). Run from fuzz/:
python3 gen_server_datagrams_seeds.py
"""
import struct

# The packet and frame builders are gen_seeds.py's.
from gen_seeds import (
    CH_ORDERED,
    CH_RELIABLE,
    CH_SEQUENCED,
    CH_UNRELIABLE,
    ORDERED,
    ORDERED_FRAGMENT,
    PING,
    RELIABLE,
    RELIABLE_FRAGMENT,
    SEQUENCED,
    UNRELIABLE,
    challenge_response as raw_challenge_response,
    connect_request as raw_connect_request,
    data as raw_data,
    disconnect,
    frag,
    fragments,
    msg,
    pattern,
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


def data_records(src, frames_list, first_seq, adv=1):
    """One data record per frame (a frame may be several joined), seqs from first_seq."""
    return b"".join(record(src, DATA, adv, data_body(first_seq + i, 0, 0, f)) for i, f in enumerate(frames_list))


R, O = CH_RELIABLE, CH_ORDERED
big = pattern(2500, seed=3)


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
                            + record(8, DATA, 2, data_body(1, 0, 0, msg(RELIABLE, R, b"rel", 0) + msg(ORDERED, O, b"ord", 0)))
                            + record(8, DATA, 2, data_body(2, 1, 0, msg(UNRELIABLE, CH_UNRELIABLE, b"u")
                                                           + msg(SEQUENCED, CH_SEQUENCED, b"s", 1) + PING))
                            + record(8, DATA, 2, data_body(3, 2, 1, msg(ORDERED, O, b"ord1", 1)))
                            + record(8, DATA, 5, data_body(4, 3, 3, disconnect(1)))),
    "many_sources": b"".join(handshake(i, 1000 + i) for i in (0, 5, 7, 10, 12, 14))
                    + b"".join(record(i, DATA, 1, data_body(1, 0, 0, PING)) for i in (0, 5, 7, 10, 12, 14)),
    # Handshake twice from one address (session replaced), then a stale cookie.
    "rehandshake_and_expiry": (handshake(4, 1) + handshake(4, 2)
                               + record(4, DATA, 0, data_body(1, 0, 0, msg(RELIABLE, R, b"x", 0)))
                               + record(15, CONNECT, 255, connect_body(3))
                               + b"".join(record(15, RAW, 255, b"") for _ in range(5))
                               + record(15, RESPONSE, 1, response_body())),
    # Large messages from a hostile peer: an ordered one in order, a reliable one
    # last piece first; the server joins and echoes them (as fragments).
    "handshake_then_fragments": (handshake(7, 77)
                                 + data_records(7, fragments(ORDERED_FRAGMENT, O, 0, big, 1000), 1)
                                 + data_records(7, list(reversed(fragments(RELIABLE_FRAGMENT, R, 0, big, 1300))), 4)
                                 + record(7, DATA, 50, data_body(6, 0, 0, PING))),
    # Pieces that do not fit together, claim too much, or do not parse.
    "bad_fragments": (handshake(9, 99)
                      + data_records(9, [frag(RELIABLE_FRAGMENT, R, 0, 0, 3, b"a" * 100),
                                         frag(RELIABLE_FRAGMENT, R, 1, 1, 3, b"b" * 90),
                                         frag(RELIABLE_FRAGMENT, R, 2, 0, 2, b"c" * 100),
                                         frag(RELIABLE_FRAGMENT, R, 3, 1, 3, b"d" * 100),
                                         frag(ORDERED_FRAGMENT, O, 0, 0, 0xFFFF, b"e" * 100),
                                         frag(ORDERED_FRAGMENT, O, 1, 2, 2, b"f"),
                                         frag(ORDERED_FRAGMENT, O, 1, 0, 1, b"g"),
                                         frag(ORDERED_FRAGMENT, O, 1, 1, 3, b"h" * 10)], 1)),
    # Unfinished fragments at several sources, then a message on a channel the
    # server does not have (a violation: that peer is dropped).
    "fragments_then_violation": (handshake(1, 11) + handshake(13, 13)
                                 + data_records(1, [frag(RELIABLE_FRAGMENT, R, 0, 0, 40, b"p" * 1300)], 1)
                                 + data_records(13, [frag(ORDERED_FRAGMENT, O, 0, 0, 3, b"q" * 1300)], 1)
                                 + data_records(1, [msg(RELIABLE, 7, b"no such channel", 1)], 2)
                                 + record(13, DATA, 255, data_body(2, 0, 0, PING))),
}

write("server_datagrams", seeds)
