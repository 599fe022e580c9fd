//! A live terminal dashboard of a lentil server and its clients, all on the
//! simulated network, with the link degraded while you watch.
//!
//! ```text
//! cargo run --release -p lentil-dashboard
//! cargo run --release -p lentil-dashboard -- --clients 8 --loss 0.05 --latency-ms 40 --seconds 30
//! ```
//!
//! Eight clients (by default) connect to one server over a `SimNetwork`
//! whose virtual clock is kept in step with the wall clock, so the network
//! behaves in real time. Each client sends its position every 16 ms tick
//! (unreliable-sequenced), a numbered game event about every 100 ms and a
//! chat line about every 500 ms (both reliable-ordered). The server
//! broadcasts a snapshot of every position 20 times a second (unreliable),
//! passes each chat line on to everyone (reliable-ordered), and checks that
//! every ordered stream arrives in order.
//!
//! Every datagram between a client and the server goes through the link
//! conditioner: loss, one-way latency and jitter, which the keys change while
//! it runs. The screen shows those settings, the traffic totals, a table of
//! the server's metrics for each peer (RTT, loss, bandwidth, and the queues:
//! ordered messages waiting for an earlier one, bytes in the send buffer,
//! packets awaiting an ack), and sparklines of RTT and loss over time.
//!
//! Keys: `+` / `-` loss, `]` / `[` or Up / Down latency, `}` / `{` or
//! Right / Left jitter, `r` back to the starting link, `q`, Esc or Ctrl-C to
//! quit. Without a terminal (output piped, as in CI) it prints the table as
//! text every second instead, for `--seconds` (default 5) and exits.

#[path = "../../common/mod.rs"]
mod common;
mod game;
mod screen;
mod stats;
mod table;
mod ui;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use game::{Game, Knob, Link};
use screen::Screen;
use stats::{Stats, SAMPLE_EVERY};

/// Redraws per second: smooth enough for numbers that change 4 times a second.
const FRAME: Duration = Duration::from_millis(100);
/// Longest wait for a key before the simulation catches up again.
const INPUT_POLL: Duration = Duration::from_millis(5);
/// Without a terminal nobody can press `q`: the run needs an end.
const HEADLESS_SECONDS: f64 = 5.0;
/// How often the plain-text report prints its table.
const REPORT_EVERY: Duration = Duration::from_secs(1);

const USAGE: &str = "\
usage: dashboard [--clients N] [--seconds S] [--loss P] [--latency-ms L]
                 [--jitter-ms J] [--seed N]

  --clients N      simulated clients (default 8, at most 64)
  --seconds S      quit by itself after S seconds (default: run until q;
                   5 when output is not a terminal)
  --loss P         starting probability each datagram is dropped, 0..=1 (default 0.02)
  --latency-ms L   starting one-way latency, 0..=1000 (default 30)
  --jitter-ms J    starting extra delay 0..=J per datagram, 0..=500 (default 5)
  --seed N         seed of the simulated network (default 1)

keys: + / - loss, ] / [ or Up / Down latency, } / { or Right / Left jitter,
      r reset the link, q / Esc / Ctrl-C quit";

struct Options {
    clients: usize,
    seconds: Option<f64>,
    link: Link,
    seed: u64,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        clients: 8,
        seconds: None,
        link: Link {
            loss: 0.02,
            latency: Duration::from_millis(30),
            jitter: Duration::from_millis(5),
        },
        seed: 1,
    };
    common::parse_flags(|flag, value| {
        let bad = |v: &str| format!("bad value {v:?} for {flag}");
        match flag {
            "--clients" => {
                let v = value()?;
                o.clients = v.parse().map_err(|_| bad(&v))?;
                if !(1..=64).contains(&o.clients) {
                    return Err("--clients must be 1..=64".into());
                }
            }
            "--seconds" => o.seconds = Some(common::parse_seconds(&value()?)?),
            "--loss" => {
                let v = value()?;
                o.link.loss = v.parse().map_err(|_| bad(&v))?;
                if !(0.0..=1.0).contains(&o.link.loss) {
                    return Err("--loss is a probability in 0..=1".into());
                }
            }
            "--latency-ms" => o.link.latency = parse_ms(flag, &value()?, Link::MAX_LATENCY_MS)?,
            "--jitter-ms" => o.link.jitter = parse_ms(flag, &value()?, Link::MAX_JITTER_MS)?,
            "--seed" => {
                let v = value()?;
                o.seed = v.parse().map_err(|_| bad(&v))?;
            }
            _ => return Err(common::unknown(flag)),
        }
        Ok(())
    })?;
    Ok(o)
}

fn parse_ms(flag: &str, v: &str, max: u64) -> Result<Duration, String> {
    match v.parse::<f64>() {
        Ok(ms) if ms.is_finite() && (0.0..=max as f64).contains(&ms) => {
            Ok(Duration::from_secs_f64(ms / 1000.0))
        }
        _ => Err(format!(
            "{flag} must be a number of milliseconds in 0..={max}"
        )),
    }
}

