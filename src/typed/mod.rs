//! Typed messages: a client or server that sends and receives one serde type
//! (usually an enum of every message kind) instead of bytes.
//!
//! [`TypedServer`] and [`TypedClient`] wrap a [`Server`](crate::Server) or
//! [`Client`](crate::Client): they encode outgoing messages with bincode
//! through serde, decode incoming ones before their handlers (or the pull
//! path) see them, and turn a message that fails to decode into an
//! [`Error::Decode`](crate::Error::Decode) event, dropped and counted, while
//! the connection stays up. The bytes API of the wrapped endpoint stays for
//! games with their own codec; `send_typed` and
//! [`Message::decode`](crate::Message::decode) use the same encoding.
//!
//! A typed endpoint is the endpoint with a [`Codec`]: it derefs to the
//! client or server it wraps, so their whole API is there, and adds only
//! the typed sends, handlers and pull path. Both share their update loops,
//! decode-failure counting and dispatch (`wrapper`); each side's module
//! holds only its events and its handlers' arguments.

mod client;
mod client_events;
mod codec;
mod server;
mod server_events;
mod wrapper;

pub use client::TypedClient;
pub use client_events::TypedClientEvent;
pub(crate) use codec::{decode, encode};
pub use codec::{Bincode, Codec};
pub use server::TypedServer;
pub use server_events::TypedServerEvent;
