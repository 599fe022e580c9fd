//! The sans-IO RPC core: calls out, answers in, deadlines, limits and
//! violations, for any number of peers of one endpoint.
//!
//! It is handed the time, the peers' comings and goings and the payloads of
//! messages from the RPC channel; it hands back frames to send
//! ([`poll_transmit`](RpcCore::poll_transmit)), events, and the peers to
//! disconnect. It never reads a clock, touches a socket or an endpoint, and
//! keeps nothing for a peer it was not told is connected.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use serde::Serialize;

use super::calls::{complete, Completion, PeerCalls, Pending};
use super::command::{Command, CommandId};
use super::config::RpcConfig;
use super::frame::{write_answer_header, write_request_header, AnswerKind, Frame};
use super::future::{CallFuture, SharedSlot};
use super::outbox::{OutFrame, Outbox, Sent};
use super::outcome::{CallId, Outcome, RpcError, RpcEvent, Violation};
use super::responders::{self, Deferred, PendingReply, Request, Responder};
use crate::PeerId;

/// Counters of one endpoint's RPC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RpcStats {
    /// Calls sent.
    pub calls: u64,
    /// Calls answered (reply, error, unknown, undecodable or abandoned).
    pub answered: u64,
    /// Calls that timed out.
    pub timed_out: u64,
    /// Calls that failed because their connection ended.
    pub lost: u64,
    /// Answers to no pending call (their call had timed out): dropped.
    pub late_answers: u64,
    /// Incoming calls run by a responder.
    pub served: u64,
    /// Peers disconnected for breaking a limit or sending garbage.
    pub violations: u64,
}

