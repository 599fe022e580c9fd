#!/usr/bin/env python3
"""Writes the seed corpora of parse_packet and connection_datagrams.

Byte layouts follow the diagrams at the top of src/wire/packet.rs and
src/wire/frame.rs (wire protocol 2: every message frame carries a channel
byte after its kind; reliable messages larger than a packet travel as
fragment frames). The structured targets' seeds (connection_pair,
fragments) are written by gen_structured_seeds.py. Run from fuzz/:
python3 gen_seeds.py
"""
import os
import struct

MAGIC = b"LNTL"
VERSION = 2  # PROTOCOL_VERSION in src/wire/mod.rs
DATAGRAMS_TOKEN = 0x5EED0001  # TOKEN in fuzz_targets/connection_datagrams.rs

# Frame kinds (src/wire/frame.rs).
UNRELIABLE, SEQUENCED, RELIABLE, ORDERED = 0x01, 0x02, 0x03, 0x04
RELIABLE_FRAGMENT, ORDERED_FRAGMENT = 0x05, 0x06

# The default channels (Config::channels = Delivery::ALL): the channel of each mode.
CH_UNRELIABLE, CH_SEQUENCED, CH_RELIABLE, CH_ORDERED = 0, 1, 2, 3


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def connect_request(nonce, window=8192, payload=b"", version=VERSION, pad=128):
    b = b"\x01" + MAGIC + struct.pack(">HQH", version, nonce, window) + varint(len(payload)) + payload
    return b + b"\0" * max(0, pad - len(b))


def challenge(nonce, expires, mac):
    return b"\x02" + struct.pack(">QQQ", nonce, expires, mac)


def challenge_response(nonce, expires, mac, window=8192, payload=b"", version=VERSION):
    return (b"\x03" + MAGIC + struct.pack(">HQH", version, nonce, window)
            + struct.pack(">QQ", expires, mac) + varint(len(payload)) + payload)


def accept(nonce, token, window=8192):
    return b"\x04" + struct.pack(">QIH", nonce, token, window)


def reject(nonce, code, body=b""):
    return b"\x05" + struct.pack(">QB", nonce, code) + body


def data(token, seq, ack, ack_bits, frames=b""):
    return b"\x06" + struct.pack(">IHHI", token, seq, ack, ack_bits) + frames


def msg(kind, channel, payload, msg_id=0):
    """A whole message frame. kind: 1 unreliable, 2 sequenced, 3 reliable, 4 ordered."""
    head = bytes([kind, channel]) + (b"" if kind == UNRELIABLE else struct.pack(">H", msg_id))
    return head + varint(len(payload)) + payload


def frag(kind, channel, msg_id, index, count, payload):
    """A fragment frame (kind 5 reliable, 6 ordered); index and count are not checked here."""
    return (bytes([kind, channel]) + struct.pack(">HHH", msg_id, index, count)
            + varint(len(payload)) + payload)


