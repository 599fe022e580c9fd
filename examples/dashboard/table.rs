//! The peer table's columns and cell text, shared by the live screen and the
//! plain-text report, so both read the same.

use crate::stats::{Row, Who};

pub struct Column {
    pub title: &'static str,
    pub unit: &'static str,
    pub width: u16,
    /// Numbers are right-aligned so their digits line up.
    pub numeric: bool,
}

const fn col(title: &'static str, unit: &'static str, width: u16, numeric: bool) -> Column {
    Column {
        title,
        unit,
        width,
        numeric,
    }
}

pub const COLUMNS: [Column; 12] = [
    col("peer", "", 4, true),
    col("client", "", 19, false),
    col("rtt", "ms", 6, true),
    col("p99", "ms", 6, true),
    col("loss", "2 s %", 6, true),
    col("loss", "all %", 6, true),
    col("in", "KiB/s", 6, true),
    col("out", "KiB/s", 6, true),
    col("reorder", "msgs", 7, true),
    col("send buf", "bytes", 9, true),
    col("pending", "acks", 7, true),
    col("resends", "msgs", 7, true),
];

/// The text of each cell of `row`, in `COLUMNS` order.
pub fn cells(row: &Row) -> [String; COLUMNS.len()] {
    let (peer, client) = match row.who {
        Who::Peer { peer, client, addr } => (
            peer.to_string(),
            format!(
                "{:<3} {addr}",
                client.map_or("?".to_owned(), |c| format!("#{c}"))
            ),
        ),
        Who::All(n) => ("all".to_owned(), format!("{n} peers")),
    };
    [
        peer,
        client,
        format!("{:.1}", row.rtt_ms),
        format!("{:.1}", row.p99_ms),
        percent(row.loss_recent),
        percent(row.loss_total),
        kib(row.in_bandwidth),
        kib(row.out_bandwidth),
        row.reorder_queue.to_string(),
        grouped(row.send_buffer_bytes as u64),
        row.pending_acks.to_string(),
        grouped(row.resends),
    ]
}

fn percent(fraction: Option<f64>) -> String {
    fraction.map_or("-".to_owned(), |f| format!("{:.1}", f * 100.0))
}

fn kib(bytes_per_sec: f64) -> String {
    format!("{:.1}", bytes_per_sec / 1024.0)
}

/// `n` with thousands separated, so large counts read at a glance.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// The table as plain text lines: two header lines, one per row, the total.
pub fn text_lines(rows: &[Row], total: Option<&Row>) -> Vec<String> {
    let line = |texts: [&str; COLUMNS.len()]| {
        let mut out = String::new();
        for (c, t) in COLUMNS.iter().zip(texts) {
            let w = usize::from(c.width);
            if c.numeric {
                out.push_str(&format!("{t:>w$}  "));
            } else {
                out.push_str(&format!("{t:<w$}  "));
            }
        }
        out.trim_end().to_owned()
    };
    let mut lines = vec![
        line(COLUMNS.each_ref().map(|c| c.title)),
        line(COLUMNS.each_ref().map(|c| c.unit)),
    ];
    for row in rows.iter().chain(total) {
        let texts = cells(row);
        lines.push(line(texts.each_ref().map(String::as_str)));
    }
    lines
}
