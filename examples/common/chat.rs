//! The chat protocol shared by `chat_server` and `chat_client`: one serde
//! enum, sent and received through lentil's typed server and client.

use serde::{Deserialize, Serialize};

/// Longest line the server relays, in bytes; longer ones are cut.
pub const MAX_LINE: usize = 512;

/// Every message of the chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ChatMsg {
    /// Client to server: a line the user typed.
    Say(String),
    /// Server to clients: a line someone said.
    Said {
        /// The speaker's name.
        from: String,
        /// What they said.
        text: String,
    },
    /// Server to clients: joins, leaves, the welcome and the shutdown notice.
    Notice(String),
}

/// `text` cut to at most [`MAX_LINE`] bytes, on a character boundary.
pub fn cut(text: &str) -> &str {
    let mut end = text.len().min(MAX_LINE);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
