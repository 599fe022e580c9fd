//! Drawing one frame: the header with the link settings and traffic totals,
//! the peer table, the RTT and loss sparklines, and the key help.

use std::collections::VecDeque;
use std::time::Duration;

use lentil::transport::sim::SimStats;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Cell, Paragraph, RenderDirection, Row, Sparkline, Table};
use ratatui::Frame;

use crate::game::{Link, Tally};
use crate::stats::{self, Stats, SAMPLE_EVERY};
use crate::table::{self, grouped, COLUMNS};

/// Everything a frame shows.
pub struct View<'a> {
    pub link: Link,
    pub clients: usize,
    pub connected: usize,
    pub uptime: Duration,
    /// Time left before `--seconds` ends the run.
    pub remaining: Option<Duration>,
    pub tally: Tally,
    pub net: SimStats,
    pub in_flight: usize,
    pub stats: &'a Stats,
}

const HEADER_LINES: u16 = 4;
/// Sparkline heights below this are too coarse to read; the table keeps
/// what is left.
const MIN_SPARKLINE: u16 = 4;

pub fn draw(frame: &mut Frame, v: &View) {
    // Borders, two header lines, the peers, the total line.
    let table_height = 2 + 2 + v.stats.rows().len() as u16 + 1;
    let [header, peers, rtt, loss, keys] = Layout::vertical([
        Constraint::Length(HEADER_LINES + 2),
        Constraint::Length(table_height),
        Constraint::Min(MIN_SPARKLINE),
        Constraint::Min(MIN_SPARKLINE),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_header(frame, header, v);
    draw_table(frame, peers, v.stats);
    draw_rtt(frame, rtt, v.stats.rtt_history());
    draw_loss(frame, loss, v.stats.loss_history());
    draw_keys(frame, keys);
}

fn label(text: &str) -> Span<'static> {
    Span::styled(format!("{text:<9}"), Style::new().fg(Color::DarkGray))
}

/// A value the keys change: stands out so a key press is seen to land.
fn setting(text: String) -> Span<'static> {
    Span::styled(
        text,
        Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
    )
}

