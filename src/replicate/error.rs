//! What can go wrong while replicating: encoding a value, a frame that does
//! not parse, a value too large for its message. Never a panic: every frame
//! from the network that fails is one of these, dropped and counted.

/// An error of the replication layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicateError {
    /// A value or key could not be encoded or decoded with bincode.
    #[error("replication codec: {0}")]
    Codec(String),
    /// A frame that does not follow the replication format.
    #[error("malformed replication frame: {0}")]
    Malformed(&'static str),
    /// An encoded entry is larger than one snapshot can carry.
    #[error("encoded entry of {size} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Size of the encoded entry.
        size: usize,
        /// The largest allowed.
        max: usize,
    },
    /// A snapshot would give the view more entries than it accepts.
    #[error("snapshot would hold more than {0} entries")]
    TooManyEntries(usize),
    /// The engine refused a send.
    #[error("send failed: {0}")]
    Send(#[from] crate::Error),
}
