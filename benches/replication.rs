//! Replication benchmark, on the simulated network through the public API.
//!
//! 1. A 1,000-entity world where 10 % of the entries change every 16 ms tick,
//!    64 clients each subscribed to two of four topics: snapshot bytes per
//!    client per tick against the full scoped snapshot, server CPU per tick,
//!    and the time every view takes to equal the world after a stretch of
//!    20 % loss and after a blackout.
//! 2. A scene comparable to the one in Glenn Fiedler's "Snapshot
//!    Compression" (901 cubes at 60 snapshots per second; 321 bits per cube,
//!    17.37 Mbit/s sent whole, a 256 kbit/s target): cubes at rest on a grid,
//!    knocked about by a moving player cube and an occasional shockwave,
//!    settling again; positions and orientations quantized. Prints kbit/s per
//!    client next to those two figures.
//!
//! `cargo bench --bench replication` (longer runs);
//! `cargo bench --bench replication -- --quick` (under 20 s).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lentil::replicate::{ReplicationClient, ReplicationConfig, ReplicationServer, Topic};
use lentil::{Client, Config, LinkConditioner, PeerId, Server, ServerEvent, SimNetwork};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

const TICK: Duration = Duration::from_millis(16);
const SERVER: &str = "10.0.0.1:9000";

/// A game entity with quantized fields: centimetres, a heading in 1/256
/// turns, health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entity {
    x: i32,
    y: i32,
    heading: u8,
    health: u8,
}

struct Scene<V> {
    net: SimNetwork,
    server: Server,
    repl: ReplicationServer<u32, V>,
    clients: Vec<(Client, ReplicationClient<u32, V>)>,
    peers: Vec<Option<PeerId>>,
    scopes: Vec<BTreeSet<Topic>>,
    server_time: Vec<Duration>,
    replication_time: Vec<Duration>,
}

impl<V> Scene<V>
where
    V: Clone + PartialEq + Serialize + for<'de> Deserialize<'de>,
{
    fn new(seed: u64, scopes: Vec<BTreeSet<Topic>>, link: LinkConditioner) -> Self {
        let net = SimNetwork::new(seed);
        net.set_conditioner(link);
        let mut config = Config {
            max_clients: scopes.len() + 1,
            ..Config::default()
        };
        ReplicationConfig::default().apply_to(&mut config);
        let mut server = Server::sandbox(config.clone(), &net);
        server.listen(SERVER).expect("listen");
        let clients = scopes
            .iter()
            .map(|_| {
                let mut c = Client::sandbox(config.clone(), &net);
                c.connect(SERVER).expect("connect");
                (
                    c,
                    ReplicationClient::new(ReplicationConfig::default(), ()).expect("client"),
                )
            })
            .collect();
        let peers = vec![None; scopes.len()];
        let repl = ReplicationServer::new(ReplicationConfig::default(), ());
        Scene {
            net,
            server,
            repl,
            clients,
            peers,
            scopes,
            server_time: Vec::new(),
            replication_time: Vec::new(),
        }
    }

    fn tick(&mut self) {
        let now = self.net.clock().now();
        let started = Instant::now();
        let events: Vec<_> = self.server.update_events().collect();
        for event in &events {
            self.repl.handle_event(event);
            if let ServerEvent::Connected { peer, addr } = event {
                let port = |a: Option<SocketAddr>| a.map(|a| a.port());
                if let Some(i) = self
                    .clients
                    .iter()
                    .position(|(c, _)| port(c.local_addr()) == Some(addr.port()))
                {
                    self.peers[i] = Some(*peer);
                    for &t in &self.scopes[i] {
                        self.repl.subscribe(*peer, t);
                    }
                }
            }
        }
        let replicating = Instant::now();
        self.repl
            .update(&mut self.server, now)
            .expect("replication update");
        self.replication_time.push(replicating.elapsed());
        self.server.flush();
        self.server_time.push(started.elapsed());
        // Clients run their frames half a tick out of phase with the
        // server's, as unsynchronised machines do.
        self.net.clock().advance(TICK / 2);
        let now = self.net.clock().now();
        for (client, repl) in &mut self.clients {
            let events: Vec<_> = client.update_events().collect();
            for event in &events {
                repl.handle_event(event);
            }
            repl.drain_changes().for_each(drop);
            repl.update(client, now);
            client.flush();
        }
        self.net.clock().advance(TICK - TICK / 2);
    }

    fn connect(&mut self) {
        for _ in 0..2_000 {
            if self.peers.iter().all(Option::is_some)
                && self.clients.iter().all(|(c, _)| c.is_connected())
            {
                return;
            }
            self.tick();
        }
        panic!("clients did not connect");
    }

    fn wrong_entries(&self) -> usize {
        let world = self.repl.world();
        let mut wrong = 0;
        for (i, (_, repl)) in self.clients.iter().enumerate() {
            let view = repl.view().entries();
            let scoped = world.iter().filter(|(_, t, _)| self.scopes[i].contains(t));
            let mut count = 0;
            for (k, _, v) in scoped {
                count += 1;
                wrong += usize::from(view.get(k) != Some(v));
            }
            wrong += view.len().saturating_sub(count);
        }
        wrong
    }

    fn snapshot_bytes(&self) -> u64 {
        self.peers
            .iter()
            .flatten()
            .filter_map(|p| self.repl.peer_stats(*p))
            .map(|s| s.bytes)
            .sum()
    }

    fn server_wire_bytes(&self) -> u64 {
        self.net.bytes_sent_by(SERVER.parse().expect("address"))
    }
}

