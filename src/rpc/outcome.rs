//! What a call can come to: the refusal of a call that never left
//! ([`RpcError`]), the outcome of one that did ([`Outcome`], decoded into
//! [`CallError`]), and the events RPC reports.
//!
//! Only types and their decoding live here; nothing is sent or stored.

use bytes::Bytes;

use super::command::{Command, CommandId};
use crate::PeerId;

/// Identifies one outgoing call to one peer; unique among that peer's
/// pending calls (ids wrap after 2^32 calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u32);

/// Why a call was refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// Backpressure: this many calls to the peer already wait for an answer
    /// (`RpcConfig::max_pending_calls`). Update and try again.
    #[error("too many pending calls: {pending} wait for an answer, limit {limit}")]
    TooManyPending {
        /// Calls waiting for an answer from the peer.
        pending: usize,
        /// The limit.
        limit: usize,
    },
    /// The encoded arguments exceed `RpcConfig::max_args_bytes`.
    #[error("call arguments of {size} bytes exceed the limit of {max} bytes")]
    ArgsTooLarge {
        /// Encoded size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// No connection to this peer (or, on a client, to the server).
    #[error("no connection to peer {0}")]
    NotConnected(PeerId),
    /// The arguments could not be encoded.
    #[error("call arguments could not be encoded: {0}")]
    Encode(String),
    /// `RpcConfig` does not fit the endpoint's `Config`.
    #[error("invalid rpc config: {0}")]
    InvalidConfig(&'static str),
    /// A responder for this command id is already registered.
    #[error("a responder for command {name} (id {id}) is already registered")]
    DuplicateResponder {
        /// The command being registered.
        name: &'static str,
        /// Its wire id.
        id: CommandId,
    },
}

/// How a call that was sent ended, before its bodies are decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The responder's reply, still encoded.
    Reply(Bytes),
    /// The command's own error, still encoded.
    Error(Bytes),
    /// No answer came within the call's timeout.
    TimedOut,
    /// The connection closed or was lost before the answer came.
    ConnectionLost,
    /// The peer has no responder for the command.
    UnknownCommand,
    /// The peer could not decode the arguments as the command's `Args`.
    ArgsUndecodable,
    /// The peer's responder let the call go without an answer it could
    /// send (its pending reply was dropped, or its answer was too large).
    Abandoned,
}

/// The decoded outcome of a call that did not return the command's reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError<E> {
    /// The command's own error, from its responder.
    #[error("the command failed")]
    Failed(E),
    /// No answer came within the call's timeout.
    #[error("the call timed out")]
    TimedOut,
    /// The connection closed or was lost before the answer came.
    #[error("the connection was lost before the answer came")]
    ConnectionLost,
    /// The peer has no responder for the command.
    #[error("the peer does not know the command")]
    UnknownCommand,
    /// The peer could not decode the arguments.
    #[error("the peer could not decode the arguments")]
    ArgsUndecodable,
    /// This side could not decode the answer as the command's types.
    #[error("the answer could not be decoded: {0}")]
    AnswerUndecodable(String),
    /// The peer's responder gave no answer it could send.
    #[error("the peer abandoned the call")]
    Abandoned,
    /// The outcome belongs to a call of another command.
    #[error("the outcome is of command {0}, not of the one asked for")]
    OtherCommand(CommandId),
}

impl Outcome {
    /// Decodes this outcome as one of `C`.
    pub fn decode<C: Command>(&self) -> Result<C::Reply, CallError<C::Error>> {
        match self {
            Outcome::Reply(body) => {
                crate::typed::decode(body).map_err(|e| CallError::AnswerUndecodable(e.to_string()))
            }
            Outcome::Error(body) => match crate::typed::decode(body) {
                Ok(error) => Err(CallError::Failed(error)),
                Err(e) => Err(CallError::AnswerUndecodable(e.to_string())),
            },
            Outcome::TimedOut => Err(CallError::TimedOut),
            Outcome::ConnectionLost => Err(CallError::ConnectionLost),
            Outcome::UnknownCommand => Err(CallError::UnknownCommand),
            Outcome::ArgsUndecodable => Err(CallError::ArgsUndecodable),
            Outcome::Abandoned => Err(CallError::Abandoned),
        }
    }
}

/// A call made with `call` has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// The peer called.
    pub peer: PeerId,
    /// The call, as `call` returned it.
    pub call: CallId,
    /// The command called.
    pub command: CommandId,
    /// How it ended.
    pub outcome: Outcome,
}

impl Answered {
    /// Whether this is the outcome of a call of `C`.
    pub fn is<C: Command>(&self) -> bool {
        self.command == C::id()
    }

    /// Decodes the outcome as one of `C`.
    pub fn decode<C: Command>(&self) -> Result<C::Reply, CallError<C::Error>> {
        if !self.is::<C>() {
            return Err(CallError::OtherCommand(self.command));
        }
        self.outcome.decode::<C>()
    }
}

/// Why a peer was disconnected for what it sent on the RPC channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// Arguments larger than `RpcConfig::max_args_bytes`.
    #[error("rpc arguments of {size} bytes exceed the limit of {max} bytes")]
    ArgsTooLarge {
        /// Their size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A reply or error larger than `RpcConfig::max_reply_bytes`.
    #[error("rpc answer of {size} bytes exceeds the limit of {max} bytes")]
    AnswerTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// More calls in progress than `RpcConfig::max_incoming_calls`.
    #[error("more than {max} rpc calls in progress")]
    TooManyCalls {
        /// The limit.
        max: usize,
    },
    /// Bytes on the RPC channel that are not a frame.
    #[error("undecodable rpc frame: {0}")]
    BadFrame(String),
}

/// What RPC reports from `update`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcEvent {
    /// A call made with `call` has ended.
    Answered(Answered),
    /// A peer broke an RPC limit or sent garbage and is being disconnected.
    Violation {
        /// The peer.
        peer: PeerId,
        /// What it did.
        violation: Violation,
    },
}
