//! What lentil logs through `tracing`: a capturing subscriber records every
//! event with its level, fields and enclosing spans, and the tests check that
//! connects, disconnects (with their reason), rejections, lost peers and
//! decode failures are logged at their levels, and that nothing is logged
//! per message at info level.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use common::{ms, secs, Net, Pair};
use lentil::{Config, Delivery, TypedServer};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

const SEED: u64 = 0x106;

/// One captured event.
#[derive(Debug, Clone)]
struct Record {
    level: Level,
    message: String,
    fields: BTreeMap<String, String>,
    /// Names of the enclosing spans, outermost first.
    spans: Vec<String>,
}

impl Record {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// Records every event at or above `max` into a shared list.
#[derive(Clone)]
struct Capture {
    records: Arc<Mutex<Vec<Record>>>,
    max: Level,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() > self.max {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or_default();
        let spans = ctx
            .event_scope(event)
            .map(|scope| scope.from_root().map(|s| s.name().to_owned()).collect())
            .unwrap_or_default();
        self.records.lock().expect("records lock").push(Record {
            level: *event.metadata().level(),
            message,
            fields: fields.0,
            spans,
        });
    }
}

/// Runs `f` with a capturing subscriber for this thread; returns what it
/// logged from lentil at `max` level and above.
fn capture(max: Level, f: impl FnOnce()) -> Vec<Record> {
    let records = Arc::new(Mutex::new(Vec::new()));
    let layer = Capture {
        records: Arc::clone(&records),
        max,
    };
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, f);
    let records = records.lock().expect("records lock").clone();
    records
}

fn find<'a>(records: &'a [Record], message: &str) -> Vec<&'a Record> {
    records.iter().filter(|r| r.message == message).collect()
}

fn one<'a>(records: &'a [Record], message: &str) -> &'a Record {
    let found = find(records, message);
    assert_eq!(found.len(), 1, "{message:?} in {records:#?}");
    found[0]
}

#[test]
fn a_connect_and_a_graceful_disconnect_are_logged_on_both_sides() {
    let net = Net::sim(SEED);
    let mut peer = None;
    let records = capture(Level::INFO, || {
        let mut pair = Pair::connected(&net, Config::default(), Config::default());
        peer = Some(pair.peer());
        pair.client.disconnect();
        let left = pair.pump_until(secs(2), |server, _| server.peer_count() == 0);
        assert!(left, "the client did not leave");
    });
    let peer = peer.expect("connected").to_string();

    let listening = one(&records, "listening");
    assert_eq!(listening.spans, ["lentil_server"]);

    let connected = one(&records, "peer connected");
    assert_eq!(connected.level, Level::INFO);
    assert_eq!(connected.field("peer"), Some(peer.as_str()));
    assert!(connected
        .field("addr")
        .is_some_and(|a| a.starts_with("127.0.0.1:")));
    assert_eq!(connected.spans, ["lentil_server"]);

    let accepted = one(&records, "connected");
    assert_eq!(accepted.level, Level::INFO);
    assert_eq!(accepted.spans, ["lentil_client"]);

    let leaving = one(&records, "disconnecting");
    assert_eq!(leaving.field("reason"), Some("client disconnected"));

    let gone = one(&records, "peer disconnected");
    assert_eq!(gone.level, Level::INFO);
    assert_eq!(gone.field("peer"), Some(peer.as_str()));
    assert_eq!(gone.field("reason"), Some("client disconnected"));

    // Order: connect before disconnect.
    let at = |m: &str| records.iter().position(|r| r.message == m);
    assert!(at("peer connected") < at("peer disconnected"));
}

