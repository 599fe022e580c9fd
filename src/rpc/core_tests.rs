//! The sans-IO core between two instances, frames carried by hand: every
//! outcome, the limits, answers made later and on other threads, futures.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::*;
use crate::PeerId;

/// The caller's peer id at the responder, and the responder's at the caller.
const CALLER: PeerId = 7;
const RESPONDER: PeerId = 9;

struct Double;
impl Command for Double {
    const NAME: &'static str = "test.double";
    type Args = u32;
    type Reply = u64;
    type Error = Refusal;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Refusal {
    TooBig { limit: u32 },
}

/// Same name as `Double`, other argument type: the responder cannot decode it.
struct DoubleText;
impl Command for DoubleText {
    const NAME: &'static str = "test.double";
    type Args = String;
    type Reply = u64;
    type Error = Refusal;
}

struct Nobody;
impl Command for Nobody {
    const NAME: &'static str = "test.nobody";
    type Args = ();
    type Reply = ();
    type Error = ();
}

struct Later;
impl Command for Later {
    const NAME: &'static str = "test.later";
    type Args = Vec<u8>;
    type Reply = usize;
    type Error = ();
}

/// Game state of the responder: the tokens it holds, the calls it saw.
#[derive(Default)]
struct Game {
    held: Vec<PendingReply<Later>>,
    seen: Vec<(PeerId, u32)>,
}

struct Pair {
    now: Instant,
    caller: RpcCore<()>,
    responder: RpcCore<Game>,
    game: Game,
    /// Frames sent and not yet delivered, each way.
    to_responder: Vec<Bytes>,
    to_caller: Vec<Bytes>,
}

fn config() -> RpcConfig {
    RpcConfig {
        max_pending_calls: 4,
        max_incoming_calls: 4,
        max_args_bytes: 64,
        max_reply_bytes: 64,
        ..RpcConfig::default()
    }
}

impl Pair {
    fn new(config: RpcConfig) -> Self {
        let mut responder = RpcCore::new(config.clone());
        responder
            .respond::<Double, _>(|game: &mut Game, peer, n| {
                game.seen.push((peer, n));
                if n > 1000 {
                    Err(Refusal::TooBig { limit: 1000 })
                } else {
                    Ok(u64::from(n) * 2)
                }
            })
            .unwrap();
        responder
            .respond_later::<Later, _>(|game: &mut Game, _peer, _args, pending| {
                game.held.push(pending);
            })
            .unwrap();
        let mut caller = RpcCore::new(config);
        caller.connected(RESPONDER);
        responder.connected(CALLER);
        Pair {
            now: Instant::now(),
            caller,
            responder,
            game: Game::default(),
            to_responder: Vec::new(),
            to_caller: Vec::new(),
        }
    }

    /// Moves every frame both ways until nothing is left to move.
    fn run(&mut self) {
        loop {
            let (to_r, to_c) = (&mut self.to_responder, &mut self.to_caller);
            self.caller.poll_transmit(|peer, frame| {
                assert_eq!(peer, RESPONDER);
                to_r.push(Bytes::copy_from_slice(frame));
                Sent::Sent
            });
            self.responder.poll_transmit(|peer, frame| {
                assert_eq!(peer, CALLER);
                to_c.push(Bytes::copy_from_slice(frame));
                Sent::Sent
            });
            if self.to_responder.is_empty() && self.to_caller.is_empty() {
                return;
            }
            for frame in std::mem::take(&mut self.to_responder) {
                self.responder
                    .handle_message(CALLER, &frame, &mut self.game);
            }
            for frame in std::mem::take(&mut self.to_caller) {
                self.caller.handle_message(RESPONDER, &frame, &mut ());
            }
        }
    }

