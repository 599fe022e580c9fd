//! Packets sent and not yet resolved (acknowledged, lost, or forgotten), with
//! the reliable messages each one carried.
//!
//! Acks are per packet: an acked packet acks every message it carried, a lost
//! packet hands its messages back for resending. A packet is lost when a packet
//! sent after it has been acked and it is older than the loss delay (a little
//! over one RTT plus the reorder allowance learned from spurious losses: fast
//! retransmit that tolerates reordering, as in QUIC's time threshold and
//! RACK), or when its retransmission timeout passes with no later ack. A
//! declared loss whose ack comes later is reported as spurious, with when it
//! was declared and why, so the owner can learn from it and undo what the
//! loss cost.
//! Entries stay in send order, so the oldest unresolved packet is always at the
//! front and loss detection stops at the first packet too young to judge.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::seq::{seq_diff, seq_newer};

/// Most unresolved packets remembered; older ones are declared lost so memory stays bounded.
pub const MAX_TRACKED: usize = 16_384;

/// A reliable message carried by a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsgRef {
    /// The reliable channel it was sent on.
    pub channel: u8,
    /// Message id on that channel.
    pub id: u16,
}

/// What became of a packet's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// The packet was acknowledged.
    Acked,
    /// The packet is deemed lost.
    Lost,
}

#[derive(Debug)]
struct SentPacket {
    seq: u16,
    sent_at: Instant,
    ack_eliciting: bool,
    resolved: bool,
    /// Its messages were queued again by a probe; probed once at most.
    probed: bool,
    bytes: u32,
    /// The connection's delivery state when it left, for its rate sample.
    delivery: DeliveryMark,
    messages: Vec<MsgRef>,
}

/// Bytes delivered so far and when, as a packet saw them when it left
/// (delivery-rate sampling as in BBR).
#[derive(Debug, Clone, Copy)]
struct DeliveryMark {
    /// Bytes acknowledged before it left.
    delivered: u64,
    /// When the latest of those acks arrived.
    delivered_at: Instant,
    /// When the packet acknowledged last had left.
    first_sent_at: Instant,
}

/// What the path carried over one packet's round trip: the bytes
/// acknowledged between its sending and its ack, with how long the sender
/// took to send them and how long their acks took to come back.
///
/// `delivered / max(send_elapsed, ack_elapsed)` is the delivery rate; when
/// the acks came back about as fast as the packets left, the path kept
/// pace with the rate they were sent at, and says nothing of its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSample {
    /// Bytes acknowledged over the interval.
    pub delivered: u64,
    /// From the first to the last sending of those bytes.
    pub send_elapsed: Duration,
    /// From the first to the last of their acks.
    pub ack_elapsed: Duration,
}

impl RateSample {
    /// Bytes per second delivered, over the longer of the two intervals.
    pub fn rate(&self) -> f64 {
        let interval = self.send_elapsed.max(self.ack_elapsed).as_secs_f64();
        if interval <= 0.0 {
            return 0.0;
        }
        self.delivered as f64 / interval
    }
}

/// Outcome of processing one ack header.
#[derive(Debug, Default, Clone, Copy)]
pub struct AckOutcome {
    /// RTT sample from the newest newly acked ack-eliciting packet.
    pub rtt_sample: Option<Duration>,
    /// Packets newly acked.
    pub acked: u32,
    /// Ack-eliciting packets newly acked (what the congestion window counts).
    pub acked_eliciting: u32,
    /// Datagram bytes of the packets newly acked (what the rate control counts as delivered).
    pub acked_bytes: u64,
    /// Packets declared lost that this ack shows arrived after all (late,
    /// not lost: jitter or reordering beyond the loss delay).
    pub spurious_losses: u32,
    /// When the earliest of those was declared lost: the loss event whose
    /// congestion and rate responses they may undo.
    pub spurious_declared_at: Option<Instant>,
    /// When the earliest of those declared lost for a later packet's ack
    /// (not a timeout) was: the ones that show reordering past the loss delay.
    pub reordered_declared_at: Option<Instant>,
    /// The delivery-rate sample of the newest packet this ack resolved.
    pub rate_sample: Option<RateSample>,
}

