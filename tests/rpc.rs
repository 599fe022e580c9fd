//! Calls and answers between a server and its clients, on the simulated
//! network in virtual time and again over loopback UDP: every outcome, ten
//! thousand calls under 20 % loss each answered once, timeouts within the
//! timeout plus one update, calls of two peers kept apart, the size and
//! pending limits, and connection loss.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::{ms, secs, Net};
use lentil::rpc::{
    Answered, CallError, CallId, Command, Outcome, PendingReply, RpcClient, RpcClientEvent,
    RpcConfig, RpcError, RpcEvent, RpcServer, RpcServerEvent, Violation, SERVER,
};
use lentil::{ClientEvent, DisconnectReason, LinkConditioner, PeerId, ServerEvent};
use serde::{Deserialize, Serialize};

/// Triples a number; refuses numbers over a million with its own error.
struct Triple;
impl Command for Triple {
    const NAME: &'static str = "test.triple";
    type Args = u64;
    type Reply = u64;
    type Error = TooLarge;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TooLarge {
    max: u64,
}

/// `Triple`'s name with other arguments: the server cannot decode them.
struct TripleText;
impl Command for TripleText {
    const NAME: &'static str = "test.triple";
    type Args = String;
    type Reply = u64;
    type Error = TooLarge;
}

/// No side registers a responder for it.
struct Missing;
impl Command for Missing {
    const NAME: &'static str = "test.missing";
    type Args = ();
    type Reply = ();
    type Error = ();
}

/// Answered later: code 0 drops the token, 1 keeps it unanswered, 2 hands
/// it to a worker thread that answers 42.
struct Hold;
impl Command for Hold {
    const NAME: &'static str = "test.hold";
    type Args = u8;
    type Reply = u32;
    type Error = ();
}

/// Bytes in, their count out (the reply is as large as asked for).
struct Blob;
impl Command for Blob {
    const NAME: &'static str = "test.blob";
    type Args = Vec<u8>;
    type Reply = Vec<u8>;
    type Error = ();
}

/// The server asks a client who it is.
struct WhoAreYou;
impl Command for WhoAreYou {
    const NAME: &'static str = "test.who_are_you";
    type Args = ();
    type Reply = usize;
    type Error = ();
}

struct ServerGame {
    held: Vec<PendingReply<Hold>>,
    worker: mpsc::Sender<PendingReply<Hold>>,
    /// Tokens handed to the worker, and those it has answered: the harness
    /// waits for the worker before each update, so virtual time cannot run
    /// past an answer the worker thread has not been scheduled to make.
    handed: usize,
    answered: Arc<AtomicUsize>,
}

struct ClientGame {
    index: usize,
}

struct Lab {
    net: Net,
    server: RpcServer<ServerGame>,
    game: ServerGame,
    clients: Vec<RpcClient<ClientGame>>,
    games: Vec<ClientGame>,
    server_events: Vec<RpcServerEvent>,
    client_events: Vec<Vec<RpcClientEvent>>,
    /// The server's peer id of each client.
    peers: Vec<PeerId>,
}

impl Lab {
    fn new(net: &Net, clients: usize, server_rpc: RpcConfig, client_rpc: RpcConfig) -> Self {
        let server = net.server(net.config());
        let addr = server.local_addr().unwrap();
        let mut server = RpcServer::new(server, server_rpc).unwrap();
        server
            .respond::<Triple, _>(|_, _, n| match n {
                n if n > 1_000_000 => Err(TooLarge { max: 1_000_000 }),
                n => Ok(n * 3),
            })
            .unwrap();
        server
            .respond_later::<Hold, _>(|game: &mut ServerGame, _, code, pending| match code {
                0 => drop(pending),
                2 => {
                    game.handed += 1;
                    game.worker.send(pending).unwrap();
                }
                _ => game.held.push(pending),
            })
            .unwrap();
        server
            .respond::<Blob, _>(|_, _, bytes| Ok(vec![1; bytes.len()]))
            .unwrap();
        let (worker, jobs) = mpsc::channel::<PendingReply<Hold>>();
        let answered = Arc::new(AtomicUsize::new(0));
        let done = answered.clone();
        std::thread::spawn(move || {
            for pending in jobs {
                pending.reply(Ok(42));
                done.fetch_add(1, Ordering::Release);
            }
        });
        let game = ServerGame {
            held: Vec::new(),
            worker,
            handed: 0,
            answered,
        };
        let mut lab = Lab {
            net: net.clone(),
            server,
            game,
            clients: Vec::new(),
            games: Vec::new(),
            server_events: Vec::new(),
            client_events: Vec::new(),
            peers: Vec::new(),
        };
        for index in 0..clients {
            let mut client = net.client(net.config());
            client.connect(addr).unwrap();
            let mut client = RpcClient::new(client, client_rpc.clone()).unwrap();
            client
                .respond::<WhoAreYou, _>(|game: &mut ClientGame, peer, ()| {
                    assert_eq!(peer, SERVER);
                    Ok(game.index)
                })
                .unwrap();
            client
                .respond_later::<Hold, _>(|_, _, _, pending| std::mem::forget(pending))
                .unwrap();
            lab.clients.push(client);
            lab.games.push(ClientGame { index });
            lab.client_events.push(Vec::new());
        }
        let n = clients;
        assert!(
            lab.run_until(secs(5), |lab| lab.server.server().peer_count() == n
                && lab.clients.iter().all(|c| c.client().is_connected()))
        );
        for client in &lab.clients {
            let local = client.client().local_addr().unwrap();
            let peer = lab.server.server().peers().into_iter().find(|&p| {
                lab.server.server().peer_addr(p).map(|a| a.port()) == Some(local.port())
            });
            lab.peers.push(peer.unwrap());
        }
        lab.server_events.clear();
        lab.client_events.iter_mut().for_each(Vec::clear);
        lab
    }

