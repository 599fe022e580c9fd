//! What a wrapper around a server (the typed server) uses to drive it: the
//! [`Endpoint`](crate::typed::Endpoint) glue, written once for the client and
//! the server.

use super::Server;
use crate::ServerEvent;

crate::typed::impl_endpoint!(Server, ServerEvent);
