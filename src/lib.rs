//! lentil: a reliable-datagram networking engine for games.
//!
//! Its API follows that of legume, a Python networking library for games.
//! A game embeds a [`Client`] or a [`Server`], calls `update()` once per tick,
//! reacts to events in handlers it registered (or drains them), and reads
//! [`Metrics`]. Under it, a sans-IO protocol core over a checked wire format,
//! moved by a transport behind the [`Socket`] trait: real UDP through `mio`
//! ([`UdpSocket`]), or an in-memory simulated network ([`SimNetwork`]) with a
//! link conditioner and virtual time ([`VirtualClock`]).
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
//!
//! # Cargo features
//!
//! - `typed` (default): [`TypedServer`], [`TypedClient`], `send_typed` and
//!   [`Message::decode`], serde types encoded with bincode.
//! - `json` (default): metrics snapshots as JSON (`to_json`).
//! - `serde` (implied by both): `Serialize` on metrics snapshots, events and
//!   errors.
//! - `unstable-internals`: the protocol core, wire format, clock and
//!   transport modules (`proto`, `wire`, `clock`, `transport`) as public
//!   modules, for the crate's own benchmarks, fuzz targets and tests. They
//!   follow no semver promise.

mod client;
#[cfg(feature = "unstable-internals")]
pub mod clock;
#[cfg(not(feature = "unstable-internals"))]
#[allow(dead_code, unused_imports)] // what only the internals' own users need
mod clock;
mod config;
pub mod crypto;
mod delivery;
mod endpoint;
mod error;
mod legume;
mod message;
mod metrics;
#[cfg(feature = "unstable-internals")]
pub mod proto;
#[cfg(not(feature = "unstable-internals"))]
#[allow(dead_code, unused_imports)] // what only the internals' own users need
mod proto;
#[cfg(feature = "typed")]
pub mod replicate;
#[cfg(feature = "typed")]
pub mod rpc;
mod server;
mod threads;
#[cfg(feature = "unstable-internals")]
pub mod transport;
#[cfg(not(feature = "unstable-internals"))]
#[allow(dead_code, unused_imports)] // what only the internals' own users need
mod transport;
#[cfg(feature = "typed")]
mod typed;
#[cfg(feature = "unstable-internals")]
pub mod wire;
#[cfg(not(feature = "unstable-internals"))]
#[allow(dead_code, unused_imports)] // what only the internals' own users need
mod wire;

pub use client::{Client, ClientEvent, ClientState};
pub use clock::VirtualClock;
pub use config::Config;
pub use delivery::Delivery;
pub use endpoint::{HandlerId, Transport, UdpTransport};
pub use error::{DisconnectReason, Error, RejectReason};
pub use message::Message;
pub use metrics::{Metrics, MetricsHandle, ServerMetricsHandle, ServerStats};
pub use metrics::{MetricsSnapshot, PeerMetrics, Prometheus, ServerMetricsSnapshot};
pub use server::{ConnectRequestInfo, Server, ServerEvent};
pub use threads::{ClientHandle, ServerHandle};
pub use transport::sim::{BurstLoss, LinkConditioner, SimNetwork, SimSocket, SimStats};
pub use transport::udp::UdpSocket;
pub use transport::Socket;
#[cfg(feature = "typed")]
pub use typed::{Bincode, Codec, TypedClient, TypedClientEvent, TypedServer, TypedServerEvent};

/// Identifies a peer connected to a [`Server`]; never reused within a server's life.
pub type PeerId = u64;

/// Most datagrams one `update()` reads, so a flood cannot hold the game loop;
/// the rest wait in the socket for the next update.
const MAX_DATAGRAMS_PER_UPDATE: usize = 8192;

/// The README's examples, compiled and run as doc tests so they stay true.
#[cfg(all(doctest, feature = "typed"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
