//! A game lobby over RPC: clients list the rooms, join one, and meet the
//! room's typed "room full" error; once a room fills, the server calls
//! every member to check they are ready, then the game starts and everyone
//! leaves.
//!
//! ```text
//! cargo run --release --example lobby            # loopback UDP
//! cargo run --release --example lobby -- --sim   # simulated network, virtual time
//! ```
//!
//! It runs until every player has a seat and the full room has started,
//! then exits; `--seconds N` (default 10) is the most it waits, and it
//! exits with an error if the lobby did not get that far by then.

mod common;

use std::process::ExitCode;
use std::time::Duration;

use lentil::rpc::{
    Answered, CallError, Command, RpcClient, RpcClientEvent, RpcConfig, RpcEvent, RpcServer,
    RpcServerEvent,
};
use lentil::{Client, ClientEvent, Config, PeerId, Server, SimNetwork};
use serde::{Deserialize, Serialize};

const USAGE: &str = "\
usage: lobby [--sim] [--seconds N]

  --sim         run on the simulated network in virtual time (default: loopback UDP)
  --seconds N   give up after N seconds (default 10)";

/// Lists the rooms.
struct ListRooms;
impl Command for ListRooms {
    const NAME: &'static str = "lobby.list_rooms";
    type Args = ();
    type Reply = Vec<RoomInfo>;
    type Error = ();
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RoomInfo {
    id: u32,
    name: String,
    players: u32,
    capacity: u32,
}

/// Takes a seat in a room.
struct JoinRoom;
impl Command for JoinRoom {
    const NAME: &'static str = "lobby.join_room";
    type Args = Join;
    type Reply = u32; // the seat
    type Error = JoinError;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Join {
    room: u32,
    player: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum JoinError {
    NoSuchRoom,
    RoomFull { capacity: u32 },
}

/// The server asks a member of a full room whether it is ready.
struct ReadyCheck;
impl Command for ReadyCheck {
    const NAME: &'static str = "lobby.ready_check";
    type Args = String; // the room's name
    type Reply = bool;
    type Error = ();
}

struct Room {
    name: String,
    capacity: u32,
    members: Vec<PeerId>,
}

/// The server's game state, handed to its responders.
struct Lobby {
    rooms: Vec<Room>,
    /// Rooms that just filled up: their members get a ready check.
    filled: Vec<usize>,
}

/// A player's game state, handed to its responders.
struct Player {
    name: String,
    rooms: Vec<RoomInfo>,
    seat: Option<u32>,
}

fn lobby_server(server: Server) -> RpcServer<Lobby> {
    let mut rpc = RpcServer::new(server, RpcConfig::default()).expect("rpc config");
    rpc.respond::<ListRooms, _>(|lobby: &mut Lobby, _, ()| {
        let rooms = lobby.rooms.iter().enumerate().map(|(id, room)| RoomInfo {
            id: id as u32,
            name: room.name.clone(),
            players: room.members.len() as u32,
            capacity: room.capacity,
        });
        Ok(rooms.collect())
    })
    .expect("one responder per command");
    rpc.respond::<JoinRoom, _>(|lobby: &mut Lobby, peer, join| {
        let id = join.room as usize;
        let room = lobby.rooms.get_mut(id).ok_or(JoinError::NoSuchRoom)?;
        if room.members.len() as u32 >= room.capacity {
            println!("server: {} asked for {}: full", join.player, room.name);
            return Err(JoinError::RoomFull {
                capacity: room.capacity,
            });
        }
        room.members.push(peer);
        let seat = room.members.len() as u32;
        println!("server: {} takes seat {seat} in {}", join.player, room.name);
        if seat == room.capacity {
            lobby.filled.push(id);
        }
        Ok(seat)
    })
    .expect("one responder per command");
    rpc
}

fn player(client: Client, name: &str) -> (RpcClient<Player>, Player) {
    let mut rpc = RpcClient::new(client, RpcConfig::default()).expect("rpc config");
    rpc.respond::<ReadyCheck, _>(|player: &mut Player, _, room| {
        println!("{}: ready for {room}", player.name);
        Ok(true)
    })
    .expect("one responder per command");
    let state = Player {
        name: name.to_owned(),
        rooms: Vec::new(),
        seat: None,
    };
    (rpc, state)
}

const TIMEOUT: Duration = Duration::from_secs(2);

/// A player's next step after one of its calls ended.
fn on_answer(rpc: &mut RpcClient<Player>, player: &mut Player, answer: &Answered) {
    let join = |rpc: &mut RpcClient<Player>, player: &Player, room: u32| {
        let args = Join {
            room,
            player: player.name.clone(),
        };
        let _ = rpc.call::<JoinRoom>(&args, TIMEOUT);
    };
    if answer.is::<ListRooms>() {
        match answer.decode::<ListRooms>() {
            Ok(rooms) => {
                let names: Vec<_> = rooms
                    .iter()
                    .map(|r| format!("{} {}/{}", r.name, r.players, r.capacity))
                    .collect();
                println!("{}: rooms: {}", player.name, names.join(", "));
                player.rooms = rooms;
                // Everyone wants the first room.
                join(rpc, player, 0);
            }
            Err(e) => println!("{}: listing failed: {e}", player.name),
        }
    } else if answer.is::<JoinRoom>() {
        match answer.decode::<JoinRoom>() {
            Ok(seat) => {
                println!("{}: seated, seat {seat}", player.name);
                player.seat = Some(seat);
            }
            Err(CallError::Failed(JoinError::RoomFull { capacity })) => {
                println!(
                    "{}: room full ({capacity} seats), trying another",
                    player.name
                );
                let other = player
                    .rooms
                    .iter()
                    .find(|r| r.id != 0 && r.players < r.capacity);
                if let Some(room) = other.map(|r| r.id) {
                    join(rpc, player, room);
                }
            }
            Err(e) => println!("{}: join failed: {e}", player.name),
        }
    }
}

struct Options {
    sim: bool,
    seconds: f64,
}

fn main() -> ExitCode {
    let mut o = Options {
        sim: false,
        seconds: 10.0,
    };
    let parsed = common::parse_flags(|flag, value| {
        match flag {
            "--sim" => o.sim = true,
            "--seconds" => o.seconds = common::parse_seconds(&value()?)?,
            _ => return Err(common::unknown(flag)),
        }
        Ok(())
    });
    if let Err(code) = common::args_or_exit("lobby", USAGE, parsed) {
        return code;
    }
    let net = SimNetwork::new(7);
    let server = if o.sim {
        Server::sandbox(Config::default(), &net)
    } else {
        Server::new(Config::default())
    };
    let mut server = lobby_server(server);
    if let Err(e) = server.server_mut().listen("127.0.0.1:0") {
        eprintln!("lobby: {e}");
        return ExitCode::FAILURE;
    }
    let addr = server.server().local_addr().expect("listening");
    let mut lobby = Lobby {
        rooms: vec![
            Room {
                name: "dune".into(),
                capacity: 2,
                members: Vec::new(),
            },
            Room {
                name: "fjord".into(),
                capacity: 4,
                members: Vec::new(),
            },
        ],
        filled: Vec::new(),
    };

    let mut players = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let mut client = if o.sim {
            Client::sandbox(Config::default(), &net)
        } else {
            Client::new(Config::default())
        };
        client.connect(addr).expect("a fresh client connects");
        players.push(player(client, name));
    }

    let start = server.server().now();
    let limit = Duration::from_secs_f64(o.seconds);
    let mut ready = 0;
    let mut started = false;
    while server.server().now().duration_since(start) < limit {
        for event in pump(&mut server, &mut lobby, &mut players, o.sim, &net) {
            if let RpcServerEvent::Rpc(RpcEvent::Answered(answer)) = event {
                if answer.decode::<ReadyCheck>() == Ok(true) {
                    ready += 1;
                }
            }
        }
        for id in lobby.filled.drain(..) {
            let room = &lobby.rooms[id];
            for &peer in &room.members {
                let _ = server.call::<ReadyCheck>(peer, &room.name, TIMEOUT);
            }
        }
        if !started && ready == lobby.rooms[0].capacity {
            println!(
                "server: everyone in {} is ready: the game starts",
                lobby.rooms[0].name
            );
            started = true;
        }
        let seated = players.iter().all(|(_, p)| p.seat.is_some());
        if started && seated {
            for (rpc, _) in &mut players {
                rpc.client_mut().disconnect();
            }
            let left = Duration::from_secs(1);
            let until = server.server().now() + left;
            while server.server().peer_count() > 0 && server.server().now() < until {
                pump(&mut server, &mut lobby, &mut players, o.sim, &net);
            }
            println!("lobby: every player seated, the full room started; done");
            return ExitCode::SUCCESS;
        }
    }
    eprintln!("lobby: not done after {} s", o.seconds);
    ExitCode::FAILURE
}

/// One tick: updates the server and every player, answers the players'
/// finished calls, and returns the server's events.
fn pump(
    server: &mut RpcServer<Lobby>,
    lobby: &mut Lobby,
    players: &mut [(RpcClient<Player>, Player)],
    sim: bool,
    net: &SimNetwork,
) -> Vec<RpcServerEvent> {
    let events: Vec<_> = server.update(lobby).collect();
    for (rpc, player) in players.iter_mut() {
        let client_events: Vec<_> = rpc.update(player).collect();
        for event in client_events {
            match event {
                RpcClientEvent::Client(ClientEvent::ConnectAccepted) => {
                    let _ = rpc.call::<ListRooms>(&(), TIMEOUT);
                }
                RpcClientEvent::Rpc(RpcEvent::Answered(answer)) => {
                    on_answer(rpc, player, &answer);
                }
                _ => {}
            }
        }
    }
    if sim {
        net.clock().advance(Duration::from_millis(1));
    } else {
        server.wait(Duration::from_millis(1));
    }
    events
}
