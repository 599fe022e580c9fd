//! Metrics exported for dashboards: Prometheus text checked line by line
//! against the exposition format (0.0.4), and JSON read back with
//! serde_json. A real server and real clients run on the simulated network,
//! so every number checked comes from traffic.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::{ms, payload, secs, Net};
use lentil::transport::Socket;
use lentil::{
    Client, Config, Delivery, LinkConditioner, Metrics, PeerId, Prometheus, Server,
    ServerMetricsHandle, ServerMetricsSnapshot,
};

const SEED: u64 = 0x5A7;

/// A label value with every character the format escapes, and more.
const WEIRD: &str = "eu\\west \"1\"\nnext=line,{x}";

// ---------------------------------------------------------------------------
// A checker for the Prometheus text exposition format, version 0.0.4.

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

impl Sample {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One metric family: its HELP text, TYPE, and samples in order.
#[derive(Debug, Clone, Default)]
struct Family {
    help: Option<String>,
    kind: Option<String>,
    samples: Vec<Sample>,
}

/// A parsed exposition: families by name, in order of first appearance.
#[derive(Debug, Default)]
struct Exposition {
    order: Vec<String>,
    families: HashMap<String, Family>,
}

impl Exposition {
    fn family(&self, name: &str) -> &Family {
        self.families
            .get(name)
            .unwrap_or_else(|| panic!("no family {name}"))
    }

