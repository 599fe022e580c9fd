//! Replication end to end, over the engine's public API: a server with a
//! `ReplicationServer` and several clients with a `ReplicationClient`, on the
//! simulated network under loss, duplication and jitter (virtual time, so
//! deterministic), and once over loopback UDP.
//!
//! The property: once edits stop, every client's view equals the server's
//! world restricted to the client's topics within 3 round trips, and no
//! client ever holds an entry outside its topics. Values carry the topic
//! they were written in, so a leak across topics cannot hide.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lentil::replicate::{
    ReplicationClient, ReplicationConfig, ReplicationServer, Topic, ViewChange,
};
use lentil::{Client, Config, LinkConditioner, PeerId, Server, SimNetwork};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Val {
    topic: Topic,
    data: u64,
}

const TOPICS: Topic = 4;
const LATENCY: Duration = Duration::from_millis(10);
const JITTER: Duration = Duration::from_millis(10);
/// The slowest round trip the conditioner makes: both ways at full jitter.
const RTT: Duration = Duration::from_millis(2 * (10 + 10));
const TICK: Duration = Duration::from_millis(10);

enum Clock {
    Sim(SimNetwork),
    Wall,
}

impl Clock {
    fn now(&self) -> Instant {
        match self {
            Clock::Sim(net) => net.clock().now(),
            Clock::Wall => Instant::now(),
        }
    }
    fn pass(&self, d: Duration) {
        match self {
            Clock::Sim(net) => net.clock().advance(d),
            Clock::Wall => std::thread::sleep(d),
        }
    }
}

struct Player {
    client: Client,
    repl: ReplicationClient<u32, Val, String, String>,
    peer: Option<PeerId>,
    topics: BTreeSet<Topic>,
    /// Topics unsubscribed whose entries the view may still hold until the
    /// snapshot that removes them arrives; after that, none may come back.
    leaving: BTreeSet<Topic>,
    left: Vec<u32>,
}

struct Scene {
    clock: Clock,
    server: Server,
    repl: ReplicationServer<u32, Val, String, String>,
    players: Vec<Player>,
    leaks: Vec<String>,
}

fn engine_config() -> Config {
    let mut config = Config::default();
    ReplicationConfig::default().apply_to(&mut config);
    config
}

impl Scene {
    fn new(clock: Clock, topics: &[BTreeSet<Topic>]) -> Scene {
        let config = engine_config();
        let mut server = match &clock {
            Clock::Sim(net) => Server::sandbox(config.clone(), net),
            Clock::Wall => Server::new(config.clone()),
        };
        server
            .listen(if matches!(clock, Clock::Sim(_)) {
                "10.0.0.1:9000"
            } else {
                "127.0.0.1:0"
            })
            .unwrap();
        let addr = server.local_addr().unwrap();
        let repl_config = ReplicationConfig {
            autoflush_delay: Duration::ZERO,
            ..ReplicationConfig::default()
        };
        let repl = ReplicationServer::new(repl_config.clone(), "server".to_string());
        let players = topics
            .iter()
            .map(|t| {
                let mut client = match &clock {
                    Clock::Sim(net) => Client::sandbox(config.clone(), net),
                    Clock::Wall => Client::new(config.clone()),
                };
                client.connect(addr).unwrap();
                let repl = ReplicationClient::new(repl_config.clone(), String::new()).unwrap();
                Player {
                    client,
                    repl,
                    peer: None,
                    topics: t.clone(),
                    leaving: BTreeSet::new(),
                    left: Vec::new(),
                }
            })
            .collect();
        Scene {
            clock,
            server,
            repl,
            players,
            leaks: Vec::new(),
        }
    }

