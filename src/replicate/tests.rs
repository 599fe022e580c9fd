//! Scenario tests of the sans-IO core: a server-side [`PeerReplica`] and a
//! client-side [`WorldView`] joined by hand, so each test decides exactly
//! which snapshot and which acknowledgement is lost.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::*;

const TICK: Duration = Duration::from_millis(16);
const ROOM: usize = 1200;

fn world(n: u32, topic: Topic) -> ReplicatedMap<u32, u64> {
    let mut w = ReplicatedMap::new();
    for k in 0..n {
        w.insert(k, topic, u64::from(k) * 1000).unwrap();
    }
    w
}

fn scoped(world: &ReplicatedMap<u32, u64>, replica: &PeerReplica<u32>) -> BTreeMap<u32, u64> {
    world
        .iter()
        .filter(|(_, t, _)| replica.topics().contains(t))
        .map(|(k, _, v)| (*k, *v))
        .collect()
}

/// Builds, applies and acknowledges one snapshot with nothing lost.
fn deliver(
    now: Instant,
    w: &ReplicatedMap<u32, u64>,
    tx: &mut PeerReplica<u32>,
    rx: &mut WorldView<u32, u64>,
) -> usize {
    let frame = tx.build(now, w, ROOM).unwrap().expect("something to send");
    let seq = rx.apply(&frame).unwrap().expect("applied");
    assert!(tx.handle_ack(seq));
    frame.len()
}

#[test]
fn a_delta_carries_only_what_changed_since_the_acknowledged_snapshot() {
    let t0 = Instant::now();
    let mut w = world(50, 1);
    let (mut tx, mut rx) = (PeerReplica::new(), WorldView::<u32, u64>::new());
    tx.subscribe(1);
    let full = deliver(t0, &w, &mut tx, &mut rx);
    assert_eq!(rx.entries(), &scoped(&w, &tx));
    w.set(7, 1).unwrap();
    let delta = deliver(t0 + TICK, &w, &mut tx, &mut rx);
    assert!(delta * 10 < full, "delta {delta} bytes, full {full}");
    assert_eq!(tx.stats().entries_sent, 51);
    assert_eq!(rx.get(&7), Some(&1));
    assert_eq!(rx.entries(), &scoped(&w, &tx));
    // Nothing changed and everything acknowledged: nothing to send.
    assert!(tx.build(t0 + 2 * TICK, &w, ROOM).unwrap().is_none());
}

#[test]
fn a_client_that_missed_snapshots_catches_up_from_its_own_baseline() {
    let t0 = Instant::now();
    let mut w = world(20, 1);
    let (mut tx, mut rx) = (PeerReplica::new(), WorldView::<u32, u64>::new());
    tx.subscribe(1);
    deliver(t0, &w, &mut tx, &mut rx);
    w.set(1, 11).unwrap();
    let lost = tx.build(t0 + TICK, &w, ROOM).unwrap().unwrap();
    w.set(2, 22).unwrap();
    w.remove(&3);
    let frame = tx.build(t0 + 2 * TICK, &w, ROOM).unwrap().unwrap();
    let seq = rx.apply(&frame).unwrap().expect("baseline held");
    assert_eq!(rx.entries(), &scoped(&w, &tx));
    // The lost one shows up late: older than the view, dropped.
    assert_eq!(rx.apply(&lost).unwrap(), None);
    assert_eq!(rx.stats().stale, 1);
    assert!(tx.handle_ack(seq));
    assert_eq!(tx.acked(), Some(seq));
}