def fragments(kind, channel, first_id, message, piece):
    """A message split as a sender splits it: pieces of `piece` bytes (the last
    may be shorter), consecutive ids from `first_id`. Returns the frames in order."""
    count = -(-len(message) // piece)
    assert count >= 2
    return [frag(kind, channel, (first_id + i) & 0xFFFF, i, count, message[i * piece:(i + 1) * piece])
            for i in range(count)]


def pattern(n, seed=0):
    """n bytes that differ by position, so a piece joined in the wrong place shows."""
    return bytes(((i * 7 + seed) ^ (i >> 8)) & 0xFF for i in range(n))


PING = b"\x10"


def disconnect(code, text=b""):
    return bytes([0x11, code]) + varint(len(text)) + text


def write(target, seeds):
    """Writes `seeds` (name -> bytes) into corpus/<target>/, replacing the
    generated files of an older run (those not named seed-* or regress-*)."""
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        if not name.startswith(("seed-", "regress-")) and name not in seeds:
            os.remove(os.path.join(d, name))
    for name, blob in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(blob)


def main():
    T = DATAGRAMS_TOKEN
    all_frames = (msg(UNRELIABLE, CH_UNRELIABLE, b"hello") + msg(SEQUENCED, CH_SEQUENCED, b"pos", 7)
                  + msg(RELIABLE, CH_RELIABLE, b"rel", 0) + msg(ORDERED, CH_ORDERED, b"ord", 1)
                  + msg(ORDERED, CH_ORDERED, b"ord0", 0) + PING)
    big = pattern(3000)

    write("parse_packet", {
        "connect_request": connect_request(0x1122334455667788, payload=b"login-token"),
        "connect_request_other_version": connect_request(42, version=1),
        "challenge": challenge(0x1122334455667788, 5000, 0xDEADBEEFCAFEF00D),
        "challenge_response": challenge_response(0x1122334455667788, 5000, 0xDEADBEEFCAFEF00D, payload=b"hi"),
        "accept": accept(0x1122334455667788, 0xABCD1234),
        "reject_full": reject(1, 1),
        "reject_version": reject(1, 2, struct.pack(">HH", 2, 1)),
        "reject_custom": reject(1, 3, varint(7) + b"banned!"),
        "data_all_frames": data(T, 3, 2, 0b11, all_frames),
        "data_disconnect": data(T, 4, 2, 0, disconnect(4, b"bye")),
        "data_empty": data(T, 0, 0, 0),
        "data_channels": data(T, 5, 4, 1, b"".join(msg(k, ch, bytes([ch]) * 3, ch)
                                                   for ch, k in enumerate([4, 3, 1, 4, 2, 3, 4, 2]))
                              + msg(ORDERED, 0xFF, b"last channel", 0xFFFF)),
        "data_fragments": data(T, 6, 5, 3, frag(RELIABLE_FRAGMENT, 2, 10, 0, 3, b"abcd")
                               + frag(ORDERED_FRAGMENT, 3, 0xFFFF, 1, 2, b"ef")
                               + frag(RELIABLE_FRAGMENT, 2, 12, 2, 3, b"ij")
                               + frag(ORDERED_FRAGMENT, 9, 7, 0xFFFE, 0xFFFF, b"") + PING),
        "data_fragment_big_len": data(T, 7, 6, 0, frag(RELIABLE_FRAGMENT, 2, 1, 0, 2, big[:1380])),
        "data_fragment_index_past_count": data(T, 8, 0, 0, frag(RELIABLE_FRAGMENT, 2, 1, 2, 2, b"x")),
        "data_fragment_count_one": data(T, 9, 0, 0, frag(ORDERED_FRAGMENT, 3, 1, 0, 1, b"x")),
        "data_fragment_count_zero": data(T, 9, 0, 0, PING + frag(ORDERED_FRAGMENT, 3, 1, 0, 0, b"x")),
        "data_fragment_truncated": data(T, 10, 0, 0, frag(RELIABLE_FRAGMENT, 2, 1, 0, 2, b"abcdef")[:-3]),
        "data_no_channel_byte": data(T, 11, 0, 0, bytes([RELIABLE])),
    })

    def record(dt_steps, datagram, action=0):
        """One connection_datagrams record: ctl | len u16 | datagram."""
        return bytes([(action << 6) | dt_steps]) + struct.pack(">H", len(datagram)) + datagram

    def packets(frames_list, first_seq, ack=0, ack_bits=0, per_packet=1, dt=0):
        """Records carrying `frames_list`, `per_packet` frames each, seqs from first_seq."""
        out = b""
        for n, i in enumerate(range(0, len(frames_list), per_packet)):
            body = b"".join(frames_list[i:i + per_packet])
            out += record(dt, data(T, first_seq + n, ack, ack_bits, body))
        return out

    # The connection under test numbers its packets from 1 (0 is what an ack field
    # reads before anything arrived). Before the input is read it sends seq 1
    # (reliable 0,1; ordered 0,1; unreliable; sequenced) and seq 2 (reliable 2;
    # ordered 2). It has the default channels: 0 unreliable, 1 sequenced,
    # 2 reliable, 3 ordered. The peer's packets here number from 1 too.
    R, O = CH_RELIABLE, CH_ORDERED
    ordered_msg = fragments(ORDERED_FRAGMENT, O, 0, big, 1000)       # ids 0..2
    reliable_msg = fragments(RELIABLE_FRAGMENT, R, 5, big, 1376)     # ids 5..7
    bad_size = [frag(RELIABLE_FRAGMENT, R, 0, 0, 3, b"a" * 100), frag(RELIABLE_FRAGMENT, R, 1, 1, 3, b"b" * 99),
                frag(RELIABLE_FRAGMENT, R, 2, 2, 3, b"c" * 10)]
    bad_count = [frag(RELIABLE_FRAGMENT, R, 0, 0, 3, b"a" * 100), frag(RELIABLE_FRAGMENT, R, 1, 1, 4, b"b" * 100),
                 frag(RELIABLE_FRAGMENT, R, 2, 2, 3, b"c" * 10)]
    write("connection_datagrams", {
        "ack_and_messages": record(2, data(T, 1, 1, 0, all_frames)) + record(2, data(T, 2, 2, 0b1, PING), 1),
        "reorder_and_dup": (record(1, data(T, 2, 0, 0, msg(ORDERED, O, b"b", 1) + msg(RELIABLE, R, b"x", 1)))
                            + record(1, data(T, 1, 0, 0, msg(ORDERED, O, b"a", 0) + msg(RELIABLE, R, b"y", 0)))
                            + record(1, data(T, 2, 0, 0, msg(ORDERED, O, b"b", 1)))
                            + record(1, data(T, 3, 1, 0, msg(RELIABLE, R, b"x", 1)), 2)),
        "loss_then_ack": (record(40, data(T, 1, 0, 0, PING), 3)
                          + record(40, data(T, 2, 4, 0b100, PING))
                          + record(10, data(T, 3, 6, 0xFFFFFFFF, b""))),
        "disconnect": record(5, data(T, 1, 2, 1, msg(RELIABLE, R, b"last", 0) + disconnect(2))),
        "out_of_window": record(0, data(T, 1, 0, 0, msg(RELIABLE, R, b"far", 9000))),
        "stale_and_far_seq": (record(0, data(T, 5000, 0, 0, PING)) + record(0, data(T, 1, 0, 0, PING))
                              + record(0, data(T, 40000, 1, 1, msg(UNRELIABLE, 0, b"u")))),
        "wrong_token": record(3, data(T ^ 1, 1, 2, 1, PING)) + record(3, accept(1, T)),
        "unknown_channel": record(1, data(T, 1, 0, 0, msg(RELIABLE, 9, b"nine", 0))),
        "mode_mismatch": record(1, data(T, 1, 0, 0, msg(ORDERED, R, b"ordered on reliable", 0))),
        # A 3000-byte message as three ordered fragments, one per packet, in order.
        "ordered_fragments": packets(ordered_msg, 1, dt=1),
        # The same as one reliable message (ids 5..7) arriving last piece first.
        "reliable_fragments_reversed": packets(list(reversed(reliable_msg)), 1, dt=1),
        # All pieces of both in one packet, plus the acks of the connection's packets.
        "fragments_one_packet": record(1, data(T, 1, 2, 1, b"".join(ordered_msg + reliable_msg))),
        # Ordered pieces out of order (the reorder queue holds 1 and 2), then a duplicate.
        "ordered_fragments_shuffled": packets([ordered_msg[2], ordered_msg[1], ordered_msg[0], ordered_msg[1]], 1),
        "fragment_size_mismatch": packets(bad_size, 1),
        "fragment_count_mismatch": packets(bad_count, 1),
        # A claimed size past max_message_size (1 MiB): 65535 pieces of 100 bytes.
        "fragment_claims_too_much": packets([frag(RELIABLE_FRAGMENT, R, 0, 0, 0xFFFF, b"z" * 100),
                                             frag(ORDERED_FRAGMENT, O, 0, 0, 0xFFFF, b"z" * 100)], 1),
        # Malformed index/count: the packets are dropped whole.
        "fragment_bad_index": packets([frag(RELIABLE_FRAGMENT, R, 3, 3, 3, b"x") + PING,
                                       frag(ORDERED_FRAGMENT, O, 0, 0, 1, b"x")], 1),
        # An ordered message interrupted by a whole message, then by a new first piece.
        "ordered_fragment_interrupted": packets([ordered_msg[0], msg(ORDERED, O, b"whole", 1),
                                                 frag(ORDERED_FRAGMENT, O, 2, 0, 2, b"ab"),
                                                 frag(ORDERED_FRAGMENT, O, 3, 0, 2, b"cd"),
                                                 frag(ORDERED_FRAGMENT, O, 4, 1, 2, b"e")], 1),
        # Unfinished unordered messages left to expire (reassembly_timeout 10 s).
        "fragments_expire": (packets([frag(RELIABLE_FRAGMENT, R, 0, 0, 4, b"a" * 500),
                                      frag(RELIABLE_FRAGMENT, R, 11, 1, 3, b"b" * 500)], 1)
                             + b"".join(record(63, data(T, 3 + i, 2, 1, PING)) for i in range(25))
                             + packets([frag(RELIABLE_FRAGMENT, R, 1, 1, 4, b"a" * 500)], 28)),
        # A fragment frame on the unreliable channel: another mode than the channel's.
        "fragment_on_unreliable_channel": record(1, data(T, 1, 0, 0, frag(RELIABLE_FRAGMENT, 0, 0, 0, 2, b"u"))),
    })


if __name__ == "__main__":
    main()
