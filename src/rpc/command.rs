//! What a command is: the [`Command`] trait that names a call's arguments,
//! reply and error types, and the stable id its name hashes to on the wire.
//!
//! This file only declares types; it never encodes, sends or stores a call.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// One remote call the game declares, like an AMP command: the types of its
/// arguments, its reply and its own error, and a name both sides agree on.
///
/// ```
/// use lentil::rpc::Command;
/// use serde::{Deserialize, Serialize};
///
/// /// Joins a room of the lobby.
/// struct JoinRoom;
///
/// #[derive(Serialize, Deserialize)]
/// enum JoinError {
///     NoSuchRoom,
///     RoomFull { capacity: u32 },
/// }
///
/// impl Command for JoinRoom {
///     const NAME: &'static str = "lobby.join_room";
///     type Args = u32; // the room
///     type Reply = u32; // the seat
///     type Error = JoinError;
/// }
/// ```
pub trait Command: 'static {
    /// The command's name, stable across builds: its [`CommandId`] is a hash
    /// of it, so renaming a command is a protocol change.
    const NAME: &'static str;
    /// What the caller sends.
    type Args: Serialize + DeserializeOwned;
    /// What a successful call returns.
    type Reply: Serialize + DeserializeOwned;
    /// The command's own failure, returned by its responder.
    type Error: Serialize + DeserializeOwned;

    /// The id of this command on the wire.
    fn id() -> CommandId {
        CommandId::of(Self::NAME)
    }
}

/// The wire id of a command: the 32-bit FNV-1a hash of its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub u32);

impl CommandId {
    /// The id of the command called `name`. A hash rather than a registry
    /// index, so both sides agree without exchanging tables; two names that
    /// collide are refused when the second responder is registered.
    pub const fn of(name: &str) -> Self {
        let bytes = name.as_bytes();
        let mut hash: u32 = 0x811c_9dc5;
        let mut i = 0;
        while i < bytes.len() {
            hash ^= bytes[i] as u32;
            hash = hash.wrapping_mul(0x0100_0193);
            i += 1;
        }
        CommandId(hash)
    }
}

impl std::fmt::Display for CommandId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fnv1a_of_the_name() {
        // Reference values of 32-bit FNV-1a.
        assert_eq!(CommandId::of("").0, 0x811c_9dc5);
        assert_eq!(CommandId::of("a").0, 0xe40c_292c);
        assert_eq!(CommandId::of("foobar").0, 0xbf9c_f968);
    }
}
