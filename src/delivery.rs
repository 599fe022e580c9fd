//! The four delivery guarantees a message can ask for.

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// How a message is delivered.
///
/// | mode | lost? | duplicated? | order |
/// |---|---|---|---|
/// | `Unreliable` | may be | never | any |
/// | `UnreliableSequenced` | may be | never | never older than the latest delivered |
/// | `Reliable` | never | never | any |
/// | `ReliableOrdered` | never | never | send order |
///
/// Each mode has its own channel (see `Config::channels`), so a lost ordered
/// message never holds back positions sent unreliably:
///
/// ```no_run
/// use lentil::{Client, Config, Delivery};
/// let mut client = Client::new(Config::default());
/// client.connect("127.0.0.1:9000")?;
/// # client.update();
/// // Only the newest position matters: an older one arriving late is dropped.
/// client.send(b"pos 10 20", Delivery::UnreliableSequenced)?;
/// // Must arrive, after everything sent before it in this mode.
/// client.send(b"buy sword", Delivery::ReliableOrdered)?;
/// # Ok::<(), lentil::Error>(())
/// ```
///
/// ```
/// use lentil::Delivery;
/// assert!(Delivery::ReliableOrdered.is_reliable());
/// assert!(!Delivery::UnreliableSequenced.is_reliable());
/// assert_eq!(Delivery::ALL.len(), 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
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