fn mean_and_p99(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort_unstable();
    let mean = samples.iter().sum::<Duration>() / samples.len().max(1) as u32;
    let p99 = samples[(samples.len() * 99 / 100).min(samples.len() - 1)];
    (mean, p99)
}

fn world_bench(quick: bool, one_way_ms: u64, converge: bool) {
    const ENTITIES: u32 = 1_000;
    const CLIENTS: usize = 64;
    const TOPICS: Topic = 4;
    let ticks = if quick { 250 } else { 1_000 };
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let scopes: Vec<BTreeSet<Topic>> = (0..CLIENTS)
        .map(|i| BTreeSet::from([i as Topic % TOPICS, (i as Topic + 1) % TOPICS]))
        .collect();
    // At 5 ms each way the acknowledgement of one snapshot is back before the
    // next is built; at longer round trips each snapshot carries the changes
    // of every tick since the acknowledged one.
    let calm = LinkConditioner::new().latency(Duration::from_millis(one_way_ms));
    let mut scene: Scene<Entity> = Scene::new(3, scopes.clone(), calm.clone());
    for k in 0..ENTITIES {
        let e = Entity {
            x: rng.gen_range(-50_000..50_000),
            y: rng.gen_range(-50_000..50_000),
            heading: rng.gen(),
            health: 100,
        };
        scene
            .repl
            .world_mut()
            .insert(k, k % TOPICS, e)
            .expect("insert");
    }
    scene.connect();
    let edit = |scene: &mut Scene<Entity>, rng: &mut ChaCha8Rng| {
        for _ in 0..ENTITIES / 10 {
            let k = rng.gen_range(0..ENTITIES);
            let mut e = scene.repl.world().get(&k).cloned().expect("entity");
            e.x += rng.gen_range(-40..=40);
            e.y += rng.gen_range(-40..=40);
            e.heading = e.heading.wrapping_add(rng.gen_range(0..8));
            scene.repl.world_mut().set(k, e).expect("set");
        }
    };
    // Warm up past the initial full snapshots, then measure.
    for _ in 0..120 {
        edit(&mut scene, &mut rng);
        scene.tick();
    }
    let bytes_before = scene.snapshot_bytes();
    let wire_before = scene.server_wire_bytes();
    scene.server_time.clear();
    scene.replication_time.clear();
    let mut full = 0usize;
    for _ in 0..ticks {
        edit(&mut scene, &mut rng);
        full += scopes
            .iter()
            .map(|s| scene.repl.world().scoped_bytes(s) + 8)
            .sum::<usize>();
        scene.tick();
    }
    let per_client_tick = |b: u64| b as f64 / (CLIENTS * ticks) as f64;
    let delta = per_client_tick(scene.snapshot_bytes() - bytes_before);
    let wire = per_client_tick(scene.server_wire_bytes() - wire_before);
    let full = full as f64 / (CLIENTS * ticks) as f64;
    let (mean, p99) = mean_and_p99(&mut scene.server_time);
    let (repl_mean, repl_p99) = mean_and_p99(&mut scene.replication_time);
    println!("world: {ENTITIES} entities, 10% changing per 16 ms tick, {CLIENTS} clients seeing 2 of 4 topics, {ticks} ticks, RTT {} ms", 2 * one_way_ms);
    println!("  snapshot bytes per client per tick   {delta:8.1}");
    println!("  full scoped snapshot bytes           {full:8.1}");
    println!(
        "  delta / full                         {:8.1} %  (goal <= 15 %)",
        100.0 * delta / full
    );
    println!("  server wire bytes per client per tick{wire:8.1}  (engine headers, acks and pings included)");
    println!("  server CPU per tick, engine update + replication, {CLIENTS} clients: mean {mean:?}, p99 {p99:?}");
    println!("    of which replication (diff, priority, encode, send): mean {repl_mean:?}, p99 {repl_p99:?}");
    if !converge {
        return;
    }

    for (label, lossy) in [
        ("20% loss, 10% duplicated, 10 ms jitter for 2 s", true),
        ("a 500 ms blackout", false),
    ] {
        if lossy {
            scene.net.set_conditioner(
                calm.clone()
                    .loss(0.2)
                    .duplicate(0.1)
                    .jitter(Duration::from_millis(10)),
            );
            for _ in 0..125 {
                edit(&mut scene, &mut rng);
                scene.tick();
            }
            scene.net.set_conditioner(calm.clone());
        } else {
            scene.net.blackout_for(Duration::from_millis(500));
            while scene.net.is_blackout() {
                edit(&mut scene, &mut rng);
                scene.tick();
            }
        }
        let wrong_at_end = scene.wrong_entries();
        let start = scene.net.clock().now();
        let mut ticks_to_converge = 0;
        while scene.wrong_entries() > 0 && ticks_to_converge < 1_000 {
            scene.tick();
            ticks_to_converge += 1;
        }
        let took = scene.net.clock().now() - start;
        println!("  converge after {label}: {wrong_at_end} entries wrong across clients when edits stop, all views equal the world after {took:?} ({ticks_to_converge} ticks)");
    }
}

