#!/usr/bin/env python3
"""Writes the hand-made seeds of the structured targets, connection_pair and
fragments, whose inputs are decoded with `arbitrary` (1.x).

The encoder below mirrors how `arbitrary` reads bytes: integers little-endian
(missing bytes read as zero), a bool is a byte's low bit, an enum variant `k`
of `n` is a u32 `v` with `(v * n) >> 32 == k`, an `Option` is a bool then the
value, and a `Vec` is each element preceded by a byte with the low bit set,
ended by a byte with it clear (or the end of the input). Each class below
lists its fields in the order of the Rust type of the same name in
fuzz_targets/<target>.rs; keep the two in step. `cargo fuzz fmt <target>
corpus/<target>/<seed>` prints a seed as the target decodes it.

Files named seed-* or regress-* are kept as they are (inputs chosen from
fuzzing runs, and replays of bugs found). Run from fuzz/:
python3 gen_structured_seeds.py
"""
import struct

from gen_seeds import write


def u8(v):
    return struct.pack("<B", v & 0xFF)


def i8(v):
    return struct.pack("<b", v)


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def boolean(v):
    return b"\x01" if v else b"\x00"


def variant(k, n):
    assert 0 <= k < n
    v = -(-(k << 32) // n)  # ceil(k * 2^32 / n)
    assert (v * n) >> 32 == k
    return u32(v)


def option(value, enc):
    return b"\x00" if value is None else b"\x01" + enc(value)


def vec(items, enc=lambda x: x):
    return b"".join(b"\x01" + enc(x) for x in items) + b"\x00"


# ---------------------------------------------------------------- connection_pair

A_TO_B, B_TO_A = variant(0, 2), variant(1, 2)
PAIR_OPS = ["Send", "Large", "Burst", "Transmit", "Deliver", "Drop", "Duplicate", "Advance", "Close"]


def pair_op(name, *fields):
    return variant(PAIR_OPS.index(name), len(PAIR_OPS)) + b"".join(fields)


def send(d, channel, length):
    return pair_op("Send", d, u8(channel), u8(length))


def large(d, channel, size, seed):
    """A message of 1024 + size * 3 // 2 bytes on reliable channel `channel % reliable`."""
    return pair_op("Large", d, u8(channel), u16(size), u16(seed))


def burst(d, channel, count):
    return pair_op("Burst", d, u8(channel), u8(count))


def transmit(d):
    return pair_op("Transmit", d)


def deliver(d, index=0):
    return pair_op("Deliver", d, u16(index))


def drop(d, index=0):
    return pair_op("Drop", d, u16(index))


def duplicate(d, index=0):
    return pair_op("Duplicate", d, u16(index))


def advance(ms):
    return pair_op("Advance", u16(ms))


def close(a):
    return pair_op("Close", boolean(a), u8(0xC1))


def pair_input(ops, window_a=0, window_b=0, small_mtu=False, small_buffer=False, layout=0,
               tight_held=False, rate_cap=False):
    """layout: 0 default channels, 1 [O, R, U, O, S], 2 [R, O, O, S, R, U, O]."""
    setup = (u8(window_a) + u8(window_b) + boolean(small_mtu) + boolean(small_buffer) + u8(layout)
             + boolean(tight_held) + boolean(rate_cap))
    return setup + vec(ops)


def size_for(n):
    """The `size` field of a Large message of about n bytes."""
    return max(0, (n - 1024) * 2 // 3)


def pair_seeds():
    ab, ba = A_TO_B, B_TO_A
    s = {}
    # The replay of a bug found before protocol 2 (a side that had received
    # nothing sent ack 0, which acknowledged the peer's lost packet 0, so its
    # reliable messages were never resent): A sends one ordered message
    # (the default channel 3) of 190 bytes, 41.8 s pass, the packet is
    # dropped; the heal phase must still deliver it.
    s["regress-ack-before-first-receive"] = pair_input(
        [send(ab, 3, 215), advance(41797), drop(ab, 0)],
        window_a=46, window_b=255, small_mtu=True, small_buffer=True)
    # Every channel of the five-channel layout, both ways, delivered in order.
    s["channels_clean"] = pair_input(
        [send(ab, c, 10 + c) for c in range(5)] + [send(ba, c, 20 + c) for c in range(5)]
        + [transmit(ab), transmit(ba)] + [deliver(ab), deliver(ba)] * 3 + [advance(50)],
        layout=1)
    # Large messages on each reliable channel of the seven-channel layout, sent
    # and delivered in order, then acknowledged.
    s["large_clean"] = pair_input(
        [large(ab, c, size_for(n), 1000 + c) for c, n in enumerate([4096, 20000, 70000, 9000, 99000])]
        + [transmit(ab)] + [deliver(ab)] * 40 + [advance(20), transmit(ba)] + [deliver(ba)] * 10,
        layout=2)
    # A large ordered message with its packets reordered, dropped and duplicated.
    s["large_lossy"] = pair_input(
        [large(ab, 0, size_for(30000), 7), send(ab, 0, 5), transmit(ab)]
        + [drop(ab, 3), duplicate(ab, 1), deliver(ab, 5), deliver(ab, 2), drop(ab, 0)]
        + [deliver(ab, 7)] * 6 + [advance(300), transmit(ba), deliver(ba), advance(300)]
        + [deliver(ab, 4)] * 12,
        layout=1)
    # Both sides send large messages at once under the tightest held cap, so
    # the held budget makes each channel wait for its previous message.
    s["large_tight_held"] = pair_input(
        [large(ab, 0, size_for(90000), 1), large(ab, 0, size_for(60000), 2),
         large(ba, 1, size_for(80000), 3), large(ba, 1, size_for(5000), 4),
         large(ab, 1, size_for(2000), 5)]
        + [transmit(ab), transmit(ba)] + [deliver(ab, 9), deliver(ba, 2)] * 30 + [advance(100)],
        layout=1, tight_held=True)
    # Small MTU (more pieces), window 2 (few in flight), capped rate, a long stall.
    s["large_small_mtu_window"] = pair_input(
        [large(ab, 2, size_for(40000), 11), burst(ab, 4, 40), burst(ba, 3, 63), transmit(ab)]
        + [deliver(ab)] * 3 + [advance(0x8000 | 4000), transmit(ab), transmit(ba)]
        + [deliver(ab, 1), deliver(ba, 1)] * 5,
        window_a=2, window_b=3, small_mtu=True, layout=1, rate_cap=True)
    # Messages just around one packet's payload (1380 bytes at MTU 1400): 200 +
    # 49 steps of 28 = 1378 + 6 fits, 50 steps = 1406 is split in two.
    s["one_packet_boundary"] = pair_input(
        [send(ab, c, 249) for c in range(5)] + [send(ab, c, 250) for c in range(5)]
        + [send(ba, 3, 255), transmit(ab), transmit(ba)] + [deliver(ab, 1)] * 8 + [deliver(ba)] * 2,
        layout=1)
    # A close while a large message is still in flight.
    s["large_then_close"] = pair_input(
        [large(ba, 0, size_for(25000), 9), transmit(ba)] + [deliver(ba)] * 5 + [close(False)]
        + [advance(300), deliver(ba), deliver(ab)] * 5,
        layout=0)
    return s


# ---------------------------------------------------------------- fragments

FRAME_SPECS = ["Fragment", "Whole", "Wild", "Ping"]
FLAWS = ["None", "Missing", "Repeated", "OtherCount", "OtherSize", "Empty", "TooLarge"]
FRAG_OPS = ["Packet", "Train", "Raw", "Send", "Advance", "Idle"]


def f_fragment(channel, first, index, count, length):
    return (variant(0, 4) + u8(channel) + i8(first) + u8(index) + u8(count) + u16(length))


def f_whole(channel, off, length):
    return variant(1, 4) + u8(channel) + i8(off) + u16(length)


def f_wild(kind, channel, msg_id, index, count, length):
    """kind: 0..5 give frame kinds 1..6; 0xf0 + k gives kind 0x0f + k."""
    return (variant(2, 4) + u8(kind) + u8(channel) + u16(msg_id) + u16(index) + u16(count)
            + u16(length))


F_PING = variant(3, 4)


def frag_op(name, *fields):
    return variant(FRAG_OPS.index(name), len(FRAG_OPS)) + b"".join(fields)


def packet(frames, old=None, ack=False):
    return frag_op("Packet", option(old, u8), boolean(ack), vec(frames))


def train(channel, count, piece, last=0xFFFF, first=0, order=0, per_packet=0, flaw="None", at=0):
    """`2 + count % 63` pieces of `1 + piece % fit` bytes, the last `1 + last % piece`."""
    return frag_op("Train", u8(channel), i8(first), u8(count), u16(piece), u16(last), u32(order),
                   u8(per_packet), variant(FLAWS.index(flaw), len(FLAWS)), u8(at))


def raw(data, header=True):
    return frag_op("Raw", boolean(header), vec(list(data), u8))


def conn_send(channel, length):
    return frag_op("Send", u8(channel), u16(length))


def f_advance(ms):
    return frag_op("Advance", u16(ms))


IDLE = frag_op("Idle")


def frag_input(ops, layout=0, small_mtu=False, message_steps=16, held_extra=0, window=13, expiry=9):
    """layout: 0 [O, R, U, O, S], 1 [R, U, R, S], 2 default, 3 [O, O, R].
    window: 1 << (window % 15); expiry: (expiry % 200 + 1) * 50 ms."""
    setup = (u8(layout) + boolean(small_mtu) + u8(message_steps) + u8(held_extra) + u8(window)
             + u8(expiry))
    return setup + vec(ops)


def frag_seeds():
    s = {}
    # Layout 0: 0 ordered, 1 reliable, 2 unreliable, 3 ordered, 4 sequenced.
    # A valid message per reliable channel, pieces in order, one per packet.
    s["trains_in_order"] = frag_input(
        [train(0, 3, 999, 500), train(1, 5, 1200, 17), train(3, 0, 300, 299), f_advance(10)])
    # Shuffled pieces, several per packet, on both kinds of channel.
    s["trains_shuffled"] = frag_input(
        [train(1, 20, 200, 50, order=0xDEADBEEF, per_packet=3),
         train(0, 12, 400, 399, order=12345, per_packet=2),
         train(3, 61, 60, 1, order=7, per_packet=7)])
    # Each flaw once, on an unordered and an ordered channel.
    s["train_flaws"] = frag_input(
        [train(1, 6, 300, 100, flaw=f, at=2, order=99) for f in FLAWS[1:]]
        # On the ordered channel a missing piece blocks what follows: last.
        + [train(0, 6, 300, 100, flaw=f, at=2) for f in FLAWS[2:] + FLAWS[1:2]] + [f_advance(100)])
    # Pieces in single frames (ids relative to the channel's cursor before
    # each packet): a good pair on each kind of channel, in one packet and
    # across two; an index past its count, count 1 and count 0 (the packet does
    # not parse); sizes that disagree; a whole message interrupting an ordered
    # message; a new first piece interrupting another.
    s["fragment_frames"] = frag_input(
        [packet([f_fragment(1, 0, 0, 2, 100), f_fragment(1, 0, 1, 2, 40)]),
         packet([f_fragment(0, 0, 1, 2, 40), f_fragment(0, 0, 0, 2, 100)]),
         packet([f_fragment(3, 0, 0, 3, 600)]),
         packet([f_fragment(3, -1, 1, 3, 600), F_PING, f_fragment(3, -1, 2, 3, 1)]),
         packet([f_fragment(1, 10, 3, 3, 10)]),
         packet([f_fragment(0, 0, 0, 1, 10), F_PING]),
         packet([f_fragment(3, 0, 0, 0, 10)]),
         packet([f_fragment(1, 20, 0, 3, 100), f_fragment(1, 20, 1, 3, 90)]),
         # (The count-1 and count-0 packets above were dropped whole, so channels 0
         # and 3 resume one lower than their cursors.)
         packet([f_fragment(0, -1, 0, 4, 500), f_whole(0, 0, 20), f_fragment(0, 1, 0, 4, 500)]),
         packet([f_fragment(3, -1, 0, 2, 50), f_fragment(3, 0, 0, 2, 50), f_fragment(3, 0, 1, 2, 7)],
                ack=True)])
    # Verbatim frames: fragments with 16-bit counts and indexes, on channels the
    # connection lacks, kinds that do not match the channel, a disconnect.
    s["wild_frames"] = frag_input(
        [packet([f_wild(4, 1, 0, 0, 0xFFFF, 1000)]),
         packet([f_wild(4, 1, 5, 0xFFFE, 0xFFFF, 1)]),
         packet([f_wild(5, 0, 9, 1, 0xFFFF, 2048)]),
         packet([f_wild(4, 1, 100, 7, 7, 3)]),
         packet([f_wild(4, 40, 0, 0, 2, 3)]),
         packet([f_wild(2, 2, 0, 0, 0, 3)]),
         packet([f_wild(0xF1, 0, 0, 0, 0, 0)]),
         packet([f_wild(0xF2, 1, 0, 0, 0, 0)])])
    # The cap: many unfinished messages on the unordered channels of layout 1
    # ([R, U, R, S]) with the least held bytes, then idling until they expire.
    s["cap_then_expiry"] = frag_input(
        [train(c, 40, 1000, flaw="Missing", at=39, first=f) for c in (0, 2) for f in (0, 60, 120)]
        + [packet([f_fragment(0, 100, 0, 9, 1000)]), f_advance(200), IDLE,
           train(0, 3, 100, first=50)],
        layout=1, message_steps=30, expiry=19)
    # Ordered channels first (layout 3: [O, O, R]): pieces and a whole message
    # wait in the reorder queue behind a gap, against the cap, then the gap
    # fills; a shuffled train whose first pieces come last; a train behind a
    # gap that is filled only after it.
    s["ordered_gap"] = frag_input(
        [packet([f_fragment(0, 1, 1, 3, 1000), f_fragment(0, 1, 2, 3, 10), f_whole(0, 4, 1500)]),
         packet([f_whole(0, -5, 1500)]),
         packet([f_fragment(0, -4, 0, 3, 1000)]),
         train(1, 10, 800, order=3, per_packet=2),
         train(1, 10, 800, first=5, per_packet=4),
         packet([f_whole(1, -17, 10), f_whole(1, -16, 10), f_whole(1, -15, 10), f_whole(1, -14, 10),
                 f_whole(1, -13, 10)]),
         IDLE],
        layout=3, message_steps=40, held_extra=3)
    # Stale and repeated packets carrying pieces, small window, small MTU.
    s["old_packets_small_window"] = frag_input(
        [train(1, 4, 500, per_packet=1),
         packet([f_fragment(1, -5, 0, 5, 500)], old=2),
         packet([f_fragment(1, -5, 1, 5, 500)], old=0),
         packet([f_fragment(1, 40, 0, 2, 20)]),
         train(0, 2, 520, first=1), train(0, 2, 520, first=-3)],
        small_mtu=True, window=3)
    # The connection sends large messages of its own; acks and raw packets.
    s["send_and_raw"] = frag_input(
        [conn_send(1, 5000), conn_send(0, 3000), conn_send(2, 100), packet([F_PING], ack=True),
         raw(bytes([5, 1, 0, 0, 0, 0, 0, 2, 0, 3]) + b"abc"),
         raw(bytes([6, 0, 0, 9, 0, 1, 0, 2, 1, 0x41]) + bytes([3, 0, 0, 0, 1])),
         raw(b"\x06\xf4\xa9\x00\x01\x00\x10\x00\x00\x00\x00\x00\x00\x10", header=False),
         f_advance(500), packet([], ack=True), f_advance(5000)])
    return s


if __name__ == "__main__":
    write("connection_pair", pair_seeds())
    write("fragments", frag_seeds())