    /// The one sample of `name` whose labels include `with`.
    fn value(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        let hits: Vec<&Sample> = self
            .family(name)
            .samples
            .iter()
            .filter(|s| with.iter().all(|(n, v)| s.label(n) == Some(*v)))
            .collect();
        assert_eq!(hits.len(), 1, "{name} {with:?}: {hits:?}");
        hits[0].value
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(String::as_str)
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A sample value as the format spells it: a Go float literal, `NaN`, `+Inf`, `-Inf`.
fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => return Ok(f64::NAN),
        "+Inf" => return Ok(f64::INFINITY),
        "-Inf" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    match s.parse::<f64>() {
        Ok(v) if plain && v.is_finite() => Ok(v),
        _ => Err(format!("bad value {s:?}")),
    }
}

/// `# HELP` text: only `\\` and `\n` may be escaped.
fn unescape_help(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                other => return Err(format!("bad escape \\{other:?} in help")),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Splits a sample line into name, labels, value.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or_else(|| format!("no value in {line:?}"))?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        loop {
            let start = chars.peek().map(|(i, _)| *i).ok_or("unterminated labels")?;
            let mut label = String::new();
            while let Some(&(_, c)) = chars.peek() {
                if c == '=' {
                    break;
                }
                label.push(c);
                chars.next();
            }
            if !is_label_name(&label) || label.starts_with("__") {
                return Err(format!("bad label name {label:?} at {start}"));
            }
            if chars.next().map(|(_, c)| c) != Some('=')
                || chars.next().map(|(_, c)| c) != Some('"')
            {
                return Err(format!("label {label} lacks =\""));
            }
            let mut value = String::new();
            loop {
                match chars.next().map(|(_, c)| c) {
                    None => return Err("unterminated label value".into()),
                    Some('"') => break,
                    Some('\\') => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => return Err(format!("bad escape \\{other:?} in label value")),
                    },
                    Some(c) => value.push(c),
                }
            }
            if labels.iter().any(|(n, _)| *n == label) {
                return Err(format!("label {label} repeated"));
            }
            labels.push((label, value));
            match chars.next() {
                Some((_, ',')) => continue,
                Some((i, '}')) => {
                    rest = &after[i + 1..];
                    break;
                }
                other => return Err(format!("expected , or }} after a label, got {other:?}")),
            }
        }
    }
    let rest = rest
        .strip_prefix(' ')
        .ok_or_else(|| format!("no space before the value in {line:?}"))?;
    let mut tokens = rest.split(' ');
    let value = parse_value(tokens.next().unwrap_or(""))?;
    if let Some(ts) = tokens.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if tokens.next().is_some() {
        return Err(format!("trailing text in {line:?}"));
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Parses `text`, checking every rule of the format this crate relies on:
/// every line ends with a newline; names and label names are in their
/// charsets; each family has exactly one HELP and one TYPE line, both before
/// its samples; a family's samples form one group; no two samples of a
/// family carry the same labels; counters end in `_total` and nothing else
/// does; values parse as floats.
fn parse_exposition(text: &str) -> Result<Exposition, String> {
    if !text.ends_with('\n') {
        return Err("text does not end with a newline".into());
    }
    let mut exp = Exposition::default();
    let mut last_sampled: Option<String> = None;
    for (n, line) in text.split_terminator('\n').enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.strip_prefix(' ').unwrap_or(comment);
            let mut parts = comment.splitn(3, ' ');
            let keyword = parts.next().unwrap_or("");
            if keyword != "HELP" && keyword != "TYPE" {
                continue;
            }
            let name = parts.next().unwrap_or("");
            let rest = parts.next().ok_or_else(|| at("missing text".into()))?;
            if !is_metric_name(name) {
                return Err(at(format!("bad metric name {name:?}")));
            }
            let family = exp.families.entry(name.to_string()).or_default();
            if !family.samples.is_empty() {
                return Err(at(format!("{keyword} after samples of {name}")));
            }
            if keyword == "HELP" {
                if family.help.is_some() {
                    return Err(at(format!("second HELP for {name}")));
                }
                family.help = Some(unescape_help(rest).map_err(at)?);
            } else {
                if family.kind.is_some() {
                    return Err(at(format!("second TYPE for {name}")));
                }
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&rest) {
                    return Err(at(format!("bad type {rest:?}")));
                }
                family.kind = Some(rest.to_string());
            }
            if !exp.order.iter().any(|o| o == name) {
                exp.order.push(name.to_string());
            }
            continue;
        }
        let sample = parse_sample(line).map_err(at)?;
        let name = sample.name.clone();
        let family = exp
            .families
            .get_mut(&name)
            .ok_or_else(|| at(format!("sample of {name} before its HELP and TYPE")))?;
        if family.help.is_none() || family.kind.is_none() {
            return Err(at(format!("sample of {name} before its HELP and TYPE")));
        }
        if last_sampled.as_deref() != Some(&name) && !family.samples.is_empty() {
            return Err(at(format!("samples of {name} are not one group")));
        }
        let mut key = sample.labels.clone();
        key.sort();
        if family.samples.iter().any(|s| {
            let mut k = s.labels.clone();
            k.sort();
            k == key
        }) {
            return Err(at(format!("{name} repeats a label set")));
        }
        family.samples.push(sample);
        last_sampled = Some(name);
    }
    for name in &exp.order {
        let family = &exp.families[name];
        let kind = family.kind.as_deref();
        if family.help.is_none() || kind.is_none() {
            return Err(format!("{name} lacks HELP or TYPE"));
        }
        if (kind == Some("counter")) != name.ends_with("_total") {
            return Err(format!("{name} is a {kind:?}: only counters end in _total"));
        }
        if name.contains("second") && !(name.ends_with("_seconds") || name.ends_with("_per_second"))
        {
            return Err(format!("{name}: time unit not at the end"));
        }
    }
    Ok(exp)
}

fn checked(text: &str) -> Exposition {
    match parse_exposition(text) {
        Ok(exp) => exp,
        Err(e) => panic!("invalid exposition: {e}\n{text}"),
    }
}

// ---------------------------------------------------------------------------
// A busy server.

/// A server with three connected clients, one rejected client, garbage from
/// a stranger, and two seconds of traffic both ways over a link with latency
/// and a little loss; metrics are published to `handle` on every tick.
struct World {
    net: Net,
    server: Server,
    clients: Vec<Client>,
    handle: ServerMetricsHandle,
    garbage: u64,
    tick: u32,
}