#[test]
fn a_rejection_is_logged_with_its_reason() {
    let net = Net::sim(SEED + 1);
    let records = capture(Level::INFO, || {
        let mut pair = Pair::new(&net, Config::default(), Config::default());
        pair.server
            .on_connect_request(|_, _| Err("banned".to_owned()));
        let addr = pair.server_addr();
        pair.client.connect(addr).unwrap();
        let rejected = pair.pump_until(secs(2), |_, c| c.is_disconnected());
        assert!(rejected, "the client was not rejected");
    });
    let server_side = find(&records, "connection rejected");
    assert_eq!(server_side.len(), 2, "{records:#?}");
    for r in server_side {
        assert_eq!(r.level, Level::INFO);
        assert_eq!(r.field("reason"), Some("banned"));
    }
    assert!(find(&records, "peer connected").is_empty());
}

#[test]
fn a_lost_peer_is_a_warning_naming_the_error() {
    let net = Net::sim(SEED + 2);
    let config = Config {
        timeout: secs(1),
        ping_interval: ms(200),
        ..Config::default()
    };
    let records = capture(Level::INFO, || {
        let mut pair = Pair::connected(&net, config.clone(), config.clone());
        // The client goes silent: only the server keeps updating.
        let lost = net.run_until(secs(3), || {
            pair.server.update();
            pair.server.peer_count() == 0
        });
        assert!(lost, "the server did not time the peer out");
    });
    let lost = one(&records, "peer lost");
    assert_eq!(lost.level, Level::WARN);
    assert!(
        lost.field("error").is_some_and(|e| e.contains("timed out")),
        "{lost:?}"
    );
}

#[test]
fn nothing_is_logged_per_message_at_info_level() {
    let net = Net::sim(SEED + 3);
    let records = capture(Level::INFO, || {
        let mut pair = Pair::connected(&net, Config::default(), Config::default());
        let peer = pair.peer();
        for i in 0..500u32 {
            pair.client
                .send(i.to_be_bytes(), Delivery::Reliable)
                .unwrap();
            pair.server
                .send(peer, i.to_be_bytes(), Delivery::Unreliable)
                .unwrap();
            pair.update();
            net.tick();
        }
        pair.pump_for(ms(200));
    });
    // listening, peer connected, connected: nothing for the 1000 messages.
    let messages: Vec<&str> = records.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(
        messages,
        ["listening", "peer connected", "connected"],
        "{records:#?}"
    );
}

#[test]
fn decode_failures_and_dropped_datagrams_are_logged_below_info() {
    let net = Net::sim(SEED + 4);
    let records = capture(Level::TRACE, || {
        let mut server: TypedServer<u64> = TypedServer::from_server(net.server(Config::default()));
        let mut client = net.client(Config::default());
        client.connect(server.local_addr().unwrap()).unwrap();
        let ok = net.run_until(secs(2), || {
            server.update();
            client.update();
            client.is_connected() && server.peer_count() == 1
        });
        assert!(ok, "client did not connect");
        client.send(b"", Delivery::Reliable).unwrap();
        net.run_for(ms(100), || {
            server.update();
            client.update();
        });
        assert_eq!(server.decode_failures(), 1);
        // Garbage to the server from an address it does not know.
        let net = net.sim_net().expect("simulated");
        let mut stranger = net.bind("127.0.0.1:4444".parse().unwrap()).unwrap();
        use lentil::transport::Socket;
        stranger
            .send_to(b"\xEE garbage", server.local_addr().unwrap())
            .unwrap();
        net.clock().advance(ms(50));
        server.update();
    });
    let dropped = one(&records, "message dropped");
    assert_eq!(dropped.level, Level::DEBUG);
    assert!(
        dropped
            .field("error")
            .is_some_and(|e| e.contains("could not be decoded")),
        "{dropped:?}"
    );
    let garbage: Vec<_> = find(&records, "datagram dropped")
        .into_iter()
        .filter(|r| r.field("from") == Some("127.0.0.1:4444"))
        .collect();
    assert_eq!(garbage.len(), 1, "{records:#?}");
    assert_eq!(garbage[0].level, Level::TRACE);
    assert_eq!(garbage[0].field("reason"), Some("unparsable"));
}
