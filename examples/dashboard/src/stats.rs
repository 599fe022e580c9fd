//! What the screen shows, computed from periodic samples of the server's
//! per-peer metrics: the table rows, and the RTT and loss histories behind
//! the sparklines.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use lentil::PeerId;

use crate::game::PeerView;

/// How often the metrics are sampled; one sparkline column per sample.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// The span of the "recent" loss rate. `Metrics::packet_loss` covers the
/// whole connection, so a change of the link would take minutes to show in
/// it; the recent rate shows it within seconds.
pub const LOSS_WINDOW: Duration = Duration::from_secs(2);
const LOSS_WINDOW_SAMPLES: usize = (LOSS_WINDOW.as_millis() / SAMPLE_EVERY.as_millis()) as usize;
/// Samples kept for the sparklines: wider than any terminal.
const HISTORY: usize = 1024;

/// Whose numbers a table line shows.
#[derive(Debug, Clone, Copy)]
pub enum Who {
    Peer {
        peer: PeerId,
        /// The simulated client (1-based) behind the peer.
        client: Option<usize>,
        addr: SocketAddr,
    },
    /// Every connected peer together; how many.
    All(usize),
}

/// One line of the peer table.
#[derive(Debug, Clone)]
pub struct Row {
    pub who: Who,
    /// Smoothed RTT and its 99th percentile; `None` before the first sample.
    pub rtt_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Loss over the last `LOSS_WINDOW`; `None` while no packet was resolved in it.
    pub loss_recent: Option<f64>,
    /// Loss over the whole connection; `None` before any packet was resolved.
    pub loss_total: Option<f64>,
    all_time: Resolved,
    pub in_bandwidth: f64,
    pub out_bandwidth: f64,
    pub reorder_queue: usize,
    pub send_buffer_bytes: usize,
    pub pending_acks: usize,
    pub resends: u64,
}

/// Packets the server has resolved on one connection, at one sample.
#[derive(Debug, Clone, Copy, Default)]
struct Resolved {
    lost: u64,
    acked: u64,
}

impl Resolved {
    fn since(self, earlier: Resolved) -> Resolved {
        Resolved {
            lost: self.lost.saturating_sub(earlier.lost),
            acked: self.acked.saturating_sub(earlier.acked),
        }
    }

    fn plus(self, other: Resolved) -> Resolved {
        Resolved {
            lost: self.lost + other.lost,
            acked: self.acked + other.acked,
        }
    }

    fn loss(self) -> Option<f64> {
        let total = self.lost + self.acked;
        (total > 0).then(|| self.lost as f64 / total as f64)
    }
}

/// The sampled state of the dashboard.
#[derive(Debug, Default)]
pub struct Stats {
    rows: Vec<Row>,
    /// All peers together, for the table's last line.
    total: Option<Row>,
    /// Per peer, its resolved packet counts at the last few samples.
    windows: HashMap<PeerId, VecDeque<Resolved>>,
    /// Mean RTT over the peers, in hundredths of a millisecond (sparklines
    /// take integers), newest first; `None` while no peer was connected.
    rtt_history: VecDeque<Option<u64>>,
    /// Recent loss over all peers, in hundredths of a percent, newest first;
    /// `None` while nothing was resolved.
    loss_history: VecDeque<Option<u64>>,
}

impl Stats {
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    pub fn total(&self) -> Option<&Row> {
        self.total.as_ref()
    }

    /// Mean RTT in hundredths of a millisecond, newest first.
    pub fn rtt_history(&self) -> &VecDeque<Option<u64>> {
        &self.rtt_history
    }

    /// Recent loss in hundredths of a percent, newest first.
    pub fn loss_history(&self) -> &VecDeque<Option<u64>> {
        &self.loss_history
    }

    /// Takes one sample of every connected peer.
    pub fn sample(&mut self, peers: &[PeerView]) {
        self.windows
            .retain(|id, _| peers.iter().any(|p| p.peer == *id));
        let mut recent = Resolved::default();
        self.rows = peers
            .iter()
            .map(|p| {
                let delta = self.observe(p);
                recent = recent.plus(delta);
                row_of(p, delta.loss())
            })
            .collect();
        self.total = total_of(&self.rows, recent);
        let rtt = self.total.as_ref().and_then(|t| t.rtt_ms);
        let loss = self.total.as_ref().and_then(|t| t.loss_recent);
        push_capped(
            &mut self.rtt_history,
            rtt.map(|ms| (ms * 100.0).round() as u64),
        );
        push_capped(
            &mut self.loss_history,
            loss.map(|f| (f * 10_000.0).round() as u64),
        );
    }

    /// Records `p`'s packet counts; returns what was resolved over the window.
    fn observe(&mut self, p: &PeerView) -> Resolved {
        let now = Resolved {
            lost: p.metrics.packets_lost,
            acked: p.metrics.packets_acked,
        };
        let window = self.windows.entry(p.peer).or_default();
        window.push_back(now);
        if window.len() > LOSS_WINDOW_SAMPLES + 1 {
            window.pop_front();
        }
        now.since(*window.front().unwrap_or(&now))
    }
}

fn push_capped(history: &mut VecDeque<Option<u64>>, value: Option<u64>) {
    history.push_front(value);
    history.truncate(HISTORY);
}

fn row_of(p: &PeerView, loss_recent: Option<f64>) -> Row {
    let m = &p.metrics;
    let all_time = Resolved {
        lost: m.packets_lost,
        acked: m.packets_acked,
    };
    Row {
        who: Who::Peer {
            peer: p.peer,
            client: p.client.map(|i| i + 1),
            addr: p.addr,
        },
        rtt_ms: measured(m.latency),
        p99_ms: measured(m.rtt_p99),
        loss_recent,
        loss_total: all_time.loss(),
        all_time,
        in_bandwidth: m.in_bandwidth,
        out_bandwidth: m.out_bandwidth,
        reorder_queue: m.reorder_queue,
        send_buffer_bytes: m.send_buffer_bytes,
        pending_acks: m.pending_acks,
        resends: m.resends,
    }
}

/// The table's summary line: mean RTT, worst p99, loss pooled over every
/// peer's packets, and sums of bandwidth and queues.
fn total_of(rows: &[Row], recent: Resolved) -> Option<Row> {
    if rows.is_empty() {
        return None;
    }
    let all_time = rows
        .iter()
        .fold(Resolved::default(), |sum, r| sum.plus(r.all_time));
    Some(Row {
        who: Who::All(rows.len()),
        rtt_ms: mean(rows.iter().filter_map(|r| r.rtt_ms)),
        p99_ms: rows.iter().filter_map(|r| r.p99_ms).reduce(f64::max),
        loss_recent: recent.loss(),
        loss_total: all_time.loss(),
        all_time,
        in_bandwidth: rows.iter().map(|r| r.in_bandwidth).sum(),
        out_bandwidth: rows.iter().map(|r| r.out_bandwidth).sum(),
        reorder_queue: rows.iter().map(|r| r.reorder_queue).sum(),
        send_buffer_bytes: rows.iter().map(|r| r.send_buffer_bytes).sum(),
        pending_acks: rows.iter().map(|r| r.pending_acks).sum(),
        resends: rows.iter().map(|r| r.resends).sum(),
    })
}

/// Metrics report a round trip not yet measured as zero.
fn measured(rtt: Duration) -> Option<f64> {
    (!rtt.is_zero()).then(|| ms(rtt))
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0u32), |(sum, n), v| (sum + v, n + 1));
    (n > 0).then(|| sum / f64::from(n))
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