fn draw_header(frame: &mut Frame, area: Rect, v: &View) {
    let link = &v.link;
    let net = &v.net;
    let t = &v.tally;
    let lost_share = if net.sent == 0 {
        0.0
    } else {
        net.dropped_loss as f64 / net.sent as f64 * 100.0
    };
    let mut run = format!(
        "{}/{} connected   {} reconnects   uptime {}",
        v.connected,
        v.clients,
        t.reconnects,
        clock(v.uptime)
    );
    if let Some(left) = v.remaining {
        run.push_str(&format!("   quits in {} s", left.as_secs() + 1));
    }
    let lines = vec![
        Line::from(vec![
            label("link"),
            "loss ".into(),
            setting(format!("{:.1} %", link.loss * 100.0)),
            "   latency ".into(),
            setting(format!("{} ms", stats::ms(link.latency).round())),
            " one-way".into(),
            "   jitter ".into(),
            setting(format!("+0..{} ms", stats::ms(link.jitter).round())),
            "   on every datagram, client <-> server".dark_gray(),
        ]),
        Line::from(vec![label("peers"), run.into()]),
        Line::from(vec![
            label("network"),
            format!(
                "{} datagrams sent   {} delivered   {} lost ({lost_share:.1} %)   {} in flight",
                grouped(net.sent),
                grouped(net.delivered),
                grouped(net.dropped_loss),
                grouped(v.in_flight as u64),
            )
            .into(),
        ]),
        Line::from(vec![
            label("traffic"),
            format!(
                "positions {} in   events {} in ({} out of order)   chat {} in, {} echoes out   snapshots {} out",
                grouped(t.positions_in),
                grouped(t.events_in),
                t.out_of_order,
                grouped(t.chats_in),
                grouped(t.echoes_out),
                grouped(t.snapshots_out),
            )
            .into(),
        ]),
    ];
    let block = Block::bordered().title(
        Line::from(format!(
            " lentil dashboard: {} simulated clients and a server on SimNetwork, real time ",
            v.clients
        ))
        .bold(),
    );
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn draw_table(frame: &mut Frame, area: Rect, stats: &Stats) {
    let align = |numeric: bool| {
        if numeric {
            Alignment::Right
        } else {
            Alignment::Left
        }
    };
    let header = Row::new(COLUMNS.iter().map(|c| {
        let text = Text::from(vec![
            Line::from(c.title).bold(),
            Line::from(c.unit).dark_gray(),
        ]);
        Cell::from(text.alignment(align(c.numeric)))
    }))
    .height(2);
    let body_row = |r: &stats::Row| {
        let texts = table::cells(r);
        Row::new(
            COLUMNS
                .iter()
                .zip(texts)
                .map(|(c, t)| Cell::from(Text::from(t).alignment(align(c.numeric)))),
        )
    };
    let rows = stats.rows().iter().map(body_row);
    let widths = COLUMNS.iter().map(|c| Constraint::Length(c.width));
    let mut t = Table::new(rows, widths)
        .header(header)
        .column_spacing(2)
        .block(Block::bordered().title(" peers, as the server sees them (Server::metrics) "));
    if let Some(total) = stats.total() {
        t = t.footer(body_row(total).bold());
    }
    frame.render_widget(t, area);
}

fn draw_rtt(frame: &mut Frame, area: Rect, history: &VecDeque<Option<u64>>) {
    let shown = visible(history, area);
    let ms = |v: u64| v as f64 / 100.0;
    let title = summary(&shown, |v| format!("{:.1} ms", ms(v)));
    let top = shown.iter().flatten().max().copied().unwrap_or(0).max(1);
    let block = Block::bordered()
        .title(format!(" RTT, mean of peers  {title} "))
        .title(Line::from(format!(" top {:.1} ms ", ms(top))).right_aligned());
    frame.render_widget(sparkline(shown, top, Color::Cyan).block(block), area);
}

fn draw_loss(frame: &mut Frame, area: Rect, history: &VecDeque<Option<u64>>) {
    // Loss is drawn against at least 10 %, so a percent or two looks small
    // rather than filling the panel.
    const FLOOR: u64 = 1000;
    let shown = visible(history, area);
    let pct = |v: u64| v as f64 / 100.0;
    let title = summary(&shown, |v| format!("{:.1} %", pct(v)));
    let top = shown
        .iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or(0)
        .max(FLOOR);
    let block = Block::bordered()
        .title(format!(
            " packet loss, server to clients, over {} s  {title} ",
            stats::LOSS_WINDOW.as_secs()
        ))
        .title(Line::from(format!(" top {:.0} % ", pct(top))).right_aligned());
    frame.render_widget(sparkline(shown, top, Color::LightRed).block(block), area);
}

/// The newest samples that fit inside `area`'s borders, newest first.
fn visible(history: &VecDeque<Option<u64>>, area: Rect) -> Vec<Option<u64>> {
    let width = usize::from(area.width.saturating_sub(2));
    history.iter().take(width).copied().collect()
}

/// "now X  min Y  max Z  (last N s)" over the shown samples.
fn summary(shown: &[Option<u64>], show: impl Fn(u64) -> String) -> String {
    let present = shown.iter().flatten().copied();
    let (Some(min), Some(max)) = (present.clone().min(), present.max()) else {
        return "no samples yet".to_owned();
    };
    let now = shown
        .first()
        .copied()
        .flatten()
        .map_or("-".to_owned(), &show);
    let span = SAMPLE_EVERY * shown.len() as u32;
    format!(
        "now {now}   min {}   max {}   (last {} s)",
        show(min),
        show(max),
        span.as_secs()
    )
}

/// Newest sample at the right edge, older ones scrolling left.
fn sparkline(shown: Vec<Option<u64>>, top: u64, color: Color) -> Sparkline<'static> {
    Sparkline::default()
        .data(shown)
        .max(top)
        .direction(RenderDirection::RightToLeft)
        .style(Style::new().fg(color))
}

fn draw_keys(frame: &mut Frame, area: Rect) {
    let key = |k: &'static str| Span::styled(k, Style::new().fg(Color::Black).bg(Color::Gray));
    let keys = Line::from(vec![
        " ".into(),
        key(" + "),
        key(" - "),
        " loss   ".into(),
        key(" ] "),
        key(" [ "),
        " or ".into(),
        key(" Up "),
        key(" Down "),
        " latency   ".into(),
        key(" } "),
        key(" { "),
        " or ".into(),
        key(" Right "),
        key(" Left "),
        " jitter   ".into(),
        key(" r "),
        " reset link   ".into(),
        key(" q "),
        " quit".into(),
    ]);
    frame.render_widget(Paragraph::new(keys), area);
}

/// `m:ss`, or `h:mm:ss` past an hour.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}