    fn answers(&mut self) -> Vec<Answered> {
        self.caller
            .drain_events()
            .map(|e| match e {
                RpcEvent::Answered(a) => a,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn a_reply_and_the_commands_own_error_come_back_typed() {
    let mut pair = Pair::new(config());
    let ok = pair
        .caller
        .call::<Double>(pair.now, RESPONDER, &21, secs(1))
        .unwrap();
    let refused = pair
        .caller
        .call::<Double>(pair.now, RESPONDER, &5000, secs(1))
        .unwrap();
    pair.run();
    let answers = pair.answers();
    assert_eq!(answers.len(), 2);
    let by_id = |id| answers.iter().find(|a| a.call == id).unwrap();
    assert_eq!(by_id(ok).decode::<Double>(), Ok(42));
    assert_eq!(
        by_id(refused).decode::<Double>(),
        Err(CallError::Failed(Refusal::TooBig { limit: 1000 }))
    );
    assert_eq!(by_id(ok).peer, RESPONDER);
    assert_eq!(pair.game.seen, vec![(CALLER, 21), (CALLER, 5000)]);
    assert_eq!(pair.caller.pending_calls(RESPONDER), 0);
}

#[test]
fn an_unknown_command_and_undecodable_arguments_are_answered_as_such() {
    let mut pair = Pair::new(config());
    pair.caller
        .call::<Nobody>(pair.now, RESPONDER, &(), secs(1))
        .unwrap();
    pair.run();
    assert_eq!(
        pair.answers()[0].decode::<Nobody>(),
        Err(CallError::UnknownCommand)
    );
    pair.caller
        .call::<DoubleText>(pair.now, RESPONDER, &"many".to_owned(), secs(1))
        .unwrap();
    pair.run();
    let answer = &pair.answers()[0];
    assert_eq!(
        answer.decode::<DoubleText>(),
        Err(CallError::ArgsUndecodable)
    );
    // An answer decoded as another command is refused, not misread.
    assert!(matches!(
        answer.decode::<Nobody>(),
        Err(CallError::OtherCommand(_))
    ));
    assert!(pair.game.seen.is_empty());
}

#[test]
fn an_answer_this_side_cannot_decode_is_undecodable() {
    let mut pair = Pair::new(config());
    pair.caller
        .call::<Double>(pair.now, RESPONDER, &1, secs(1))
        .unwrap();
    pair.run();
    let mut answer = pair.answers().remove(0);
    answer.outcome = Outcome::Reply(Bytes::from_static(&[0xff]));
    assert!(matches!(
        answer.decode::<Double>(),
        Err(CallError::AnswerUndecodable(_))
    ));
}

#[test]
fn a_call_times_out_at_its_deadline_and_a_late_answer_is_dropped() {
    let mut pair = Pair::new(config());
    let call = pair
        .caller
        .call::<Later>(pair.now, RESPONDER, &vec![], secs(2))
        .unwrap();
    pair.run();
    assert_eq!(pair.caller.next_deadline(), Some(pair.now + secs(2)));
    pair.caller
        .handle_timeout(pair.now + secs(2) - Duration::from_nanos(1));
    assert!(pair.answers().is_empty());
    pair.caller.handle_timeout(pair.now + secs(2));
    let answers = pair.answers();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].call, call);
    assert_eq!(answers[0].decode::<Later>(), Err(CallError::TimedOut));
    assert_eq!(pair.caller.next_deadline(), None);
    // The responder answers after all: counted late, not delivered twice.
    pair.game.held.pop().unwrap().reply(Ok(1));
    pair.run();
    assert!(pair.answers().is_empty());
    assert_eq!(pair.caller.stats().late_answers, 1);
}

#[test]
fn a_deadline_of_an_answered_call_is_passed_over() {
    let mut pair = Pair::new(config());
    pair.caller
        .call::<Double>(pair.now, RESPONDER, &1, secs(1))
        .unwrap();
    pair.run();
    pair.answers();
    let slow = pair
        .caller
        .call::<Later>(pair.now, RESPONDER, &vec![], secs(3))
        .unwrap();
    pair.run();
    pair.caller.handle_timeout(pair.now + secs(1));
    assert!(
        pair.answers().is_empty(),
        "the answered call does not time out"
    );
    assert_eq!(pair.caller.next_deadline(), Some(pair.now + secs(3)));
    pair.caller.handle_timeout(pair.now + secs(3));
    assert_eq!(pair.answers()[0].call, slow);
}

#[test]
fn on_disconnect_every_pending_call_fails_once_with_connection_lost() {
    let mut pair = Pair::new(config());
    for _ in 0..3 {
        pair.caller
            .call::<Later>(pair.now, RESPONDER, &vec![], secs(1))
            .unwrap();
    }
    pair.run();
    pair.caller.disconnected(RESPONDER);
    pair.caller.disconnected(RESPONDER);
    let answers = pair.answers();
    assert_eq!(answers.len(), 3);
    assert!(answers
        .iter()
        .all(|a| a.decode::<Later>() == Err(CallError::ConnectionLost)));
    // Nothing is left to time out, and no call can start.
    pair.caller.handle_timeout(pair.now + secs(5));
    assert!(pair.answers().is_empty());
    assert_eq!(
        pair.caller.call::<Double>(pair.now, RESPONDER, &1, secs(1)),
        Err(RpcError::NotConnected(RESPONDER))
    );
}

#[test]
fn an_answer_given_later_on_another_thread_arrives() {
    let mut pair = Pair::new(config());
    let call = pair
        .caller
        .call::<Later>(pair.now, RESPONDER, &vec![1, 2, 3], secs(1))
        .unwrap();
    pair.run();
    let pending = pair.game.held.pop().unwrap();
    assert_eq!(pending.peer(), CALLER);
    std::thread::spawn(move || pending.reply(Ok(3)))
        .join()
        .unwrap();
    pair.run();
    let answers = pair.answers();
    assert_eq!(answers[0].call, call);
    assert_eq!(answers[0].decode::<Later>(), Ok(3));
}

#[test]
fn a_dropped_pending_reply_answers_abandoned_and_frees_its_slot() {
    let mut pair = Pair::new(config());
    for _ in 0..4 {
        pair.caller
            .call::<Later>(pair.now, RESPONDER, &vec![], secs(1))
            .unwrap();
    }
    pair.run();
    pair.game.held.clear();
    pair.run();
    let answers = pair.answers();
    assert_eq!(answers.len(), 4);
    assert!(answers
        .iter()
        .all(|a| a.decode::<Later>() == Err(CallError::Abandoned)));
    // The four slots of calls in progress are free again.
    for _ in 0..4 {
        pair.caller
            .call::<Later>(pair.now, RESPONDER, &vec![], secs(1))
            .unwrap();
    }
    pair.run();
    assert!(pair.responder.drain_events().next().is_none());
    assert_eq!(pair.game.held.len(), 4);
}

#[test]
fn pending_calls_past_the_limit_are_refused_with_backpressure() {
    let mut pair = Pair::new(config());
    for _ in 0..4 {
        pair.caller
            .call::<Later>(pair.now, RESPONDER, &vec![], secs(1))
            .unwrap();
    }
    assert_eq!(
        pair.caller.call::<Double>(pair.now, RESPONDER, &1, secs(1)),
        Err(RpcError::TooManyPending {
            pending: 4,
            limit: 4
        })
    );
    pair.run();
    pair.game.held.pop().unwrap().reply(Ok(0));
    pair.run();
    assert_eq!(pair.answers().len(), 1);
    assert!(pair
        .caller
        .call::<Double>(pair.now, RESPONDER, &1, secs(1))
        .is_ok());
}

#[test]
fn arguments_past_the_limit_are_refused_before_sending() {
    let mut pair = Pair::new(config());
    // A Vec<u8> of 63 bytes encodes to 64; of 64 bytes, to 65.
    assert!(pair
        .caller
        .call::<Later>(pair.now, RESPONDER, &vec![0; 63], secs(1))
        .is_ok());
    assert_eq!(
        pair.caller
            .call::<Later>(pair.now, RESPONDER, &vec![0; 64], secs(1)),
        Err(RpcError::ArgsTooLarge { size: 65, max: 64 })
    );
    assert_eq!(pair.caller.pending_calls(RESPONDER), 1);
}

#[test]
fn a_peer_that_sends_past_a_size_limit_is_disconnected_with_that_reason() {
    // The caller allows more than the responder does.
    let mut pair = Pair::new(config());
    let generous = RpcConfig {
        max_args_bytes: 1000,
        ..config()
    };
    pair.caller = RpcCore::new(generous);
    pair.caller.connected(RESPONDER);
    pair.caller
        .call::<Later>(pair.now, RESPONDER, &vec![0; 100], secs(1))
        .unwrap();
    pair.run();
    let events: Vec<_> = pair.responder.drain_events().collect();
    let violation = Violation::ArgsTooLarge { size: 101, max: 64 };
    assert_eq!(
        events,
        vec![RpcEvent::Violation {
            peer: CALLER,
            violation: violation.clone()
        }]
    );
    let disconnects: Vec<_> = pair.responder.drain_disconnects().collect();
    assert_eq!(disconnects, vec![(CALLER, violation.clone())]);
    assert!(violation
        .to_string()
        .contains("exceed the limit of 64 bytes"));
    assert!(!pair.responder.is_connected(CALLER));
    assert!(pair.game.held.is_empty(), "the responder never ran");
}

#[test]
fn an_answer_past_the_reply_limit_disconnects_its_sender() {
    let mut pair = Pair::new(config());
    pair.caller
        .call::<Double>(pair.now, RESPONDER, &1, secs(1))
        .unwrap();
    let mut frame = Vec::new();
    frame::write_answer_header(&mut frame, 0, frame::AnswerKind::Reply);
    frame.extend_from_slice(&[0; 65]);
    pair.caller
        .handle_message(RESPONDER, &Bytes::from(frame), &mut ());
    let events: Vec<_> = pair.caller.drain_events().collect();
    assert!(events.contains(&RpcEvent::Violation {
        peer: RESPONDER,
        violation: Violation::AnswerTooLarge { size: 65, max: 64 }
    }));
    // The call it was meant for failed once, with connection lost.
    let lost: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, RpcEvent::Answered(a) if a.outcome == Outcome::ConnectionLost))
        .collect();
    assert_eq!(lost.len(), 1);
}

#[test]
fn a_peer_past_the_incoming_limit_or_sending_garbage_is_disconnected() {
    let mut pair = Pair::new(config());
    let generous = RpcConfig {
        max_pending_calls: 5,
        ..config()
    };
    pair.caller = RpcCore::new(generous);
    pair.caller.connected(RESPONDER);
    for _ in 0..5 {
        pair.caller
            .call::<Later>(pair.now, RESPONDER, &vec![], secs(1))
            .unwrap();
    }
    pair.run();
    assert_eq!(pair.game.held.len(), 4);
    assert_eq!(
        pair.responder.drain_disconnects().collect::<Vec<_>>(),
        vec![(CALLER, Violation::TooManyCalls { max: 4 })]
    );
    // Answers owed to the departed connection are dropped, not sent.
    pair.game.held.clear();
    let mut sent = 0;
    pair.responder.poll_transmit(|_, _| {
        sent += 1;
        Sent::Sent
    });
    assert_eq!(sent, 0);

    let mut pair = Pair::new(config());
    pair.responder
        .handle_message(CALLER, &Bytes::from_static(&[42, 0]), &mut pair.game);
    assert!(matches!(
        pair.responder.drain_disconnects().next(),
        Some((CALLER, Violation::BadFrame(_)))
    ));
}

#[test]
fn a_frame_refused_for_backpressure_is_sent_later() {
    let mut pair = Pair::new(config());
    pair.caller
        .call::<Double>(pair.now, RESPONDER, &4, secs(1))
        .unwrap();
    let mut tries = 0;
    pair.caller.poll_transmit(|_, _| {
        tries += 1;
        Sent::Retry
    });
    assert_eq!(tries, 1);
    pair.run();
    assert_eq!(pair.answers()[0].decode::<Double>(), Ok(8));
}

#[test]
fn a_second_responder_for_the_same_id_is_refused() {
    let mut core: RpcCore<()> = RpcCore::new(config());
    core.respond::<Double, _>(|_, _, n| Ok(u64::from(n)))
        .unwrap();
    assert!(matches!(
        core.respond::<DoubleText, _>(|_, _, _| Ok(0)),
        Err(RpcError::DuplicateResponder { .. })
    ));
}

#[test]
fn a_future_is_ready_once_its_call_is_answered() {
    let mut pair = Pair::new(config());
    let mut future = pin!(pair
        .caller
        .call_future::<Double>(pair.now, RESPONDER, &10, secs(1))
        .unwrap());
    let mut cx = Context::from_waker(Waker::noop());
    assert_eq!(future.as_mut().poll(&mut cx), Poll::Pending);
    pair.run();
    assert_eq!(future.as_mut().poll(&mut cx), Poll::Ready(Ok(20)));
    // A future's outcome is not also an event.
    assert!(pair.answers().is_empty());

    let mut timed = pair
        .caller
        .call_future::<Later>(pair.now, RESPONDER, &vec![], secs(1))
        .unwrap();
    assert!(timed.try_take().is_none());
    pair.caller.handle_timeout(pair.now + secs(1));
    assert_eq!(timed.try_take(), Some(Err(CallError::TimedOut)));
}

#[test]
fn a_new_connection_of_the_same_peer_drops_answers_owed_to_the_old_one() {
    let mut pair = Pair::new(config());
    pair.caller
        .call::<Later>(pair.now, RESPONDER, &vec![], secs(1))
        .unwrap();
    pair.run();
    pair.responder.connected(CALLER);
    pair.game.held.pop().unwrap().reply(Ok(5));
    let mut sent = 0;
    pair.responder.poll_transmit(|_, _| {
        sent += 1;
        Sent::Sent
    });
    assert_eq!(sent, 0);
}

/// Whatever a peer sends on the RPC channel, nothing panics, every frame is
/// taken in or ends the peer's RPC with a violation, and no more of its
/// calls run than the limit allows. Random frames from a fixed seed.
#[test]
fn arbitrary_bytes_never_panic_and_stay_within_the_limits() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5eed);
    for _case in 0..300 {
        let count = rng.gen_range(1..40);
        let frames: Vec<Vec<u8>> = (0..count)
            .map(|_| {
                (0..rng.gen_range(0..80))
                    .map(|_| rng.gen_range(0u8..8))
                    .collect()
            })
            .collect();
        let mut pair = Pair::new(config());
        pair.caller
            .call::<Later>(pair.now, RESPONDER, &vec![], secs(1))
            .unwrap();
        for frame in frames {
            let frame = Bytes::from(frame);
            pair.responder
                .handle_message(CALLER, &frame, &mut pair.game);
            pair.caller.handle_message(RESPONDER, &frame, &mut ());
        }
        assert!(pair.game.held.len() <= 4);
        assert!(pair.game.seen.len() <= 4);
        let violations = pair.responder.drain_disconnects().count();
        assert!(violations <= 1);
        assert_eq!(pair.responder.is_connected(CALLER), violations == 0);
        pair.caller.handle_timeout(pair.now + secs(1));
        // The caller's one call ended exactly once, however it ended.
        let ended = pair
            .caller
            .drain_events()
            .filter(|e| matches!(e, RpcEvent::Answered(_)))
            .count();
        assert_eq!(ended, 1);
    }
}