/// Packets declared lost by one round of loss detection.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Losses {
    /// Lost because later packets were acked and they are older than the loss delay.
    pub by_ack: u32,
    /// Lost because their retransmission timeout passed.
    pub by_timeout: u32,
}

impl Losses {
    /// All packets declared lost.
    pub fn total(&self) -> u32 {
        self.by_ack + self.by_timeout
    }
}

/// The sent-packet record of one connection.
#[derive(Debug)]
pub struct SentPackets {
    entries: VecDeque<SentPacket>,
    /// Recycled message lists, so steady-state sending does not allocate.
    spare: Vec<Vec<MsgRef>>,
    largest_acked: Option<u16>,
    unresolved_eliciting: usize,
    /// The latest packets declared lost, at most `RECENT_LOSSES`, so an ack
    /// that names one later counts the loss as spurious.
    /// Each with when it was declared, so the congestion and rate responses
    /// to it can be undone if it proves spurious.
    /// And whether it was declared for a later packet's ack (reordering,
    /// if spurious) rather than a timeout.
    recently_lost: VecDeque<LostRecord>,
    /// Bytes of packets acknowledged so far, and the delivery state the next
    /// packet sent carries.
    delivered: u64,
    delivered_at: Instant,
    first_sent_at: Instant,
}

impl SentPackets {
    /// An empty record for a connection opened at `now` (the protocol core
    /// reads no clock: the time is handed in).
    pub fn new(now: Instant) -> Self {
        SentPackets {
            entries: VecDeque::new(),
            spare: Vec::new(),
            largest_acked: None,
            unresolved_eliciting: 0,
            recently_lost: VecDeque::new(),
            delivered: 0,
            delivered_at: now,
            first_sent_at: now,
        }
    }
}

/// A declared loss a late ack may take back.
#[derive(Debug, Clone, Copy)]
struct LostRecord {
    seq: u16,
    declared_at: Instant,
    by_ack: bool,
}

/// Declared losses remembered for a late ack to take back.
const RECENT_LOSSES: usize = 64;

impl SentPackets {
    /// A message list to fill for the next packet.
    pub fn take_list(&mut self) -> Vec<MsgRef> {
        self.spare.pop().unwrap_or_default()
    }

    /// Records a sent packet of `bytes` bytes. `messages` came from [`take_list`](Self::take_list).
    pub fn on_sent(
        &mut self,
        seq: u16,
        now: Instant,
        ack_eliciting: bool,
        bytes: usize,
        messages: Vec<MsgRef>,
        mut on_msg: impl FnMut(MsgRef, Fate),
    ) -> u32 {
        let mut lost = 0;
        // Bound the span of sequence numbers held, not only the count: ack-only
        // packets leave gaps, and offsets must stay within half the number space.
        while self.entries.len() >= MAX_TRACKED
            || self
                .entries
                .front()
                .is_some_and(|f| seq_diff(seq, f.seq) >= MAX_TRACKED as i32)
        {
            if !self.entries[0].resolved {
                lost += 1;
                self.resolve_at(0, Fate::Lost, now, false, &mut on_msg);
            }
            if let Some(old) = self.entries.pop_front() {
                self.recycle(old.messages);
            }
        }
        if self.unresolved_eliciting == 0 {
            // Nothing in flight: a sample starting here must not count the
            // idle time before it as time the path took.
            self.delivered_at = now;
            self.first_sent_at = now;
        }
        if ack_eliciting {
            self.unresolved_eliciting += 1;
        }
        self.entries.push_back(SentPacket {
            seq,
            sent_at: now,
            ack_eliciting,
            resolved: false,
            probed: false,
            bytes: bytes.min(u32::MAX as usize) as u32,
            delivery: DeliveryMark {
                delivered: self.delivered,
                delivered_at: self.delivered_at,
                first_sent_at: self.first_sent_at,
            },
            messages,
        });
        lost
    }

