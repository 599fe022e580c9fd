use lentil::*;
use std::time::Duration;

#[test]
fn sim_smoke() {
    let net = SimNetwork::new(1);
    let mut server = Server::sandbox(Config::default(), &net);
    server.listen("127.0.0.1:9000").unwrap();
    let mut client = Client::sandbox(Config::default(), &net);
    client.connect("127.0.0.1:9000").unwrap();
    let clock = net.clock();
    let mut got = Vec::new();
    for i in 0..200u32 {
        server.update();
        for e in client.update_events() {
            if let ClientEvent::Message(m) = e {
                got.push(m.payload.clone());
            }
        }
        if client.is_connected() && i < 100 {
            for p in server.peers() {
                server
                    .send(p, i.to_be_bytes(), Delivery::ReliableOrdered)
                    .unwrap();
            }
        }
        clock.advance(Duration::from_millis(5));
    }
    assert!(client.is_connected());
    println!("{} msgs, metrics {:?}", got.len(), client.metrics());
    assert!(got.len() > 50);
}

#[test]
fn udp_smoke() {
    let mut server = Server::new(Config::default());
    server.listen("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let mut client = Client::new(Config::default());
    client.connect(addr).unwrap();
    let start = std::time::Instant::now();
    while !client.is_connected() && start.elapsed() < Duration::from_secs(2) {
        server.update();
        client.update();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(client.is_connected());
    client.send_reliable_message(b"hello").unwrap();
    let mut got = false;
    while !got && start.elapsed() < Duration::from_secs(3) {
        client.update();
        for e in server.update_events() {
            if let ServerEvent::Message { message, .. } = e {
                assert_eq!(&message[..], b"hello");
                got = true;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(got);
}
