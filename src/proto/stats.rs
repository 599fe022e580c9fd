//! Counters one connection keeps about itself; `metrics.rs` turns them into
//! the user's snapshot.

/// Raw counters of one connection.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConnectionStats {
    /// UDP payload bytes received (header + frames).
    pub in_bytes: u64,
    /// UDP payload bytes sent.
    pub out_bytes: u64,
    /// Packets accepted.
    pub in_packets: u64,
    /// Packets sent.
    pub out_packets: u64,
    /// Messages delivered to the application.
    pub in_messages: u64,
    /// Messages put on the wire for the first time.
    pub out_messages: u64,
    /// Keepalive pings sent plus received.
    pub keepalive_count: u64,
    /// Reliable messages sent again.
    pub resends: u64,
    /// Packets or messages received twice and dropped.
    pub duplicates_dropped: u64,
    /// Packets dropped as malformed, stale or out of window.
    pub invalid_packets: u64,
    /// Packets whose tag (or, in the insecure mode, checksum) did not check
    /// out: altered, truncated, forged. Dropped before anything read them.
    pub auth_failures: u64,
    /// Authenticated packets seen before, or older than the replay window:
    /// dropped before anything read them (also in `duplicates_dropped`).
    pub replays_dropped: u64,
    /// Packets acknowledged by the peer.
    pub packets_acked: u64,
    /// Packets declared lost.
    pub packets_lost: u64,
    /// Of those, packets whose ack came after all (late, not lost).
    pub spurious_losses: u64,
    /// Probes sent: packets whose ack was overdue had their messages sent
    /// again before any loss was declared.
    pub probes: u64,
    /// Unreliable-sequenced messages dropped for arriving after a newer one.
    pub stale_sequenced_dropped: u64,
    /// Packets that arrived after the receive history moved past them; only
    /// their reliable messages are used.
    pub late_packets: u64,
    /// Datagrams the socket refused (full OS buffer).
    pub send_failures: u64,
    /// Messages sent split into fragments.
    pub messages_fragmented: u64,
    /// Messages received as fragments and joined.
    pub messages_reassembled: u64,
    /// Fragments (and messages waiting for a gap) dropped: inconsistent with
    /// their siblings, past the held-bytes cap, or expired unfinished.
    pub fragments_dropped: u64,
    /// Frames parsed from the peer's data packets: the unit a server's
    /// receive budget counts work in.
    pub frames_in: u64,
}