    /// One tick: both sides take what arrived, then send what is due.
    fn tick(&mut self) {
        let now = self.clock.now();
        let events: Vec<_> = self.server.update_events().collect();
        for event in &events {
            self.repl.handle_event(event);
            if let lentil::ServerEvent::Connected { peer, addr } = event {
                let port = |a: Option<SocketAddr>| a.map(|a| a.port());
                let player = self
                    .players
                    .iter_mut()
                    .find(|p| port(p.client.local_addr()) == Some(addr.port()));
                let addr: SocketAddr = *addr;
                let player = player.unwrap_or_else(|| panic!("unknown client {addr}"));
                player.peer = Some(*peer);
                for &t in &player.topics {
                    self.repl.subscribe(*peer, t);
                }
            }
        }
        for p in &mut self.players {
            let events: Vec<_> = p.client.update_events().collect();
            for event in &events {
                p.repl.handle_event(event);
            }
            for change in p.repl.drain_changes() {
                if let ViewChange::Left(k) = change {
                    p.left.push(k);
                }
            }
            let view = p.repl.view().entries();
            if !view.values().any(|v| p.leaving.contains(&v.topic)) {
                p.leaving.clear();
            }
            for (k, v) in view {
                if !p.topics.contains(&v.topic) && !p.leaving.contains(&v.topic) {
                    self.leaks.push(format!(
                        "key {k} of topic {} seen by a client of {:?}",
                        v.topic, p.topics
                    ));
                }
            }
            p.repl.update(&mut p.client, now);
            p.client.flush();
        }
        self.repl.update(&mut self.server, now).unwrap();
        self.server.flush();
        self.clock.pass(TICK);
    }

    fn connect_all(&mut self, limit: Duration) {
        let end = self.clock.now() + limit;
        while self
            .players
            .iter()
            .any(|p| p.peer.is_none() || !p.client.is_connected())
        {
            assert!(self.clock.now() < end, "clients did not connect");
            self.tick();
        }
    }

    fn scoped(&self, p: &Player) -> BTreeMap<u32, Val> {
        self.repl
            .world()
            .iter()
            .filter(|(_, t, _)| p.topics.contains(t))
            .map(|(k, _, v)| (*k, v.clone()))
            .collect()
    }

    fn all_converged(&self) -> bool {
        self.players
            .iter()
            .all(|p| p.repl.view().entries() == &self.scoped(p))
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Set { key: u32, topic: Topic, data: u64 },
    Remove { key: u32 },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (0..40u32, 0..TOPICS, any::<u64>()).prop_map(|(key, topic, data)| Edit::Set { key, topic, data }),
        1 => (0..40u32).prop_map(|key| Edit::Remove { key }),
    ]
}

fn topics() -> impl Strategy<Value = BTreeSet<Topic>> {
    proptest::collection::btree_set(0..TOPICS, 1..=2)
}

fn apply(scene: &mut Scene, edit: &Edit) {
    let world = scene.repl.world_mut();
    match *edit {
        Edit::Set { key, topic, data } => world.insert(key, topic, Val { topic, data }).unwrap(),
        Edit::Remove { key } => {
            world.remove(&key);
        }
    }
}

fn hostile() -> LinkConditioner {
    LinkConditioner::new()
        .loss(0.20)
        .duplicate(0.10)
        .latency(LATENCY)
        .jitter(JITTER)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn views_converge_within_three_round_trips_and_never_leave_their_scope(
        seed in any::<u64>(),
        scopes in proptest::collection::vec(topics(), 1..4),
        initial in proptest::collection::vec(edit(), 0..40),
        ticks in proptest::collection::vec(proptest::collection::vec(edit(), 0..6), 1..40),
    ) {
        let net = SimNetwork::new(seed);
        net.set_conditioner(hostile());
        let mut scene = Scene::new(Clock::Sim(net), &scopes);
        for e in &initial {
            apply(&mut scene, e);
        }
        scene.connect_all(Duration::from_secs(5));
        for batch in &ticks {
            for e in batch {
                apply(&mut scene, e);
            }
            scene.tick();
        }
        let end = scene.clock.now() + 3 * RTT;
        while !scene.all_converged() && scene.clock.now() < end {
            scene.tick();
        }
        prop_assert!(scene.leaks.is_empty(), "{:?}", scene.leaks);
        for p in &scene.players {
            let peer = p.peer.unwrap();
            let why = format!(
                "not converged within 3 RTT: view {:?}, sent {:?}",
                p.repl.view().stats(),
                scene.repl.peer_stats(peer)
            );
            prop_assert_eq!(p.repl.view().entries(), &scene.scoped(p), "{}", why);
        }
    }
}

