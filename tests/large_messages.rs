//! Large messages and channels over the simulated network: messages of a
//! mebibyte through a hostile link arrive intact, once and in channel order;
//! a gap on one ordered channel never holds back another.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{ms, run_seeds, secs, Log, Net, Pair};
use lentil::{Config, Delivery, LinkConditioner};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

const MIB: usize = 1024 * 1024;

/// 20% loss, 10% duplication, 10% reordered by 15 ms, 10±10 ms latency, both ways.
fn hostile() -> LinkConditioner {
    LinkConditioner::new()
        .loss(0.20)
        .duplicate(0.10)
        .reorder(0.10, ms(15))
        .latency(ms(10))
        .jitter(ms(10))
}

fn random_bytes(rng: &mut ChaCha8Rng, len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// Channels used below: one of each reliable mode plus an unreliable one.
fn channels_config() -> Config {
    Config {
        channels: vec![
            Delivery::ReliableOrdered,
            Delivery::Reliable,
            Delivery::Unreliable,
        ],
        ..Config::default()
    }
}

#[test]
fn mebibyte_messages_arrive_intact_once_and_in_channel_order_through_a_hostile_link() {
    let results = run_seeds(1..=3u64, |seed| {
        let net = Net::sim(seed);
        net.set_conditioner(hostile());
        let config = channels_config();
        let mut pair = Pair::connected(&net, config.clone(), config);
        let got: Log<(u8, Vec<u8>)> = Log::new();
        let g = got.clone();
        pair.server
            .on_message(move |_, _, m| g.push((m.channel, m.payload.to_vec())));

        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Sizes: two full mebibytes and some between one and a few packets.
        let sizes = [MIB, 3000, 1401, MIB, 200_000, 7];
        let mut sent: HashMap<u8, Vec<Vec<u8>>> = HashMap::new();
        for (i, size) in sizes.iter().enumerate() {
            let channel = (i % 2) as u8;
            let bytes = random_bytes(&mut rng, *size);
            // A small message behind mebibytes still queued waits its turn
            // (`max_send_queue_delay`), as a game's sender would.
            loop {
                match pair.client.send_on(channel, &bytes) {
                    Ok(()) => break,
                    Err(lentil::Error::QueueFull { .. }) => pair.pump_for(ms(1)),
                    Err(e) => panic!("send: {e}"),
                }
            }
            sent.entry(channel).or_default().push(bytes);
        }
        let start = net.now();
        let done = pair.pump_until(secs(120), |_, _| got.len() >= sizes.len());
        let elapsed = net.now() - start;
        pair.pump_for(secs(1));
        (done, elapsed, sent, got.items(), pair.client.metrics())
    });
    for (seed, (done, elapsed, sent, got, metrics)) in results.into_iter().enumerate() {
        assert!(
            done,
            "seed {seed}: not everything arrived in 120 s: {metrics:?}"
        );
        assert_eq!(got.len(), 6, "seed {seed}: a message arrived twice");
        let ordered: Vec<&Vec<u8>> = got.iter().filter(|m| m.0 == 0).map(|m| &m.1).collect();
        let expected: Vec<&Vec<u8>> = sent[&0].iter().collect();
        assert!(
            ordered == expected,
            "seed {seed}: ordered channel out of order or corrupted"
        );
        let mut unordered: Vec<&Vec<u8>> = got.iter().filter(|m| m.0 == 1).map(|m| &m.1).collect();
        let mut expected: Vec<&Vec<u8>> = sent[&1].iter().collect();
        unordered.sort();
        expected.sort();
        assert!(
            unordered == expected,
            "seed {seed}: unordered channel lost or corrupted a message"
        );
        println!(
            "seed {seed}: 2.2 MB through 20% loss in {:.2} virtual s, {} resends",
            elapsed.as_secs_f64(),
            metrics.resends
        );
    }
}

#[test]
fn a_gap_on_one_ordered_channel_does_not_delay_another() {
    let net = Net::sim(7);
    net.set_conditioner(LinkConditioner::new().latency(ms(10)));
    let config = Config {
        channels: vec![Delivery::ReliableOrdered, Delivery::ReliableOrdered],
        ..Config::default()
    };
    let mut pair = Pair::connected(&net, config.clone(), config);
    let got: Log<(u8, Vec<u8>, Duration)> = Log::new();
    let (g, clock) = (got.clone(), net.clone());
    pair.server
        .on_message(move |_, _, m| g.push((m.channel, m.to_vec(), clock.now())));
    // Let the RTT settle so the retransmission timeout is the floor.
    pair.pump_for(secs(2));

    // The first message on channel 0 is lost.
    let sim = net.sim_net().expect("sim").clone();
    sim.set_blackout(true);
    pair.client.send_on(0, b"lost first").unwrap();
    pair.client.update();
    sim.set_blackout(false);
    let sent_at = net.now();
    pair.client.send_on(0, b"waits behind the gap").unwrap();
    for i in 0..20u8 {
        pair.client.send_on(1, [i]).unwrap();
    }
    assert!(pair.pump_until(secs(5), |_, _| got.len() == 22));

    let arrivals = got.items();
    let on = |channel: u8| -> Vec<(Vec<u8>, Duration)> {
        arrivals
            .iter()
            .filter(|m| m.0 == channel)
            .map(|m| (m.1.clone(), m.2 - sent_at))
            .collect()
    };
    let free = on(1);
    assert_eq!(
        free.iter().map(|m| m.0.clone()).collect::<Vec<_>>(),
        (0..20u8).map(|i| vec![i]).collect::<Vec<_>>()
    );
    // One-way latency is 10 ms: channel 1 arrives at once...
    assert!(
        free.iter().all(|m| m.1 <= ms(12)),
        "channel 1 was held back: {free:?}"
    );
    // ...while channel 0 waits a round trip or more for the resend.
    let held = on(0);
    assert_eq!(held[0].0, b"lost first");
    assert_eq!(held[1].0, b"waits behind the gap");
    assert!(
        held[1].1 >= ms(30),
        "channel 0 delivered past its gap before the resend: {held:?}"
    );
}

#[test]
fn unreliable_messages_larger_than_a_packet_are_refused_and_channels_are_checked() {
    let net = Net::sim(3);
    let config = channels_config();
    let mut pair = Pair::connected(&net, config.clone(), config.clone());
    let single = config.max_packet_payload();
    assert_eq!(
        pair.client.send_on(2, vec![0; single + 1]),
        Err(lentil::Error::MessageTooLarge {
            size: single + 1,
            max: single
        })
    );
    assert_eq!(
        pair.client.send_on(9, b"x"),
        Err(lentil::Error::UnknownChannel(9))
    );
    assert_eq!(
        pair.client.send(b"x", Delivery::UnreliableSequenced),
        Err(lentil::Error::NoChannelFor(Delivery::UnreliableSequenced))
    );
    // `send` with a mode uses the first channel of that mode.
    let got: Log<(u8, Delivery)> = Log::new();
    let g = got.clone();
    pair.server
        .on_message(move |_, _, m| g.push((m.channel, m.delivery)));
    pair.client.send(b"x", Delivery::Reliable).unwrap();
    assert!(pair.pump_until(secs(1), |_, _| got.len() == 1));
    assert_eq!(got.items(), vec![(1, Delivery::Reliable)]);
}