impl World {
    fn new(seed: u64) -> World {
        let net = Net::sim(seed);
        net.set_conditioner(
            LinkConditioner::new()
                .latency(ms(15))
                .jitter(ms(5))
                .loss(0.02),
        );
        let mut server = net.server(Config::default());
        server.on_connect_request(|_, info| {
            if &info.payload[..] == b"banned" {
                Err("banned".to_string())
            } else {
                Ok(())
            }
        });
        let addr = server.local_addr().unwrap();
        let mut clients: Vec<Client> = (0..3).map(|_| net.client(Config::default())).collect();
        let mut banned = net.client(Config {
            connect_payload: b"banned".to_vec(),
            ..Config::default()
        });
        for c in &mut clients {
            c.connect(addr).unwrap();
        }
        banned.connect(addr).unwrap();
        let mut world = World {
            net,
            server,
            clients,
            handle: ServerMetricsHandle::default(),
            garbage: 0,
            tick: 0,
        };
        let rejected = world.run_until(secs(3), |w| {
            banned.update();
            w.clients.iter().all(Client::is_connected)
                && w.server.peer_count() == 3
                && banned.is_disconnected()
                && w.server.stats().rejected == 1
        });
        assert!(rejected, "handshakes did not settle: {:?}", world.server);

        // Garbage from an address the server does not know.
        let sim = world.net.sim_net().unwrap().clone();
        let mut stranger = sim
            .bind("127.0.0.1:0".parse::<SocketAddr>().unwrap())
            .unwrap();
        for g in [vec![0xFF], vec![0u8; 48], b"not a packet at all".to_vec()] {
            stranger.send_to(&g, addr).unwrap();
            world.garbage += 1;
        }
        world.traffic(secs(2));
        world
    }

    /// One tick: every 10 ms each client sends a reliable message and the
    /// server a reliable one to each peer; then updates and a publish.
    fn step(&mut self) {
        if self.tick % 10 == 0 {
            let i = self.tick / 10;
            for c in self.clients.iter_mut().filter(|c| c.is_connected()) {
                c.send(payload(1, i, 120), Delivery::Reliable).unwrap();
            }
            for peer in self.server.peers() {
                self.server
                    .send(peer, payload(2, i, 60), Delivery::Reliable)
                    .unwrap();
            }
        }
        self.tick += 1;
        self.server.update();
        for c in &mut self.clients {
            c.update();
        }
        self.server.publish_metrics(&self.handle);
    }

    fn run_until(
        &mut self,
        limit: std::time::Duration,
        mut done: impl FnMut(&mut World) -> bool,
    ) -> bool {
        let deadline = self.net.now() + limit;
        loop {
            self.step();
            if done(self) {
                return true;
            }
            if self.net.now() >= deadline {
                return false;
            }
            self.net.tick();
        }
    }

    fn traffic(&mut self, duration: std::time::Duration) {
        self.run_until(duration, |_| false);
    }

    /// Publishes until a publish lands (no reader is running, so the first does).
    fn snapshot(&self) -> ServerMetricsSnapshot {
        assert!(self.server.publish_metrics(&self.handle));
        self.handle.server_snapshot()
    }
}