fn main() -> ExitCode {
    let o = match common::args_or_exit("dashboard", USAGE, parse_args()) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let game = match Game::start(o.clients, o.link, o.seed) {
        Ok(game) => game,
        Err(e) => {
            eprintln!("dashboard: could not start the simulated game: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Raw mode needs a terminal to read keys from as well as one to draw on.
    let interactive = io::stdout().is_terminal() && io::stdin().is_terminal();
    let result = if interactive {
        run_live(game, &o)
    } else {
        run_report(game, o.seconds)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): nobody is left to tell.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dashboard: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------
// The live screen

/// What a key press asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Quit,
    Turn { knob: Knob, up: bool },
    Reset,
}

fn action_of(key: KeyEvent) -> Option<Action> {
    // Terminals that report releases would otherwise turn a knob twice.
    if key.kind != KeyEventKind::Press {
        return None;
    }
    // Raw mode delivers Ctrl-C as a key instead of a signal.
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    let turn = |knob, up| Action::Turn { knob, up };
    Some(match key.code {
        KeyCode::Char('q' | 'Q') | KeyCode::Esc => Action::Quit,
        // `=` is `+` without shift on most layouts.
        KeyCode::Char('+' | '=') => turn(Knob::Loss, true),
        KeyCode::Char('-' | '_') => turn(Knob::Loss, false),
        KeyCode::Char(']') | KeyCode::Up => turn(Knob::Latency, true),
        KeyCode::Char('[') | KeyCode::Down => turn(Knob::Latency, false),
        KeyCode::Char('}') | KeyCode::Right => turn(Knob::Jitter, true),
        KeyCode::Char('{') | KeyCode::Left => turn(Knob::Jitter, false),
        KeyCode::Char('r' | 'R') => Action::Reset,
        _ => return None,
    })
}

/// Runs the game on the full-screen dashboard until `q` or `--seconds`.
fn run_live(mut game: Game, o: &Options) -> io::Result<()> {
    let mut screen = Screen::enter()?;
    let deadline = o
        .seconds
        .map(|s| Instant::now() + Duration::from_secs_f64(s));
    let mut stats = Stats::default();
    let mut next_sample = Duration::ZERO;
    let mut next_frame = Instant::now();
    loop {
        game.catch_up();
        sample_if_due(&game, &mut stats, &mut next_sample);
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Ok(());
        }
        if now >= next_frame {
            next_frame = now + FRAME;
            let view = view_of(&game, &stats, deadline);
            screen.terminal().draw(|f| ui::draw(f, &view))?;
        }
        if !event::poll(INPUT_POLL)? {
            continue;
        }
        let Event::Key(key) = event::read()? else {
            continue;
        };
        match action_of(key) {
            Some(Action::Quit) => return Ok(()),
            Some(Action::Turn { knob, up }) => game.set_link(game.link().adjusted(knob, up)),
            Some(Action::Reset) => game.set_link(o.link),
            None => continue,
        }
        // Show the new setting at once rather than at the next frame.
        next_frame = Instant::now();
    }
}

/// Samples the metrics every `SAMPLE_EVERY` of game time.
fn sample_if_due(game: &Game, stats: &mut Stats, next: &mut Duration) {
    if game.elapsed() >= *next {
        *next = game.elapsed() + SAMPLE_EVERY;
        stats.sample(&game.peers());
    }
}

fn view_of<'a>(game: &Game, stats: &'a Stats, deadline: Option<Instant>) -> ui::View<'a> {
    ui::View {
        link: game.link(),
        clients: game.clients(),
        connected: game.connected(),
        uptime: game.elapsed(),
        remaining: deadline.map(|d| d.saturating_duration_since(Instant::now())),
        tally: game.tally(),
        net: game.net_stats(),
        in_flight: game.in_flight(),
        stats,
    }
}

// ---------------------------------------------------------------------------
// Without a terminal

/// Runs the game for `seconds` (or `HEADLESS_SECONDS`), printing the table
/// as plain text every `REPORT_EVERY`.
fn run_report(mut game: Game, seconds: Option<f64>) -> io::Result<()> {
    let seconds = seconds.unwrap_or(HEADLESS_SECONDS);
    writeln!(
        io::stdout(),
        "dashboard: no terminal to draw on and read keys from, so no live screen; \
         running {seconds} s and printing the peer table every {} s",
        REPORT_EVERY.as_secs()
    )?;
    // The text table has every column, in a line wider than 80: its legend
    // is packed to 80 columns all the same.
    let all: Vec<usize> = (0..table::COLUMNS.len()).collect();
    for line in table::legend(&all, 80) {
        writeln!(io::stdout(), "{line}")?;
    }
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut stats = Stats::default();
    let mut next_sample = Duration::ZERO;
    let mut next_report = Instant::now() + REPORT_EVERY;
    while Instant::now() < end {
        game.catch_up();
        sample_if_due(&game, &mut stats, &mut next_sample);
        // A report due just before the end would repeat the final one.
        if Instant::now() >= next_report && next_report + REPORT_EVERY / 2 < end {
            next_report += REPORT_EVERY;
            print_report(&game, &stats)?;
        }
        std::thread::sleep(INPUT_POLL);
    }
    print_report(&game, &stats)
}

fn print_report(game: &Game, stats: &Stats) -> io::Result<()> {
    let link = game.link();
    let t = game.tally();
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "\n[{:.1} s] link: loss {:.1} %, latency {} ms one-way, jitter +0..{} ms; \
         {}/{} connected; {} events in ({} out of order)",
        game.elapsed().as_secs_f64(),
        link.loss * 100.0,
        stats::ms(link.latency).round(),
        stats::ms(link.jitter).round(),
        game.connected(),
        game.clients(),
        t.events_in,
        t.out_of_order,
    )?;
    for line in table::text_lines(stats.rows(), stats.total()) {
        writeln!(out, "{line}")?;
    }
    out.flush()
}
