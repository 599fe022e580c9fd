//! The connect-token flow in one process: a backend mints a token for a
//! server it shares a key with, prints it (what an HTTPS endpoint of the
//! game's matchmaker would return to the client), and a client connects
//! with it over loopback UDP; the server's `on_connect_request` sees the
//! client id and user data the backend vouched for.
//!
//! `cargo run --example connect_token`

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lentil::crypto::{ConnectToken, TokenKey};
use lentil::{Client, Config, Server};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() -> Result<(), lentil::Error> {
    // The key the backend and its servers share (kept in their secret store).
    let key = TokenKey::random();

    let mut server = Server::new(Config {
        token_key: Some(key.clone()),
        ..Config::default()
    });
    server.on_connect_request(|_, info| {
        println!(
            "server: client id {:?}, user data {:?}",
            info.client_id,
            String::from_utf8_lossy(&info.user_data)
        );
        Ok(())
    });
    server.listen("127.0.0.1:0")?;
    let addr = server.local_addr().expect("listening");

    // The backend: a token for client 42, good at this server for 30 s.
    let expires = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 30;
    let token = key
        .mint(42, b"account=alice", &[addr], expires)
        .expect("fields within bounds");
    let wire_form = token.to_bytes();
    println!("backend: token for {addr}: {}", hex(&wire_form));

    // The client: reads the token it was given and connects to its server.
    let token = ConnectToken::from_bytes(&wire_form).expect("a token");
    let to = token.servers[0];
    let mut client = Client::new(Config {
        connect_token: Some(token),
        ..Config::default()
    });
    client.on_connect_accepted(|_| println!("client: connected, session sealed"));
    client.connect(to)?;
    for _ in 0..2_000 {
        server.update();
        client.update();
        if client.is_connected() {
            break;
        }
        server.wait(Duration::from_millis(1));
    }
    assert!(client.is_connected(), "the token was accepted");
    Ok(())
}
