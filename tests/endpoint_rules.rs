//! Rules of the endpoint API that games rely on: handlers reaching the
//! game's state through `update_with`, a kicked peer heard no more, an
//! address that cannot be a server refused at once, and typed endpoints
//! with a codec of the game's own.

mod pair;

use std::time::Duration;

use bytes::Bytes;
use lentil::{Client, Codec, Config, Delivery, Error, Server, TypedServer};
use pair::Pair;

#[test]
fn handlers_with_a_context_reach_the_game_state_only_in_updates_that_hand_it() {
    #[derive(Default)]
    struct Game {
        joined: Vec<u64>,
        said: Vec<Vec<u8>>,
    }
    let mut pair = Pair::new(Config::default(), Duration::from_millis(2));
    pair.server
        .on_connect_with(|_, game: &mut Game, peer| game.joined.push(peer));
    pair.server
        .on_message_with(|_, game: &mut Game, _, message| game.said.push(message.bytes().to_vec()));
    let mut game = Game::default();
    for _ in 0..200 {
        pair.server.update_with(&mut game);
        pair.client.update();
        pair.advance(Duration::from_millis(1));
        if pair.client.is_connected() {
            break;
        }
    }
    assert_eq!(game.joined, vec![1], "the connect handler saw the game");
    pair.client.send(b"hi", Delivery::Reliable).unwrap();
    // A plain update hands no context: the handler does not run, and the
    // message is not handed to the game twice later.
    for _ in 0..50 {
        pair.client.update();
        pair.server.update();
        pair.advance(Duration::from_millis(1));
    }
    assert!(game.said.is_empty());
    pair.client.send(b"again", Delivery::Reliable).unwrap();
    for _ in 0..50 {
        pair.client.update();
        pair.server.update_with(&mut game);
        pair.advance(Duration::from_millis(1));
    }
    assert_eq!(game.said, vec![b"again".to_vec()]);
}

#[test]
fn a_peer_kicked_from_a_message_handler_has_the_rest_of_its_batch_dropped() {
    let mut pair = Pair::connected(Config::default(), Duration::from_millis(2));
    let delivered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = delivered.clone();
    pair.server.on_message(move |server, peer, _| {
        seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        server.disconnect(peer);
    });
    for n in 0u8..5 {
        pair.client.send([n], Delivery::ReliableOrdered).unwrap();
    }
    // All five leave in one packet and arrive in one update.
    pair.client.flush();
    assert_eq!(pair.net.in_flight().len(), 1);
    pair.drive_for(Duration::from_millis(100));
    assert_eq!(delivered.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn connecting_to_an_address_nothing_can_listen_on_fails_at_once() {
    for addr in ["127.0.0.1:0", "0.0.0.0:9000", "[::]:9000"] {
        let mut client = Client::new(Config::default());
        match client.connect(addr) {
            Err(Error::BadAddress(text)) => assert!(text.contains("cannot be a server"), "{text}"),
            other => panic!("{addr}: expected a bad address, got {other:?}"),
        }
        assert!(client.is_disconnected());
    }
}

/// Messages that are UTF-8 text, as they are.
#[derive(Debug, Clone, Copy, Default)]
struct Text;

impl Codec<String> for Text {
    fn encode(&self, value: &String) -> Result<Bytes, Error> {
        Ok(Bytes::copy_from_slice(value.as_bytes()))
    }

    fn decode(&self, bytes: &[u8]) -> Result<String, Error> {
        String::from_utf8(bytes.to_vec()).map_err(|e| Error::Codec(e.to_string()))
    }
}

#[test]
fn a_typed_server_with_its_own_codec_decodes_and_reports_what_does_not() {
    let net = lentil::SimNetwork::new(11);
    let mut server: TypedServer<String, Text> =
        TypedServer::with_codec(Server::sandbox(Config::default(), &net), Text);
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (g, e) = (got.clone(), got.clone());
    server.on_message(move |_, _, text| g.lock().unwrap().push(Ok(text)));
    server.on_error(move |_, _, error| e.lock().unwrap().push(Err(error.to_string())));
    server.listen("127.0.0.1:9000").unwrap();
    let mut client = Client::sandbox(Config::default(), &net);
    client.connect("127.0.0.1:9000").unwrap();
    let mut sent = false;
    for _ in 0..300 {
        server.update();
        client.update();
        if client.is_connected() && !sent {
            client.send("hello", Delivery::ReliableOrdered).unwrap();
            client
                .send([0xff, 0xfe], Delivery::ReliableOrdered)
                .unwrap();
            sent = true;
        }
        net.clock().advance(Duration::from_millis(1));
    }
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], Ok("hello".to_owned()));
    assert!(
        matches!(&got[1], Err(text) if text.contains("utf-8")),
        "{got:?}"
    );
    assert_eq!(server.decode_failures(), 1);
    assert_eq!(
        server.peer_count(),
        1,
        "a message that does not decode keeps the peer"
    );
}
