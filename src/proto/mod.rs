//! The protocol core: handshake and connection state machines.
//!
//! Sans-IO: time is an argument, datagrams go in and out as bytes, and nothing
//! here reads a clock, touches a socket or spawns a thread. Each file owns one
//! concern: sequence arithmetic, RTT, received-packet history, sent-packet
//! record, send buffers, receive windows, the handshake, and the connection
//! that ties them together.

mod connection;
pub mod handshake;
mod receive;
mod received;
mod rtt;
mod send_buffer;
mod sent;
mod seq;
mod stats;

pub use connection::{CloseCause, ConnEvent, Connection};
pub use rtt::RttEstimator;
pub use seq::{seq_diff, seq_newer};
pub use stats::ConnectionStats;