#[test]
fn a_delta_is_never_applied_to_a_baseline_the_client_does_not_hold() {
    let t0 = Instant::now();
    let mut w = world(5, 1);
    let (mut tx, mut rx) = (PeerReplica::new(), WorldView::<u32, u64>::new());
    tx.subscribe(1);
    let first = tx.build(t0, &w, ROOM).unwrap().unwrap();
    // The server hears an ack for a snapshot this client never applied (a
    // second view stands in for the client that did).
    let mut other = WorldView::<u32, u64>::new();
    tx.handle_ack(other.apply(&first).unwrap().unwrap());
    w.set(0, 9).unwrap();
    let delta = tx.build(t0 + TICK, &w, ROOM).unwrap().unwrap();
    assert_eq!(rx.apply(&delta).unwrap(), None);
    assert_eq!(rx.stats().missing_baseline, 1);
    assert!(rx.entries().is_empty());
    assert_eq!(other.apply(&delta).unwrap(), Some(2));
}

#[test]
fn with_no_baseline_left_a_full_snapshot_goes() {
    let t0 = Instant::now();
    let mut w = world(10, 1);
    let (mut tx, mut rx) = (PeerReplica::new(), WorldView::<u32, u64>::new());
    tx.subscribe(1);
    deliver(t0, &w, &mut tx, &mut rx);
    assert_eq!(tx.stats().full_snapshots, 1);
    // Every acknowledgement is lost while the world keeps changing.
    let mut last = Vec::new();
    for i in 0..=SNAPSHOT_HISTORY as u32 {
        w.set(i % 10, u64::from(i) + 1_000_000).unwrap();
        last = tx.build(t0 + TICK * (i + 1), &w, ROOM).unwrap().unwrap();
    }
    assert_eq!(
        tx.acked(),
        None,
        "the acknowledged snapshot fell out of the history"
    );
    assert_eq!(tx.stats().full_snapshots, 2);
    assert!(
        rx.apply(&last).unwrap().is_some(),
        "a full snapshot needs no baseline"
    );
    assert_eq!(rx.entries(), &scoped(&w, &tx));
}

#[test]
fn after_unsubscribing_the_client_is_told_what_left_and_gets_nothing_more() {
    let t0 = Instant::now();
    let mut w = world(6, 1);
    for k in 10..14 {
        w.insert(k, 2, 5).unwrap();
    }
    let (mut tx, mut rx) = (PeerReplica::new(), WorldView::<u32, u64>::new());
    tx.subscribe(1);
    tx.subscribe(2);
    deliver(t0, &w, &mut tx, &mut rx);
    assert_eq!(rx.entries().len(), 10);
    rx.drain_changes().for_each(drop);
    tx.unsubscribe(2);
    deliver(t0 + TICK, &w, &mut tx, &mut rx);
    let left: Vec<_> = rx.drain_changes().collect();
    assert_eq!(left, (10..14).map(ViewChange::Left).collect::<Vec<_>>());
    for k in 10..14 {
        w.set(k, 6).unwrap();
    }
    assert!(
        tx.build(t0 + 2 * TICK, &w, ROOM).unwrap().is_none(),
        "topic 2 is out of scope"
    );
    assert_eq!(rx.entries(), &scoped(&w, &tx));
}

#[test]
fn a_new_subscriber_gets_the_current_values() {
    let t0 = Instant::now();
    let mut w = world(3, 1);
    w.insert(100, 7, 42).unwrap();
    let (mut tx, mut rx) = (PeerReplica::new(), WorldView::<u32, u64>::new());
    tx.subscribe(1);
    deliver(t0, &w, &mut tx, &mut rx);
    assert_eq!(rx.get(&100), None);
    rx.drain_changes().for_each(drop);
    tx.subscribe(7);
    deliver(t0 + TICK, &w, &mut tx, &mut rx);
    assert_eq!(rx.get(&100), Some(&42));
    assert_eq!(
        rx.drain_changes().collect::<Vec<_>>(),
        vec![ViewChange::Added(100)]
    );
}

