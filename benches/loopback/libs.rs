//! The two things measured: lentil with its default `Config`, driven the way
//! the peers adapter drives it (`update_events()` on every poll and flush),
//! and plain `std::net::UdpSocket` as in the harness's `raw` adapter (no
//! reliability, up to 40 length-prefixed messages per datagram).

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};

use lentil::{Client, ClientEvent, Config, Error, Server, ServerEvent};

use crate::common::{ClientEnd, Delivery, Lib, PeerId, SendError, ServerEnd, Stats};

fn delivery(d: Delivery) -> lentil::Delivery {
    match d {
        Delivery::ReliableOrdered => lentil::Delivery::ReliableOrdered,
        Delivery::Unreliable => lentil::Delivery::Unreliable,
    }
}

fn send_error(e: Error) -> SendError {
    match e {
        Error::QueueFull { .. } => SendError::Full,
        other => SendError::Fatal(other.to_string()),
    }
}

pub struct Lentil;

pub struct LentilServer {
    server: Server,
    inbox: Vec<(PeerId, lentil::Message)>,
}

impl LentilServer {
    fn pump(&mut self) {
        for event in self.server.update_events() {
            if let ServerEvent::Message { peer, message } = event {
                self.inbox.push((peer, message));
            }
        }
    }
}

impl ServerEnd for LentilServer {
    fn local_addr(&self) -> SocketAddr {
        self.server.local_addr().expect("listening")
    }

    fn poll(&mut self) {
        self.pump();
    }

    fn recv<F: FnMut(PeerId, &[u8])>(&mut self, mut f: F) {
        for (peer, m) in self.inbox.drain(..) {
            f(peer, m.bytes());
        }
    }

    fn try_send(&mut self, to: PeerId, d: Delivery, msg: &[u8]) -> Result<(), SendError> {
        self.server.send(to, msg, delivery(d)).map_err(send_error)
    }

    fn flush(&mut self) {
        self.pump();
    }

    fn connected(&self) -> Option<usize> {
        Some(self.server.peer_count())
    }

    fn stats(&self) -> Stats {
        let (mut resends, mut lost, mut dups, mut late) = (0, 0, 0, 0);
        for peer in self.server.peers() {
            if let Some(m) = self.server.metrics(peer) {
                resends += m.resends;
                lost += m.packets_lost;
                dups += m.duplicates_dropped;
                late += m.late_packets;
            }
        }
        vec![
            ("server_resends", resends),
            ("server_packets_lost", lost),
            ("server_duplicates_dropped", dups),
            ("server_late_packets", late),
            (
                "server_invalid_datagrams",
                self.server.stats().invalid_datagrams,
            ),
        ]
    }
}

pub struct LentilClient {
    client: Client,
    inbox: Vec<lentil::Message>,
    fatal: Option<String>,
}

impl LentilClient {
    fn pump(&mut self) {
        for event in self.client.update_events() {
            match event {
                ClientEvent::Message(m) => self.inbox.push(m),
                ClientEvent::Error(e) => self.fatal = Some(e.to_string()),
                ClientEvent::Disconnected(r) => self.fatal = Some(r.to_string()),
                ClientEvent::ConnectRejected(r) => self.fatal = Some(format!("rejected: {r}")),
                _ => {}
            }
        }
    }
}

impl ClientEnd for LentilClient {
    fn poll(&mut self) {
        self.pump();
    }

    fn recv<F: FnMut(&[u8])>(&mut self, mut f: F) {
        for m in self.inbox.drain(..) {
            f(m.bytes());
        }
    }

    fn try_send(&mut self, d: Delivery, msg: &[u8]) -> Result<(), SendError> {
        self.client.send(msg, delivery(d)).map_err(send_error)
    }

    fn flush(&mut self) {
        self.pump();
    }

    fn is_connected(&self) -> bool {
        self.client.is_connected()
    }

    fn fatal(&self) -> Option<String> {
        self.fatal.clone()
    }

    fn stats(&self) -> Stats {
        let m = self.client.metrics();
        vec![
            ("client_resends", m.resends),
            ("client_packets_lost", m.packets_lost),
            ("client_send_failures", m.send_failures),
        ]
    }
}

