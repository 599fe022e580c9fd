//! The peer table's columns and cell text, shared by the live screen and the
//! plain-text report, so both read the same.

use crate::stats::{Row, Who};

pub struct Column {
    pub title: &'static str,
    pub unit: &'static str,
    pub width: u16,
    /// Numbers are right-aligned so their digits line up.
    pub numeric: bool,
    /// What the column shows, for the legend under the table.
    pub meaning: &'static str,
    /// On a narrow terminal the lowest priorities are left out first, so
    /// the columns that remain keep their full width and stay readable.
    priority: u8,
}

const fn col(
    title: &'static str,
    unit: &'static str,
    width: u16,
    numeric: bool,
    priority: u8,
    meaning: &'static str,
) -> Column {
    Column {
        title,
        unit,
        width,
        numeric,
        meaning,
        priority,
    }
}

pub const COLUMNS: [Column; 13] = [
    col("peer", "", 4, true, 12, "id at the server"),
    col("client", "", 6, false, 11, "which client"),
    col("address", "", 15, false, 2, "its address"),
    col("rtt", "ms", 6, true, 10, "smoothed round trip"),
    col("p99", "ms", 6, true, 3, "99th-percentile round trip"),
    col("loss", "2 s %", 6, true, 9, "packets lost"),
    col("loss", "all %", 6, true, 4, "packets lost"),
    col("in", "KiB/s", 6, true, 5, "receive rate"),
    col("out", "KiB/s", 6, true, 6, "send rate"),
    col(
        "reorder",
        "msgs",
        7,
        true,
        8,
        "msgs held for an earlier one",
    ),
    col("send buf", "bytes", 9, true, 8, "bytes queued or unacked"),
    col("pending", "acks", 7, true, 7, "packets awaiting an ack"),
    col("resends", "msgs", 7, true, 1, "sent again after a loss"),
];

// The recent-loss column's unit names the span of `stats::LOSS_WINDOW`.
const _: () = assert!(crate::stats::LOSS_WINDOW.as_secs() == 2);

/// Space between columns.
pub const SPACING: u16 = 2;

/// The indexes of the columns that fit in `width`, in table order.
pub fn fitting(width: u16) -> Vec<usize> {
    let mut shown: Vec<usize> = (0..COLUMNS.len()).collect();
    let needed = |shown: &[usize]| -> u16 {
        let widths: u16 = shown.iter().map(|&i| COLUMNS[i].width).sum();
        widths + SPACING * (shown.len() as u16).saturating_sub(1)
    };
    while shown.len() > 1 && needed(&shown) > width {
        if let Some(pos) = (0..shown.len()).min_by_key(|&p| COLUMNS[shown[p]].priority) {
            shown.remove(pos);
        }
    }
    shown
}

/// The legend of the columns `shown`, "title: meaning" each (the units are
/// in the table's header), packed into lines of at most `width` characters;
/// an entry never breaks. Columns of one title share an entry.
pub fn legend(shown: &[usize], width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for (n, &i) in shown.iter().enumerate() {
        let c = &COLUMNS[i];
        if n > 0 && COLUMNS[shown[n - 1]].title == c.title {
            continue;
        }
        let entry = format!("{}: {}", c.title, c.meaning);
        const SEP: &str = " · ";
        let len = |s: &str| s.chars().count();
        if !line.is_empty() && len(&line) + len(SEP) + len(&entry) > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push_str(SEP);
        }
        line.push_str(&entry);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The text of each cell of `row`, in `COLUMNS` order.
pub fn cells(row: &Row) -> [String; COLUMNS.len()] {
    let (peer, client, address) = match row.who {
        Who::Peer { peer, client, addr } => (
            peer.to_string(),
            client.map_or("?".to_owned(), |c| format!("#{c}")),
            addr.to_string(),
        ),
        Who::All(n) => ("all".to_owned(), String::new(), format!("{n} peers")),
    };
    [
        peer,
        client,
        address,
        millis(row.rtt_ms),
        millis(row.p99_ms),
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

fn millis(ms: Option<f64>) -> String {
    ms.map_or("-".to_owned(), |ms| format!("{ms:.1}"))
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
                out.push_str(&format!("{t:>w$}"));
            } else {
                out.push_str(&format!("{t:<w$}"));
            }
            out.push_str(&" ".repeat(usize::from(SPACING)));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legend_names_every_shown_column_within_the_width() {
        for width in [80u16, 100, 160] {
            let shown = fitting(width);
            let lines = legend(&shown, usize::from(width));
            for line in &lines {
                assert!(line.chars().count() <= usize::from(width), "{line:?}");
            }
            let text = lines.join(" · ");
            for &i in &shown {
                let entry = format!("{}: {}", COLUMNS[i].title, COLUMNS[i].meaning);
                assert!(text.contains(&entry), "{entry:?} missing at {width}");
            }
        }
    }

    #[test]
    fn an_80_column_legend_takes_four_lines_at_most() {
        // What the 80x24 layout leaves room for beside both charts.
        assert!(legend(&fitting(80), 80).len() <= 4);
    }
}
