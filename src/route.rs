//! Where a message goes within a connection: the channel of a delivery mode,
//! or a channel named by its index.

use crate::Delivery;

/// The channel a message is sent on, as `send` and `send_on` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// The first channel configured with this mode (`send`).
    Delivery(Delivery),
    /// An index into `Config::channels` (`send_on`).
    Channel(u8),
}
