//! Side by side: in one run, start each runtime (`distrod` on mio, `distrod-glommio` with each
//! shard count) and (when installed) r-nacos on free loopback ports, drive them with the
//! identical workloads, round after round, and write a markdown table of the medians and their
//! ratios to the first server, the JSON of every run, and a latency plot per workload.

use super::engine::{LoadSpec, Workload, WorkloadKind};
use super::proto::Protocol;
use super::report::{svg_plot, LoadReport};
use super::server::{free_http_port, start_distrod, start_rnacos, ServerProc};
use super::{build_report, run_load};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// A runtime `distro-load compare` can start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ServerRuntime {
    /// `distrod`, one mio event loop.
    Mio,
    /// `distrod-glommio`, thread-per-core io_uring.
    Glommio,
}

/// One server of a comparison.
#[derive(Clone, Debug)]
pub struct Server {
    /// Its name in the report (`mio`, `glommio-2`, ...).
    pub label: String,
    /// The binary (it takes the `distrod` command line).
    pub bin: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
}

impl Server {
    /// A `distrod`-compatible server.
    pub fn distrod(label: &str, bin: PathBuf, args: Vec<String>) -> Self {
        Server {
            label: label.to_string(),
            bin,
            args,
        }
    }
}

/// The name of r-nacos in reports.
const RNACOS: &str = "r-nacos";

/// What to compare.
#[derive(Clone, Debug)]
pub struct CompareSpec {
    /// Result name: files `<out_dir>/<name>.md`, `.json` and `<name>-<workload>.svg`.
    pub name: String,
    /// Output directory.
    pub out_dir: PathBuf,
    /// The runtimes, in order; ratios are to the first.
    pub servers: Vec<Server>,
    /// The `rnacos` binary, or why there is none.
    pub rnacos: Result<PathBuf, String>,
    /// Rounds; medians are taken over them.
    pub rounds: usize,
    /// HTTP workloads run against every server.
    pub workloads: Vec<WorkloadKind>,
    /// Native workloads run against the `distrod` runtimes only.
    pub native_workloads: Vec<WorkloadKind>,
    /// gRPC workloads run against every server.
    pub grpc_workloads: Vec<WorkloadKind>,
    /// Connections.
    pub connections: usize,
    /// Pipeline depth.
    pub pipeline: usize,
    /// Generator threads.
    pub threads: usize,
    /// Warm-up.
    pub warmup: Duration,
    /// Measured duration.
    pub duration: Duration,
    /// Services.
    pub services: u64,
    /// Preloaded instances (beat, list, mixed).
    pub instances: u64,
    /// The command line, for the report.
    pub command: String,
}

/// One measured run in a comparison.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompareRun {
    /// Round number.
    pub round: usize,
    /// Server name.
    pub server: String,
    /// CPU seconds the server used during the run (setup included).
    pub server_cpu_s: Option<f64>,
    /// Server resident memory after the run.
    pub server_rss_bytes: Option<u64>,
    /// The load's figures.
    pub report: LoadReport,
}

/// The whole comparison, as written to JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompareReport {
    /// Name.
    pub name: String,
    /// Command line.
    pub command: String,
    /// Why r-nacos was not measured, if it was not.
    pub rnacos_missing: Option<String>,
    /// Every run.
    pub runs: Vec<CompareRun>,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
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

fn start(server: &str, spec: &CompareSpec) -> io::Result<ServerProc> {
    let port = free_http_port();
    match spec.servers.iter().find(|s| s.label == server) {
        Some(s) => start_distrod(&s.bin, port, &[], &s.args),
        None => match &spec.rnacos {
            Ok(bin) => start_rnacos(bin, port),
            Err(why) => Err(io::Error::other(why.clone())),
        },
    }
}

/// Every server's label, r-nacos last when it is measured.
fn labels(spec: &CompareSpec) -> Vec<String> {
    let mut v: Vec<String> = spec.servers.iter().map(|s| s.label.clone()).collect();
    if spec.rnacos.is_ok() {
        v.push(RNACOS.to_string());
    }
    v
}

