//! Loopback benchmark: lentil against plain UDP, both measured in the same run
//! on this machine, with the four workloads of the shared peers harness
//! (`../shared/bench/peers`, see its README) so the numbers compare with it.
//!
//! What is measured (messages are 32 bytes: sequence number, send timestamp,
//! two check words; server and client on two threads of this process over
//! 127.0.0.1, each in a tight poll/receive/send/flush loop):
//!
//! - `stream`: the client pushes 200,000 messages on reliable-ordered as fast
//!   as `send` accepts them; the server checks every delivery (corrupt, dup,
//!   out of order, missing). `secs` runs from the first send to the last
//!   delivery; p* is the latency from send to receipt.
//! - `pingpong`: 20,000 sequential round trips on reliable-ordered, the server
//!   echoing each; p* is the RTT, msgs_per_sec round trips per second.
//! - `lossy`: like stream with 20,000 messages, all traffic through a UDP
//!   proxy thread that drops 5 % each way and delays 10 ms + U[0,2) ms,
//!   seeded (seed = run number unless `--seed`), with the harness's RNG
//!   streams so a seed makes the same decisions there and here.
//! - `fanin`: 256 clients (a socket each, one thread) each send one unreliable
//!   message per 16 ms tick for 5 s after 1 s of unmeasured warm-up; the
//!   server ticks every 16 ms and p* is its thread CPU time per tick
//!   (`CLOCK_THREAD_CPUTIME_ID`); delivered/expected counts measured messages.
//!
//! lentil runs with the default `Config` through its public API (`Server`,
//! `Client`, `update_events()`, `send`). `raw` is `std::net::UdpSocket` with no
//! reliability, packing up to 40 messages per datagram like the harness's
//! `raw` adapter: the physical reference. It loses messages by design (its
//! stream/lossy lines fail the delivery check with `missing`); in `lossy` it
//! only measures the proxy path, in `fanin` it is one socket draining 256.
//!
//! Output: one JSON line per (lib, workload, run) with the harness's fields
//! (`lib, workload, msgs, secs, msgs_per_sec, p50_us, p99_us, p999_us,
//! delivered, expected, notes, ok, fail_kinds, fail_reason`, plus `run`). Each
//! lentil line adds `ratio_to_raw` against the raw run just before it and
//! `ratio_metric`, the field compared: `msgs_per_sec` for stream (throughput;
//! below 1 = slower than raw), `p50_us` for pingpong (RTT), lossy
//! (send-to-receipt latency through the proxy, library queueing included) and
//! fanin (server CPU per tick); above 1 = slower or costlier. Then a
//! plain-text table of medians over the runs. Non-default counts are recorded
//! in an `args: ...` note, as the harness does, so short and full runs never
//! mix in a summary.
//!
//! ```text
//! cargo bench -p lentil-bench --bench loopback                         # full: 3 runs each, harness counts (~45 s)
//! cargo bench -p lentil-bench --bench loopback -- --quick              # short form for CI: 1 run, small counts (~10 s)
//! cargo bench -p lentil-bench --bench loopback -- --workload lossy     # one workload (repeat or comma-separate for more)
//! cargo bench -p lentil-bench --bench loopback -- --runs 5 --seed 7 --deadline-s 30
//! ```
//!
//! Every loop stops at the run's deadline (`--deadline-s`, default 50 s, 10 s
//! with `--quick`), so lost packets never hang a run; they show up as a
//! `deadline` or `missing` failure instead. The exit status is 1 if a lentil
//! run failed its checks or a raw run failed for a reason other than loss or
//! reordering.

#[path = "loopback/common.rs"]
mod common;
#[path = "loopback/libs.rs"]
mod libs;
#[path = "loopback/proxy.rs"]
mod proxy;
#[path = "loopback/sys.rs"]
mod sys;
#[path = "loopback/workloads.rs"]
mod workloads;

use std::collections::BTreeSet;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;
use std::time::Duration;

use common::{Ctx, Lib, RunResult};
use libs::{Lentil, Raw};
use proxy::ImpairCfg;

const WORKLOADS: [&str; 4] = ["stream", "pingpong", "lossy", "fanin"];

/// Workload sizes; the full form uses the harness defaults.
struct Sizes {
    stream_n: u64,
    pingpong_n: u64,
    lossy_n: u64,
    fanin_clients: usize,
    fanin_tick: Duration,
    fanin_secs: f64,
    fanin_warmup_s: f64,
}

impl Sizes {
    fn full() -> Sizes {
        Sizes {
            stream_n: 200_000,
            pingpong_n: 20_000,
            lossy_n: 20_000,
            fanin_clients: 256,
            fanin_tick: Duration::from_millis(16),
            fanin_secs: 5.0,
            fanin_warmup_s: 1.0,
        }
    }

    /// Same shapes, fewer messages: each workload takes a second or two.
    fn quick() -> Sizes {
        Sizes {
            stream_n: 50_000,
            pingpong_n: 5_000,
            lossy_n: 5_000,
            fanin_secs: 1.0,
            fanin_warmup_s: 0.5,
            ..Sizes::full()
        }
    }