impl Lib for Lentil {
    const NAME: &'static str = "lentil";
    const RELIABLE: bool = true;
    type Server = LentilServer;
    type Client = LentilClient;

    fn version() -> String {
        let mode = if lentil_config().insecure {
            "insecure mode, LENTIL_BENCH_INSECURE=1"
        } else {
            "default Config, sealed"
        };
        format!("lentil {} ({mode})", env!("CARGO_PKG_VERSION"))
    }

    fn server(max_clients: usize) -> Result<LentilServer, String> {
        let config = lentil_config();
        if config.max_clients < max_clients {
            return Err(format!(
                "default max_clients {} < {max_clients}",
                config.max_clients
            ));
        }
        let mut server = Server::new(config);
        server.listen("127.0.0.1:0").map_err(|e| e.to_string())?;
        Ok(LentilServer {
            server,
            inbox: Vec::new(),
        })
    }

    fn client(server_addr: SocketAddr) -> Result<LentilClient, String> {
        let mut client = Client::new(lentil_config());
        client.connect(server_addr).map_err(|e| e.to_string())?;
        Ok(LentilClient {
            client,
            inbox: Vec::new(),
            fatal: None,
        })
    }

    fn notes(_workload: &str) -> Vec<String> {
        vec!["update_events() on every poll and flush, as in benches/peers".into()]
    }
}

/// Messages per datagram, as the harness's `--raw-batch` default.
const RAW_BATCH: usize = 40;

struct Batch {
    buf: Vec<u8>,
    count: usize,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            buf: Vec::with_capacity(1400),
            count: 0,
        }
    }
}

struct Endpoint {
    sock: UdpSocket,
    rx: Vec<u8>,
    send_would_block: u64,
    send_errors: u64,
    datagrams_out: u64,
    datagrams_in: u64,
}

impl Endpoint {
    fn bind() -> Result<Endpoint, String> {
        let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok(Endpoint {
            sock,
            rx: vec![0u8; 65536],
            send_would_block: 0,
            send_errors: 0,
            datagrams_out: 0,
            datagrams_in: 0,
        })
    }

    /// False if the kernel pushed back (EAGAIN): the batch is kept.
    fn send(&mut self, b: &mut Batch, to: SocketAddr) -> bool {
        if b.count == 0 {
            return true;
        }
        match self.sock.send_to(&b.buf, to) {
            Ok(_) => self.datagrams_out += 1,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                self.send_would_block += 1;
                return false;
            }
            Err(_) => self.send_errors += 1,
        }
        b.buf.clear();
        b.count = 0;
        true
    }

    fn push(&mut self, b: &mut Batch, to: SocketAddr, msg: &[u8]) -> Result<(), SendError> {
        if msg.len() > 255 {
            return Err(SendError::Fatal("raw: message > 255 bytes".into()));
        }
        if b.count >= RAW_BATCH && !self.send(b, to) {
            return Err(SendError::Full);
        }
        b.buf.push(msg.len() as u8);
        b.buf.extend_from_slice(msg);
        b.count += 1;
        if b.count >= RAW_BATCH {
            self.send(b, to);
        }
        Ok(())
    }

    fn stats(&self) -> Stats {
        vec![
            ("datagrams_out", self.datagrams_out),
            ("datagrams_in", self.datagrams_in),
            ("send_eagain", self.send_would_block),
            ("send_errors", self.send_errors),
        ]
    }
}

fn unpack(d: &[u8], mut f: impl FnMut(&[u8])) {
    let mut i = 0;
    while i < d.len() {
        let len = d[i] as usize;
        if i + 1 + len > d.len() {
            return;
        }
        f(&d[i + 1..i + 1 + len]);
        i += 1 + len;
    }
}

pub struct Raw;

pub struct RawServer {
    ep: Endpoint,
    peers: HashMap<SocketAddr, PeerId>,
    addrs: Vec<SocketAddr>,
    out: Vec<Batch>,
    inbox: Vec<(PeerId, Vec<u8>)>,
}

