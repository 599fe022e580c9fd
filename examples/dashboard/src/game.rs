//! The game being watched: a server and its clients on a `SimNetwork`, the
//! traffic they exchange, and the virtual clock kept in step with the wall
//! clock so the network behaves in real time.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lentil::clock::VirtualClock;
use lentil::transport::sim::SimStats;
use lentil::{
    Client, ClientEvent, Config, Delivery, LinkConditioner, Message, Metrics, PeerId, Server,
    ServerEvent, SimNetwork,
};
use serde::{Deserialize, Serialize};

/// Virtual time moves in steps this small, so measured round trips are not
/// rounded up to a coarse loop period.
const STEP: Duration = Duration::from_millis(1);
/// The game tick: clients send their position once per tick.
const GAME_TICK: Duration = Duration::from_millis(16);
/// Events every 6 ticks (~100 ms), chat every 31 ticks (~500 ms), snapshots
/// every 3 ticks (~20 Hz).
const EVENT_EVERY: u64 = 6;
const CHAT_EVERY: u64 = 31;
const SNAPSHOT_EVERY: u64 = 3;
/// Furthest the virtual clock may fall behind the wall clock. After a stall
/// (a slow terminal, a suspended process) the missed time is skipped rather
/// than replayed, which would flood the links with a burst of old ticks.
const MAX_LAG: Duration = Duration::from_millis(250);
/// A client whose connection failed tries again after this long, so a link
/// made unusable and then repaired refills the table.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);
/// Where the server listens on the simulated network.
const SERVER_ADDR: &str = "127.0.0.1:9000";

/// What the link conditioner does to every datagram between a client and the
/// server, in both directions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// Probability each datagram is dropped, 0..=1.
    pub loss: f64,
    /// One-way delay.
    pub latency: Duration,
    /// Extra uniform delay, 0..=jitter, drawn per datagram.
    pub jitter: Duration,
}

/// A setting of the link the keyboard can turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knob {
    Loss,
    Latency,
    Jitter,
}

impl Link {
    pub const MAX_LATENCY_MS: u64 = 1000;
    pub const MAX_JITTER_MS: u64 = 500;
    const LATENCY_STEP_MS: u64 = 10;
    const JITTER_STEP_MS: u64 = 5;

    fn conditioner(&self) -> LinkConditioner {
        LinkConditioner::new()
            .loss(self.loss)
            .latency(self.latency)
            .jitter(self.jitter)
    }

    /// This link with `knob` turned one notch up or down, within its range.
    pub fn adjusted(self, knob: Knob, up: bool) -> Link {
        match knob {
            Knob::Loss => Link {
                loss: step_loss(self.loss, up),
                ..self
            },
            Knob::Latency => Link {
                latency: step_ms(
                    self.latency,
                    Self::LATENCY_STEP_MS,
                    Self::MAX_LATENCY_MS,
                    up,
                ),
                ..self
            },
            Knob::Jitter => Link {
                jitter: step_ms(self.jitter, Self::JITTER_STEP_MS, Self::MAX_JITTER_MS, up),
                ..self
            },
        }
    }
}

/// One notch of loss: single percent where games live, five percent at a
/// time beyond 10 % so a dead link is a few presses away.
fn step_loss(loss: f64, up: bool) -> f64 {
    let pct = (loss * 100.0).round() as i64;
    let step = if pct > 10 || (up && pct == 10) { 5 } else { 1 };
    let next = if up { pct + step } else { pct - step };
    next.clamp(0, 100) as f64 / 100.0
}

/// One notch of a delay, snapped to a multiple of `step` so the header shows
/// round numbers even after a fractional `--latency-ms`.
fn step_ms(d: Duration, step: u64, max: u64, up: bool) -> Duration {
    let ms = d.as_millis() as u64 / step * step;
    let next = if up {
        (ms + step).min(max)
    } else {
        ms.saturating_sub(step)
    };
    Duration::from_millis(next)
}

/// Everything the game sends, encoded with `send_typed` / `Message::decode`.
#[derive(Debug, Serialize, Deserialize)]
enum Msg {
    /// Client -> server, unreliable-sequenced, every tick.
    Position { x: f32, y: f32 },
    /// Client -> server, reliable-ordered; numbered from 0 per connection.
    Event { seq: u32 },
    /// Client -> server, reliable-ordered; numbered from 0 per connection.
    Chat { seq: u32, text: String },
    /// Server -> every client, unreliable: where everyone is.
    Snapshot {
        tick: u64,
        players: Vec<(PeerId, f32, f32)>,
    },
    /// Server -> every client, reliable-ordered: a chat line passed on.
    ChatEcho { from: PeerId, text: String },
}

fn encode(msg: &Msg) -> Vec<u8> {
    bincode::serde::encode_to_vec(msg, bincode::config::standard())
        .expect("game messages always encode")
}

