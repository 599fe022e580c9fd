//! One host, or one network, cannot take every slot: 1,100 handshakes from
//! one IP (each from its own port) get only `max_clients_per_ip` accepts,
//! and a player from another IP still gets in; hosts of one /24 share
//! `max_clients_per_prefix`; and with the caps raised past `max_clients`
//! the same flood locks the player out, as it did before the caps.

mod raw;

use lentil::Config;
use raw::{v4, Bench, RawPeer};

/// Handshakes from `ip_of(i)`, port 10 000 + i, for i in 0..n: how many were
/// accepted, and the peers (kept, so their slots stay held).
fn flood(bench: &mut Bench, n: usize, ip_of: impl Fn(usize) -> [u8; 3]) -> (usize, Vec<RawPeer>) {
    let mut held = Vec::new();
    let mut refused = 0;
    for i in 0..n {
        let [a, b, c] = ip_of(i);
        match RawPeer::handshake(bench, v4(a, b, c, 10_000 + i as u16), i as u64 + 1) {
            Ok(p) => held.push(p),
            Err(_) => refused += 1,
        }
    }
    assert_eq!(held.len() + refused, n, "every handshake was answered");
    (held.len(), held)
}

#[test]
fn handshakes_from_one_ip_cannot_lock_out_a_player_from_another() {
    let config = Config::default();
    let per_ip = config.max_clients_per_ip;
    let mut bench = Bench::new(11, config);
    let (accepted, _held) = flood(&mut bench, 1_100, |_| [5, 5, 5]);
    println!("1,100 handshakes from one IP: {accepted} accepted");
    assert_eq!(accepted, per_ip);
    let player = RawPeer::handshake(&mut bench, v4(6, 6, 6, 4000), 9_999);
    assert!(player.is_ok(), "the player was refused: {:?}", player.err());
    assert_eq!(bench.server.peer_count(), per_ip + 1);
}

#[test]
fn hosts_of_one_slash_24_share_its_cap() {
    let config = Config {
        max_clients_per_ip: 1_000,
        max_clients_per_prefix: 40,
        ..Config::default()
    };
    let mut bench = Bench::new(12, config);
    // 200 hosts of 10.7.7.0/24, one handshake each.
    let (accepted, _held) = flood(&mut bench, 200, |i| [7, 7, i as u8]);
    println!("200 hosts of one /24: {accepted} accepted");
    assert_eq!(accepted, 40);
    // Next door, 10.7.8.0/24, is another network.
    assert!(RawPeer::handshake(&mut bench, v4(7, 8, 1, 4000), 9_999).is_ok());
}

#[test]
fn without_the_caps_one_ip_fills_the_server() {
    let config = Config {
        max_clients: 64,
        max_clients_per_ip: 10_000,
        max_clients_per_prefix: 10_000,
        ..Config::default()
    };
    let mut bench = Bench::new(13, config);
    let (accepted, _held) = flood(&mut bench, 100, |_| [5, 5, 5]);
    assert_eq!(accepted, 64);
    let player = RawPeer::handshake(&mut bench, v4(6, 6, 6, 4000), 9_999);
    assert_eq!(player.err().as_deref(), Some("ServerFull"));
}
