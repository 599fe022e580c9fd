//! Responders: the game's functions that answer incoming calls, one per
//! command, and the [`PendingReply`] token of a call answered later.
//!
//! A responder is handed decoded arguments and returns (or later sends) the
//! command's `Result`; this file encodes that answer into a frame with the
//! reply size limit. It never sends a frame or tracks a call's peer state.

use std::marker::PhantomData;

use crossbeam_channel::Sender;
use serde::Serialize;

use super::command::Command;
use super::frame::{write_answer_header, AnswerKind};
use crate::PeerId;

/// One incoming call as an erased responder sees it.
pub(crate) struct Request<'a> {
    pub(crate) peer: PeerId,
    pub(crate) epoch: u64,
    pub(crate) call: u32,
    pub(crate) args: &'a [u8],
    pub(crate) later: &'a Sender<Deferred>,
    pub(crate) max_reply: usize,
}

/// A responder with its command's types erased. Writes the answer frame into
/// the buffer and returns `true`, or returns `false` when the answer will
/// come through a [`PendingReply`].
pub(crate) type Responder<S> = Box<dyn FnMut(&mut S, Request<'_>, &mut Vec<u8>) -> bool + Send>;

/// An answer frame made off the game loop, on its way to the outbox.
#[derive(Debug)]
pub(crate) struct Deferred {
    pub(crate) peer: PeerId,
    pub(crate) epoch: u64,
    pub(crate) frame: Vec<u8>,
}

/// Wraps a responder that answers at once.
pub(crate) fn immediate<S, C, F>(mut f: F) -> Responder<S>
where
    C: Command,
    F: FnMut(&mut S, PeerId, C::Args) -> Result<C::Reply, C::Error> + Send + 'static,
{
    Box::new(move |state, request, out| {
        match crate::typed::decode::<C::Args>(request.args) {
            Ok(args) => {
                let answer = f(state, request.peer, args);
                write_answer(out, request.call, &answer, request.max_reply);
            }
            Err(_) => write_answer_header(out, request.call, AnswerKind::Undecodable),
        }
        true
    })
}

/// Wraps a responder that answers through a [`PendingReply`].
pub(crate) fn later<S, C, F>(mut f: F) -> Responder<S>
where
    C: Command,
    F: FnMut(&mut S, PeerId, C::Args, PendingReply<C>) + Send + 'static,
{
    Box::new(
        move |state, request, out| match crate::typed::decode::<C::Args>(request.args) {
            Ok(args) => {
                let pending = PendingReply {
                    sender: request.later.clone(),
                    peer: request.peer,
                    epoch: request.epoch,
                    call: request.call,
                    max_reply: request.max_reply,
                    answered: false,
                    _command: PhantomData,
                };
                f(state, request.peer, args, pending);
                false
            }
            Err(_) => {
                write_answer_header(out, request.call, AnswerKind::Undecodable);
                true
            }
        },
    )
}

/// Encodes the answer frame of `call`; an answer that does not encode or is
/// larger than `max` bytes goes out as abandoned instead.
pub(crate) fn write_answer<R: Serialize, E: Serialize>(
    out: &mut Vec<u8>,
    call: u32,
    answer: &Result<R, E>,
    max: usize,
) {
    let start = out.len();
    let body = match answer {
        Ok(reply) => encode_after_header(out, call, AnswerKind::Reply, reply),
        Err(error) => encode_after_header(out, call, AnswerKind::Error, error),
    };
    if body.is_none_or(|len| len > max) {
        out.truncate(start);
        write_answer_header(out, call, AnswerKind::Abandoned);
    }
}

/// Writes a header and `value`; the body's length, or `None` if it did not encode.
fn encode_after_header<T: Serialize>(
    out: &mut Vec<u8>,
    call: u32,
    kind: AnswerKind,
    value: &T,
) -> Option<usize> {
    write_answer_header(out, call, kind);
    let before = out.len();
    bincode::serde::encode_into_std_write(value, out, bincode::config::standard())
        .ok()
        .map(|_| out.len() - before)
}

/// The promise to answer one incoming call of `C` later, from any thread.
///
/// Answer with [`reply`](Self::reply); the answer is sent on the endpoint's
/// next `update`. Dropping the token unanswered answers the call as
/// abandoned, so the caller never waits for its timeout in vain. An answer
/// to a peer that has left meanwhile is discarded.
#[derive(Debug)]
pub struct PendingReply<C: Command> {
    sender: Sender<Deferred>,
    peer: PeerId,
    epoch: u64,
    call: u32,
    max_reply: usize,
    answered: bool,
    _command: PhantomData<fn() -> C>,
}

impl<C: Command> PendingReply<C> {
    /// The caller.
    pub fn peer(&self) -> PeerId {
        self.peer
    }

    /// Sends the command's answer.
    pub fn reply(mut self, answer: Result<C::Reply, C::Error>) {
        let mut frame = Vec::new();
        write_answer(&mut frame, self.call, &answer, self.max_reply);
        self.send(frame);
    }

    fn send(&mut self, frame: Vec<u8>) {
        self.answered = true;
        // The endpoint may be gone; then nobody waits for this answer.
        let _ = self.sender.send(Deferred {
            peer: self.peer,
            epoch: self.epoch,
            frame,
        });
    }
}

impl<C: Command> Drop for PendingReply<C> {
    fn drop(&mut self) {
        if !self.answered {
            let mut frame = Vec::new();
            write_answer_header(&mut frame, self.call, AnswerKind::Abandoned);
            self.send(frame);
        }
    }
}

/// Writes the responder registrations of an RPC wrapper (`RpcClient`,
/// `RpcServer`): both hand them to their core unchanged.
macro_rules! responder_methods {
    ($wrapper:ident) => {
        impl<S> $wrapper<S> {
            /// Registers the responder of `C`, answering at once.
            pub fn respond<C, F>(&mut self, f: F) -> Result<(), RpcError>
            where
                C: Command,
                F: FnMut(&mut S, PeerId, C::Args) -> Result<C::Reply, C::Error> + Send + 'static,
            {
                self.core.respond::<C, F>(f)
            }

            /// Registers the responder of `C`, answering through a
            /// [`PendingReply`] now or later, from any thread.
            pub fn respond_later<C, F>(&mut self, f: F) -> Result<(), RpcError>
            where
                C: Command,
                F: FnMut(&mut S, PeerId, C::Args, PendingReply<C>) + Send + 'static,
            {
                self.core.respond_later::<C, F>(f)
            }
        }
    };
}
pub(super) use responder_methods;

#[cfg(test)]
mod tests {
    use super::super::frame::Frame;
    use super::*;

    #[test]
    fn an_answer_past_the_limit_goes_out_as_abandoned() {
        let mut out = Vec::new();
        write_answer::<_, ()>(&mut out, 5, &Ok(vec![7u8; 100]), 101);
        assert!(matches!(
            Frame::parse(&out),
            Ok(Frame::Reply { call: 5, .. })
        ));
        out.clear();
        write_answer::<_, ()>(&mut out, 5, &Ok(vec![7u8; 100]), 100);
        assert_eq!(Frame::parse(&out), Ok(Frame::Abandoned { call: 5 }));
    }

    #[test]
    fn a_dropped_token_answers_abandoned() {
        struct Cmd;
        impl Command for Cmd {
            const NAME: &'static str = "test.cmd";
            type Args = ();
            type Reply = ();
            type Error = ();
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let token: PendingReply<Cmd> = PendingReply {
            sender: tx,
            peer: 3,
            epoch: 1,
            call: 9,
            max_reply: 10,
            answered: false,
            _command: PhantomData,
        };
        drop(token);
        let deferred = rx.try_recv().unwrap();
        assert_eq!(deferred.peer, 3);
        assert_eq!(
            Frame::parse(&deferred.frame),
            Ok(Frame::Abandoned { call: 9 })
        );
        assert!(rx.try_recv().is_err(), "exactly one answer");
    }
}
