//! A chat server: clients connect with their name as the connect payload,
//! every line a client sends goes to everyone, joins and leaves are announced.
//!
//! ```text
//! cargo run --release --example chat_server -- --addr 127.0.0.1:9000
//! cargo run --release --example chat_client -- --addr 127.0.0.1:9000 --name alice
//! ```
//!
//! The server runs until Ctrl-C (clients then notice after `Config::timeout`),
//! or, with `--seconds N`, for N seconds, after which it tells everyone it is
//! shutting down, disconnects them gracefully and exits.
//!
//! It uses the handler API of a typed server: messages are the `ChatMsg`
//! enum of `common/chat.rs`, decoded before the handlers see them.
//! `on_connect_request` decides who may join (a name is required, and must
//! not be taken), `on_connect` / `on_disconnect` / `on_error` announce joins
//! and leaves, `on_message` relays lines.

#[path = "common/chat.rs"]
mod chat;
mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chat::ChatMsg;
use lentil::{Config, Delivery, Error, PeerId, TypedServer};

type ChatServer = TypedServer<ChatMsg>;

/// Longest accepted name, in bytes.
const MAX_NAME: usize = 32;

const USAGE: &str = "\
usage: chat_server [--addr HOST:PORT] [--seconds N]

  --addr HOST:PORT   address to listen on (default 127.0.0.1:9000)
  --seconds N        shut down gracefully after N seconds (default: run until Ctrl-C)";

struct Options {
    addr: String,
    seconds: Option<f64>,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        addr: "127.0.0.1:9000".into(),
        seconds: None,
    };
    common::parse_flags(|flag, value| {
        match flag {
            "--addr" => o.addr = value()?,
            "--seconds" => o.seconds = Some(common::parse_seconds(&value()?)?),
            _ => return Err(common::unknown(flag)),
        }
        Ok(())
    })?;
    Ok(o)
}

/// Who is in the room.
#[derive(Default)]
struct Room {
    /// Names of connected peers.
    names: HashMap<PeerId, String>,
    /// Names accepted by `on_connect_request`, waiting for `on_connect`
    /// (which only knows the peer id; the address links the two).
    joining: HashMap<SocketAddr, String>,
}

/// Sends `msg` to everyone, reliably and in order.
fn broadcast(server: &mut ChatServer, msg: &ChatMsg) {
    // A chat message always encodes; a peer whose queue is full misses it.
    let _ = server.broadcast(msg, Delivery::ReliableOrdered);
}

/// Tells everyone `line`.
fn announce(server: &mut ChatServer, line: &str) {
    broadcast(server, &ChatMsg::Notice(line.to_owned()));
}

fn main() -> ExitCode {
    let o = match common::args_or_exit("chat_server", USAGE, parse_args()) {
        Ok(o) => o,
        Err(code) => return code,
    };
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(o: &Options) -> Result<(), Error> {
    // The room is the game's own state: every update hands it to the
    // handlers (`update_with`), so they need no shared ownership or lock.
    let mut room = Room::default();
    let mut server = ChatServer::new(Config::default());

    server.on_connect_request_with(|_, room: &mut Room, request| {
        let name = std::str::from_utf8(&request.payload)
            .map_err(|_| "name must be UTF-8".to_owned())?
            .trim();
        if name.is_empty() {
            return Err("name required".into());
        }
        if name.len() > MAX_NAME || name.chars().any(char::is_control) {
            return Err(format!(
                "name must be at most {MAX_NAME} bytes, no control characters"
            ));
        }
        if room.names.values().any(|n| n == name) {
            return Err(format!("name {name:?} is taken"));
        }
        room.joining.insert(request.addr, name.to_owned());
        Ok(())
    });

    server.on_connect_with(|server, room: &mut Room, peer| {
        let addr = server.peer_addr(peer);
        let name = addr
            .and_then(|a| room.joining.remove(&a))
            .unwrap_or_else(|| format!("peer{peer}"));
        room.names.insert(peer, name.clone());
        let line = format!("* {name} joined");
        match addr {
            Some(addr) => println!("{line} from {addr}"),
            None => println!("{line}"),
        }
        announce(server, &line);
        let mut here: Vec<String> = room.names.values().cloned().collect();
        here.sort();
        let welcome = format!("* welcome, {name}; here: {}", here.join(", "));
        let _ = server.send(peer, &ChatMsg::Notice(welcome), Delivery::ReliableOrdered);
    });

    server.on_message_with(|server, room: &mut Room, peer, message| {
        let ChatMsg::Say(text) = message else {
            // Only the server sends the other kinds.
            return;
        };
        let from = room.names.get(&peer).cloned().unwrap_or_default();
        let text = chat::cut(text.trim_end()).to_owned();
        println!("[{from}] {text}");
        broadcast(server, &ChatMsg::Said { from, text });
    });

    server.on_disconnect_with(|server, room: &mut Room, peer, reason| {
        let name = room.names.remove(&peer).unwrap_or_default();
        println!("* {name} left ({reason})");
        announce(server, &format!("* {name} left"));
    });

    server.on_error_with(|server, room: &mut Room, peer, error| {
        if let Error::Decode { .. } = error {
            // Dropped and counted; the peer stays connected.
            println!("* ignored a message from peer {peer}: {error}");
            return;
        }
        let name = room.names.remove(&peer).unwrap_or_default();
        println!("* {name} lost ({error})");
        announce(server, &format!("* {name} lost connection"));
    });

    server.listen(o.addr.as_str())?;
    let addr = server.local_addr().ok_or(Error::NotListening)?;
    println!("chat server listening on {addr}");

    let start = Instant::now();
    let stop_at = o.seconds.map(|s| start + Duration::from_secs_f64(s));
    loop {
        if stop_at.is_some_and(|t| Instant::now() >= t) {
            break;
        }
        server.update_with(&mut room);
        server.wait(Duration::from_millis(10));
    }

    // Shutdown: tell everyone, close gracefully (queued lines still go out,
    // for up to `Config::linger`), and wait until the last goodbye is sent.
    println!("* server shutting down");
    announce(&mut server, "* server shutting down");
    server.disconnect_all();
    let bound = Instant::now() + server.config().linger + Duration::from_millis(500);
    loop {
        server.update_with(&mut room);
        if server.next_deadline().is_none() || Instant::now() >= bound {
            // One more turn sends the final disconnect copies of peers that just closed.
            server.update_with(&mut room);
            break;
        }
        server.wait(Duration::from_millis(5));
    }
    Ok(())
}
