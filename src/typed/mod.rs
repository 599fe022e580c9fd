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
//! Both wrappers drive their endpoint through one [`Endpoint`] trait and
//! share their update loops, decode-failure counting and handler dispatch
//! (`wrapper`); each side's module holds only its events, handler
//! signatures and delegating methods.

mod client;
mod client_events;
mod codec;
mod endpoint;
mod server;
mod server_events;
mod wrapper;

pub use client::TypedClient;
pub use client_events::TypedClientEvent;
pub(crate) use codec::{decode, decode_message, encode};
pub(crate) use endpoint::{impl_endpoint, Endpoint};
pub use server::TypedServer;
pub use server_events::TypedServerEvent;
