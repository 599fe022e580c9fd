//! The four delivery guarantees a message can ask for.

use serde::{Deserialize, Serialize};

/// How a message is delivered.
///
/// | mode | lost? | duplicated? | order |
/// |---|---|---|---|
/// | `Unreliable` | may be | never | any |
/// | `UnreliableSequenced` | may be | never | never older than the latest delivered |
/// | `Reliable` | never | never | any |
/// | `ReliableOrdered` | never | never | send order |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Delivery {
    /// May be lost or arrive out of order; never duplicated.
    Unreliable,
    /// May be lost; an arrival older than the newest delivered one is dropped.
    /// Suits positions and inputs, where only the latest matters.
    UnreliableSequenced,
    /// Arrives exactly once, in any order.
    Reliable,
    /// Arrives exactly once, in send order.
    ReliableOrdered,
}

impl Delivery {
    /// All modes, in wire-code order.
    pub const ALL: [Delivery; 4] = [
        Delivery::Unreliable,
        Delivery::UnreliableSequenced,
        Delivery::Reliable,
        Delivery::ReliableOrdered,
    ];

    /// Whether lost messages of this mode are resent.
    pub fn is_reliable(self) -> bool {
        matches!(self, Delivery::Reliable | Delivery::ReliableOrdered)
    }

    /// Whether frames of this mode carry a per-channel message id.
    pub(crate) fn has_id(self) -> bool {
        !matches!(self, Delivery::Unreliable)
    }
}