#[test]
fn within_a_small_budget_entries_go_by_priority_and_none_starves() {
    let t0 = Instant::now();
    let mut w = world(60, 1);
    w.set_importance(&0, 20.0);
    let (mut tx, mut rx) = (PeerReplica::new(), WorldView::<u32, u64>::new());
    tx.subscribe(1);
    let mut sent: HashMap<u32, u32> = HashMap::new();
    let mut before = BTreeMap::new();
    for tick in 0..200u32 {
        // Everything changes every tick: far more than 80 bytes carry.
        for k in 0..60 {
            w.set(k, u64::from(tick) * 100 + u64::from(k)).unwrap();
        }
        let now = t0 + TICK * tick;
        let Some(frame) = tx.build(now, &w, 80).unwrap() else {
            continue;
        };
        assert!(frame.len() <= 80);
        let seq = rx.apply(&frame).unwrap().unwrap();
        tx.handle_ack(seq);
        for (k, v) in rx.entries() {
            if before.get(k) != Some(v) {
                *sent.entry(*k).or_default() += 1;
            }
        }
        before = rx.entries().clone();
    }
    assert_eq!(sent.len(), 60, "every entry got through");
    let average = sent.values().sum::<u32>() as f64 / 60.0;
    assert!(
        f64::from(sent[&0]) > 3.0 * average,
        "important entry {} vs average {average}",
        sent[&0]
    );
}

#[test]
fn acknowledgements_for_unsent_snapshots_are_ignored() {
    let w = world(2, 1);
    let mut tx = PeerReplica::new();
    tx.subscribe(1);
    tx.build(Instant::now(), &w, ROOM).unwrap().unwrap();
    assert!(!tx.handle_ack(999));
    assert_eq!(tx.stats().unknown_acks, 1);
    assert_eq!(tx.acked(), None);
}

/// Random inputs from a fixed seed: the same cases on every run.
fn random_inputs(cases: usize, max_len: usize) -> impl Iterator<Item = Vec<u8>> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5eed);
    (0..cases).map(move |_| {
        let len = rng.gen_range(0..=max_len);
        (0..len).map(|_| rng.gen()).collect()
    })
}

#[test]
fn any_bytes_are_refused_or_applied_without_panic() {
    for bytes in random_inputs(2_000, 64) {
        let mut rx: WorldView<u32, String> = WorldView::with_max_entries(8);
        let mut frame = vec![1u8];
        frame.extend_from_slice(&bytes);
        let _ = rx.apply(&frame);
        let _ = rx.apply(&bytes);
        assert!(rx.entries().len() <= 8);
        let mut link: StateLink<u8, String> = StateLink::new(0).unwrap();
        let _ = link.handle(&bytes);
    }
}

#[test]
fn state_changes_within_the_flush_delay_go_as_one_with_the_last_value() {
    let t0 = Instant::now();
    let mut a: StateLink<u32, u32> = StateLink::new(0).unwrap();
    let mut b: StateLink<u32, u32> = StateLink::new(0).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    b.on_change(move |v| log.lock().unwrap().push(*v));
    assert_eq!(a.autoflush_delay(), DEFAULT_AUTOFLUSH_DELAY);
    let hello = a
        .poll_transmit(t0, ROOM, TICK)
        .expect("the initial value goes at once");
    b.handle(&hello.bytes).unwrap();
    a.set_local(1).unwrap();
    assert!(a.poll_transmit(t0, ROOM, Duration::from_secs(9)).is_none());
    a.set_local(2).unwrap();
    a.set_local(3).unwrap();
    assert!(a
        .poll_transmit(
            t0 + Duration::from_millis(100),
            ROOM,
            Duration::from_secs(9)
        )
        .is_none());
    let frame = a
        .poll_transmit(t0 + DEFAULT_AUTOFLUSH_DELAY, ROOM, Duration::from_secs(9))
        .unwrap();
    assert!(!frame.reliable);
    b.handle(&frame.bytes).unwrap();
    assert_eq!(b.remote(), Some(&3));
    assert_eq!(*seen.lock().unwrap(), vec![0, 3]);
    // Both directions: b's acknowledgement settles a.
    let ack = b.poll_transmit(t0, ROOM, TICK).unwrap();
    a.handle(&ack.bytes).unwrap();
    assert!(a.is_synced());
}