#[test]
fn unsubscribing_under_loss_reports_what_left_and_nothing_of_the_topic_comes_back() {
    let net = SimNetwork::new(7);
    net.set_conditioner(hostile());
    let scopes = [BTreeSet::from([0, 1])];
    let mut scene = Scene::new(Clock::Sim(net), &scopes);
    for key in 0..20 {
        let topic = key % 2;
        scene
            .repl
            .world_mut()
            .insert(key, topic, Val { topic, data: 0 })
            .unwrap();
    }
    scene.connect_all(Duration::from_secs(5));
    let end = scene.clock.now() + Duration::from_secs(1);
    while !scene.all_converged() && scene.clock.now() < end {
        scene.tick();
    }
    assert!(scene.all_converged());
    let peer = scene.players[0].peer.unwrap();
    assert!(scene.repl.unsubscribe(peer, 1));
    scene.players[0].topics.remove(&1);
    scene.players[0].leaving.insert(1);
    for round in 1..50u64 {
        for key in (1..20).step_by(2) {
            scene
                .repl
                .world_mut()
                .set(
                    key,
                    Val {
                        topic: 1,
                        data: round,
                    },
                )
                .unwrap();
        }
        scene.tick();
    }
    let p = &scene.players[0];
    let mut left = p.left.clone();
    left.sort_unstable();
    assert_eq!(left, (1..20).step_by(2).collect::<Vec<u32>>());
    assert!(p.leaving.is_empty(), "the removals arrived");
    assert!(scene.leaks.is_empty(), "{:?}", scene.leaks);
    assert!(scene.all_converged());
}

#[test]
fn state_links_carry_both_directions_and_fire_the_change_callback() {
    let net = SimNetwork::new(3);
    net.set_conditioner(hostile());
    let mut scene = Scene::new(Clock::Sim(net), &[BTreeSet::from([0])]);
    scene.connect_all(Duration::from_secs(5));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    scene.players[0]
        .repl
        .state_mut()
        .on_change(move |v: &String| log.lock().unwrap().push(v.clone()));
    let peer = scene.players[0].peer.unwrap();
    scene.players[0]
        .repl
        .state_mut()
        .set_local("blue team".into())
        .unwrap();
    scene
        .repl
        .state_mut(peer)
        .unwrap()
        .set_local("round 2".into())
        .unwrap();
    for _ in 0..100 {
        scene.tick();
    }
    assert_eq!(
        scene.repl.state(peer).unwrap().remote().map(String::as_str),
        Some("blue team")
    );
    assert_eq!(
        scene.players[0].repl.state().remote().map(String::as_str),
        Some("round 2")
    );
    assert_eq!(
        seen.lock().unwrap().last().map(String::as_str),
        Some("round 2")
    );
    assert!(scene.players[0].repl.state().is_synced());
}

#[test]
fn over_loopback_udp_a_view_converges_and_subscription_requests_are_decided_by_the_server() {
    let mut scene = Scene::new(Clock::Wall, &[BTreeSet::from([0])]);
    scene.repl.on_subscribe_request(|_, topic| topic != 3);
    for key in 0..200 {
        let topic = key % 4;
        scene
            .repl
            .world_mut()
            .insert(
                key,
                topic,
                Val {
                    topic,
                    data: u64::from(key),
                },
            )
            .unwrap();
    }
    scene.connect_all(Duration::from_secs(5));
    scene.players[0].repl.subscribe(2);
    scene.players[0].repl.subscribe(3); // refused
    scene.players[0].topics.insert(2);
    let end = Instant::now() + Duration::from_secs(5);
    let mut converged = false;
    while Instant::now() < end {
        scene.tick();
        if scene.all_converged() && !scene.players[0].repl.view().entries().is_empty() {
            converged = true;
            break;
        }
    }
    assert!(converged, "view did not converge over loopback");
    assert_eq!(scene.players[0].repl.view().entries().len(), 100);
    assert!(scene.leaks.is_empty(), "{:?}", scene.leaks);
}
