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

const HEADER_LINES: u16 = 5;
/// A sparkline panel: its borders and at least one row of bars.
const MIN_SPARKLINE: u16 = 3;

pub fn draw(frame: &mut Frame, v: &View) {
    let [header, body, keys] = Layout::vertical([
        Constraint::Length(HEADER_LINES + 2),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    // The table comes first; the sparklines share what is left, and leave
    // out what does not fit rather than squeeze the table.
    let table_height = (2 + 2 + v.stats.rows().len() as u16 + 1).min(body.height);
    let [peers, charts] =
        Layout::vertical([Constraint::Length(table_height), Constraint::Min(0)]).areas(body);
    draw_header(frame, header, v);
    draw_table(frame, peers, v.stats);
    if charts.height >= 2 * MIN_SPARKLINE {
        let [rtt, loss] = Layout::vertical([Constraint::Fill(1); 2]).areas(charts);
        draw_rtt(frame, rtt, v.stats.rtt_history());
        draw_loss(frame, loss, v.stats.loss_history());
    } else if charts.height >= MIN_SPARKLINE {
        draw_rtt(frame, charts, v.stats.rtt_history());
    }
    draw_keys(frame, keys);
}

fn label(text: &str) -> Span<'static> {
    Span::styled(format!("{text:<12}"), Style::new().fg(Color::DarkGray))
}

/// A value the keys change: stands out so a key press is seen to land.
fn setting(text: String) -> Span<'static> {
    Span::styled(
        text,
        Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
    )
}

fn draw_header(frame: &mut Frame, area: Rect, v: &View) {
    let lines = vec![
        link_line(&v.link),
        Line::from(vec![label("peers"), peers_text(v).into()]),
        Line::from(vec![
            label("datagrams"),
            datagrams_text(&v.net, v.in_flight).into(),
        ]),
        Line::from(vec![label("to server"), to_server_text(&v.tally).into()]),
        Line::from(vec![label("to clients"), to_clients_text(&v.tally).into()]),
    ];
    let title = format!(
        " lentil dashboard: {} clients and a server on SimNetwork, in real time ",
        v.clients
    );
    let block = Block::bordered().title(Line::from(title).bold());
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn link_line(link: &Link) -> Line<'static> {
    Line::from(vec![
        label("link"),
        "loss ".into(),
        setting(format!("{:.1} %", link.loss * 100.0)),
        "   latency ".into(),
        setting(format!("{} ms", stats::ms(link.latency).round())),
        " one-way".into(),
        "   jitter ".into(),
        setting(format!("+0..{} ms", stats::ms(link.jitter).round())),
        "   on each direction of every client link".dark_gray(),
    ])
}

fn peers_text(v: &View) -> String {
    let mut text = format!(
        "{}/{} connected   {} reconnects   uptime {}",
        v.connected,
        v.clients,
        v.tally.reconnects,
        clock(v.uptime)
    );
    if let Some(left) = v.remaining {
        text.push_str(&format!("   quits in {} s", left.as_secs() + 1));
    }
    text
}

/// Totals since the start, counted by the network itself.
fn datagrams_text(net: &SimStats, in_flight: usize) -> String {
    let lost_share = if net.sent == 0 {
        0.0
    } else {
        net.dropped_loss as f64 / net.sent as f64 * 100.0
    };
    format!(
        "{} sent   {} delivered   {} lost ({lost_share:.1} %)   {} in flight",
        grouped(net.sent),
        grouped(net.delivered),
        grouped(net.dropped_loss),
        grouped(in_flight as u64),
    )
}

fn to_server_text(t: &Tally) -> String {
    format!(
        "positions {}   events {}   chat {}   out of order {}",
        grouped(t.positions_in),
        grouped(t.events_in),
        grouped(t.chats_in),
        t.out_of_order,
    )
}

/// Sent against arrived: unreliable snapshots fall behind by what was lost,
/// reliable echoes only by what is still in flight.
fn to_clients_text(t: &Tally) -> String {
    format!(
        "snapshots {} sent, {} arrived   echoes {} sent, {} arrived",
        grouped(t.snapshots_out),
        grouped(t.snapshots_in),
        grouped(t.echoes_out),
        grouped(t.echoes_in),
    )
}

