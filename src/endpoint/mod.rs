//! What the client and the server are both made of: the driver at the edge
//! (socket and clock), the queue of datagrams a sans-IO core hands it, the
//! path of a data packet into its connection, the meaning of a
//! connection's events, the handler lists and their dispatch, and the
//! public methods both sides share.
//!
//! Nothing here knows whether it serves one peer or many; the client and
//! the server add their handshake half and their peer bookkeeping.

mod api;
mod driver;
mod handlers;
mod inbound;
mod peer_event;
mod transmits;

pub(crate) use api::{endpoint_api, Pumped};
pub(crate) use driver::{resolve, Driver};
pub use driver::{Transport, UdpTransport};
#[cfg(feature = "typed")]
pub(crate) use handlers::dispatch_one;
pub use handlers::HandlerId;
pub(crate) use handlers::{dispatch, handler_set, remove_handler, run_live};
pub(crate) use handlers::{Dispatch, HandlerList, HandlerSet, Registry};
pub(crate) use inbound::{take_data, Refused};
pub(crate) use peer_event::PeerEvent;
pub(crate) use transmits::{Owner, Transmits};