/// Server-side families of a server snapshot and their expected values.
fn server_expectations(s: &ServerMetricsSnapshot) -> Vec<(&'static str, f64)> {
    vec![
        ("lentil_server_peers", s.peers as f64),
        ("lentil_server_accepted_total", s.accepted as f64),
        ("lentil_server_rejected_total", s.rejected as f64),
        (
            "lentil_server_invalid_packets_total",
            s.invalid_packets as f64,
        ),
        (
            "lentil_server_received_datagrams_total",
            s.datagrams_in as f64,
        ),
        (
            "lentil_server_challenges_sent_total",
            s.challenges_sent as f64,
        ),
        ("lentil_server_bad_cookies_total", s.bad_cookies as f64),
        ("lentil_server_received_bytes_total", s.in_bytes as f64),
        ("lentil_server_sent_bytes_total", s.out_bytes as f64),
        ("lentil_server_received_packets_total", s.in_packets as f64),
        ("lentil_server_sent_packets_total", s.out_packets as f64),
        (
            "lentil_server_receive_bandwidth_bytes_per_second",
            s.in_bytes_per_sec,
        ),
        (
            "lentil_server_send_bandwidth_bytes_per_second",
            s.out_bytes_per_sec,
        ),
        (
            "lentil_server_receive_rate_packets_per_second",
            s.in_packets_per_sec,
        ),
        (
            "lentil_server_send_rate_packets_per_second",
            s.out_packets_per_sec,
        ),
    ]
}

