//! A chat client: sends each line typed on stdin to the chat server (reliable,
//! in order) and prints what the server relays.
//!
//! ```text
//! cargo run --release --example chat_client -- --addr 127.0.0.1:9000 --name alice
//! echo hi | cargo run --release --example chat_client -- --name bob --seconds 2
//! ```
//!
//! `/quit` (or the end of stdin) disconnects gracefully: lines already typed
//! are still delivered, then the server is told. With `--seconds N` the client
//! stays connected for N seconds whatever stdin does (so piped input in a
//! script still sees the replies), then leaves the same way.
//!
//! It uses the pull API of a typed client: `update_events()` returns what
//! happened, messages decoded as the `ChatMsg` enum of `common/chat.rs`,
//! instead of calling handlers (see `chat_server.rs` and `demo.rs` for
//! handlers). Stdin is read on its own thread and handed over through a
//! channel, so the network loop never blocks on the keyboard.

#[path = "common/chat.rs"]
mod chat;
mod common;

use std::collections::VecDeque;
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chat::ChatMsg;
use lentil::{Config, Delivery, Error, TypedClient, TypedClientEvent};

type ChatClient = TypedClient<ChatMsg>;

const USAGE: &str = "\
usage: chat_client [--addr HOST:PORT] [--name NAME] [--seconds N]

  --addr HOST:PORT   server address (default 127.0.0.1:9000)
  --name NAME        your name, sent with the connect request (the server
                     rejects an empty one)
  --seconds N        leave after N seconds (default: until /quit or end of stdin)";

struct Options {
    addr: String,
    name: String,
    seconds: Option<f64>,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        addr: "127.0.0.1:9000".into(),
        name: String::new(),
        seconds: None,
    };
    common::parse_flags(|flag, value| {
        match flag {
            "--addr" => o.addr = value()?,
            "--name" => o.name = value()?,
            "--seconds" => o.seconds = Some(common::parse_seconds(&value()?)?),
            _ => return Err(common::unknown(flag)),
        }
        Ok(())
    })?;
    Ok(o)
}

/// What the stdin thread hands to the network loop.
enum Input {
    Line(String),
    Eof,
}

fn main() -> ExitCode {
    let o = match common::args_or_exit("chat_client", USAGE, parse_args()) {
        Ok(o) => o,
        Err(code) => return code,
    };
    match run(&o) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("chat_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(o: &Options) -> Result<ExitCode, Error> {
    let config = Config {
        connect_payload: o.name.clone().into_bytes(),
        ..Config::default()
    };
    let mut client = ChatClient::new(config);
    client.connect(o.addr.as_str())?;
    eprintln!("* connecting to {} as {:?}", o.addr, o.name);

    let (tx, rx) = mpsc::channel();
    // Blocked on stdin for good in an interactive session; the process exits around it.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(Input::Line(line)).is_err() {
                return;
            }
        }
        let _ = tx.send(Input::Eof);
    });

    let stop_at = o
        .seconds
        .map(|s| Instant::now() + Duration::from_secs_f64(s));
    let mut typed: VecDeque<String> = VecDeque::new();
    let mut stdin_done = false;
    let mut quit = false;
    let mut exit = None;

    while exit.is_none() {
        client.update_events().for_each(|event| match event {
            TypedClientEvent::ConnectAccepted => eprintln!("* connected"),
            TypedClientEvent::ConnectRejected(reason) => {
                println!("* rejected by server: {reason}");
                exit = Some(ExitCode::FAILURE);
            }
            TypedClientEvent::Message { message, .. } => match message {
                ChatMsg::Said { from, text } => println!("[{from}] {text}"),
                ChatMsg::Notice(text) => println!("{text}"),
                // Only clients send lines; the server relays them as `Said`.
                ChatMsg::Say(_) => {}
            },
            TypedClientEvent::Disconnected(reason) => {
                println!("* disconnected: {reason}");
                exit = Some(ExitCode::SUCCESS);
            }
            // Dropped and counted; the connection stays up.
            TypedClientEvent::Error(error @ Error::Decode { .. }) => {
                eprintln!("* ignored a message: {error}");
            }
            TypedClientEvent::Error(error) => {
                println!("* connection lost: {error}");
                exit = Some(ExitCode::FAILURE);
            }
            // Kinds of events added in later versions.
            _ => {}
        });
        if exit.is_some() {
            break;
        }

        while let Ok(input) = rx.try_recv() {
            match input {
                Input::Line(line) if line.trim() == "/quit" => quit = true,
                Input::Line(line) if !quit => typed.push_back(line),
                Input::Line(_) => {}
                Input::Eof => stdin_done = true,
            }
        }

        // Lines typed before the connection was up wait here.
        if client.is_connected() {
            while let Some(line) = typed.front() {
                let say = ChatMsg::Say(chat::cut(line).to_owned());
                match client.send(&say, Delivery::ReliableOrdered) {
                    Ok(()) => {}
                    // Try again after the next update.
                    Err(Error::QueueFull { .. }) => break,
                    Err(e) => eprintln!("* line not sent: {e}"),
                }
                typed.pop_front();
            }
        }

        // `/quit` leaves once typed lines are handed to the connection (at
        // once while still connecting); the end of stdin waits for the
        // connection so piped lines are sent, unless `--seconds` says when.
        let time_up = stop_at.is_some_and(|t| Instant::now() >= t);
        let handed_over = typed.is_empty() || !client.is_connected();
        let eof_leave = stdin_done && stop_at.is_none() && !client.is_connecting();
        if time_up || (handed_over && (quit || eof_leave)) {
            leave(&mut client);
            exit = Some(ExitCode::SUCCESS);
        }
        client.wait(Duration::from_millis(10));
    }
    Ok(exit.unwrap_or(ExitCode::SUCCESS))
}

/// Disconnects gracefully and keeps updating until the goodbye is out: queued
/// lines are delivered first, for at most `Config::linger`.
fn leave(client: &mut ChatClient) {
    if !client.is_connected() && !client.is_connecting() {
        return;
    }
    client.disconnect();
    let bound = Instant::now() + client.config().linger + Duration::from_millis(500);
    // The socket closes once the connection has nothing left to send.
    while client.local_addr().is_some() && Instant::now() < bound {
        client.wait(Duration::from_millis(5));
        client.update();
    }
    eprintln!("* left");
}