impl ServerEnd for RawServer {
    fn local_addr(&self) -> SocketAddr {
        self.ep.sock.local_addr().expect("bound")
    }

    fn poll(&mut self) {
        while let Ok((n, src)) = self.ep.sock.recv_from(&mut self.ep.rx) {
            self.ep.datagrams_in += 1;
            let next = self.addrs.len() as PeerId;
            let id = *self.peers.entry(src).or_insert(next);
            if id == next {
                self.addrs.push(src);
                self.out.push(Batch::new());
            }
            let inbox = &mut self.inbox;
            unpack(&self.ep.rx[..n], |m| inbox.push((id, m.to_vec())));
        }
    }

    fn recv<F: FnMut(PeerId, &[u8])>(&mut self, mut f: F) {
        for (p, m) in self.inbox.drain(..) {
            f(p, &m);
        }
    }

    fn try_send(&mut self, to: PeerId, _d: Delivery, msg: &[u8]) -> Result<(), SendError> {
        let addr = *self
            .addrs
            .get(to as usize)
            .ok_or_else(|| SendError::Fatal("unknown peer".into()))?;
        self.ep.push(&mut self.out[to as usize], addr, msg)
    }

    fn flush(&mut self) {
        for (b, addr) in self.out.iter_mut().zip(&self.addrs) {
            self.ep.send(b, *addr);
        }
    }

    fn connected(&self) -> Option<usize> {
        None
    }

    fn stats(&self) -> Stats {
        self.ep.stats()
    }
}

pub struct RawClient {
    ep: Endpoint,
    server: SocketAddr,
    out: Batch,
    inbox: Vec<Vec<u8>>,
}

impl ClientEnd for RawClient {
    fn poll(&mut self) {
        while let Ok((n, src)) = self.ep.sock.recv_from(&mut self.ep.rx) {
            self.ep.datagrams_in += 1;
            if src == self.server {
                let inbox = &mut self.inbox;
                unpack(&self.ep.rx[..n], |m| inbox.push(m.to_vec()));
            }
        }
    }

    fn recv<F: FnMut(&[u8])>(&mut self, mut f: F) {
        for m in self.inbox.drain(..) {
            f(&m);
        }
    }

    fn try_send(&mut self, _d: Delivery, msg: &[u8]) -> Result<(), SendError> {
        self.ep.push(&mut self.out, self.server, msg)
    }

    fn flush(&mut self) {
        self.ep.send(&mut self.out, self.server);
    }

    fn is_connected(&self) -> bool {
        true
    }

    fn fatal(&self) -> Option<String> {
        None
    }

    fn stats(&self) -> Stats {
        self.ep.stats()
    }
}

impl Lib for Raw {
    const NAME: &'static str = "raw";
    const RELIABLE: bool = false;
    type Server = RawServer;
    type Client = RawClient;

    fn version() -> String {
        "raw std::net::UdpSocket (no reliability)".into()
    }

    fn server(_max_clients: usize) -> Result<RawServer, String> {
        Ok(RawServer {
            ep: Endpoint::bind()?,
            peers: HashMap::new(),
            addrs: Vec::new(),
            out: Vec::new(),
            inbox: Vec::new(),
        })
    }

    fn client(server: SocketAddr) -> Result<RawClient, String> {
        Ok(RawClient {
            ep: Endpoint::bind()?,
            server,
            out: Batch::new(),
            inbox: Vec::new(),
        })
    }

    fn notes(workload: &str) -> Vec<String> {
        match workload {
            "stream" | "lossy" => vec![format!(
                "unreliable datagrams, {RAW_BATCH} msgs (1-byte len + 32 B) per datagram, default socket buffers; delivered<expected is loss, not a bug"
            )],
            _ => Vec::new(),
        }
    }
}

/// The default `Config`, or the explicit insecure mode when
/// `LENTIL_BENCH_INSECURE=1`, so the two can be run back to back.
fn lentil_config() -> Config {
    Config {
        insecure: std::env::var("LENTIL_BENCH_INSECURE").is_ok_and(|v| v == "1"),
        ..Config::default()
    }
}
