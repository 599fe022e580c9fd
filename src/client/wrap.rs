//! What a wrapper around a client (the typed client) uses to drive it: the
//! [`Endpoint`](crate::typed::Endpoint) glue, written once for the client and
//! the server.

use super::Client;
use crate::ClientEvent;

crate::typed::impl_endpoint!(Client, ClientEvent);
