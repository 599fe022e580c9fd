//! lentil: a reliable-datagram networking engine for games.
//!
//! A game embeds a [`Client`] or a [`Server`], calls `update()` once per tick,
//! reacts to events in handlers it registered (or drains them), and reads
//! [`Metrics`]. Under it, a sans-IO protocol core ([`proto`]) over a checked
//! wire format ([`wire`]), moved by a [`transport`]: real UDP through `mio`, or
//! an in-memory simulated network with a link conditioner and virtual time.

pub mod clock;
mod config;
mod delivery;
mod error;
pub mod proto;
pub mod transport;
pub mod wire;

pub use config::Config;
pub use delivery::Delivery;
pub use error::{DisconnectReason, Error, RejectReason};

/// Identifies a peer connected to a [`Server`]; never reused within a server's life.
pub type PeerId = u64;