/// A cube of the reference scene, quantized: position in 1/512 m, the
/// orientation's smallest three components at 9 bits each with the index of
/// the largest (packed in four bytes), and whether it is being pushed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cube {
    x: i32,
    y: i32,
    z: i32,
    orientation: [u8; 4],
    interacting: bool,
}

/// A cube's simulation state, in floats.
#[derive(Clone)]
struct Body {
    pos: [f32; 3],
    vel: [f32; 3],
    angle: f32,
    spin: f32,
    axis: [f32; 3],
}

impl Body {
    fn at_rest(&self) -> bool {
        self.vel.iter().all(|v| v.abs() < 0.05) && self.pos[2] <= 0.0 && self.spin.abs() < 0.05
    }

    fn quantized(&self, interacting: bool) -> Cube {
        let q = |v: f32| (v * 512.0).round() as i32;
        let (s, c) = (self.angle * 0.5).sin_cos();
        let quat = [c, self.axis[0] * s, self.axis[1] * s, self.axis[2] * s];
        let largest = (0..4)
            .max_by(|&a, &b| quat[a].abs().total_cmp(&quat[b].abs()))
            .unwrap_or(0);
        let sign = if quat[largest] < 0.0 { -1.0 } else { 1.0 };
        let mut packed: u32 = largest as u32;
        for (_, v) in quat.iter().enumerate().filter(|(i, _)| *i != largest) {
            let n = ((v * sign / std::f32::consts::FRAC_1_SQRT_2 + 1.0) * 255.5).clamp(0.0, 511.0)
                as u32;
            packed = (packed << 9) | n;
        }
        Cube {
            x: q(self.pos[0]),
            y: q(self.pos[1]),
            z: q(self.pos[2]),
            orientation: packed.to_le_bytes(),
            interacting,
        }
    }
}