fn draw_table(frame: &mut Frame, area: Rect, stats: &Stats) {
    let shown = table::fitting(area.width.saturating_sub(2));
    let rows = stats.rows().iter().map(|r| body_row(&shown, r));
    let widths = shown.iter().map(|&i| Constraint::Length(COLUMNS[i].width));
    let mut t = Table::new(rows, widths)
        .header(header_row(&shown))
        .column_spacing(table::SPACING)
        .block(Block::bordered().title(" peers, as the server sees them (Server::metrics) "));
    if let Some(total) = stats.total() {
        t = t.footer(body_row(&shown, total).bold());
    }
    frame.render_widget(t, area);
}

/// Numbers right-aligned so their digits line up, text left-aligned.
fn align(numeric: bool) -> Alignment {
    if numeric {
        Alignment::Right
    } else {
        Alignment::Left
    }
}

/// Column titles over their units, so the columns can stay narrow.
fn header_row(shown: &[usize]) -> Row<'static> {
    Row::new(shown.iter().map(|&i| {
        let c = &COLUMNS[i];
        let text = Text::from(vec![
            Line::from(c.title).bold(),
            Line::from(c.unit).dark_gray(),
        ]);
        Cell::from(text.alignment(align(c.numeric)))
    }))
    .height(2)
}

fn body_row(shown: &[usize], r: &stats::Row) -> Row<'static> {
    let texts = table::cells(r);
    Row::new(
        shown.iter().map(|&i| {
            Cell::from(Text::from(texts[i].clone()).alignment(align(COLUMNS[i].numeric)))
        }),
    )
}

fn draw_rtt(frame: &mut Frame, area: Rect, history: &VecDeque<Option<u64>>) {
    let shown = visible(history, area);
    let title = summary(&shown, hundredths);
    let top = shown.iter().flatten().max().copied().unwrap_or(0).max(1);
    let block = Block::bordered().title(format!(" RTT ms, mean of peers   {title} "));
    frame.render_widget(sparkline(shown, top, Color::Cyan).block(block), area);
}

fn draw_loss(frame: &mut Frame, area: Rect, history: &VecDeque<Option<u64>>) {
    // Bars are drawn against at least 10 %, so a percent or two looks small
    // rather than filling the panel.
    const FLOOR: u64 = 1000;
    let shown = visible(history, area);
    let title = summary(&shown, hundredths);
    let top = shown
        .iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or(0)
        .max(FLOOR);
    let block = Block::bordered().title(format!(
        " loss % over {} s, server to clients   {title}   bars 0..{} ",
        stats::LOSS_WINDOW.as_secs(),
        hundredths(top)
    ));
    frame.render_widget(sparkline(shown, top, Color::LightRed).block(block), area);
}

/// A history value (hundredths of the unit shown) as text.
fn hundredths(v: u64) -> String {
    format!("{:.1}", v as f64 / 100.0)
}

/// The newest samples that fit inside `area`'s borders, newest first.
fn visible(history: &VecDeque<Option<u64>>, area: Rect) -> Vec<Option<u64>> {
    let width = usize::from(area.width.saturating_sub(2));
    history.iter().take(width).copied().collect()
}

/// "now X   min Y   max Z   over N s" of the shown samples.
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
        "now {now}   min {}   max {}   over {} s",
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
    // Quitting first: on a narrow terminal the end of the line is cut off.
    let keys = Line::from(vec![
        " ".into(),
        key(" q "),
        " quit   ".into(),
        key(" + "),
        key(" - "),
        " loss   ".into(),
        key(" ] "),
        key(" [ "),
        " ".into(),
        key(" ↑ "),
        key(" ↓ "),
        " latency   ".into(),
        key(" } "),
        key(" { "),
        " ".into(),
        key(" → "),
        key(" ← "),
        " jitter   ".into(),
        key(" r "),
        " reset link".into(),
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
