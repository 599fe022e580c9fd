//! A data packet on its way into its connection, the same for both sides:
//! the session check, opening it in place (authentication and replay
//! check), the copy into the endpoint's arena, and the connection taking it
//! in. A packet refused at any step changes nothing but a counter.

use std::time::Instant;

use crate::proto::arena::Arena;
use crate::proto::Connection;
use crate::wire::{self, DataHeader};

/// Why a data packet was dropped before its connection saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Its token is not the connection's.
    WrongToken,
    /// It failed authentication (altered, truncated, forged) or was replayed.
    Unauthentic,
}

impl Refused {
    /// What a log line says of it.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refused::WrongToken => "wrong connection token",
            Refused::Unauthentic => "failed authentication or replayed",
        }
    }
}

/// Hands the data packet `datagram`, whose header is `header`, to `conn` at
/// `now`. Only a packet of this session that opens is copied (into `arena`,
/// so its messages can be shared without an allocation per datagram); it is
/// opened in place in `datagram` first. One with another token, or one that
/// fails to open, is counted against the connection and changes nothing else.
pub(crate) fn take_data(
    conn: &mut Connection,
    arena: &mut Arena,
    now: Instant,
    header: &DataHeader,
    datagram: &mut [u8],
) -> Result<(), Refused> {
    if header.token != conn.token() {
        conn.note_invalid_packet();
        return Err(Refused::WrongToken);
    }
    let Some(plain) = conn.unprotect(datagram) else {
        return Err(Refused::Unauthentic);
    };
    let datagram = arena.copy(&datagram[..plain]);
    let frames = &datagram[wire::DATA_HEADER_LEN..];
    conn.handle_data(now, header, frames, &datagram);
    Ok(())
}
