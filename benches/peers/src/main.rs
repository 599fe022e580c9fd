//! `lentil` adapter for the shared peers harness: a `Server` and `Client`s over
//! loopback UDP with the default `Config`, driven by the harness workloads.
//! `poll` runs `update_events()` (receive, timers, transmit); `flush` runs
//! `flush()`, which only transmits what is queued.

use std::net::SocketAddr;
use std::time::Instant;

use harness::{
    Adapter, ClientEnd, ClientOpts, Delivery, Params, PeerId, SendError, ServerEnd, ServerOpts,
    Stats,
};
use lentil::{Client, ClientEvent, Config, Error, Server, ServerEvent};

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

struct LentilServer {
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

    fn poll(&mut self, _now: Instant) {
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

    fn flush(&mut self, _now: Instant) {
        self.server.flush();
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
        let s = self.server.stats();
        vec![
            ("server_resends", resends),
            ("server_packets_lost", lost),
            ("server_duplicates_dropped", dups),
            ("server_late_packets", late),
            ("server_invalid_datagrams", s.invalid_datagrams),
        ]
    }
}

struct LentilClient {
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
                ClientEvent::ConnectAccepted => {}
            }
        }
    }
}

impl ClientEnd for LentilClient {
    fn poll(&mut self, _now: Instant) {
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

    fn flush(&mut self, _now: Instant) {
        self.client.flush();
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

struct Lentil;

impl Adapter for Lentil {
    const NAME: &'static str = "lentil";
    type Server = LentilServer;
    type Client = LentilClient;

    fn version() -> String {
        "lentil 0.1.0 (default Config)".into()
    }

    fn server(opts: &ServerOpts, _p: &Params) -> Result<LentilServer, String> {
        let config = Config {
            max_clients: opts.max_clients.max(1),
            ..Config::default()
        };
        let mut server = Server::new(config);
        server.listen(opts.bind).map_err(|e| e.to_string())?;
        Ok(LentilServer {
            server,
            inbox: Vec::new(),
        })
    }

    fn client(opts: &ClientOpts, _p: &Params) -> Result<LentilClient, String> {
        let mut client = Client::new(Config::default());
        client
            .connect(opts.server_addr)
            .map_err(|e| e.to_string())?;
        Ok(LentilClient {
            client,
            inbox: Vec::new(),
            fatal: None,
        })
    }

    fn notes(_workload: &str, _p: &Params) -> Vec<String> {
        vec!["max_clients set to the workload's client count; everything else default".into()]
    }
}

fn main() {
    harness::run_main::<Lentil>();
}