    fn update(&mut self) {
        let give_up = Instant::now() + secs(5);
        while self.game.answered.load(Ordering::Acquire) < self.game.handed
            && Instant::now() < give_up
        {
            std::thread::yield_now();
        }
        self.server_events
            .extend(self.server.update(&mut self.game));
        for (i, client) in self.clients.iter_mut().enumerate() {
            self.client_events[i].extend(client.update(&mut self.games[i]));
        }
    }

    /// Updates every tick until `done` holds (then `true`) or `limit` passes.
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Lab) -> bool) -> bool {
        let net = self.net.clone();
        net.run_until(limit, || {
            self.update();
            done(self)
        })
    }

    fn run_for(&mut self, duration: Duration) {
        let net = self.net.clone();
        net.run_for(duration, || self.update());
    }

    /// The answers client `i` has seen, taken.
    fn client_answers(&mut self, i: usize) -> Vec<Answered> {
        let mut answers = Vec::new();
        self.client_events[i].retain(|e| match e {
            RpcClientEvent::Rpc(RpcEvent::Answered(a)) => {
                answers.push(a.clone());
                false
            }
            _ => true,
        });
        answers
    }

    fn server_answers(&mut self) -> Vec<Answered> {
        let mut answers = Vec::new();
        self.server_events.retain(|e| match e {
            RpcServerEvent::Rpc(RpcEvent::Answered(a)) => {
                answers.push(a.clone());
                false
            }
            _ => true,
        });
        answers
    }

    /// Waits until client `i` has seen `n` answers in all, and returns them.
    fn await_client_answers(&mut self, i: usize, n: usize, limit: Duration) -> Vec<Answered> {
        let mut answers = Vec::new();
        self.run_until(limit, |lab| {
            answers.extend(lab.client_answers(i));
            answers.len() >= n
        });
        answers
    }
}

fn answer_of(answers: &[Answered], call: CallId) -> &Answered {
    let mut matching = answers.iter().filter(|a| a.call == call);
    let answer = matching.next().expect("answered");
    assert!(matching.next().is_none(), "answered once");
    answer
}

