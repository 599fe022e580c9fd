//! The RTT estimate follows a path whose latency grows, even when most
//! packets carry only unreliable messages (whose acks say nothing about
//! whether the retransmission timeout is long enough).

mod common;

use common::{ms, secs, Net, Pair};
use lentil::{Config, Delivery, LinkConditioner};

#[test]
fn rtt_follows_a_latency_increase_on_a_mostly_unreliable_stream() {
    let net = Net::sim(21);
    let link = |one_way| LinkConditioner::new().latency(ms(one_way)).jitter(ms(5));
    net.set_conditioner(link(30));
    let mut pair = Pair::connected(&net, Config::default(), Config::default());
    let peer = pair.peer();
    let mut tick = 0u64;
    let mut run = |pair: &mut Pair, duration| {
        let net = pair.net.clone();
        net.run_for(duration, || {
            // A game at about 60 Hz: its state unreliable every frame, an
            // event reliably every sixth, the server's snapshots unreliable.
            if tick % 16 == 0 {
                let _ = pair.client.send([1u8; 20], Delivery::UnreliableSequenced);
                if tick % 96 == 0 {
                    let _ = pair.client.send([2u8; 20], Delivery::ReliableOrdered);
                }
                if tick % 48 == 0 {
                    let _ = pair.server.send(peer, [3u8; 60], Delivery::Unreliable);
                }
            }
            tick += 1;
            pair.update();
        });
    };
    run(&mut pair, secs(5));
    let before = pair.client.metrics();
    net.set_conditioner(link(80));
    run(&mut pair, secs(20));
    let after = pair.client.metrics();
    let lost = after.packets_lost - before.packets_lost;
    println!(
        "srtt {:?} before, {:?} after the latency grew to 160-170 ms; {lost} packets declared lost",
        before.srtt, after.srtt
    );
    assert!(
        after.srtt >= ms(150) && after.srtt <= ms(190),
        "srtt stuck at {:?}",
        after.srtt
    );
    assert!(lost < 20, "{lost} packets declared lost on a lossless link");
}