/// Running totals of the game's traffic, as the header shows them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    pub positions_in: u64,
    pub events_in: u64,
    pub chats_in: u64,
    /// Reliable-ordered messages that arrived with an unexpected number:
    /// always zero unless lentil breaks its ordering promise.
    pub out_of_order: u64,
    pub echoes_out: u64,
    pub snapshots_out: u64,
    pub echoes_in: u64,
    pub snapshots_in: u64,
    pub reconnects: u64,
}

/// A simulated player: its client and the numbers of its next ordered messages.
struct Player {
    client: Client,
    next_event: u32,
    next_chat: u32,
    /// When its connection failed, while it waits to reconnect.
    lost_at: Option<Instant>,
}

/// The next number the server expects from a peer on each ordered stream.
#[derive(Debug, Default)]
struct Expected {
    event: u32,
    chat: u32,
}

/// One connected peer as the server sees it.
pub struct PeerView {
    pub peer: PeerId,
    pub addr: SocketAddr,
    /// Which simulated client (0-based) sits at `addr`.
    pub client: Option<usize>,
    pub metrics: Metrics,
}

pub struct Game {
    net: SimNetwork,
    clock: VirtualClock,
    server: Server,
    server_addr: SocketAddr,
    players: Vec<Player>,
    link: Link,
    tally: Tally,
    positions: BTreeMap<PeerId, (f32, f32)>,
    expected: HashMap<PeerId, Expected>,
    tick: u64,
    next_tick: Instant,
    wall_start: Instant,
    /// Wall time given up to stalls (see `MAX_LAG`).
    skipped: Duration,
}