fn every_outcome(net: Net) {
    let mut lab = Lab::new(&net, 1, RpcConfig::default(), RpcConfig::default());
    let c = &mut lab.clients[0];
    let reply = c.call::<Triple>(&14, secs(2)).unwrap();
    let failed = c.call::<Triple>(&2_000_000, secs(2)).unwrap();
    let unknown = c.call::<Missing>(&(), secs(2)).unwrap();
    let undecodable = c.call::<TripleText>(&"x".into(), secs(2)).unwrap();
    let abandoned = c.call::<Hold>(&0, secs(2)).unwrap();
    let later = c.call::<Hold>(&2, secs(2)).unwrap();
    let timed_out = c.call::<Hold>(&1, ms(300)).unwrap();
    let answers = lab.await_client_answers(0, 7, secs(3));
    assert_eq!(answers.len(), 7);
    assert!(answers.iter().all(|a| a.peer == SERVER));
    assert_eq!(answer_of(&answers, reply).decode::<Triple>(), Ok(42));
    assert_eq!(
        answer_of(&answers, failed).decode::<Triple>(),
        Err(CallError::Failed(TooLarge { max: 1_000_000 }))
    );
    assert_eq!(
        answer_of(&answers, unknown).decode::<Missing>(),
        Err(CallError::UnknownCommand)
    );
    assert_eq!(
        answer_of(&answers, undecodable).decode::<TripleText>(),
        Err(CallError::ArgsUndecodable)
    );
    assert_eq!(
        answer_of(&answers, abandoned).decode::<Hold>(),
        Err(CallError::Abandoned)
    );
    assert_eq!(answer_of(&answers, later).decode::<Hold>(), Ok(42));
    assert_eq!(
        answer_of(&answers, timed_out).decode::<Hold>(),
        Err(CallError::TimedOut)
    );
    // Connection lost: a held call, then the server closes the connection.
    let lost = lab.clients[0].call::<Hold>(&1, secs(30)).unwrap();
    lab.run_for(ms(50));
    let peer = lab.peers[0];
    lab.server.server_mut().disconnect(peer);
    let answers = lab.await_client_answers(0, 1, secs(3));
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].call, lost);
    assert_eq!(answers[0].outcome, Outcome::ConnectionLost);
    lab.run_for(ms(200));
    assert!(lab.client_answers(0).is_empty(), "failed once");
}

#[test]
fn every_outcome_on_the_simulated_network() {
    every_outcome(Net::sim(1));
}

#[test]
fn every_outcome_over_udp() {
    every_outcome(Net::udp());
}

/// Keeps `max_pending_calls` calls in flight until `total` are answered,
/// checking each reply against its own argument, then that nothing more
/// arrives.
fn many_calls(net: Net, total: u64, limit: Duration) {
    let mut lab = Lab::new(&net, 1, RpcConfig::default(), RpcConfig::default());
    let mut in_flight: HashMap<CallId, u64> = HashMap::new();
    let mut next = 0u64;
    let mut answered = 0u64;
    let done = lab.run_until(limit, |lab| {
        while next < total {
            match lab.clients[0].call::<Triple>(&next, secs(60)) {
                Ok(call) => {
                    assert!(in_flight.insert(call, next).is_none());
                    next += 1;
                }
                Err(RpcError::TooManyPending { .. }) => break,
                Err(e) => panic!("{e}"),
            }
        }
        for answer in lab.client_answers(0) {
            let arg = in_flight.remove(&answer.call).expect("one answer per call");
            assert_eq!(answer.decode::<Triple>(), Ok(arg * 3));
            answered += 1;
        }
        answered == total
    });
    assert!(done, "{answered} of {total} answered");
    assert!(in_flight.is_empty());
    lab.run_for(secs(1));
    assert!(lab.client_answers(0).is_empty(), "no answer twice");
    assert_eq!(lab.clients[0].stats().late_answers, 0);
    assert_eq!(lab.clients[0].stats().timed_out, 0);
}

#[test]
fn ten_thousand_calls_under_20_percent_loss_are_each_answered_once() {
    let net = Net::sim(17);
    net.set_conditioner(
        LinkConditioner::new()
            .loss(0.2)
            .latency(ms(5))
            .jitter(ms(2)),
    );
    many_calls(net, 10_000, secs(120));
}

#[test]
fn two_thousand_calls_over_udp_are_each_answered_once() {
    many_calls(Net::udp(), 2_000, secs(20));
}