    /// The harness's `args: ...` note for counts that differ from its
    /// defaults, so its `summarize` keeps short runs apart from full ones.
    fn args_note(&self, workload: &str) -> Option<String> {
        let full = Sizes::full();
        let args = match workload {
            "stream" if self.stream_n != full.stream_n => format!("--n {}", self.stream_n),
            "pingpong" if self.pingpong_n != full.pingpong_n => {
                format!("--n {}", self.pingpong_n)
            }
            "lossy" if self.lossy_n != full.lossy_n => format!("--n {}", self.lossy_n),
            "fanin" if self.fanin_secs != full.fanin_secs => format!(
                "--secs {} --warmup-s {}",
                self.fanin_secs, self.fanin_warmup_s
            ),
            _ => return None,
        };
        Some(format!("args: {args}"))
    }
}

struct Options {
    quick: bool,
    runs: usize,
    workloads: Vec<&'static str>,
    seed: Option<u64>,
    deadline: Duration,
}

const USAGE: &str = "usage: cargo bench -p lentil-bench --bench loopback -- [--quick] [--workload stream|pingpong|lossy|fanin]... [--runs N] [--seed S] [--deadline-s SECS]";

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let (mut quick, mut runs, mut seed, mut deadline_s) = (false, None, None, None);
    let mut picked: Vec<&'static str> = Vec::new();
    while let Some(a) = args.next() {
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match key.as_str() {
            "--quick" => quick = true,
            // Passed by `cargo bench` to every bench binary.
            "--bench" => {}
            "--workload" => {
                for w in value("--workload")?.split(',') {
                    let w = WORKLOADS
                        .iter()
                        .find(|k| **k == w)
                        .ok_or_else(|| format!("unknown workload {w:?}; one of {WORKLOADS:?}"))?;
                    if !picked.contains(w) {
                        picked.push(w);
                    }
                }
            }
            "--runs" => {
                let v = value("--runs")?;
                runs = Some(
                    v.parse::<usize>()
                        .map_err(|_| format!("bad --runs {v:?}"))?,
                );
            }
            "--seed" => {
                let v = value("--seed")?;
                seed = Some(v.parse::<u64>().map_err(|_| format!("bad --seed {v:?}"))?);
            }
            "--deadline-s" => {
                let v = value("--deadline-s")?;
                let s = v.parse::<f64>().ok().filter(|s| *s > 0.0 && s.is_finite());
                deadline_s = Some(s.ok_or_else(|| format!("bad --deadline-s {v:?}"))?);
            }
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    // Keep the canonical order whatever order they were named in.
    let workloads = if picked.is_empty() {
        WORKLOADS.to_vec()
    } else {
        WORKLOADS
            .into_iter()
            .filter(|w| picked.contains(w))
            .collect()
    };
    Ok(Options {
        quick,
        runs: runs.unwrap_or(if quick { 1 } else { 3 }).max(1),
        workloads,
        seed,
        deadline: Duration::from_secs_f64(deadline_s.unwrap_or(if quick { 10.0 } else { 50.0 })),
    })
}

fn run_one<L: Lib>(workload: &str, run: usize, sizes: &Sizes, opts: &Options) -> RunResult {
    let machine = sys::machine_note();
    let ctx = Ctx::new(opts.deadline);
    let seed = opts.seed.unwrap_or(run as u64);
    let outcome = catch_unwind(AssertUnwindSafe(|| match workload {
        "stream" => workloads::stream::<L>(&ctx, "stream", sizes.stream_n, None, Duration::ZERO),
        "pingpong" => workloads::pingpong::<L>(&ctx, sizes.pingpong_n),
        "lossy" => workloads::stream::<L>(
            &ctx,
            "lossy",
            sizes.lossy_n,
            Some(ImpairCfg::lossy(seed)),
            // Catches late duplicates after completion, as the harness does.
            Duration::from_millis(250),
        ),
        "fanin" => workloads::fanin::<L>(
            &ctx,
            sizes.fanin_clients,
            sizes.fanin_tick,
            Duration::from_secs_f64(sizes.fanin_secs),
            Duration::from_secs_f64(sizes.fanin_warmup_s),
        ),
        other => unreachable!("workload {other} was validated"),
    }));
    let mut r = outcome.unwrap_or_else(|p| {
        let why = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let mut r = RunResult::new(L::NAME, workload);
        r.note(format!("PANIC: {why}"));
        r.fail("panic", why);
        r
    });
    let mut head = vec![L::version()];
    head.extend(sizes.args_note(workload));
    head.extend(L::notes(workload));
    head.push(machine);
    r.notes.splice(0..0, head);
    r.set_extra("run", run as u64);
    r
}

/// The field `ratio_to_raw` compares for a workload, and what it means.
fn ratio_metric(workload: &str) -> (&'static str, &'static str) {
    match workload {
        "stream" => ("msgs_per_sec", "throughput; below 1 = slower than raw"),
        "pingpong" => ("p50_us", "median RTT; above 1 = slower than raw"),
        "lossy" => (
            "p50_us",
            "median send-to-receipt latency through the proxy; above 1 = later than raw",
        ),
        _ => (
            "p50_us",
            "median server CPU per tick; above 1 = costlier than raw",
        ),
    }
}

fn metric(r: &RunResult, name: &str) -> Option<f64> {
    match name {
        "msgs_per_sec" => r.msgs_per_sec,
        _ => r.p50_us,
    }
}

fn add_ratio(lentil: &mut RunResult, raw: &RunResult) {
    let (name, meaning) = ratio_metric(&lentil.workload);
    let ratio = match (metric(lentil, name), metric(raw, name)) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    lentil.set_extra("ratio_metric", name);
    lentil.set_extra(
        "ratio_to_raw",
        ratio.map_or(serde_json::Value::Null, |v| {
            serde_json::json!((v * 1e4).round() / 1e4)
        }),
    );
    lentil.note(match ratio {
        Some(v) => format!(
            "ratio_to_raw = lentil {name} / raw {name} of the same run = {v:.3} ({meaning})"
        ),
        None => format!("ratio_to_raw: null, raw {name} of the same run not measured"),
    });
}

fn ratio_of(r: &RunResult) -> Option<f64> {
    r.extra.get("ratio_to_raw").and_then(|v| v.as_f64())
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn fmt(x: Option<f64>) -> String {
    match x {
        None => "-".into(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn print_table(results: &[RunResult], opts: &Options) {
    println!();
    println!(
        "medians over {} run(s) per (workload, lib){}; ratio = median of per-run lentil/raw ratios of `ratio_metric`",
        opts.runs,
        if opts.quick { ", QUICK form (small counts)" } else { "" }
    );
    let header = [
        "workload",
        "lib",
        "runs",
        "msgs/s",
        "p50 us",
        "p99 us",
        "secs",
        "delivered/expected",
        "ratio_to_raw",
        "failed checks",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for w in &opts.workloads {
        for lib in [Raw::NAME, Lentil::NAME] {
            let runs: Vec<&RunResult> = results
                .iter()
                .filter(|r| r.workload == *w && r.lib == lib)
                .collect();
            if runs.is_empty() {
                continue;
            }
            let col = |f: fn(&RunResult) -> Option<f64>| {
                median(runs.iter().filter_map(|r| f(r)).collect())
            };
            let kinds: BTreeSet<&str> = runs
                .iter()
                .flat_map(|r| r.fail_kinds.iter().map(String::as_str))
                .collect();
            let failed = runs.iter().filter(|r| r.ok == Some(false)).count();
            let ratio = if lib == Lentil::NAME {
                match col(ratio_of) {
                    Some(v) => format!("{v:.3} ({})", ratio_metric(w).0),
                    None => "-".into(),
                }
            } else {
                String::new()
            };
            rows.push(vec![
                w.to_string(),
                lib.to_string(),
                runs.len().to_string(),
                fmt(col(|r| r.msgs_per_sec)),
                fmt(col(|r| r.p50_us)),
                fmt(col(|r| r.p99_us)),
                fmt(col(|r| r.secs)),
                format!(
                    "{}/{}",
                    fmt(col(|r| Some(r.delivered as f64))),
                    fmt(col(|r| Some(r.expected as f64)))
                ),
                ratio,
                if kinds.is_empty() {
                    "-".into()
                } else {
                    format!(
                        "{failed} run(s): {}",
                        kinds.into_iter().collect::<Vec<_>>().join(",")
                    )
                },
            ]);
        }
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

/// A failure that is not the plain-UDP reference behaving as plain UDP does:
/// losing messages, and reordering them when the proxy's jitter does.
fn is_real_failure(r: &RunResult) -> bool {
    if r.lib == Raw::NAME {
        r.fail_kinds
            .iter()
            .any(|k| !matches!(k.as_str(), "missing" | "skipped" | "out_of_order"))
    } else {
        r.ok == Some(false)
    }
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let sizes = if opts.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    let mut results = Vec::new();
    let emit = |r: &RunResult| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", r.to_json());
        let _ = out.flush();
    };
    for w in &opts.workloads {
        for run in 1..=opts.runs {
            // Raw first, back to back with lentil, so each ratio compares two
            // runs under the same machine conditions.
            let raw = run_one::<Raw>(w, run, &sizes, &opts);
            emit(&raw);
            let mut lentil = run_one::<Lentil>(w, run, &sizes, &opts);
            add_ratio(&mut lentil, &raw);
            emit(&lentil);
            results.push(raw);
            results.push(lentil);
        }
    }
    print_table(&results, &opts);
    let failed: Vec<String> = results
        .iter()
        .filter(|r| is_real_failure(r))
        .map(|r| format!("{} {} run {}", r.lib, r.workload, r.extra["run"]))
        .collect();
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("FAILED checks: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}