impl Game {
    /// A listening server and `clients` clients already connecting, over `link`.
    pub fn start(clients: usize, link: Link, seed: u64) -> Result<Game, lentil::Error> {
        let net = SimNetwork::new(seed);
        net.set_conditioner(link.conditioner());
        let clock = net.clock();
        let mut server = Server::sandbox(Config::default(), &net);
        server.listen(SERVER_ADDR)?;
        let server_addr = server
            .local_addr()
            .expect("a listening server has an address");
        let players = (0..clients)
            .map(|_| {
                let mut client = Client::sandbox(Config::default(), &net);
                client.connect(server_addr).map(|()| Player {
                    client,
                    next_event: 0,
                    next_chat: 0,
                    lost_at: None,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let now = clock.now();
        Ok(Game {
            net,
            clock,
            server,
            server_addr,
            players,
            link,
            tally: Tally::default(),
            positions: BTreeMap::new(),
            expected: HashMap::new(),
            tick: 0,
            next_tick: now,
            wall_start: Instant::now(),
            skipped: Duration::ZERO,
        })
    }

    pub fn link(&self) -> Link {
        self.link
    }

    /// Changes the link; datagrams sent from now on get the new treatment,
    /// those already in flight keep theirs, as on a real path.
    pub fn set_link(&mut self, link: Link) {
        self.link = link;
        self.net.set_conditioner(link.conditioner());
    }

    pub fn tally(&self) -> Tally {
        self.tally
    }

    pub fn net_stats(&self) -> SimStats {
        self.net.stats()
    }

    pub fn in_flight(&self) -> usize {
        self.net.in_flight()
    }

    pub fn clients(&self) -> usize {
        self.players.len()
    }

    pub fn connected(&self) -> usize {
        self.server.peer_count()
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    /// Every connected peer with the server's metrics of its connection,
    /// in client order: a client keeps its line when it reconnects as a new peer.
    pub fn peers(&self) -> Vec<PeerView> {
        let mut peers: Vec<PeerView> = self
            .server
            .peers()
            .into_iter()
            .filter_map(|peer| {
                let addr = self.server.peer_addr(peer)?;
                Some(PeerView {
                    peer,
                    addr,
                    client: self
                        .players
                        .iter()
                        .position(|p| p.client.local_addr() == Some(addr)),
                    metrics: self.server.metrics(peer)?,
                })
            })
            .collect();
        peers.sort_by_key(|p| (p.client, p.peer));
        peers
    }

    /// Runs the game until virtual time has caught up with the wall clock.
    pub fn catch_up(&mut self) {
        let target = |g: &Game| g.wall_start.elapsed().saturating_sub(g.skipped);
        let behind = target(self).saturating_sub(self.clock.elapsed());
        if behind > MAX_LAG {
            self.skipped += behind - MAX_LAG;
        }
        let target = target(self);
        while self.clock.elapsed() + STEP <= target {
            self.step();
        }
    }

    /// One step of virtual time: the game tick if due, then every endpoint's update.
    fn step(&mut self) {
        let now = self.clock.now();
        if now >= self.next_tick {
            self.next_tick += GAME_TICK;
            self.tick += 1;
            self.play_tick();
        }
        let events: Vec<ServerEvent> = self.server.update_events().collect();
        for event in events {
            self.on_server_event(event);
        }
        for i in 0..self.players.len() {
            self.update_player(i, now);
        }
        self.clock.advance(STEP);
    }

    /// What every connected client sends this tick, and the server's snapshot.
    fn play_tick(&mut self) {
        let t = self.clock.elapsed().as_secs_f32();
        for (i, p) in self.players.iter_mut().enumerate() {
            if p.client.is_connected() {
                send_player_traffic(p, i, self.tick, t);
            }
        }
        if self.tick % SNAPSHOT_EVERY == 0 {
            self.broadcast_snapshot();
        }
    }

    fn broadcast_snapshot(&mut self) {
        let players = self
            .positions
            .iter()
            .map(|(peer, (x, y))| (*peer, *x, *y))
            .collect();
        let bytes = encode(&Msg::Snapshot {
            tick: self.tick,
            players,
        });
        let reached = self.server.broadcast(&bytes, Delivery::Unreliable);
        self.tally.snapshots_out += reached as u64;
    }

    fn on_server_event(&mut self, event: ServerEvent) {
        match event {
            ServerEvent::Connected { peer, .. } => {
                self.expected.insert(peer, Expected::default());
            }
            ServerEvent::Message { peer, message } => self.on_server_message(peer, &message),
            ServerEvent::Error { peer, .. } | ServerEvent::Disconnected { peer, .. } => {
                self.positions.remove(&peer);
                self.expected.remove(&peer);
            }
            // Kinds of events added in later versions.
            _ => {}
        }
    }

    fn on_server_message(&mut self, peer: PeerId, message: &Message) {
        let expected = self.expected.entry(peer).or_default();
        match message.decode::<Msg>() {
            Ok(Msg::Position { x, y }) => {
                self.tally.positions_in += 1;
                self.positions.insert(peer, (x, y));
            }
            Ok(Msg::Event { seq }) => {
                self.tally.events_in += 1;
                self.tally.out_of_order += u64::from(seq != expected.event);
                expected.event = seq.wrapping_add(1);
            }
            Ok(Msg::Chat { seq, text }) => {
                self.tally.chats_in += 1;
                self.tally.out_of_order += u64::from(seq != expected.chat);
                expected.chat = seq.wrapping_add(1);
                let echo = encode(&Msg::ChatEcho { from: peer, text });
                let reached = self.server.broadcast(&echo, Delivery::ReliableOrdered);
                self.tally.echoes_out += reached as u64;
            }
            Ok(Msg::Snapshot { .. } | Msg::ChatEcho { .. }) | Err(_) => {}
        }
    }

    /// Updates one client, counts what it received, and reconnects it a
    /// while after its connection failed.
    fn update_player(&mut self, i: usize, now: Instant) {
        let p = &mut self.players[i];
        let events: Vec<ClientEvent> = p.client.update_events().collect();
        for event in events {
            match event {
                ClientEvent::Message(m) => match m.decode::<Msg>() {
                    Ok(Msg::Snapshot { .. }) => self.tally.snapshots_in += 1,
                    Ok(Msg::ChatEcho { .. }) => self.tally.echoes_in += 1,
                    _ => {}
                },
                ClientEvent::ConnectAccepted => {
                    p.next_event = 0;
                    p.next_chat = 0;
                }
                ClientEvent::ConnectRejected(_)
                | ClientEvent::Error(_)
                | ClientEvent::Disconnected(_) => p.lost_at = Some(now),
                // Kinds of events added in later versions.
                _ => {}
            }
        }
        let retry = p
            .lost_at
            .is_some_and(|t| now.duration_since(t) >= RECONNECT_AFTER);
        if retry && p.client.connect(self.server_addr).is_ok() {
            p.lost_at = None;
            self.tally.reconnects += 1;
        }
    }
}

/// One client's messages for one tick: its position every tick, a numbered
/// event about every 100 ms and a chat line about every 500 ms, staggered
/// by client so the reliable traffic does not all leave on the same tick.
fn send_player_traffic(p: &mut Player, i: usize, tick: u64, t: f32) {
    let angle = t * (1.0 + i as f32 * 0.1);
    let position = Msg::Position {
        x: angle.cos() * 10.0,
        y: angle.sin() * 10.0,
    };
    // A failed send is a full send buffer on a link that stopped
    // acknowledging: the game drops the message, and the numbers only move
    // on success so the server's order check stays meaningful.
    let _ = p
        .client
        .send_typed(&position, Delivery::UnreliableSequenced);
    if (tick + i as u64) % EVENT_EVERY == 0 {
        let event = Msg::Event { seq: p.next_event };
        if p.client
            .send_typed(&event, Delivery::ReliableOrdered)
            .is_ok()
        {
            p.next_event += 1;
        }
    }
    if (tick + 7 * i as u64) % CHAT_EVERY == 0 {
        let chat = Msg::Chat {
            seq: p.next_chat,
            text: format!("gg #{} from client {}", p.next_chat, i + 1),
        };
        if p.client
            .send_typed(&chat, Delivery::ReliableOrdered)
            .is_ok()
        {
            p.next_chat += 1;
        }
    }
}