/// Each timed-out call's event comes in the first update at or after its
/// deadline: the update before it started earlier than the deadline.
fn timeouts(net: Net) {
    let mut lab = Lab::new(&net, 1, RpcConfig::default(), RpcConfig::default());
    let timeouts = [ms(50), ms(120), ms(300)];
    let mut deadlines = HashMap::new();
    let now = |net: &Net| match net.sim_net() {
        Some(sim) => sim.clock().now(),
        None => Instant::now(),
    };
    for t in timeouts {
        let call = lab.clients[0].call::<Hold>(&1, t).unwrap();
        deadlines.insert(call, now(&net) + t);
    }
    let mut seen = 0;
    let mut previous_start = now(&net);
    lab.run_until(secs(3), |lab| {
        let start = now(&lab.net);
        lab.update();
        let end = now(&lab.net);
        for answer in lab.client_answers(0) {
            assert_eq!(answer.outcome, Outcome::TimedOut);
            let deadline = deadlines[&answer.call];
            assert!(end >= deadline, "not before its deadline");
            assert!(
                previous_start < deadline,
                "within one update of its deadline"
            );
            seen += 1;
        }
        previous_start = start;
        seen == timeouts.len()
    });
    assert_eq!(seen, timeouts.len());
}

#[test]
fn timeouts_fire_within_the_timeout_plus_one_update_on_the_simulated_network() {
    timeouts(Net::sim(2));
}

#[test]
fn timeouts_fire_within_the_timeout_plus_one_update_over_udp() {
    timeouts(Net::udp());
}

/// Three clients call at once with arguments of their own, and the server
/// calls each: no answer reaches the wrong side.
fn calls_never_cross(net: Net) {
    let mut lab = Lab::new(&net, 3, RpcConfig::default(), RpcConfig::default());
    let mut mine: Vec<HashMap<CallId, u64>> = vec![HashMap::new(); 3];
    for round in 0..20u64 {
        for (i, calls) in mine.iter_mut().enumerate() {
            let arg = i as u64 * 1000 + round;
            let call = lab.clients[i].call::<Triple>(&arg, secs(10)).unwrap();
            calls.insert(call, arg);
        }
    }
    let mut asked = HashMap::new();
    for (i, &peer) in lab.peers.iter().enumerate() {
        let call = lab.server.call::<WhoAreYou>(peer, &(), secs(10)).unwrap();
        asked.insert((peer, call), i);
    }
    let mut server_answers = Vec::new();
    assert!(lab.run_until(secs(10), |lab| {
        for (i, calls) in mine.iter_mut().enumerate() {
            for answer in lab.client_answers(i) {
                let arg = calls.remove(&answer.call).expect("a call of this client");
                assert_eq!(answer.decode::<Triple>(), Ok(arg * 3));
            }
        }
        server_answers.extend(lab.server_answers());
        mine.iter().all(HashMap::is_empty) && server_answers.len() == 3
    }));
    for answer in server_answers {
        let index = asked.remove(&(answer.peer, answer.call)).unwrap();
        assert_eq!(answer.decode::<WhoAreYou>(), Ok(index));
    }
}

#[test]
fn calls_of_several_peers_never_cross_on_the_simulated_network() {
    let net = Net::sim(3);
    net.set_conditioner(
        LinkConditioner::new()
            .loss(0.1)
            .latency(ms(10))
            .jitter(ms(8)),
    );
    calls_never_cross(net);
}

#[test]
fn calls_of_several_peers_never_cross_over_udp() {
    calls_never_cross(Net::udp());
}

/// A client allowed larger arguments than the server sends past the
/// server's limit: it is disconnected with a reason that says so, and its
/// pending call fails with connection lost. The pending limit refuses the
/// call past it at once.
fn limits(net: Net) {
    let client_rpc = RpcConfig {
        max_args_bytes: 1024,
        max_pending_calls: 3,
        ..RpcConfig::default()
    };
    let server_rpc = RpcConfig {
        max_args_bytes: 64,
        ..RpcConfig::default()
    };
    let mut lab = Lab::new(&net, 1, server_rpc, client_rpc);
    lab.clients[0].call::<Blob>(&vec![0; 10], secs(5)).unwrap();
    let small = lab.await_client_answers(0, 1, secs(3));
    assert_eq!(small[0].decode::<Blob>(), Ok(vec![1; 10]));
    let first = lab.clients[0].call::<Hold>(&1, secs(30)).unwrap();
    let held = lab.clients[0].call::<Hold>(&1, secs(30)).unwrap();
    let big = lab.clients[0].call::<Blob>(&vec![0; 100], secs(5)).unwrap();
    assert_eq!(
        lab.clients[0].call::<Triple>(&1, secs(5)),
        Err(RpcError::TooManyPending {
            pending: 3,
            limit: 3
        })
    );
    let mut answers = Vec::new();
    let mut reason = None;
    assert!(lab.run_until(secs(5), |lab| {
        answers.extend(lab.client_answers(0));
        for event in lab.client_events[0].drain(..) {
            if let RpcClientEvent::Client(ClientEvent::Disconnected(DisconnectReason::Custom(r))) =
                event
            {
                reason = Some(r);
            }
        }
        reason.is_some() && answers.len() == 3
    }));
    assert_eq!(
        reason.as_deref(),
        Some("rpc arguments of 101 bytes exceed the limit of 64 bytes")
    );
    assert!(lab
        .server_events
        .contains(&RpcServerEvent::Rpc(RpcEvent::Violation {
            peer: lab.peers[0],
            violation: Violation::ArgsTooLarge { size: 101, max: 64 }
        })));
    for call in [first, held, big] {
        assert_eq!(answer_of(&answers, call).outcome, Outcome::ConnectionLost);
    }
}

