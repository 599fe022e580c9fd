//! lentil: a reliable-datagram networking engine for games.
//!
//! A game embeds a [`Client`] or a [`Server`], calls `update()` once per tick,
//! reacts to events in handlers it registered (or drains them), and reads
//! [`Metrics`]. Under it, a sans-IO protocol core ([`proto`]) over a checked
//! wire format ([`wire`]), moved by a [`transport`]: real UDP through `mio`, or
//! an in-memory simulated network with a link conditioner and virtual time.
//!
//! # A first run
//!
//! An echo server and a client on the simulated network, where time moves
//! only when the game moves it, so the run is instant and deterministic.
//! Over UDP the same code uses [`Server::new`] / [`Client::new`] and waits
//! (`wait`) instead of advancing the clock.
//!
//! ```
//! use std::sync::mpsc;
//! use std::time::Duration;
//!
//! use lentil::{Client, Config, Delivery, Server, SimNetwork};
//!
//! let net = SimNetwork::new(42); // the seed of its link conditioner
//! let mut server = Server::sandbox(Config::default(), &net);
//! server.on_message(|server, peer, msg| {
//!     let _ = server.send(peer, msg.bytes(), Delivery::ReliableOrdered);
//! });
//! server.listen("127.0.0.1:9000")?;
//!
//! let mut client = Client::sandbox(Config::default(), &net);
//! client.on_connect_accepted(|client| {
//!     let _ = client.send(b"hello", Delivery::ReliableOrdered);
//! });
//! let (echoes, received) = mpsc::channel();
//! client.on_message(move |client, msg| {
//!     let _ = echoes.send(msg.bytes().to_vec());
//!     client.disconnect(); // graceful: the server sees on_disconnect
//! });
//! client.connect("127.0.0.1:9000")?;
//!
//! // The game loop: update both sides every tick, then let 1 ms pass.
//! for _tick in 0..500 {
//!     server.update();
//!     client.update();
//!     net.clock().advance(Duration::from_millis(1));
//! }
//! assert_eq!(received.try_recv().ok(), Some(b"hello".to_vec()));
//! assert!(client.is_disconnected());
//! assert_eq!(server.peer_count(), 0);
//! # Ok::<(), lentil::Error>(())
//! ```
//!
//! # What is around the engine
//!
//! - **Delivery**: every message picks a [`Delivery`] mode, or a channel of
//!   [`Config::channels`] with `send_on`.
//! - **Events**: handlers (`on_connect`, `on_message`, `on_error`, ...), any
//!   number per event and each removable, or the pull path `update_events()`.
//!   Errors and close reasons are [`Error`], [`DisconnectReason`] and
//!   [`RejectReason`], each displaying a sentence that names its cause.
//! - **Typed messages**: [`TypedServer`] and [`TypedClient`] send and receive
//!   one serde type (an enum of every message kind), encoded with bincode; a
//!   message that does not decode is dropped, counted and reported as
//!   [`Error::Decode`] while the connection stays up. The bytes API stays for
//!   games with their own codec.
//! - **Threads**: [`ServerHandle`] and [`ClientHandle`] let other threads
//!   queue messages, sent on the next `update()`; `forward_events` copies the
//!   events to a channel for a consumer thread. Both are bounded and never
//!   block the game loop.
//! - **Metrics**: per connection ([`Metrics`], [`Server::metrics`]), readable
//!   from other threads through [`MetricsHandle`] and [`ServerMetricsHandle`].
//! - **Logs**: connects, disconnects (with their reason), rejections, lost
//!   connections and protocol violations are `tracing` events at info or
//!   warn level, inside a `lentil_server` or `lentil_client` span; dropped
//!   datagrams and undecodable messages are debug or trace. Nothing is
//!   logged per packet at info level, and without a subscriber nothing is
//!   logged at all.

mod backend;
mod client;
pub mod clock;
mod config;
pub mod crypto;
mod delivery;
mod error;
mod handlers;
mod message;
mod metrics;
pub mod proto;
mod route;
mod server;
mod threads;
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
pub use threads::{ClientHandle, ServerHandle};
pub use transport::sim::{BurstLoss, LinkConditioner, SimNetwork};
pub use typed::{TypedClient, TypedClientEvent, TypedServer, TypedServerEvent};

/// Identifies a peer connected to a [`Server`]; never reused within a server's life.
pub type PeerId = u64;

/// Most datagrams one `update()` reads, so a flood cannot hold the game loop;
/// the rest wait in the socket for the next update.
const MAX_DATAGRAMS_PER_UPDATE: usize = 8192;

/// The README's examples, compiled and run as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