    /// Returns a list from [`take_list`](Self::take_list) that was not used.
    pub fn recycle(&mut self, mut list: Vec<MsgRef>) {
        list.clear();
        // A list never allocated (a packet that carried no message) is no spare.
        if list.capacity() > 0 && self.spare.len() < 64 {
            self.spare.push(list);
        }
    }

    fn resolve_at(
        &mut self,
        i: usize,
        fate: Fate,
        now: Instant,
        by_ack: bool,
        on_msg: &mut impl FnMut(MsgRef, Fate),
    ) {
        let p = &mut self.entries[i];
        p.resolved = true;
        if fate == Fate::Lost {
            if self.recently_lost.len() >= RECENT_LOSSES {
                self.recently_lost.pop_front();
            }
            self.recently_lost.push_back(LostRecord {
                seq: p.seq,
                declared_at: now,
                by_ack,
            });
        }
        if p.ack_eliciting {
            self.unresolved_eliciting -= 1;
        }
        for m in p.messages.drain(..) {
            on_msg(m, fate);
        }
    }

    /// Where the entry for `seq` is, if tracked; the tests' reference for
    /// the ordered search `on_ack` relies on.
    #[cfg(test)]
    fn index_of(&self, seq: u16) -> Option<usize> {
        let front = self.entries.front()?.seq;
        let offset = seq_diff(seq, front);
        if offset < 0 {
            return None;
        }
        // Entries are in send order but ack-only packets leave gaps, so the
        // offset is an upper bound on the index: search below it.
        let hi = (offset as usize).min(self.entries.len().saturating_sub(1));
        let (a, b) = self.entries.as_slices();
        let key = |p: &SentPacket| seq_diff(p.seq, front);
        let find = |s: &[SentPacket]| s.binary_search_by_key(&offset, key).ok();
        if hi < a.len() {
            find(&a[..=hi])
        } else {
            find(a).or_else(|| find(&b[..=(hi - a.len())]).map(|i| i + a.len()))
        }
    }

    /// Processes the ack header of a received packet.
    pub fn on_ack(
        &mut self,
        ack: u16,
        ack_bits: u32,
        next_seq: u16,
        now: Instant,
        mut on_msg: impl FnMut(MsgRef, Fate),
    ) -> AckOutcome {
        let mut out = AckOutcome::default();
        let mut newest_acked: Option<(u16, Instant)> = None;
        let mut newest_mark: Option<(Instant, DeliveryMark)> = None;
        // Entries are in send order: the ones this ack can name are the
        // newest no later than `ack`, walking back at most 32 numbers. Found
        // by one search, not one per bit: most acks name few tracked packets.
        let end = self.entries.front().map_or(0, |front| {
            let front = front.seq;
            let ack_offset = seq_diff(ack, front);
            self.entries
                .partition_point(|p| seq_diff(p.seq, front) <= ack_offset)
        });
        for idx in (0..end).rev() {
            let entry = &self.entries[idx];
            let seq = entry.seq;
            let behind = seq_diff(ack, seq);
            if behind > 32 {
                break;
            }
            if !names(behind, ack_bits) || entry.resolved {
                continue;
            }
            if entry.ack_eliciting {
                out.acked_eliciting += 1;
                if newest_acked.is_none_or(|(s, _)| seq_newer(seq, s)) {
                    newest_acked = Some((seq, entry.sent_at));
                }
            }
            out.acked_bytes += u64::from(entry.bytes);
            // Walking back: the first one met is the newest sent.
            if newest_mark.is_none() {
                newest_mark = Some((entry.sent_at, entry.delivery));
            }
            self.resolve_at(idx, Fate::Acked, now, false, &mut on_msg);
            out.acked += 1;
            if self.largest_acked.is_none_or(|l| seq_newer(seq, l)) {
                self.largest_acked = Some(seq);
            }
        }
        out.rtt_sample = newest_acked.map(|(_, sent_at)| now.saturating_duration_since(sent_at));
        if let Some((sent_at, mark)) = newest_mark {
            self.delivered += out.acked_bytes;
            self.delivered_at = now;
            self.first_sent_at = sent_at;
            out.rate_sample = Some(RateSample {
                delivered: self.delivered - mark.delivered,
                send_elapsed: sent_at.saturating_duration_since(mark.first_sent_at),
                ack_elapsed: now.saturating_duration_since(mark.delivered_at),
            });
        }
        if !self.recently_lost.is_empty() {
            self.take_back_losses(ack, ack_bits, next_seq, &mut out);
        }
        // The ack names the newest packet the peer has: perhaps an ack-only one
        // this record never held. It still proves everything sent before it had
        // its chance, and keeps `largest_acked` from falling half the number
        // space behind during a run of untracked packets.
        let sent_by_us = seq_diff(next_seq, ack) > 0;
        if sent_by_us && self.largest_acked.is_none_or(|l| seq_newer(ack, l)) {
            self.largest_acked = Some(ack);
        }
        self.pop_resolved();
        out
    }

