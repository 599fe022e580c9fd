#!/usr/bin/env python3
"""Writes the seed corpora of parse_packet and connection_datagrams.

Byte layouts follow the diagrams at the top of src/wire/packet.rs and
src/wire/frame.rs. connection_pair's seeds are structured (`arbitrary`) inputs
kept from fuzzing runs, not generated here. Run from fuzz/: python3 gen_seeds.py
"""
import os
import struct

MAGIC = b"LNTL"
VERSION = 1
DATAGRAMS_TOKEN = 0x5EED0001  # TOKEN in fuzz_targets/connection_datagrams.rs


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


def challenge_response(nonce, expires, mac, window=8192, payload=b""):
    return (b"\x03" + MAGIC + struct.pack(">HQH", VERSION, nonce, window)
            + struct.pack(">QQ", expires, mac) + varint(len(payload)) + payload)


def accept(nonce, token, window=8192):
    return b"\x04" + struct.pack(">QIH", nonce, token, window)


def reject(nonce, code, body=b""):
    return b"\x05" + struct.pack(">QB", nonce, code) + body


def data(token, seq, ack, ack_bits, frames=b""):
    return b"\x06" + struct.pack(">IHHI", token, seq, ack, ack_bits) + frames


def msg(kind, payload, msg_id=0):
    """kind: 1 unreliable, 2 sequenced, 3 reliable, 4 ordered."""
    head = bytes([kind]) + (b"" if kind == 1 else struct.pack(">H", msg_id))
    return head + varint(len(payload)) + payload


PING = b"\x10"


def disconnect(code, text=b""):
    return bytes([0x11, code]) + varint(len(text)) + text


def write(target, seeds):
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, blob in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(blob)


def main():
    T = DATAGRAMS_TOKEN
    all_frames = (msg(1, b"hello") + msg(2, b"pos", 7) + msg(3, b"rel", 0)
                  + msg(4, b"ord", 1) + msg(4, b"ord0", 0) + PING)

    write("parse_packet", {
        "connect_request": connect_request(0x1122334455667788, payload=b"login-token"),
        "connect_request_other_version": connect_request(42, version=9),
        "challenge": challenge(0x1122334455667788, 5000, 0xDEADBEEFCAFEF00D),
        "challenge_response": challenge_response(0x1122334455667788, 5000, 0xDEADBEEFCAFEF00D, payload=b"hi"),
        "accept": accept(0x1122334455667788, 0xABCD1234),
        "reject_full": reject(1, 1),
        "reject_version": reject(1, 2, struct.pack(">HH", 1, 9)),
        "reject_custom": reject(1, 3, varint(7) + b"banned!"),
        "data_all_frames": data(T, 3, 2, 0b11, all_frames),
        "data_disconnect": data(T, 4, 2, 0, disconnect(4, b"bye")),
        "data_empty": data(T, 0, 0, 0),
    })


    def record(dt_steps, datagram, action=0):
        """One connection_datagrams record: ctl | len u16 | datagram."""
        return bytes([(action << 6) | dt_steps]) + struct.pack(">H", len(datagram)) + datagram


    # The connection under test numbers its packets from 1 (0 is what an ack field
    # reads before anything arrived). Before the input is read it sends seq 1
    # (reliable 0,1; ordered 0,1; unreliable; sequenced) and seq 2 (reliable 2;
    # ordered 2). The peer's packets here number from 1 too.
    write("connection_datagrams", {
        "ack_and_messages": record(2, data(T, 1, 1, 0, all_frames)) + record(2, data(T, 2, 2, 0b1, PING), 1),
        "reorder_and_dup": (record(1, data(T, 2, 0, 0, msg(4, b"b", 1) + msg(3, b"x", 1)))
                            + record(1, data(T, 1, 0, 0, msg(4, b"a", 0) + msg(3, b"y", 0)))
                            + record(1, data(T, 2, 0, 0, msg(4, b"b", 1)))
                            + record(1, data(T, 3, 1, 0, msg(3, b"x", 1)), 2)),
        "loss_then_ack": (record(40, data(T, 1, 0, 0, PING), 3)
                          + record(40, data(T, 2, 4, 0b100, PING))
                          + record(10, data(T, 3, 6, 0xFFFFFFFF, b""))),
        "disconnect": record(5, data(T, 1, 2, 1, msg(3, b"last", 0) + disconnect(2))),
        "out_of_window": record(0, data(T, 1, 0, 0, msg(3, b"far", 9000))),
        "stale_and_far_seq": (record(0, data(T, 5000, 0, 0, PING)) + record(0, data(T, 1, 0, 0, PING))
                              + record(0, data(T, 40000, 1, 1, msg(1, b"u")))),
        "wrong_token": record(3, data(T ^ 1, 1, 2, 1, PING)) + record(3, accept(1, T)),
    })


if __name__ == "__main__":
    main()