/// The RPC state of one endpoint, sans IO; `S` is the game state its
/// responders are handed.
pub struct RpcCore<S> {
    config: RpcConfig,
    peers: HashMap<PeerId, PeerCalls>,
    responders: HashMap<CommandId, (&'static str, Responder<S>)>,
    outbox: Outbox,
    events: Vec<RpcEvent>,
    to_disconnect: Vec<(PeerId, Violation)>,
    /// No pending call ends before this; may be earlier than the true
    /// earliest deadline (its call was answered), never later.
    earliest: Option<Instant>,
    next_epoch: u64,
    later_tx: Sender<Deferred>,
    later_rx: Receiver<Deferred>,
    stats: RpcStats,
}

impl<S> std::fmt::Debug for RpcCore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcCore")
            .field("peers", &self.peers.len())
            .field("responders", &self.responders.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<S> RpcCore<S> {
    /// A core with no peers and no responders. `config` is assumed checked
    /// ([`RpcConfig::validate`]).
    pub fn new(config: RpcConfig) -> Self {
        // Unbounded, yet bounded in fact: each message is the one answer of
        // an incoming call in progress, and those are limited per peer.
        let (later_tx, later_rx) = crossbeam_channel::unbounded();
        RpcCore {
            config,
            peers: HashMap::new(),
            responders: HashMap::new(),
            outbox: Outbox::default(),
            events: Vec::new(),
            to_disconnect: Vec::new(),
            earliest: None,
            next_epoch: 0,
            later_tx,
            later_rx,
            stats: RpcStats::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RpcConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> RpcStats {
        self.stats
    }

    /// Registers the responder of `C`, which answers at once.
    pub fn respond<C, F>(&mut self, f: F) -> Result<(), RpcError>
    where
        C: Command,
        F: FnMut(&mut S, PeerId, C::Args) -> Result<C::Reply, C::Error> + Send + 'static,
    {
        self.register::<C>(responders::immediate::<S, C, F>(f))
    }

    /// Registers the responder of `C`, which answers through the
    /// [`PendingReply`] it is handed, at once or later, from any thread.
    pub fn respond_later<C, F>(&mut self, f: F) -> Result<(), RpcError>
    where
        C: Command,
        F: FnMut(&mut S, PeerId, C::Args, PendingReply<C>) + Send + 'static,
    {
        self.register::<C>(responders::later::<S, C, F>(f))
    }

    fn register<C: Command>(&mut self, responder: Responder<S>) -> Result<(), RpcError> {
        let id = C::id();
        if let Some((name, _)) = self.responders.get(&id) {
            return Err(RpcError::DuplicateResponder { name, id });
        }
        self.responders.insert(id, (C::NAME, responder));
        Ok(())
    }

    /// A connection to `peer` is open (again): its calls start afresh.
    pub fn connected(&mut self, peer: PeerId) {
        self.disconnected(peer);
        self.next_epoch += 1;
        let calls = PeerCalls::new(self.next_epoch, self.config.max_pending_calls);
        self.peers.insert(peer, calls);
    }

    /// The connection to `peer` ended: each of its pending calls fails once
    /// with [`Outcome::ConnectionLost`], and answers still owed to it are
    /// dropped.
    pub fn disconnected(&mut self, peer: PeerId) {
        if let Some(calls) = self.peers.remove(&peer) {
            for (call, pending) in calls.pending {
                self.stats.lost += 1;
                complete(
                    &mut self.events,
                    peer,
                    call,
                    pending,
                    Outcome::ConnectionLost,
                );
            }
        }
    }

    /// Whether `peer` is connected, as far as RPC was told.
    pub fn is_connected(&self, peer: PeerId) -> bool {
        self.peers.contains_key(&peer)
    }

    /// Calls in flight to `peer`.
    pub fn pending_calls(&self, peer: PeerId) -> usize {
        self.peers.get(&peer).map_or(0, |p| p.pending.len())
    }

    /// Starts a call of `C` to `peer`; its outcome comes as an
    /// [`RpcEvent::Answered`], or [`Outcome::TimedOut`] once `timeout` has
    /// passed without an answer.
    pub fn call<C: Command>(
        &mut self,
        now: Instant,
        peer: PeerId,
        args: &C::Args,
        timeout: Duration,
    ) -> Result<CallId, RpcError> {
        self.start::<C>(now, peer, args, timeout, Completion::Event)
    }

    /// Like [`call`](Self::call), with the outcome as a future instead of an event.
    pub fn call_future<C: Command>(
        &mut self,
        now: Instant,
        peer: PeerId,
        args: &C::Args,
        timeout: Duration,
    ) -> Result<CallFuture<C>, RpcError> {
        let slot = SharedSlot::default();
        let id = self.start::<C>(now, peer, args, timeout, Completion::Future(slot.clone()))?;
        Ok(CallFuture::new(id, slot))
    }

    fn start<C: Command>(
        &mut self,
        now: Instant,
        peer: PeerId,
        args: &C::Args,
        timeout: Duration,
        completion: Completion,
    ) -> Result<CallId, RpcError> {
        let limit = self.config.max_pending_calls;
        let calls = self
            .peers
            .get_mut(&peer)
            .ok_or(RpcError::NotConnected(peer))?;
        if calls.pending.len() >= limit {
            return Err(RpcError::TooManyPending {
                pending: calls.pending.len(),
                limit,
            });
        }
        let call = calls.next_id();
        let mut buf = self.outbox.buffer();
        write_request_header(&mut buf, call, C::id());
        let header = buf.len();
        if let Err(e) = encode_into(&mut buf, args) {
            self.outbox.recycle(buf);
            return Err(e);
        }
        let size = buf.len() - header;
        if size > self.config.max_args_bytes {
            self.outbox.recycle(buf);
            let max = self.config.max_args_bytes;
            return Err(RpcError::ArgsTooLarge { size, max });
        }
        let deadline = now + timeout;
        calls.pending.insert(
            call,
            Pending {
                deadline,
                command: C::id(),
                completion,
            },
        );
        let epoch = calls.epoch;
        self.outbox.push(OutFrame {
            peer,
            epoch,
            answer: false,
            buf,
        });
        self.earliest = Some(self.earliest.map_or(deadline, |e| e.min(deadline)));
        self.stats.calls += 1;
        Ok(CallId(call))
    }

    /// Takes in one message `peer` sent on the RPC channel: an answer ends
    /// its call, a request runs its responder with `state`. A frame that
    /// breaks a limit or does not parse disconnects the peer.
    /// Answers and requests do not depend on the time: deadlines are only
    /// checked by [`handle_timeout`](Self::handle_timeout).
    pub fn handle_message(&mut self, peer: PeerId, payload: &Bytes, state: &mut S) {
        if !self.peers.contains_key(&peer) {
            return;
        }
        match Frame::parse(payload) {
            Ok(Frame::Request {
                call,
                command,
                args,
            }) => self.serve(peer, call, command, args, state),
            Ok(Frame::Reply { call, body }) => {
                if self.answer_fits(peer, body.len()) {
                    let body = payload.slice_ref(body);
                    self.answer(peer, call, Outcome::Reply(body));
                }
            }
            Ok(Frame::Error { call, body }) => {
                if self.answer_fits(peer, body.len()) {
                    let body = payload.slice_ref(body);
                    self.answer(peer, call, Outcome::Error(body));
                }
            }
            Ok(Frame::Unknown { call }) => self.answer(peer, call, Outcome::UnknownCommand),
            Ok(Frame::Undecodable { call }) => self.answer(peer, call, Outcome::ArgsUndecodable),
            Ok(Frame::Abandoned { call }) => self.answer(peer, call, Outcome::Abandoned),
            Err(e) => self.violation(peer, Violation::BadFrame(e.to_string())),
        }
    }

    fn answer_fits(&mut self, peer: PeerId, size: usize) -> bool {
        let max = self.config.max_reply_bytes;
        if size > max {
            self.violation(peer, Violation::AnswerTooLarge { size, max });
            return false;
        }
        true
    }

    fn answer(&mut self, peer: PeerId, call: u32, outcome: Outcome) {
        let Some(calls) = self.peers.get_mut(&peer) else {
            return;
        };
        match calls.pending.remove(&call) {
            Some(pending) => {
                self.stats.answered += 1;
                complete(&mut self.events, peer, call, pending, outcome);
            }
            None => self.stats.late_answers += 1,
        }
    }

    fn serve(&mut self, peer: PeerId, call: u32, command: CommandId, args: &[u8], state: &mut S) {
        let max_args = self.config.max_args_bytes;
        if args.len() > max_args {
            let size = args.len();
            return self.violation(
                peer,
                Violation::ArgsTooLarge {
                    size,
                    max: max_args,
                },
            );
        }
        let max = self.config.max_incoming_calls;
        let Some(calls) = self.peers.get_mut(&peer) else {
            return;
        };
        if calls.incoming >= max {
            return self.violation(peer, Violation::TooManyCalls { max });
        }
        calls.incoming += 1;
        let epoch = calls.epoch;
        self.stats.served += 1;
        let mut buf = self.outbox.buffer();
        let answered = match self.responders.get_mut(&command) {
            Some((_, responder)) => {
                let request = Request {
                    peer,
                    epoch,
                    call,
                    args,
                    later: &self.later_tx,
                    max_reply: self.config.max_reply_bytes,
                };
                responder(state, request, &mut buf)
            }
            None => {
                write_answer_header(&mut buf, call, AnswerKind::Unknown);
                true
            }
        };
        if answered {
            self.outbox.push(OutFrame {
                peer,
                epoch,
                answer: true,
                buf,
            });
        } else {
            self.outbox.recycle(buf);
        }
    }

    fn violation(&mut self, peer: PeerId, violation: Violation) {
        self.stats.violations += 1;
        self.disconnected(peer);
        self.events.push(RpcEvent::Violation {
            peer,
            violation: violation.clone(),
        });
        self.to_disconnect.push((peer, violation));
    }

    /// The earliest time [`handle_timeout`](Self::handle_timeout) may have
    /// work; it may find none (the call was answered).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.earliest
    }

    /// Ends every call whose deadline has passed with [`Outcome::TimedOut`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.earliest.is_none_or(|e| now < e) {
            return;
        }
        // A scan of every pending call, once per earliest deadline: with
        // answers quicker than timeouts that is about once per timeout.
        let mut earliest: Option<Instant> = None;
        for (&peer, calls) in &mut self.peers {
            let events = &mut self.events;
            let stats = &mut self.stats;
            calls.pending.retain(|&call, pending| {
                if pending.deadline <= now {
                    stats.timed_out += 1;
                    let ended = Pending {
                        deadline: pending.deadline,
                        command: pending.command,
                        completion: std::mem::replace(&mut pending.completion, Completion::Event),
                    };
                    complete(events, peer, call, ended, Outcome::TimedOut);
                    false
                } else {
                    earliest = Some(earliest.map_or(pending.deadline, |e| e.min(pending.deadline)));
                    true
                }
            });
        }
        self.earliest = earliest;
    }

    /// Hands every frame waiting to `send` (its peer, its bytes); a frame
    /// refused with [`Sent::Retry`] waits for the next call. Answers made
    /// through a [`PendingReply`] join the queue first.
    pub fn poll_transmit(&mut self, mut send: impl FnMut(PeerId, &[u8]) -> Sent) {
        while let Ok(deferred) = self.later_rx.try_recv() {
            self.outbox.push(OutFrame {
                peer: deferred.peer,
                epoch: deferred.epoch,
                answer: true,
                buf: deferred.frame,
            });
        }
        for _ in 0..self.outbox.len() {
            let Some(frame) = self.outbox.pop() else {
                break;
            };
            let Some(calls) = self
                .peers
                .get_mut(&frame.peer)
                .filter(|c| c.epoch == frame.epoch)
            else {
                self.outbox.recycle(frame.buf);
                continue;
            };
            match send(frame.peer, &frame.buf) {
                Sent::Sent | Sent::Dropped => {
                    if frame.answer {
                        calls.incoming = calls.incoming.saturating_sub(1);
                    }
                    self.outbox.recycle(frame.buf);
                }
                Sent::Retry => self.outbox.push(frame),
            }
        }
    }

    /// The events since the last call, oldest first.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, RpcEvent> {
        self.events.drain(..)
    }

    /// Peers to disconnect for a violation, with the reason; their calls
    /// have already ended.
    pub fn drain_disconnects(&mut self) -> std::vec::Drain<'_, (PeerId, Violation)> {
        self.to_disconnect.drain(..)
    }
}

/// Appends `value` in the typed-message encoding.
fn encode_into<T: Serialize>(buf: &mut Vec<u8>, value: &T) -> Result<(), RpcError> {
    bincode::serde::encode_into_std_write(value, buf, bincode::config::standard())
        .map(|_| ())
        .map_err(|e| RpcError::Encode(e.to_string()))
}