/// Runs the comparison and writes its files; returns the markdown.
pub fn run(spec: &CompareSpec) -> io::Result<String> {
    std::fs::create_dir_all(&spec.out_dir)?;
    let servers = labels(spec);
    let mut runs = Vec::new();
    let mut cases: Vec<(Protocol, WorkloadKind)> = spec
        .workloads
        .iter()
        .map(|w| (Protocol::Http, *w))
        .collect();
    cases.extend(spec.native_workloads.iter().map(|w| (Protocol::Native, *w)));
    cases.extend(spec.grpc_workloads.iter().map(|w| (Protocol::Grpc, *w)));
    for round in 1..=spec.rounds {
        for &(protocol, kind) in &cases {
            for server in &servers {
                if protocol == Protocol::Native && server == RNACOS {
                    continue;
                }
                let proc = start(server, spec)?;
                let addr = match protocol {
                    Protocol::Http => proc.http,
                    Protocol::Native => proc.native.expect("distrod has a native port"),
                    // every Nacos 2.x server serves gRPC on the HTTP port + 1000
                    Protocol::Grpc => {
                        std::net::SocketAddr::new(proc.http.ip(), proc.http.port() + 1000)
                    }
                };
                let load = LoadSpec {
                    protocol,
                    addr,
                    connections: spec.connections,
                    pipeline: spec.pipeline,
                    rate: None,
                    warmup: spec.warmup,
                    duration: spec.duration,
                    threads: spec.threads,
                    workload: Workload::new(kind, "cmp", spec.services, spec.instances),
                    first_new: 0,
                };
                let cpu0 = proc.cpu_time();
                let result = run_load(&load)?;
                let cpu = match (cpu0, proc.cpu_time()) {
                    (Some(a), Some(b)) => Some((b - a).as_secs_f64()),
                    _ => None,
                };
                let report = build_report(&load, &result, server);
                eprintln!(
                    "round {round} {server:<10} {:<6} {:<8} {:>10.0} ops/s  p50 {:>8.1} µs  p99 {:>8.1} µs  errors {}",
                    protocol_name(protocol),
                    kind.name(),
                    report.total.throughput,
                    report.total.latency.p50_us,
                    report.total.latency.p99_us,
                    report.total.errors + report.setup_errors,
                );
                runs.push(CompareRun {
                    round,
                    server: server.to_string(),
                    server_cpu_s: cpu,
                    server_rss_bytes: proc.rss_bytes(),
                    report,
                });
                drop(proc);
            }
        }
    }
    let report = CompareReport {
        name: spec.name.clone(),
        command: spec.command.clone(),
        rnacos_missing: spec.rnacos.as_ref().err().cloned(),
        runs,
    };
    let md = markdown(&report, &cases, spec);
    let base = spec.out_dir.join(&spec.name);
    std::fs::write(base.with_extension("md"), &md)?;
    std::fs::write(
        base.with_extension("json"),
        serde_json::to_string_pretty(&report).map_err(io::Error::other)?,
    )?;
    for &(protocol, kind) in &cases {
        let series: Vec<(String, Vec<(f64, f64)>)> = servers
            .iter()
            .filter_map(|server| {
                let runs = select(&report, server, protocol, kind);
                // the run with the median throughput stands for the server
                let mut sorted = runs.clone();
                sorted.sort_by(|a, b| {
                    a.report
                        .total
                        .throughput
                        .total_cmp(&b.report.total.throughput)
                });
                sorted
                    .get(sorted.len() / 2)
                    .map(|r| (server.to_string(), r.report.total.latency.curve.clone()))
            })
            .collect();
        if series.is_empty() {
            continue;
        }
        let title = format!(
            "{} {} latency ({} conns x {} pipelined)",
            protocol_name(protocol),
            kind.name(),
            spec.connections,
            spec.pipeline
        );
        let file = spec.out_dir.join(format!(
            "{}-{}-{}.svg",
            spec.name,
            protocol_name(protocol),
            kind.name()
        ));
        std::fs::write(file, svg_plot(&title, &series))?;
    }
    Ok(md)
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Http => "http",
        Protocol::Native => "native",
        Protocol::Grpc => "grpc",
    }
}

fn select<'a>(
    report: &'a CompareReport,
    server: &str,
    protocol: Protocol,
    kind: WorkloadKind,
) -> Vec<&'a CompareRun> {
    report
        .runs
        .iter()
        .filter(|r| {
            r.server == server
                && r.report.protocol == protocol_name(protocol)
                && r.report.workload == kind.name()
        })
        .collect()
}

