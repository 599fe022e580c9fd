//! The one way a message enters a connection: a [`Route`] and a [`Payload`].

use crate::proto::{Payload, Route};
use crate::Error;

use super::Connection;

impl Connection {
    /// Queues `payload` on the channel `route` names. A reliable message
    /// larger than one packet is split into fragments.
    pub fn send_routed(&mut self, route: Route, payload: Payload<'_>) -> Result<(), Error> {
        let channel = match route {
            Route::Delivery(delivery) => self.channel_for(delivery)?,
            Route::Channel(channel) => channel,
        };
        match payload {
            Payload::Copied(bytes) => self.send_slice_on(channel, bytes),
            Payload::Shared(bytes) => self.send_on(channel, bytes),
            Payload::Queued(bytes) => self.send_queued_on(channel, bytes),
        }
    }
}
