//! A replicated world: the server moves 500 entities in two rooms and three
//! clients, each behind its own link conditioner, watch them. Once a
//! (virtual) second each client prints how far its view is from the truth:
//! entities shown wrong, and the age of the stalest value it shows.
//!
//! `cargo run --release --example replicated_world -- --seconds 10`
//! (default 5; the run is in virtual time and exits by itself).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use lentil::replicate::{ReplicationClient, ReplicationConfig, ReplicationServer};
use lentil::{Client, Config, LinkConditioner, Server, ServerEvent, SimNetwork};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// An entity: position in centimetres, and the tick it was last moved on
/// (how the clients tell the age of what they show).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entity {
    x: i32,
    y: i32,
    moved_at: u32,
}

/// A client as the example drives it: its name, engine, replica and rooms.
type Viewer = (
    &'static str,
    Client,
    ReplicationClient<u32, Entity>,
    BTreeSet<u32>,
);

const ENTITIES: u32 = 500;
const TICK: Duration = Duration::from_millis(16);
const SERVER: &str = "10.0.0.1:9000";

fn main() {
    let seconds: u32 = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let net = SimNetwork::new(1);
    let mut config = Config::default();
    let repl_config = ReplicationConfig::default();
    repl_config.apply_to(&mut config);

    let mut server = Server::sandbox(config.clone(), &net);
    server.listen(SERVER).expect("listen");
    let mut world: ReplicationServer<u32, Entity> = ReplicationServer::new(repl_config.clone(), ());
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for k in 0..ENTITIES {
        let e = Entity {
            x: rng.gen_range(-10_000..10_000),
            y: rng.gen_range(-10_000..10_000),
            moved_at: 0,
        };
        world.world_mut().insert(k, k % 2, e).expect("insert");
    }

    let links = [
        (
            "clean, 20 ms",
            LinkConditioner::new().latency(Duration::from_millis(10)),
        ),
        (
            "5% loss, 60 ms",
            LinkConditioner::new()
                .latency(Duration::from_millis(30))
                .loss(0.05),
        ),
        (
            "20% loss, jitter",
            LinkConditioner::new()
                .latency(Duration::from_millis(40))
                .jitter(Duration::from_millis(20))
                .loss(0.2)
                .duplicate(0.05),
        ),
    ];
    let server_addr: SocketAddr = SERVER.parse().expect("address");
    let mut clients: Vec<Viewer> = Vec::new();
    for (i, (name, link)) in links.iter().enumerate() {
        let mut client = Client::sandbox(config.clone(), &net);
        client.connect(SERVER).expect("connect");
        let addr = client.local_addr().expect("bound");
        net.set_link_conditioner(server_addr, addr, link.clone());
        net.set_link_conditioner(addr, server_addr, link.clone());
        // The first client watches both rooms, the others one each.
        let rooms = if i == 0 {
            BTreeSet::from([0, 1])
        } else {
            BTreeSet::from([i as u32 - 1])
        };
        let repl = ReplicationClient::new(repl_config.clone(), ()).expect("client");
        clients.push((name, client, repl, rooms));
    }

    let ticks_per_second = (1000 / TICK.as_millis()) as u32;
    for tick in 1..=seconds * ticks_per_second {
        // Every entity drifts; a fifth of them move each tick.
        for _ in 0..ENTITIES / 5 {
            let k = rng.gen_range(0..ENTITIES);
            let mut e = world.world().get(&k).cloned().expect("entity");
            e.x += rng.gen_range(-50..=50);
            e.y += rng.gen_range(-50..=50);
            e.moved_at = tick;
            world.world_mut().set(k, e).expect("set");
        }
        let now = net.clock().now();
        let events: Vec<_> = server.update_events().collect();
        for event in &events {
            world.handle_event(event);
            if let ServerEvent::Connected { peer, addr } = event {
                if let Some((_, _, _, rooms)) =
                    clients.iter().find(|c| c.1.local_addr() == Some(*addr))
                {
                    for &room in rooms {
                        world.subscribe(*peer, room);
                    }
                }
            }
        }
        world.update(&mut server, now).expect("replication");
        server.flush();
        for (_, client, repl, _) in &mut clients {
            let events: Vec<_> = client.update_events().collect();
            for event in &events {
                repl.handle_event(event);
            }
            repl.drain_changes().for_each(drop);
            repl.update(client, now);
            client.flush();
        }
        net.clock().advance(TICK);

        if tick % ticks_per_second == 0 {
            println!("t = {:>3} s", tick / ticks_per_second);
            for (name, client, repl, rooms) in &clients {
                let view = repl.view().entries();
                let (mut wrong, mut stalest) = (0, 0);
                for (k, room, truth) in world.world().iter() {
                    if !rooms.contains(&room) {
                        continue;
                    }
                    match view.get(k) {
                        Some(shown) if shown == truth => {}
                        Some(shown) => {
                            wrong += 1;
                            stalest = stalest.max(tick - shown.moved_at);
                        }
                        None => {
                            wrong += 1;
                            stalest = stalest.max(tick);
                        }
                    }
                }
                let in_scope = world
                    .world()
                    .iter()
                    .filter(|(_, r, _)| rooms.contains(r))
                    .count();
                println!(
                    "  {name:<18} rooms {rooms:?}: {wrong:>3} of {in_scope} wrong, stalest shown {:>4} ms, rtt {:?}",
                    stalest * TICK.as_millis() as u32,
                    client.metrics().srtt,
                );
            }
        }
    }
}
