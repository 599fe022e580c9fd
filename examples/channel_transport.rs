//! A transport the game brings: lentil over a pair of crossbeam channels
//! between two threads, with no socket at all.
//!
//! `ChannelNet` implements [`Transport`]: it binds a [`Socket`] per address,
//! each a channel receiver, and routes a datagram by looking up the
//! receiver's sender. The server runs on one thread, the client on another;
//! the client sends the demo's kinds of traffic (positions unreliable at
//! 60 Hz, chat reliable, events reliable and ordered), and both sides check
//! at the end that every reliable message arrived once and the ordered
//! ones in order.
//!
//! `cargo run --release --example channel_transport -- --seconds 2`

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use lentil::{Client, Config, Delivery, Server, Socket, Transport};

type Datagram = (Vec<u8>, SocketAddr);

/// Addresses to the senders of their sockets' channels.
#[derive(Debug, Clone, Default)]
struct ChannelNet {
    routes: Arc<Mutex<HashMap<SocketAddr, Sender<Datagram>>>>,
}

/// One bound address: its receiver, and the network to reach the others.
struct ChannelSocket {
    addr: SocketAddr,
    inbox: Receiver<Datagram>,
    /// A datagram `wait` took off the channel, handed out first.
    ready: Option<Datagram>,
    net: ChannelNet,
}

impl Transport for ChannelNet {
    fn bind(&self, addr: SocketAddr, _config: &Config) -> io::Result<Box<dyn Socket>> {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        // Port 0: the next free port on that address.
        let addr = if addr.port() == 0 {
            let port = (40_000..u16::MAX)
                .find(|p| !routes.contains_key(&SocketAddr::new(addr.ip(), *p)))
                .ok_or_else(|| io::Error::new(io::ErrorKind::AddrInUse, "no free port"))?;
            SocketAddr::new(addr.ip(), port)
        } else {
            addr
        };
        if routes.contains_key(&addr) {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, "address in use"));
        }
        // Bounded, like a socket buffer: a full channel drops, as a network would.
        let (tx, rx) = crossbeam_channel::bounded(4096);
        routes.insert(addr, tx);
        Ok(Box::new(ChannelSocket {
            addr,
            inbox: rx,
            ready: None,
            net: self.clone(),
        }))
    }

    fn client_bind_addr(&self, _server: SocketAddr) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 2], 0))
    }
}

impl Socket for ChannelSocket {
    fn send_to(&mut self, data: &[u8], to: SocketAddr) -> io::Result<()> {
        let routes = self.net.routes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = routes.get(&to) {
            // A full or closed channel loses the datagram, as the network would.
            let _ = tx.try_send((data.to_vec(), self.addr));
        }
        Ok(())
    }

    fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
        let Some((data, from)) = self.ready.take().or_else(|| self.inbox.try_recv().ok()) else {
            return Ok(None);
        };
        let len = data.len().min(buf.len());
        buf[..len].copy_from_slice(&data[..len]);
        Ok(Some((len, from)))
    }

    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        if self.ready.is_none() {
            self.ready = self.inbox.recv_timeout(timeout).ok();
        }
        Ok(())
    }
}

const EVENTS: u32 = 500;
const CHATS: u32 = 200;

fn main() {
    let seconds: f64 = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let run_for = Duration::from_secs_f64(seconds);
    let net = ChannelNet::default();
    let server_addr = SocketAddr::from(([10, 0, 0, 1], 7000));

    let server_net = net.clone();
    let server = std::thread::spawn(move || {
        let mut server = Server::with_transport(Config::default(), server_net);
        server.listen(server_addr).expect("the address is free");
        let (mut positions, mut chats, mut events, mut in_order) = (0u32, 0u32, 0u32, true);
        let start = Instant::now();
        while start.elapsed() < run_for + Duration::from_secs(1) {
            for event in server.update_events() {
                if let lentil::ServerEvent::Message { message, .. } = event {
                    match message.delivery {
                        Delivery::Unreliable => positions += 1,
                        Delivery::Reliable => chats += 1,
                        _ => {
                            let n = u32::from_be_bytes(
                                message.bytes()[..4].try_into().unwrap_or_default(),
                            );
                            in_order &= n == events;
                            events += 1;
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        (positions, chats, events, in_order)
    });

    let mut client = Client::with_transport(Config::default(), net);
    client
        .connect(server_addr)
        .expect("the server address resolves");
    let start = Instant::now();
    let (mut sent_events, mut sent_chats, mut ticks) = (0u32, 0u32, 0u32);
    while start.elapsed() < run_for {
        client.update();
        if client.is_connected() {
            ticks += 1;
            let _ = client.send([0u8; 24], Delivery::Unreliable);
            if sent_chats < CHATS
                && ticks % 2 == 0
                && client.send(b"hello", Delivery::Reliable).is_ok()
            {
                sent_chats += 1;
            }
            if sent_events < EVENTS
                && client
                    .send(sent_events.to_be_bytes(), Delivery::ReliableOrdered)
                    .is_ok()
            {
                sent_events += 1;
            }
        }
        std::thread::sleep(Duration::from_micros(16_667).min(run_for / 100));
    }
    client.disconnect();
    while client.is_disconnecting() {
        client.update();
        std::thread::sleep(Duration::from_millis(1));
    }
    let (positions, chats, events, in_order) = server.join().expect("the server thread ran");
    let m = client.metrics();
    println!("over crossbeam channels, {ticks} client ticks:");
    println!("  positions (unreliable)   {positions} of {ticks} arrived");
    println!("  chat (reliable)          {chats} of {sent_chats}");
    println!("  events (ordered)         {events} of {sent_events}, in order: {in_order}");
    println!(
        "  client RTT {:?}, {} packets out, {} resends",
        m.latency, m.out_packets, m.resends
    );
    let ok = chats == sent_chats && events == sent_events && in_order && sent_events > 0;
    println!(
        "{}",
        if ok {
            "all reliable messages arrived once, in order"
        } else {
            "FAILED"
        }
    );
    if !ok {
        std::process::exit(1);
    }
}