fn cube_bench(quick: bool) {
    const SIDE: usize = 30;
    const CUBES: usize = SIDE * SIDE + 1;
    let seconds = if quick { 8 } else { 30 };
    // 50 ms each way and 2 % loss: a long-distance player.
    let link = LinkConditioner::new()
        .latency(Duration::from_millis(50))
        .loss(0.02);
    let mut scene: Scene<Cube> = Scene::new(5, vec![BTreeSet::from([0])], link);
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let mut bodies: Vec<Body> = (0..CUBES)
        .map(|i| Body {
            pos: [
                (i % SIDE) as f32 * 1.5 - 22.0,
                (i / SIDE) as f32 * 1.5 - 22.0,
                0.0,
            ],
            vel: [0.0; 3],
            angle: rng.gen_range(0.0..std::f32::consts::TAU),
            spin: 0.0,
            axis: [0.0, 0.0, 1.0],
        })
        .collect();
    let publish = |scene: &mut Scene<Cube>, bodies: &[Body]| {
        for (i, b) in bodies.iter().enumerate() {
            scene
                .repl
                .world_mut()
                .insert(i as u32, 0, b.quantized(!b.at_rest()))
                .expect("cube");
        }
    };
    publish(&mut scene, &bodies);
    scene.connect();
    let dt = 1.0 / 60.0;
    let mut t = 0.0f32;
    let ticks = seconds * 60;
    let mut moving_sum = 0usize;
    let mut wire_from = 0;
    let mut snap_from = 0;
    for tick in 0..ticks + 120 {
        if tick == 120 {
            // The first two seconds carry the initial full snapshot.
            wire_from = scene.server_wire_bytes();
            snap_from = scene.snapshot_bytes();
        }
        t += dt;
        // The player cube drives a figure of eight through the grid; every
        // 4 s it lands a jump that knocks everything within 8 m.
        let player = [18.0 * (t * 0.4).sin(), 12.0 * (t * 0.8).sin()];
        let jump = tick % 240 == 239;
        for b in &mut bodies {
            let d = [b.pos[0] - player[0], b.pos[1] - player[1]];
            let dist = (d[0] * d[0] + d[1] * d[1]).sqrt().max(0.1);
            let reach = if jump { 8.0 } else { 1.6 };
            if dist < reach {
                let push = if jump { 6.0 / dist.max(1.0) } else { 3.0 };
                b.vel = [
                    d[0] / dist * push,
                    d[1] / dist * push,
                    if jump { 4.0 } else { 1.0 },
                ];
                b.spin = rng.gen_range(-6.0..6.0);
                b.axis = [d[1] / dist, -d[0] / dist, 0.0];
            }
            if b.at_rest() {
                b.vel = [0.0; 3];
                b.spin = 0.0;
                b.pos[2] = 0.0;
                continue;
            }
            for k in 0..3 {
                b.pos[k] += b.vel[k] * dt;
            }
            b.angle += b.spin * dt;
            b.vel[2] -= 9.8 * dt;
            if b.pos[2] <= 0.0 {
                b.pos[2] = 0.0;
                b.vel[2] = 0.0;
                // Friction on the ground.
                for v in b.vel.iter_mut().take(2) {
                    *v *= 0.9;
                }
                b.spin *= 0.9;
            }
        }
        moving_sum += bodies.iter().filter(|b| !b.at_rest()).count();
        publish(&mut scene, &bodies);
        scene.tick();
    }
    let secs = ticks as f64 / 60.0;
    let kbit = |b: u64| b as f64 * 8.0 / secs / 1000.0;
    let wire = kbit(scene.server_wire_bytes() - wire_from);
    let snap = kbit(scene.snapshot_bytes() - snap_from);
    let whole = CUBES as f64 * 321.0 * 60.0 / 1e6;
    println!("cubes: {CUBES} cubes at 60 Hz for {seconds} s, {:.0} moving on average, RTT 100 ms, 2% loss", moving_sum as f64 / (ticks + 120) as f64);
    println!("  reference: 321 bits per cube sent whole {whole:.2} Mbit/s; target 256 kbit/s");
    println!("  this engine: snapshots {snap:.1} kbit/s per client, on the wire {wire:.1} kbit/s (headers included)");
    println!("  cubes shown differently from the server at the last tick: {} (a view trails by half a round trip)", scene.wrong_entries());
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let started = Instant::now();
    world_bench(quick, 5, true);
    world_bench(quick, 25, false);
    cube_bench(quick);
    println!("total {:?}", started.elapsed());
}
