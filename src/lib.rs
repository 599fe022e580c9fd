//! lentil: a reliable-datagram networking engine for games.
//!
//! A game embeds a [`Client`] or a [`Server`], calls `update()` once per tick,
//! reacts to events in handlers it registered (or drains them), and reads
//! [`Metrics`]. Under it, a sans-IO protocol core ([`proto`]) over a checked
//! wire format ([`wire`]), moved by a [`transport`]: real UDP through `mio`, or
//! an in-memory simulated network with a link conditioner and virtual time.

mod backend;
mod client;
pub mod clock;
mod config;
mod delivery;
mod error;
mod handlers;
mod message;
mod metrics;
pub mod proto;
mod server;
pub mod transport;
mod typed;
pub mod wire;

pub use client::{Client, ClientEvent, ClientState};
pub use config::Config;
pub use delivery::Delivery;
pub use error::{DisconnectReason, Error, RejectReason};
pub use handlers::HandlerId;
pub use message::Message;
pub use metrics::{Metrics, MetricsHandle};
pub use metrics::{MetricsSnapshot, PeerMetrics, Prometheus, ServerMetricsSnapshot};
pub use server::{ConnectRequestInfo, Server, ServerEvent, ServerMetricsHandle, ServerStats};
pub use transport::sim::{BurstLoss, LinkConditioner, SimNetwork};

/// Identifies a peer connected to a [`Server`]; never reused within a server's life.
pub type PeerId = u64;

/// Most datagrams one `update()` reads, so a flood cannot hold the game loop;
/// the rest wait in the socket for the next update.
const MAX_DATAGRAMS_PER_UPDATE: usize = 8192;
