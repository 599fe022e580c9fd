//! Drawing one frame: the header with the link settings and traffic totals,
//! the peer table, the RTT and loss sparklines, and the key help.

use std::collections::VecDeque;
use std::time::Duration;

use lentil::transport::sim::SimStats;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, RenderDirection, Row, Sparkline, Table};
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

/// The header's lines under its title (which holds the peer count).
const HEADER_LINES: u16 = 4;
/// A sparkline panel: its borders and at least one row of bars.
const MIN_SPARKLINE: u16 = 3;
/// A half-width panel side by side with the other: a top border with its
/// title, and one row of bars.
const MIN_COMPACT_SPARKLINE: u16 = 2;

pub fn draw(frame: &mut Frame, v: &View) {
    // Header and table have a top border only (with their title): on an
    // 80x24 terminal that leaves room for the legend and both charts.
    let [header, body, keys] = Layout::vertical([
        Constraint::Length(HEADER_LINES + 1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    // The table comes first; the legend and then the charts share what is
    // left, and leave out what does not fit rather than squeeze the table.
    let table_height = (1 + 2 + v.stats.rows().len() as u16 + 1).min(body.height);
    let shown = table::fitting(body.width);
    let legend = table::legend(&shown, usize::from(body.width));
    let rest = body.height - table_height;
    let legend_height = if rest >= legend.len() as u16 {
        legend.len() as u16
    } else {
        0
    };
    let [peers, legend_area, charts] = Layout::vertical([
        Constraint::Length(table_height),
        Constraint::Length(legend_height),
        Constraint::Min(0),
    ])
    .areas(body);
    draw_header(frame, header, v);
    draw_table(frame, peers, &shown, v.stats);
    if legend_height > 0 {
        let lines: Vec<Line> = legend
            .into_iter()
            .map(|l| Line::from(l).dark_gray())
            .collect();
        frame.render_widget(Paragraph::new(lines), legend_area);
    }
    if charts.height >= 2 * MIN_SPARKLINE {
        let [rtt, loss] = Layout::vertical([Constraint::Fill(1); 2]).areas(charts);
        draw_rtt(frame, rtt, v.stats.rtt_history(), false);
        draw_loss(frame, loss, v.stats.loss_history(), false);
    } else if charts.height >= MIN_COMPACT_SPARKLINE {
        // Too short to stack them: side by side, with shorter titles.
        let [rtt, loss] = Layout::horizontal([Constraint::Fill(1); 2]).areas(charts);
        draw_rtt(frame, rtt, v.stats.rtt_history(), true);
        draw_loss(frame, loss, v.stats.loss_history(), true);
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
        Line::from(vec![
            label("datagrams"),
            datagrams_text(&v.net, v.in_flight).into(),
        ]),
        Line::from(vec![label("to server"), to_server_text(&v.tally).into()]),
        Line::from(vec![label("to clients"), to_clients_text(&v.tally).into()]),
    ];
    let title = format!(" lentil on SimNetwork: {} ", peers_text(v));
    let block = Block::new()
        .borders(Borders::TOP)
        .title(Line::from(title).bold());
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
        "   each way".dark_gray(),
    ])
}

fn peers_text(v: &View) -> String {
    let mut text = format!(
        "{}/{} clients   {} reconnects   up {}",
        v.connected,
        v.clients,
        v.tally.reconnects,
        clock(v.uptime)
    );
    if let Some(left) = v.remaining {
        text.push_str(&format!("   ends in {} s", left.as_secs() + 1));
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

fn draw_table(frame: &mut Frame, area: Rect, shown: &[usize], stats: &Stats) {
    let rows = stats.rows().iter().map(|r| body_row(shown, r));
    let widths = shown.iter().map(|&i| Constraint::Length(COLUMNS[i].width));
    let block = Block::new()
        .borders(Borders::TOP)
        .title(" peers, as the server sees them (Server::metrics) ");
    let mut t = Table::new(rows, widths)
        .header(header_row(shown))
        .column_spacing(table::SPACING)
        .block(block);
    if let Some(total) = stats.total() {
        t = t.footer(body_row(shown, total).bold());
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

/// A chart's title: what it plots, its latest value, the scale of its bars
/// (from 0 at the bottom to `top` at the top of the panel) and the span of
/// time it shows, newest at the right. `compact` for a half-width panel.
fn chart_title(what: &str, shown: &[Option<u64>], top: u64, compact: bool) -> String {
    let span = (SAMPLE_EVERY * shown.len() as u32).as_secs();
    let scale = format!("bars 0..{}", hundredths(top));
    if compact {
        let now = shown
            .first()
            .copied()
            .flatten()
            .map_or("-".to_owned(), hundredths);
        format!(" {what} {now}  {scale}  {span} s ")
    } else {
        format!(" {what}   {}   {scale} ", summary(shown, hundredths))
    }
}

/// A chart's frame: all borders, or for a compact panel only the top one.
fn chart_block(compact: bool) -> Block<'static> {
    if compact {
        Block::new().borders(Borders::TOP)
    } else {
        Block::bordered()
    }
}

fn draw_rtt(frame: &mut Frame, area: Rect, history: &VecDeque<Option<u64>>, compact: bool) {
    let shown = visible(history, area);
    let top = shown.iter().flatten().max().copied().unwrap_or(0).max(1);
    let what = if compact {
        "RTT ms"
    } else {
        "RTT ms, mean of peers"
    };
    let block = chart_block(compact).title(chart_title(what, &shown, top, compact));
    frame.render_widget(sparkline(shown, top, Color::Cyan).block(block), area);
}

fn draw_loss(frame: &mut Frame, area: Rect, history: &VecDeque<Option<u64>>, compact: bool) {
    // Bars are drawn against at least 10 %, so a percent or two looks small
    // rather than filling the panel.
    const FLOOR: u64 = 1000;
    let shown = visible(history, area);
    let top = shown
        .iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or(0)
        .max(FLOOR);
    let what = if compact {
        format!("loss % ({} s)", stats::LOSS_WINDOW.as_secs())
    } else {
        format!(
            "loss % over {} s, server to clients",
            stats::LOSS_WINDOW.as_secs()
        )
    };
    let block = chart_block(compact).title(chart_title(&what, &shown, top, compact));
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
    // Quitting first: on a terminal narrower than 80 columns the end of
    // the line is cut off.
    let keys = Line::from(vec![
        " ".into(),
        key(" q "),
        " quit  ".into(),
        key(" + "),
        key(" - "),
        " loss  ".into(),
        key(" ] "),
        key(" [ "),
        key(" ↑ "),
        key(" ↓ "),
        " latency  ".into(),
        key(" } "),
        key(" { "),
        key(" → "),
        key(" ← "),
        " jitter  ".into(),
        key(" r "),
        " reset".into(),
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