/// Per-peer families and the field each renders.
fn peer_expectations(m: &Metrics) -> Vec<(&'static str, f64)> {
    vec![
        ("lentil_peer_received_bytes_total", m.in_bytes as f64),
        ("lentil_peer_sent_bytes_total", m.out_bytes as f64),
        ("lentil_peer_received_packets_total", m.in_packets as f64),
        ("lentil_peer_sent_packets_total", m.out_packets as f64),
        ("lentil_peer_received_messages_total", m.in_messages as f64),
        ("lentil_peer_sent_messages_total", m.out_messages as f64),
        ("lentil_peer_resent_messages_total", m.resends as f64),
        ("lentil_peer_lost_packets_total", m.packets_lost as f64),
        ("lentil_peer_acked_packets_total", m.packets_acked as f64),
        ("lentil_peer_pending_ack_packets", m.pending_acks as f64),
        ("lentil_peer_rtt_smoothed_seconds", m.srtt.as_secs_f64()),
        ("lentil_peer_rtt_p99_seconds", m.rtt_p99.as_secs_f64()),
        ("lentil_peer_packet_loss_ratio", m.packet_loss),
        (
            "lentil_peer_receive_bandwidth_bytes_per_second",
            m.in_bandwidth,
        ),
    ]
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

// ---------------------------------------------------------------------------
// Prometheus.

#[test]
fn prometheus_text_of_a_busy_server_follows_the_exposition_format() {
    let world = World::new(SEED);
    let snapshot = world.snapshot();
    let text = Prometheus::new()
        .label("shard", WEIRD)
        .render_server(&snapshot);
    let exp = checked(&text);

    // The numbers come from real traffic.
    let peers = world.server.peers();
    assert_eq!(snapshot.peers, 3);
    assert_eq!((snapshot.accepted, snapshot.rejected), (3, 1));
    assert!(snapshot.invalid_packets >= world.garbage, "{snapshot:?}");
    let delivered: u64 = snapshot
        .peer_metrics
        .iter()
        .map(|p| p.metrics.in_messages)
        .sum();
    assert!(delivered > 400, "{snapshot:?}");
    assert!(snapshot.in_bytes_per_sec > 0.0 && snapshot.out_packets_per_sec > 0.0);

    // Every sample carries the extra label, unescaped back to the original.
    for name in exp.names() {
        for s in &exp.family(name).samples {
            assert_eq!(s.label("shard"), Some(WEIRD), "{s:?}");
        }
    }
    let shard = [("shard", WEIRD)];
    for (name, want) in server_expectations(&snapshot) {
        assert!(
            close(exp.value(name, &shard), want),
            "{name}: want {want}\n{text}"
        );
    }

    // Per-peer families: one sample per peer, labels present and distinct.
    let want_ids: BTreeSet<String> = peers.iter().map(|p| p.to_string()).collect();
    let peer_families: Vec<&str> = exp
        .names()
        .filter(|n| n.starts_with("lentil_peer_"))
        .collect();
    assert!(peer_families.len() >= 20, "{peer_families:?}");
    for name in &peer_families {
        let ids: Vec<String> = exp
            .family(name)
            .samples
            .iter()
            .map(|s| s.label("peer").expect("peer label").to_string())
            .collect();
        assert_eq!(ids.len(), peers.len(), "{name}");
        assert_eq!(
            ids.iter().cloned().collect::<BTreeSet<_>>(),
            want_ids,
            "{name}"
        );
    }
    for peer in &peers {
        let id = peer.to_string();
        let m = world.server.metrics(*peer).unwrap();
        let with = [("peer", id.as_str())];
        for (name, want) in peer_expectations(&m) {
            assert!(
                close(exp.value(name, &with), want),
                "{name} of {id}: want {want}"
            );
        }
        assert!(m.in_messages > 100 && m.srtt >= ms(25), "{m:?}");
        assert_eq!(exp.value("lentil_peer_connected", &with), 1.0);
        let info = &exp.family("lentil_peer_info").samples;
        let addr = info
            .iter()
            .find(|s| s.label("peer") == Some(&id))
            .and_then(|s| s.label("addr"))
            .unwrap();
        assert_eq!(
            addr.parse::<SocketAddr>().ok(),
            world.server.peer_addr(*peer)
        );
    }

    // The whole server's traffic is its peers' traffic (nobody left yet).
    let sum = |f: fn(&Metrics) -> u64| {
        peers
            .iter()
            .map(|p| f(&world.server.metrics(*p).unwrap()))
            .sum::<u64>()
    };
    assert_eq!(snapshot.in_bytes, sum(|m| m.in_bytes));
    assert_eq!(snapshot.out_packets, sum(|m| m.out_packets));
}

#[test]
fn server_rates_follow_the_traffic() {
    let mut world = World::new(SEED + 1);
    let a = world.snapshot();
    let t0 = world.net.now();
    world.traffic(secs(1));
    let b = world.snapshot();
    let secs_between = (world.net.now() - t0).as_secs_f64();
    let slope = |x: u64, y: u64| (y - x) as f64 / secs_between;
    for (rate, measured) in [
        (b.in_bytes_per_sec, slope(a.in_bytes, b.in_bytes)),
        (b.out_bytes_per_sec, slope(a.out_bytes, b.out_bytes)),
        (b.in_packets_per_sec, slope(a.in_packets, b.in_packets)),
        (b.out_packets_per_sec, slope(a.out_packets, b.out_packets)),
    ] {
        assert!(measured > 0.0);
        let err = (rate - measured).abs() / measured;
        assert!(err < 0.25, "rate {rate}/s, counters moved {measured}/s");
    }
    // Three clients each send one message of 120 bytes every 10 ms.
    assert!(b.in_bytes_per_sec > 0.8 * 3.0 * 100.0 * 120.0, "{b:?}");
    let text = checked(&b.to_prometheus());
    assert!(close(
        text.value("lentil_server_receive_bandwidth_bytes_per_second", &[]),
        b.in_bytes_per_sec
    ));
}

#[test]
fn server_counters_never_fall_when_a_peer_leaves() {
    let mut world = World::new(SEED + 2);
    let before = world.snapshot();
    let before_text = checked(&before.to_prometheus());
    let leaving_addr = world.clients[0].local_addr();
    let leaving = world
        .server
        .peers()
        .into_iter()
        .find(|p| world.server.peer_addr(*p) == leaving_addr)
        .expect("client 0 is a peer");

    world.clients[0].disconnect();
    let mut last_seen = None;
    let gone = world.run_until(secs(5), |w| {
        let s = w.handle.server_snapshot();
        match s.peer(leaving) {
            Some(p) => {
                last_seen = Some(p.metrics.clone());
                false
            }
            None => true,
        }
    });
    assert!(gone, "peer {leaving} was never removed");
    world.traffic(ms(500));
    let after = world.snapshot();
    let after_text = checked(&after.to_prometheus());

    // Its traffic, as last published, stays in the totals.
    let departed = last_seen.unwrap();
    let current = |f: fn(&Metrics) -> u64| {
        after
            .peer_metrics
            .iter()
            .map(|p| f(&p.metrics))
            .sum::<u64>()
    };
    assert_eq!(after.in_bytes, departed.in_bytes + current(|m| m.in_bytes));
    assert_eq!(
        after.out_bytes,
        departed.out_bytes + current(|m| m.out_bytes)
    );
    assert_eq!(
        after.in_packets,
        departed.in_packets + current(|m| m.in_packets)
    );
    assert_eq!(
        after.out_packets,
        departed.out_packets + current(|m| m.out_packets)
    );

    // Every server counter in the text is at least what it was.
    let mut counters = 0;
    for name in before_text
        .names()
        .filter(|n| n.starts_with("lentil_server_"))
    {
        if before_text.family(name).kind.as_deref() == Some("counter") {
            let (b, a) = (before_text.value(name, &[]), after_text.value(name, &[]));
            assert!(a >= b, "{name} fell from {b} to {a}");
            counters += 1;
        }
    }
    assert!(counters >= 10);
    assert!(after.in_bytes > before.in_bytes);
    assert_eq!(after_text.value("lentil_server_peers", &[]), 2.0);
    // The departed peer's series are gone; the others remain.
    let ids: BTreeSet<String> = after_text
        .family("lentil_peer_received_bytes_total")
        .samples
        .iter()
        .filter_map(|s| s.label("peer").map(str::to_string))
        .collect();
    let want: BTreeSet<String> = world.server.peers().iter().map(PeerId::to_string).collect();
    assert_eq!(ids, want);
    assert!(!ids.contains(&leaving.to_string()));
}

#[test]
fn client_metrics_render_as_valid_prometheus_text() {
    let mut world = World::new(SEED + 3);
    let handle = world.clients[1].metrics_handle();
    world.traffic(ms(300));
    let m = handle.snapshot();
    assert_eq!(m, world.clients[1].metrics());
    let text = Prometheus::new()
        .namespace("9 lives-game")
        .label("build", WEIRD)
        .render_client(&m);
    let exp = checked(&text);
    assert!(
        exp.names().all(|n| n.starts_with("_9_lives_game_client_")),
        "{text}"
    );
    let with = [("build", WEIRD)];
    for (name, want) in [
        ("sent_messages_total", m.out_messages as f64),
        ("received_bytes_total", m.in_bytes as f64),
        ("sent_packets_total", m.out_packets as f64),
        ("keepalives_total", m.keepalive_count as f64),
        ("rtt_smoothed_seconds", m.srtt.as_secs_f64()),
        ("rtt_max_seconds", m.rtt_max.as_secs_f64()),
        ("send_bandwidth_bytes_per_second", m.out_bandwidth),
        ("congestion_window_packets", m.congestion_window as f64),
    ] {
        let name = format!("_9_lives_game_client_{name}");
        assert!(close(exp.value(&name, &with), want), "{name}: want {want}");
    }
    assert!(
        m.out_messages > 200 && m.in_bytes > 0 && m.srtt >= ms(25),
        "{m:?}"
    );
    // One sample per family, and the default renderer agrees on the values.
    assert!(exp.names().all(|n| exp.family(n).samples.len() == 1));
    let plain = checked(&m.to_prometheus());
    assert_eq!(plain.order.len(), exp.order.len());
    assert!(close(
        plain.value("lentil_client_sent_bytes_total", &[]),
        m.out_bytes as f64
    ));
}

#[test]
fn label_values_are_escaped_and_round_trip() {
    let world = World::new(SEED + 4);
    let values = [
        WEIRD,
        "",
        "\\",
        "\"",
        "\n",
        "trailing backslash \\",
        "ünïcødé ✓",
        "\\n is not a newline",
    ];
    let mut renderer = Prometheus::new();
    for (i, v) in values.iter().enumerate() {
        renderer = renderer.label(&format!("l{i}"), v);
    }
    let text = renderer.render_server(&world.snapshot());
    let exp = checked(&text);
    for s in exp.names().flat_map(|n| exp.family(n).samples.iter()) {
        for (i, v) in values.iter().enumerate() {
            assert_eq!(s.label(&format!("l{i}")), Some(*v), "{s:?}");
        }
    }
    // On the wire: no raw newline inside a line, and the escapes as written.
    let first = text.lines().find(|l| !l.starts_with('#')).unwrap();
    assert!(
        first.contains(r#"l0="eu\\west \"1\"\nnext=line,{x}""#),
        "{first}"
    );
    assert!(first.contains(r#"l2="\\",l3="\"",l4="\n""#), "{first}");
}

#[test]
fn the_format_checker_rejects_broken_text() {
    let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n";
    assert!(parse_exposition(ok).is_ok());
    for bad in [
        "# HELP a_total A.\n# TYPE a_total counter\na_total 3",
        "a_total 3\n",
        "# TYPE a_total counter\na_total 3\n",
        "# HELP a_total A.\n# HELP a_total A.\n# TYPE a_total counter\na_total 3\n",
        "# HELP a A.\n# TYPE a counter\na 3\n",
        "# HELP a_total A.\n# TYPE a_total gauge\na_total 3\n",
        "# HELP 1a A.\n# TYPE 1a gauge\n1a 3\n",
        "# HELP a A.\n# TYPE a gauge\na{x-y=\"1\"} 3\n",
        "# HELP a A.\n# TYPE a gauge\na{x=\"\\t\"} 3\n",
        "# HELP a A.\n# TYPE a gauge\na{x=\"1\",x=\"2\"} 3\n",
        "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 3\na{x=\"1\"} 4\n",
        "# HELP a A.\n# TYPE a gauge\na three\n",
        "# HELP a A.\n# TYPE a gauge\na inf\n",
        "# HELP a A.\n# TYPE a gauge\n# HELP b B.\n# TYPE b gauge\na{x=\"1\"} 1\nb 1\na{x=\"2\"} 2\n",
        "# HELP a A.\n# TYPE a gauge\na 1\n# HELP a A.\n",
        "# HELP a_seconds_max A.\n# TYPE a_seconds_max gauge\na_seconds_max 1\n",
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted {bad:?}");
    }
}

// ---------------------------------------------------------------------------
// JSON.

#[test]
#[cfg(feature = "json")]
fn json_round_trip_of_server_and_client_snapshots() {
    let world = World::new(SEED + 5);
    let snapshot = world.snapshot();
    let json: serde_json::Value = serde_json::from_str(&snapshot.to_json()).unwrap();

    assert_eq!(json["peers"], 3);
    assert_eq!(json["accepted"], 3);
    assert_eq!(json["rejected"], 1);
    assert_eq!(
        json["invalid_packets"].as_u64(),
        Some(snapshot.invalid_packets)
    );
    assert!(snapshot.invalid_packets >= world.garbage);
    for key in [
        "in_bytes",
        "out_bytes",
        "in_packets",
        "out_packets",
        "datagrams_in",
    ] {
        assert!(json[key].as_u64().unwrap() > 0, "{key}: {json}");
    }
    assert_eq!(json["in_bytes"].as_u64(), Some(snapshot.in_bytes));
    for key in [
        "in_bytes_per_sec",
        "out_bytes_per_sec",
        "in_packets_per_sec",
        "out_packets_per_sec",
    ] {
        assert!(json[key].as_f64().unwrap() > 0.0, "{key}: {json}");
    }
    assert!(close(
        json["in_bytes_per_sec"].as_f64().unwrap(),
        snapshot.in_bytes_per_sec
    ));

    let listed = json["peer_metrics"].as_array().expect("peer_metrics array");
    let ids: Vec<u64> = listed.iter().map(|p| p["peer"].as_u64().unwrap()).collect();
    assert_eq!(ids, world.server.peers(), "sorted by id");
    for p in listed {
        let id: PeerId = p["peer"].as_u64().unwrap();
        let m = world.server.metrics(id).unwrap();
        assert_eq!(p["connected"], true);
        let addr: SocketAddr = p["addr"].as_str().unwrap().parse().unwrap();
        assert_eq!(Some(addr), world.server.peer_addr(id));
        assert_eq!(p["in_messages"].as_u64(), Some(m.in_messages));
        assert_eq!(p["out_bytes"].as_u64(), Some(m.out_bytes));
        let latency = p["latency"].as_f64().unwrap();
        assert!(close(latency, m.latency.as_secs_f64() * 1000.0));
        assert!(latency >= 25.0, "latency {latency} ms over a 15 ms link");
        assert!(p.get("metrics").is_none(), "per-peer fields are flat: {p}");
    }

    // The handle's snapshot serializes the same way as the one published.
    let read: serde_json::Value =
        serde_json::from_str(&world.handle.server_snapshot().to_json()).unwrap();
    assert_eq!(read, json);

    // A client's snapshot.
    let m = world.clients[2].metrics();
    let cjson: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
    assert_eq!(cjson["out_messages"].as_u64(), Some(m.out_messages));
    assert_eq!(cjson["in_bytes"].as_u64(), Some(m.in_bytes));
    assert!(close(
        cjson["srtt"].as_f64().unwrap(),
        m.srtt.as_secs_f64() * 1000.0
    ));
    assert!(m.out_messages > 100);
}

// ---------------------------------------------------------------------------
// The handle across threads.

#[test]
fn readers_on_another_thread_see_consistent_growing_snapshots() {
    let mut world = World::new(SEED + 6);
    let reader = world.handle.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let reads = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&reads);
    let thread = std::thread::spawn(move || {
        let mut last = ServerMetricsSnapshot::default();
        while !stopped.load(Ordering::Relaxed) {
            let s = reader.server_snapshot();
            assert!(s.in_bytes >= last.in_bytes && s.out_packets >= last.out_packets);
            assert_eq!(s.peer_metrics.len(), s.peers, "{s:?}");
            let text = s.to_prometheus();
            assert!(text.ends_with('\n'));
            last = s;
            counted.fetch_add(1, Ordering::Relaxed);
        }
        last
    });
    let mut published = 0;
    for _ in 0..300 {
        world.step();
        published += usize::from(world.server.publish_metrics(&world.handle));
        world.net.tick();
    }
    // Let the reader get at least one read in, however busy the machine.
    let waited = std::time::Instant::now();
    while reads.load(Ordering::Relaxed) == 0 && waited.elapsed() < secs(30) {
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    let last = thread.join().expect("reader never panicked");
    assert!(reads.load(Ordering::Relaxed) > 0);
    assert!(published > 0);
    // With the reader gone, a publish lands and is what readers get.
    let final_snapshot = world.snapshot();
    assert!(final_snapshot.in_bytes >= last.in_bytes);
    assert_eq!(world.handle.server_snapshot(), final_snapshot);
    let per_peer = world.handle.snapshot();
    assert_eq!(per_peer.len(), 3);
    for peer in world.server.peers() {
        assert_eq!(per_peer[&peer], world.server.metrics(peer).unwrap());
        assert_eq!(world.handle.peer(peer).as_ref(), Some(&per_peer[&peer]));
    }
}

#[test]
fn family_order_is_stable_and_types_match_names() {
    // Family order in the text is stable across renders of the same snapshot.
    let world = World::new(SEED + 7);
    let s = world.snapshot();
    let a = checked(&s.to_prometheus());
    let b = checked(&s.to_prometheus());
    assert_eq!(a.order, b.order);
    let kinds: BTreeMap<&str, &str> = a
        .names()
        .map(|n| (n, a.family(n).kind.as_deref().unwrap()))
        .collect();
    assert_eq!(kinds["lentil_server_peers"], "gauge");
    assert_eq!(kinds["lentil_peer_received_bytes_total"], "counter");
}