    /// Forgets the declared losses this ack names, counting them in `out`
    /// (they arrived late) with when the earliest of them was declared.
    /// Losses further back than the record spans are forgotten too, so a
    /// number reused after a wrap is never taken back.
    fn take_back_losses(&mut self, ack: u16, ack_bits: u32, next_seq: u16, out: &mut AckOutcome) {
        let earliest = |e: Option<Instant>, t: Instant| Some(e.map_or(t, |e| e.min(t)));
        self.recently_lost.retain(|r| {
            if seq_diff(next_seq, r.seq) > MAX_TRACKED as i32 {
                return false;
            }
            let named = names(seq_diff(ack, r.seq), ack_bits);
            if named {
                out.spurious_losses += 1;
                out.spurious_declared_at = earliest(out.spurious_declared_at, r.declared_at);
                if r.by_ack {
                    out.reordered_declared_at = earliest(out.reordered_declared_at, r.declared_at);
                }
            }
            !named
        });
    }

    fn pop_resolved(&mut self) {
        while self.entries.front().is_some_and(|p| p.resolved) {
            if let Some(p) = self.entries.pop_front() {
                self.recycle(p.messages);
            }
        }
    }

    fn older_than_acked(&self, seq: u16) -> bool {
        self.largest_acked.is_some_and(|l| seq_newer(l, seq))
    }

    /// Declares packets lost: those sent before an acked packet and older than
    /// `loss_delay`, and ack-eliciting ones older than `rto`. Packets that asked
    /// for no ack and saw no later ack are forgotten, not counted, after `4 * rto`.
    pub fn detect_losses(
        &mut self,
        now: Instant,
        loss_delay: Duration,
        rto: Duration,
        mut on_msg: impl FnMut(MsgRef, Fate),
    ) -> Losses {
        let mut losses = Losses::default();
        let youngest_judged = loss_delay.min(rto);
        let mut i = 0;
        while i < self.entries.len() {
            let p = &self.entries[i];
            let age = now.saturating_duration_since(p.sent_at);
            if age < youngest_judged {
                break;
            }
            if !p.resolved {
                if self.older_than_acked(p.seq) && age >= loss_delay {
                    self.resolve_at(i, Fate::Lost, now, true, &mut on_msg);
                    losses.by_ack += 1;
                } else if p.ack_eliciting && age >= rto {
                    self.resolve_at(i, Fate::Lost, now, false, &mut on_msg);
                    losses.by_timeout += 1;
                } else if !p.ack_eliciting && age >= rto * 4 {
                    self.entries[i].resolved = true;
                }
            }
            i += 1;
        }
        self.pop_resolved();
        losses
    }