#[test]
fn size_and_pending_limits_on_the_simulated_network() {
    limits(Net::sim(4));
}

#[test]
fn size_and_pending_limits_over_udp() {
    limits(Net::udp());
}

/// A reply larger than the caller allows disconnects the server from the
/// client's side, with a violation event there.
fn reply_limit(net: Net) {
    let client_rpc = RpcConfig {
        max_reply_bytes: 64,
        ..RpcConfig::default()
    };
    let mut lab = Lab::new(&net, 1, RpcConfig::default(), client_rpc);
    let call = lab.clients[0].call::<Blob>(&vec![0; 100], secs(5)).unwrap();
    let mut events = Vec::new();
    assert!(lab.run_until(secs(5), |lab| {
        events.append(&mut lab.client_events[0]);
        lab.server.server().peer_count() == 0
    }));
    assert!(events.contains(&RpcClientEvent::Rpc(RpcEvent::Violation {
        peer: SERVER,
        violation: Violation::AnswerTooLarge { size: 101, max: 64 }
    })));
    let lost = events.iter().any(|e| {
        matches!(e, RpcClientEvent::Rpc(RpcEvent::Answered(a))
            if a.call == call && a.outcome == Outcome::ConnectionLost)
    });
    assert!(lost);
    assert!(lab.server_events.iter().any(|e| matches!(
        e,
        RpcServerEvent::Server(ServerEvent::Disconnected {
            reason: DisconnectReason::ClientDisconnected,
            ..
        })
    )));
}

#[test]
fn a_reply_past_the_callers_limit_disconnects_on_the_simulated_network() {
    reply_limit(Net::sim(5));
}

#[test]
fn a_reply_past_the_callers_limit_disconnects_over_udp() {
    reply_limit(Net::udp());
}

/// The server's pending call to a client that leaves fails once, with
/// connection lost; a future of the client resolves through update.
fn server_side_loss_and_futures(net: Net) {
    let mut lab = Lab::new(&net, 1, RpcConfig::default(), RpcConfig::default());
    let mut future = lab.clients[0].call_future::<Triple>(&5, secs(5)).unwrap();
    let peer = lab.peers[0];
    let held = lab.server.call::<Hold>(peer, &1, secs(30)).unwrap();
    let mut result = None;
    lab.run_until(secs(3), |_| {
        result = future.try_take();
        result.is_some()
    });
    assert_eq!(result, Some(Ok(15)));
    assert_eq!(lab.server.pending_calls(peer), 1);
    lab.clients[0].client_mut().disconnect();
    let mut answers = Vec::new();
    assert!(lab.run_until(secs(3), |lab| {
        answers.extend(lab.server_answers());
        !answers.is_empty()
    }));
    lab.run_for(ms(100));
    answers.extend(lab.server_answers());
    assert_eq!(answers.len(), 1);
    assert_eq!((answers[0].peer, answers[0].call), (peer, held));
    assert_eq!(answers[0].outcome, Outcome::ConnectionLost);
}

#[test]
fn server_calls_fail_once_when_the_client_leaves_on_the_simulated_network() {
    server_side_loss_and_futures(Net::sim(6));
}

#[test]
fn server_calls_fail_once_when_the_client_leaves_over_udp() {
    server_side_loss_and_futures(Net::udp());
}
