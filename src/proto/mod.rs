//! The protocol core: handshake and connection state machines.
//!
//! Sans-IO: time is an argument, datagrams go in and out as bytes, and nothing
//! here reads a clock, touches a socket or spawns a thread. Each file owns one
//! concern: sequence arithmetic, RTT, received-packet history, sent-packet
//! record and its learned reorder allowance, send buffers, receive windows, channels, fragment reassembly,
//! congestion window, rate control and pacing, the handshake, the connection
//! that ties them together, and the arena that copies messages and datagrams
//! into shared buffers.

pub(crate) mod arena;
mod channel;
mod channel_receivers;
mod congestion;
mod connection;
pub mod handshake;
mod heap;
mod pacer;
mod packet_history;
mod payload;
mod rate;
mod reassembly;
mod reorder;
mod route;
mod rtt;
mod send_buffer;
mod sent;
mod seq;
pub mod server_handshake;
mod snapshot;
mod stats;

pub use connection::{CloseCause, ConnEvent, Connection, MESSAGE_OVERHEAD};
pub use reassembly::HELD_PIECE_OVERHEAD;
pub use route::{Payload, Route};
pub use rtt::RttEstimator;
pub use seq::{seq_diff, seq_newer};
pub use snapshot::ConnectionSnapshot;
pub use stats::ConnectionStats;

/// A well-spread fraction in 0..1 for `n` (golden-ratio sequence), used to
/// stagger keepalive timers deterministically.
pub(crate) fn spread(n: u64) -> f64 {
    (n as f64 * 0.618_033_988_749_895).fract()
}