    /// When [`detect_losses`](Self::detect_losses) next has something to judge.
    pub fn next_loss_time(&self, loss_delay: Duration, rto: Duration) -> Option<Instant> {
        let mut earliest: Option<Instant> = None;
        for p in self.entries.iter().filter(|p| !p.resolved) {
            let due = if self.older_than_acked(p.seq) {
                p.sent_at + loss_delay
            } else if p.ack_eliciting {
                p.sent_at + rto
            } else {
                p.sent_at + rto * 4
            };
            earliest = Some(earliest.map_or(due, |e| e.min(due)));
            if p.ack_eliciting {
                // Later packets were sent later: none can be due sooner by the same rule.
                break;
            }
        }
        earliest
    }

    /// Where the packets no ack has yet shown to be older than the newest
    /// acked one begin: loss detection cannot judge those by time.
    fn first_unrevealed(&self) -> usize {
        let (Some(front), Some(largest)) = (self.entries.front(), self.largest_acked) else {
            return 0;
        };
        let largest = seq_diff(largest, front.seq);
        self.entries
            .partition_point(|p| seq_diff(p.seq, front.seq) <= largest)
    }

    /// The oldest ack-eliciting packet sent after the newest acked one, not
    /// yet resolved nor probed: the one whose overdue ack a probe asks for.
    fn probe_candidate(&self) -> Option<usize> {
        (self.first_unrevealed()..self.entries.len()).find(|&i| {
            let p = &self.entries[i];
            p.ack_eliciting && !p.resolved && !p.probed
        })
    }

    /// When [`probe`](Self::probe) next has a packet to probe, `pto` after it left.
    pub fn next_probe_time(&self, pto: Duration) -> Option<Instant> {
        self.probe_candidate()
            .map(|i| self.entries[i].sent_at + pto)
    }

    /// Probes the oldest ack-eliciting packet sent after the newest acked one
    /// if it has gone `pto` without an ack: hands its messages to `on_msg`
    /// to be sent again (as [`Fate::Lost`]), without declaring it lost. It
    /// stays in flight, so a late ack still counts, and it is declared lost
    /// only by the usual rules, which the probe's own ack lets run: that ack
    /// shows everything sent before the probe had its chance. Returns
    /// whether a packet was probed; `Some(true)` if it carried no message
    /// (a ping: the probe must then elicit an ack by itself).
    pub fn probe(
        &mut self,
        now: Instant,
        pto: Duration,
        mut on_msg: impl FnMut(MsgRef, Fate),
    ) -> Option<bool> {
        let i = self.probe_candidate()?;
        let p = &mut self.entries[i];
        if now.saturating_duration_since(p.sent_at) < pto {
            return None;
        }
        p.probed = true;
        for m in &p.messages {
            on_msg(*m, Fate::Lost);
        }
        Some(p.messages.is_empty())
    }

    /// The newest packet the peer acknowledged (or named in an ack).
    pub fn largest_acked(&self) -> Option<u16> {
        self.largest_acked
    }

    /// Whether no sent packet is remembered: nothing to judge lost.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Ack-eliciting packets sent and not yet acknowledged or declared lost.
    pub fn eliciting_in_flight(&self) -> usize {
        self.unresolved_eliciting
    }

    /// How far `next_seq` has run ahead of the newest packet the peer acked
    /// (or of the first packet, if none was acked).
    pub fn ahead_of_acked(&self, next_seq: u16) -> i32 {
        seq_diff(next_seq, self.largest_acked.unwrap_or(1))
    }

    /// Packets sent and not yet acknowledged or declared lost.
    pub fn in_flight(&self) -> usize {
        self.entries.iter().filter(|p| !p.resolved).count()
    }
}

