//! Working with a client or server from other threads.
//!
//! A [`Client`](crate::Client) or [`Server`](crate::Server) lives on the game
//! loop's thread. Other threads (input, AI, a web admin, a database writer)
//! queue messages through a cloneable [`ClientHandle`] / [`ServerHandle`],
//! applied on the next `update()`, and receive copies of the events through
//! `forward_events`. Both directions use bounded crossbeam channels that
//! never block the game loop, and an endpoint with no handle and no
//! forwarding touches no channel at all.

mod client_handle;
mod forward;
mod queue;
mod server_handle;

pub use client_handle::ClientHandle;
pub(crate) use forward::Forward;
pub(crate) use queue::HandleQueue;
pub(crate) use server_handle::Recipient;
pub use server_handle::ServerHandle;

/// Messages a handle queue holds unless the game asks for another size.
pub(crate) const DEFAULT_HANDLE_CAPACITY: usize = 1024;