struct Med {
    ops: Option<f64>,
    p50: Option<f64>,
    p99: Option<f64>,
    p999: Option<f64>,
    cpu_per_op_us: Option<f64>,
    errors: u64,
    n: usize,
}

fn medians(runs: &[&CompareRun]) -> Med {
    Med {
        ops: median(runs.iter().map(|r| r.report.total.throughput).collect()),
        p50: median(runs.iter().map(|r| r.report.total.latency.p50_us).collect()),
        p99: median(runs.iter().map(|r| r.report.total.latency.p99_us).collect()),
        p999: median(
            runs.iter()
                .map(|r| r.report.total.latency.p999_us)
                .collect(),
        ),
        cpu_per_op_us: median(
            runs.iter()
                .filter_map(|r| {
                    // every operation the server handled: setup, warm-up and measured ones
                    let secs = r.report.warmup_s + r.report.duration_s;
                    let ops = r.report.setup_ok as f64 + r.report.total.throughput * secs;
                    r.server_cpu_s.filter(|_| ops > 0.0).map(|c| c * 1e6 / ops)
                })
                .collect(),
        ),
        errors: runs
            .iter()
            .map(|r| r.report.total.errors + r.report.setup_errors)
            .sum(),
        n: runs.len(),
    }
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(v) => format!("{v:.digits$}"),
        None => "—".into(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "—".into(),
    }
}

fn markdown(
    report: &CompareReport,
    cases: &[(Protocol, WorkloadKind)],
    spec: &CompareSpec,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", report.name);
    let _ = writeln!(s, "Command: `{}`\n", report.command);
    let _ = writeln!(
        s,
        "Closed loop, {} connections x {} pipelined requests, {} generator thread(s), {:.0} s warm-up + {:.0} s measured per run, {} round(s) (a fresh server per run, servers alternating), medians over rounds. {} services; beat/list/mixed preload {} instances. Servers and load generator share the same 2 cores.\n",
        spec.connections,
        spec.pipeline,
        spec.threads,
        spec.warmup.as_secs_f64(),
        spec.duration.as_secs_f64(),
        spec.rounds,
        spec.services,
        spec.instances
    );
    if let Some(why) = &report.rnacos_missing {
        let _ = writeln!(
            s,
            "**r-nacos was not measured: {why}.** Only the distrod runtimes below.\n"
        );
    }
    let servers = labels(spec);
    let first = servers.first().cloned().unwrap_or_default();
    let _ = writeln!(
        s,
        "Ratios are to `{first}` in the same run. Server CPU µs/op is the server's CPU time (user + system, from `/proc/<pid>/stat`) over every operation it handled.\n"
    );
    let _ = writeln!(
        s,
        "| protocol | workload | server | ops/s | ops/s ratio | p50 / p99 / p99.9 µs | server CPU µs/op | CPU ratio | errors |"
    );
    let _ = writeln!(s, "|---|---|---|---:|---:|---|---:|---:|---:|");
    for &(protocol, kind) in cases {
        let base = medians(&select(report, &first, protocol, kind));
        for server in &servers {
            let m = medians(&select(report, server, protocol, kind));
            if m.n == 0 {
                continue;
            }
            let _ = writeln!(
                s,
                "| {} | {} | {server} | {} | {} | {} / {} / {} | {} | {} | {} |",
                protocol_name(protocol),
                kind.name(),
                fmt(m.ops, 0),
                ratio(m.ops, base.ops),
                fmt(m.p50, 0),
                fmt(m.p99, 0),
                fmt(m.p999, 0),
                fmt(m.cpu_per_op_us, 2),
                ratio(m.cpu_per_op_us, base.cpu_per_op_us),
                m.errors,
            );
        }
    }
    let _ = writeln!(s, "\nPer round (ops/s):\n");
    let _ = writeln!(s, "| protocol | workload | server | rounds |");
    let _ = writeln!(s, "|---|---|---|---|");
    for &(protocol, kind) in cases {
        for server in &servers {
            let runs = select(report, server, protocol, kind);
            if runs.is_empty() {
                continue;
            }
            let v: Vec<String> = runs
                .iter()
                .map(|r| format!("{:.0}", r.report.total.throughput))
                .collect();
            let _ = writeln!(
                s,
                "| {} | {} | {server} | {} |",
                protocol_name(protocol),
                kind.name(),
                v.join(", ")
            );
        }
    }
    s
}