/// Whether an ack of `ack` with `ack_bits` names the packet `behind`
/// numbers before `ack` (0: `ack` itself).
fn names(behind: i32, ack_bits: u32) -> bool {
    behind == 0 || (1..=32).contains(&behind) && ack_bits & (1 << (behind - 1)) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: u16) -> MsgRef {
        MsgRef { channel: 2, id }
    }

    fn send(s: &mut SentPackets, seq: u16, now: Instant, id: u16) {
        let mut list = s.take_list();
        list.push(msg(id));
        s.on_sent(seq, now, true, 100, list, |_, _| {});
    }

    /// A packet declared lost whose ack comes later is counted once as a
    /// spurious loss; a loss never acked is not, nor one that an ack names
    /// only after the numbers wrapped far past it.
    #[test]
    fn a_late_ack_takes_back_a_declared_loss_once() {
        let t0 = Instant::now();
        let mut s = SentPackets::new(t0);
        for seq in 1..=5 {
            send(&mut s, seq, t0, seq);
        }
        // 3..=5 acked, so 1 and 2 are judged lost.
        let out = s.on_ack(5, 0b11, 6, t0, |_, _| {});
        assert_eq!((out.acked, out.spurious_losses), (3, 0));
        let losses = s.detect_losses(t0, Duration::ZERO, Duration::from_secs(1), |_, _| {});
        assert_eq!(losses.by_ack, 2);
        // Packet 1 turns up late: the peer's next ack names it (bit 3 below 5).
        let t1 = t0 + Duration::from_millis(3);
        let out = s.on_ack(5, 0b1011, 6, t1, |_, _| panic!("already resolved"));
        assert_eq!((out.acked, out.spurious_losses), (0, 1));
        assert_eq!(out.spurious_declared_at, Some(t0));
        assert_eq!(out.reordered_declared_at, Some(t0), "lost for a later ack");
        let again = s.on_ack(5, 0b1011, 6, t0, |_, _| {});
        assert_eq!(again.spurious_losses, 0, "counted once");
        // Packet 2 never arrives; far later the same numbers come round again.
        let far = 2u16.wrapping_add(MAX_TRACKED as u16 + 10);
        let wrapped = s.on_ack(2, 0, far, t0, |_, _| {});
        assert_eq!(wrapped.spurious_losses, 0, "forgotten, not taken back");
    }

    /// A packet declared lost by its timeout whose ack comes later is a
    /// spurious loss, but shows no reordering past the loss delay.
    #[test]
    fn a_late_ack_of_a_timed_out_packet_is_not_reordering() {
        let t0 = Instant::now();
        let rto = Duration::from_millis(50);
        let mut s = SentPackets::new(t0);
        send(&mut s, 1, t0, 1);
        let losses = s.detect_losses(t0 + rto, rto, rto, |_, _| {});
        assert_eq!(losses.by_timeout, 1);
        let out = s.on_ack(1, 0, 2, t0 + rto * 2, |_, _| {});
        assert_eq!(out.spurious_losses, 1);
        assert_eq!(out.spurious_declared_at, Some(t0 + rto));
        assert_eq!(out.reordered_declared_at, None);
    }

    #[test]
    fn ack_resolves_messages_and_samples_rtt() {
        let t0 = Instant::now();
        let mut s = SentPackets::new(t0);
        for seq in 0..5u16 {
            send(&mut s, seq, t0, seq * 10);
        }
        let mut fates = Vec::new();
        let out = s.on_ack(4, 0b0111, 5, t0 + Duration::from_millis(20), |m, f| {
            fates.push((m.id, f))
        });
        // 4 acked, bits: 3, 2, 1 acked; 0 not.
        assert_eq!(out.acked, 4);
        assert_eq!(out.acked_eliciting, 4);
        assert_eq!(out.rtt_sample, Some(Duration::from_millis(20)));
        assert!(fates.contains(&(40, Fate::Acked)));
        assert!(!fates.iter().any(|f| f.0 == 0));
        // Packet 0 was sent before an acked one: lost once older than the loss delay.
        let delay = Duration::from_millis(25);
        let rto = Duration::from_millis(100);
        let early = s.detect_losses(t0 + Duration::from_millis(20), delay, rto, |_, _| {});
        assert_eq!(
            early,
            Losses::default(),
            "too young to call lost: may be reordered"
        );
        assert_eq!(s.next_loss_time(delay, rto), Some(t0 + delay));
        let mut lost = Vec::new();
        let late = s.detect_losses(t0 + delay, delay, rto, |m, f| lost.push((m.id, f)));
        assert_eq!(
            late,
            Losses {
                by_ack: 1,
                by_timeout: 0
            }
        );
        assert_eq!(lost, vec![(0, Fate::Lost)]);
        assert_eq!(s.in_flight(), 0);
        // A second ack of the same packets changes nothing.
        let again = s.on_ack(4, 0b0111, 5, t0, |_, _| panic!("resolved twice"));
        assert_eq!(again.acked, 0);
    }

    /// A packet (a resend, say) with no later packet acked is probed once
    /// its probe timeout passes, before any RTO: its messages are handed
    /// back for sending again, it is not declared lost, it is probed once,
    /// and its own late ack still resolves it.
    #[test]
    fn an_unrevealed_packet_is_probed_before_the_rto_not_declared_lost() {
        let t0 = Instant::now();
        let mut s = SentPackets::new(t0);
        send(&mut s, 1, t0, 10);
        send(&mut s, 2, t0, 20);
        // 2 is acked: 1 is older than an acked packet, for loss detection to judge.
        s.on_ack(2, 0, 3, t0 + Duration::from_millis(20), |_, _| {});
        send(&mut s, 3, t0 + Duration::from_millis(21), 30);
        let pto = Duration::from_millis(24);
        assert_eq!(
            s.next_probe_time(pto),
            Some(t0 + Duration::from_millis(21) + pto),
            "the packet no ack has judged, not the revealed one"
        );
        let early = t0 + Duration::from_millis(30);
        assert_eq!(s.probe(early, pto, |_, _| panic!("too early")), None);
        let mut again = Vec::new();
        let due = t0 + Duration::from_millis(21) + pto;
        assert_eq!(s.probe(due, pto, |m, f| again.push((m.id, f))), Some(false));
        assert_eq!(again, vec![(30, Fate::Lost)]);
        assert_eq!(s.next_probe_time(pto), None, "probed once");
        assert_eq!(s.eliciting_in_flight(), 2, "still in flight: 1 and 3");
        let out = s.on_ack(3, 0, 4, due, |_, _| {});
        assert_eq!((out.acked, out.spurious_losses), (1, 0));
    }

    /// The delivery-rate sample of a steady flow covers one round trip of
    /// sending and one of acks.
    #[test]
    fn an_ack_brings_a_delivery_rate_sample() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = SentPackets::new(t0);
        send(&mut s, 1, t0, 1);
        send(&mut s, 2, t0 + ms(10), 2);
        s.on_ack(1, 0, 3, t0 + ms(20), |_, _| {});
        send(&mut s, 3, t0 + ms(20), 3);
        s.on_ack(2, 0, 4, t0 + ms(30), |_, _| {});
        let out = s.on_ack(3, 0, 4, t0 + ms(40), |_, _| {});
        // Packet 3 left with 1 acked (sent at 0, acked at 20); by its ack,
        // 2 and 3 (200 bytes) were delivered over 20 ms of each.
        assert_eq!(
            out.rate_sample,
            Some(RateSample {
                delivered: 200,
                send_elapsed: ms(20),
                ack_elapsed: ms(20),
            })
        );
        assert!((out.rate_sample.map_or(0.0, |r| r.rate()) - 10_000.0).abs() < 1e-6);
    }

    #[test]
    fn timeout_declares_loss_in_send_order() {
        let t0 = Instant::now();
        let mut s = SentPackets::new(t0);
        send(&mut s, 65_535, t0, 1);
        send(&mut s, 1, t0 + Duration::from_millis(10), 2);
        let rto = Duration::from_millis(50);
        let delay = Duration::from_millis(20);
        assert_eq!(s.next_loss_time(delay, rto), Some(t0 + rto));
        let mut lost = Vec::new();
        let losses = s.detect_losses(t0 + rto, delay, rto, |m, _| lost.push(m.id));
        assert_eq!(
            losses,
            Losses {
                by_ack: 0,
                by_timeout: 1
            }
        );
        assert_eq!(lost, vec![1]);
        assert_eq!(
            s.next_loss_time(delay, rto),
            Some(t0 + Duration::from_millis(10) + rto)
        );
        assert_eq!(s.eliciting_in_flight(), 1);
    }

    #[test]
    fn an_ack_of_an_untracked_packet_moves_largest_acked() {
        let t0 = Instant::now();
        let mut s = SentPackets::new(t0);
        send(&mut s, 1, t0, 7);
        // Packets 2..=40 were ack-only (untracked); the peer acks 40 only.
        let out = s.on_ack(40, 0, 41, t0, |_, _| {});
        assert_eq!(out.acked, 0);
        assert_eq!(s.ahead_of_acked(41), 1);
        let delay = Duration::from_millis(5);
        let losses = s.detect_losses(t0 + delay, delay, Duration::from_secs(1), |_, _| {});
        assert_eq!(
            losses,
            Losses {
                by_ack: 1,
                by_timeout: 0
            }
        );
        // An ack naming a packet not yet sent is ignored.
        let _ = s.on_ack(500, 0, 41, t0, |_, _| {});
        assert_eq!(s.ahead_of_acked(41), 1);
    }

    #[test]
    fn the_record_never_spans_half_the_number_space() {
        let t0 = Instant::now();
        let mut s = SentPackets::new(t0);
        send(&mut s, 1, t0, 1);
        let mut lost = Vec::new();
        let list = s.take_list();
        s.on_sent(1 + MAX_TRACKED as u16, t0, true, 100, list, |m, f| {
            lost.push((m.id, f))
        });
        assert_eq!(lost, vec![(1, Fate::Lost)]);
        assert_eq!(s.index_of(1 + MAX_TRACKED as u16), Some(0));
    }

    /// The ack walk resolves exactly the packets a lookup of each of the 33
    /// numbers an ack names would, through gaps (untracked ack-only packets),
    /// the wrap, acks naming untracked or unsent numbers, and old acks.
    #[test]
    fn an_ack_resolves_exactly_the_packets_it_names() {
        let t0 = Instant::now();
        let mut x = 0x9e37_79b9_u32;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let mut s = SentPackets::new(t0);
        let mut seq = 65_400u16;
        for round in 0..4000u32 {
            // Send one to three tracked packets, sometimes after a gap.
            for _ in 0..1 + next() % 3 {
                seq = seq.wrapping_add(1 + u16::from(next() % 4 == 0) * (next() % 5) as u16);
                send(&mut s, seq, t0, (round % 60_000) as u16);
            }
            let ack = seq.wrapping_sub((next() % 40) as u16);
            let bits = next();
            let expected: Vec<u16> = (0..=32u16)
                .filter(|&i| i == 0 || bits & (1 << (i - 1)) != 0)
                .map(|i| ack.wrapping_sub(i))
                .filter(|&n| s.index_of(n).is_some_and(|i| !s.entries[i].resolved))
                .collect();
            let out = s.on_ack(ack, bits, seq.wrapping_add(1), t0, |_, _| {});
            assert_eq!(out.acked as usize, expected.len(), "round {round}");
            for n in expected {
                assert!(s.index_of(n).is_none_or(|i| s.entries[i].resolved));
            }
            if round % 7 == 0 {
                s.detect_losses(t0, Duration::ZERO, Duration::ZERO, |_, _| {});
            }
        }
    }

    #[test]
    fn lookup_works_with_gaps_and_wrap() {
        let t0 = Instant::now();
        let mut s = SentPackets::new(t0);
        let seqs = [65_530u16, 65_533, 65_535, 1, 2, 7];
        for (i, seq) in seqs.iter().enumerate() {
            send(&mut s, *seq, t0, i as u16);
        }
        for (i, seq) in seqs.iter().enumerate() {
            assert_eq!(s.index_of(*seq), Some(i), "seq {seq}");
        }
        assert_eq!(s.index_of(3), None);
        assert_eq!(s.index_of(65_000), None);
    }
}
