//! Replicated state: per-connection values in both directions
//! ([`StateLink`]) and a keyed world ([`ReplicatedMap`]) that each client
//! receives as deltas against the newest snapshot it acknowledged, scoped by
//! topics and sent by priority within the connection's rate.
//!
//! The core here is sans-IO: it takes `now` and frames in, and hands frames
//! out; it never touches a socket, a clock or the engine's internals. The
//! glue ([`ReplicationServer`], [`ReplicationClient`]) moves those frames
//! over the public API of [`Server`](crate::Server) and
//! [`Client`](crate::Client) on two channels of their own.

mod client_glue;
mod codec;
mod config;
mod error;
mod receiver;
mod sender;
mod server_glue;
mod state;
mod world;

pub use client_glue::ReplicationClient;
pub use config::ReplicationConfig;
pub use error::ReplicateError;
pub use receiver::{ViewChange, ViewStats, WorldView, DEFAULT_MAX_ENTRIES, VIEW_HISTORY};
pub use sender::{PeerReplica, SenderStats, SNAPSHOT_HISTORY};
pub use server_glue::ReplicationServer;
pub use state::{StateLink, Transmit, DEFAULT_AUTOFLUSH_DELAY};
pub use world::{ReplicatedMap, Topic, DEFAULT_IMPORTANCE, MAX_ENTRY_BYTES};

#[cfg(test)]
mod tests;