#[test]
fn a_lost_state_value_is_repeated_newest_first_and_flush_skips_the_delay() {
    let t0 = Instant::now();
    let mut a: StateLink<String, ()> = StateLink::new(String::new()).unwrap();
    let mut b: StateLink<(), String> = StateLink::new(()).unwrap();
    a.poll_transmit(t0, ROOM, TICK).unwrap(); // lost
    a.set_local("red".into()).unwrap();
    a.flush();
    let first = a.poll_transmit(t0, ROOM, TICK).unwrap(); // lost too
    assert!(a.poll_transmit(t0 + TICK / 2, ROOM, TICK).is_none());
    let again = a.poll_transmit(t0 + TICK, ROOM, TICK).expect("repeated");
    assert_eq!(again, first);
    b.handle(&again.bytes).unwrap();
    assert_eq!(b.remote().map(String::as_str), Some("red"));
    // An older copy arriving late changes nothing.
    let mut stale = vec![codec::STATE];
    codec::put(&mut stale, &1u32).unwrap();
    codec::put(&mut stale, "").unwrap();
    b.handle(&stale).unwrap();
    assert_eq!(b.remote().map(String::as_str), Some("red"));
    a.handle(&b.poll_transmit(t0, ROOM, TICK).unwrap().bytes)
        .unwrap();
    assert!(a.is_synced());
    assert!(a.poll_transmit(t0 + TICK * 10, ROOM, TICK).is_none());
}

#[test]
fn a_state_value_larger_than_a_packet_goes_reliable_once() {
    let t0 = Instant::now();
    let mut a: StateLink<Vec<u8>, ()> = StateLink::new(vec![7; 3000]).unwrap();
    let t = a.poll_transmit(t0, ROOM, TICK).unwrap();
    assert!(t.reliable);
    assert!(a.poll_transmit(t0 + TICK * 5, ROOM, TICK).is_none());
}

#[test]
fn with_late_acknowledgements_and_a_short_budget_nothing_starves_or_steps_back() {
    // Acknowledgements take 5 builds to return and the client acknowledges
    // only its newest snapshot; a third of the world changes every build,
    // more than the budget carries.
    let t0 = Instant::now();
    let mut w = world(120, 1);
    let (mut tx, mut rx) = (PeerReplica::new(), WorldView::<u32, u64>::new());
    tx.subscribe(1);
    let mut acks = std::collections::VecDeque::new();
    let mut last_seen: HashMap<u32, u32> = HashMap::new();
    let mut stalest = 0;
    for tick in 1..=600u32 {
        for k in (tick % 3..120).step_by(3) {
            w.set(k, u64::from(tick) << 8 | u64::from(k)).unwrap();
        }
        if let Some(frame) = tx.build(t0 + TICK * tick, &w, 300).unwrap() {
            if let Some(seq) = rx.apply(&frame).unwrap() {
                acks.push_back((tick + 5, seq));
            }
        }
        while acks.front().is_some_and(|(due, _)| *due <= tick) {
            let (_, seq) = acks.pop_front().unwrap();
            tx.handle_ack(seq);
        }
        for change in rx.drain_changes() {
            assert!(
                !matches!(change, ViewChange::Left(_)),
                "nothing was removed: {change:?}"
            );
        }
        if tick > 100 {
            for k in 0..120 {
                let shown = rx.get(&k).map(|v| (v >> 8) as u32);
                let shown_tick = shown.unwrap_or(0);
                let prev = last_seen.insert(k, shown_tick).unwrap_or(0);
                assert!(shown_tick >= prev, "entry {k} stepped back from tick {prev} to {shown_tick} at {tick}: {:?} {:?} acked {:?} newest {:?}", tx.stats(), rx.stats(), tx.acked(), rx.newest());
                stalest = stalest.max(tick - shown_tick);
            }
        }
    }
    assert!(stalest < 100, "an entry waited {stalest} builds");
}
