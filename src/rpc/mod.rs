//! Remote calls between a server and its clients: commands declared as
//! Rust types, call ids, per-call timeouts, typed errors and limits.
//!
//! [`RpcCore`] is the sans-IO part: it is handed the time and the payloads
//! of the RPC channel and hands back frames, events and peers to
//! disconnect. [`RpcServer`] and [`RpcClient`] tie it to a [`Server`] or a
//! [`Client`](crate::Client) through their public API, riding one reliable
//! channel reserved for RPC. Nothing here reads a socket except through
//! those endpoints, and nothing keeps state for a peer that has not
//! connected.
//!
//! A call ends exactly once: with the command's reply, its own typed error,
//! a timeout, the connection's loss, an unknown command, arguments the peer
//! could not decode, or an abandoned call; a call refused before it leaves
//! (backpressure, arguments too large) is an [`RpcError`] at once.
//!
//! [`Server`]: crate::Server

mod calls;
mod client;
mod command;
mod config;
mod core;
mod frame;
mod future;
mod outbox;
mod outcome;
mod responders;
mod server;

pub use self::core::{RpcCore, RpcStats};
pub use client::{RpcClient, RpcClientEvent, SERVER};
pub use command::{Command, CommandId};
pub use config::RpcConfig;
pub use future::CallFuture;
pub use outbox::Sent;
pub use outcome::{Answered, CallError, CallId, Outcome, RpcError, RpcEvent, Violation};
pub use responders::PendingReply;
pub use server::{RpcServer, RpcServerEvent};

#[cfg(test)]
mod core_tests;
