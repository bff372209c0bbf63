//! The `distro-load` command line.

use super::compare::{self, CompareSpec, Server, ServerRuntime};
use super::engine::{LoadSpec, Workload, WorkloadKind};
use super::propagation::{self, PropagationSpec};
use super::proto::Protocol;
use super::report::svg_plot;
use super::server::{free_http_port, locate, start_distrod, ServerProc};
use super::{build_report, run_load};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Load generator for Nacos-compatible registries (v1 HTTP) and distrod (native protocol).
#[derive(Parser, Debug)]
#[command(name = "distro-load", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Drive one server with one workload.
    Run(RunArgs),
    /// Measure time-to-visible across a cluster.
    Propagation(PropArgs),
    /// Run identical workloads against distrod and r-nacos; write a markdown table.
    Compare(CompareArgs),
}

/// Shape of a load.
#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// Workload.
    #[arg(long, value_enum, default_value = "register")]
    pub workload: WorkloadKind,
    /// Connections.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Requests outstanding per connection (closed loop; HTTP/1.1 pipelining when > 1).
    #[arg(long, default_value_t = 16)]
    pub pipeline: usize,
    /// Generator threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Warm-up seconds (not recorded).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Services the instances are spread over.
    #[arg(long, default_value_t = 100)]
    pub services: u64,
    /// Instances preloaded for beat, list and mixed workloads.
    #[arg(long, default_value_t = 10_000)]
    pub instances: u64,
}

/// `distro-load run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Protocol.
    #[arg(long, value_enum, default_value = "http")]
    pub protocol: Protocol,
    /// Server address: its HTTP port for `http`, its native port for `native`.
    #[arg(long, default_value = "127.0.0.1:8848")]
    pub addr: SocketAddr,
    /// Load shape.
    #[command(flatten)]
    pub load: LoadArgs,
    /// Open loop at this many requests per second (all connections together).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Weights of register, beat and list in the mixed workload.
    #[arg(long, default_value = "10,60,30", value_delimiter = ',', num_args = 3)]
    pub mix: Vec<u32>,
    /// Service name prefix.
    #[arg(long, default_value = "load")]
    pub prefix: String,
    /// First instance number of new registrations (use different values for repeated runs
    /// against one server to keep instances unique).
    #[arg(long, default_value_t = 0)]
    pub first: u64,
    /// Label in the table and the plot.
    #[arg(long, default_value = "server")]
    pub label: String,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write an SVG latency plot here.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

/// `distro-load propagation`.
#[derive(Args, Debug)]
pub struct PropArgs {
    /// HTTP addresses of running members (A first); native ports are HTTP + 1000. Without
    /// it, a cluster of `--cluster-size` distrod members is started.
    #[arg(long, value_delimiter = ',')]
    pub members: Vec<SocketAddr>,
    /// Members to start when `--members` is not given.
    #[arg(long, default_value_t = 3)]
    pub cluster_size: usize,
    /// The distrod binary to start [default: next to this executable, else on PATH].
    #[arg(long)]
    pub distrod: Option<PathBuf>,
    /// Extra distrod arguments (repeatable), e.g. `--server-arg=--timing --server-arg=push_window=0`.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
    /// Probes.
    #[arg(long, default_value_t = 500)]
    pub probes: usize,
    /// Milliseconds between probes.
    #[arg(long, default_value_t = 5)]
    pub interval_ms: u64,
    /// Milliseconds a probe waits before it counts as missed.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Background registrations per second at member A.
    #[arg(long, default_value_t = 10_000.0)]
    pub background_rate: f64,
    /// Connections of the background load.
    #[arg(long, default_value_t = 4)]
    pub background_connections: usize,
    /// Observe by push only.
    #[arg(long, conflicts_with = "poll_only")]
    pub push_only: bool,
    /// Observe by polling only.
    #[arg(long)]
    pub poll_only: bool,
    /// Observe by gRPC subscription as well (NotifySubscriberRequest on the bi-stream).
    #[arg(long)]
    pub grpc_push: bool,
    /// Observe at the first member too, on connections of their own (with
    /// `distrod-glommio`, another shard of the process that took the register).
    #[arg(long)]
    pub observe_first: bool,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write an SVG plot of the time-to-visible distributions here.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

/// `distro-load compare`.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Result name.
    #[arg(long, default_value = "compare")]
    pub name: String,
    /// Output directory.
    #[arg(long, default_value = "benches/results")]
    pub out_dir: PathBuf,
    /// Runtimes to measure: `mio` (`distrod`), `glommio` (`distrod-glommio`, once per
    /// `--shards` count).
    #[arg(long, value_delimiter = ',', default_value = "mio")]
    pub server: Vec<ServerRuntime>,
    /// Shard counts of `distrod-glommio` (each is measured).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub shards: Vec<u16>,
    /// The distrod binary [default: next to this executable, else on PATH].
    #[arg(long)]
    pub distrod: Option<PathBuf>,
    /// The distrod-glommio binary [default: next to this executable, else on PATH].
    #[arg(long)]
    pub distrod_glommio: Option<PathBuf>,
    /// Extra arguments of every distrod server (repeatable).
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
    /// The rnacos binary [default: on PATH]; install it with
    /// `cargo install rnacos --root <dir>` and pass `<dir>/bin/rnacos`.
    #[arg(long)]
    pub rnacos: Option<PathBuf>,
    /// Leave r-nacos out even when it is installed.
    #[arg(long)]
    pub no_rnacos: bool,
    /// Rounds (medians are taken over them).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// HTTP workloads (both servers).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "register,beat,list,mixed"
    )]
    pub workloads: Vec<WorkloadKind>,
    /// Native workloads (distrod only); empty for none.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "register,beat,list"
    )]
    pub native_workloads: Vec<WorkloadKind>,
    /// gRPC workloads (every server, r-nacos included); empty for none.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "register,beat,list"
    )]
    pub grpc_workloads: Vec<WorkloadKind>,
    /// Load shape.
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Runs the command line; the exit code of the process.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => run_cmd(a),
        Command::Propagation(a) => prop_cmd(a),
        Command::Compare(a) => compare_cmd(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("distro-load: {e}");
            ExitCode::FAILURE
        }
    }
}

type Res = Result<(), Box<dyn std::error::Error>>;

fn run_cmd(a: RunArgs) -> Res {
    let mut workload = Workload::new(
        a.load.workload,
        &a.prefix,
        a.load.services,
        a.load.instances,
    );
    workload.mix = [a.mix[0], a.mix[1], a.mix[2]];
    let spec = LoadSpec {
        protocol: a.protocol,
        addr: a.addr,
        connections: a.load.connections,
        pipeline: a.load.pipeline,
        rate: a.rate,
        warmup: Duration::from_secs_f64(a.load.warmup),
        duration: Duration::from_secs_f64(a.load.duration),
        threads: a.load.threads,
        workload,
        first_new: a.first,
    };
    let result = run_load(&spec)?;
    let report = build_report(&spec, &result, &a.label);
    print!("{}", report.table());
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&report)?)?;
    }
    if let Some(p) = &a.svg {
        let title = format!(
            "{} {} {} latency",
            report.label, report.protocol, report.workload
        );
        let mut series: Vec<(String, Vec<(f64, f64)>)> = report
            .kinds
            .iter()
            .map(|k| (k.kind.clone(), k.latency.curve.clone()))
            .collect();
        if series.len() > 1 {
            series.push(("all".into(), report.total.latency.curve.clone()));
        }
        std::fs::write(p, svg_plot(&title, &series))?;
    }
    Ok(())
}

fn prop_cmd(a: PropArgs) -> Res {
    let mut procs: Vec<ServerProc> = Vec::new();
    let members: Vec<SocketAddr> = if a.members.is_empty() {
        let bin = locate(a.distrod.as_deref(), "distrod").ok_or(
            "distrod not found: build it (cargo build --release -p distro-mio) or pass --distrod",
        )?;
        let ports: Vec<u16> = (0..a.cluster_size.max(2))
            .map(|_| free_http_port())
            .collect();
        for p in &ports {
            procs.push(start_distrod(&bin, *p, &ports, &a.server_args)?);
        }
        // let the members link up and load their (empty) snapshots
        std::thread::sleep(Duration::from_secs(2));
        procs.iter().map(|p| p.http).collect()
    } else {
        a.members.clone()
    };
    let mut members = members;
    if a.observe_first {
        members.insert(1, members[0]);
    }
    let natives = members
        .iter()
        .map(|m| SocketAddr::new(m.ip(), m.port() + 1000))
        .collect();
    let spec = PropagationSpec {
        members,
        natives,
        probes: a.probes,
        interval: Duration::from_millis(a.interval_ms),
        timeout: Duration::from_millis(a.timeout_ms),
        background_rate: a.background_rate,
        background_connections: a.background_connections,
        warmup: Duration::from_secs(1),
        push: !a.poll_only,
        poll: !a.push_only,
        grpc_push: a.grpc_push,
    };
    let report = propagation::run(&spec)?;
    print!("{}", report.table());
    println!(
        "time-to-visible, every observer: push p50 {:.1} µs p99 {:.1} µs; poll p50 {:.1} µs p99 {:.1} µs",
        report.all_push.p50_us, report.all_push.p99_us, report.all_poll.p50_us, report.all_poll.p99_us
    );
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&report)?)?;
    }
    if let Some(p) = &a.svg {
        let series: Vec<(String, Vec<(f64, f64)>)> = report
            .observed
            .iter()
            .map(|o| {
                (
                    format!("{} {}", o.method, o.member),
                    o.latency.curve.clone(),
                )
            })
            .collect();
        std::fs::write(p, svg_plot("time to visible at other members", &series))?;
    }
    drop(procs);
    Ok(())
}

fn compare_cmd(a: CompareArgs) -> Res {
    let mut server_args = vec!["--limit".to_string(), "max_clients=10000000".to_string()];
    server_args.extend(a.server_args.iter().cloned());
    let mut servers = Vec::new();
    for runtime in &a.server {
        match runtime {
            ServerRuntime::Mio => {
                let bin = locate(a.distrod.as_deref(), "distrod").ok_or(
                    "distrod not found: build it (cargo build --release -p distro-mio) or pass --distrod",
                )?;
                servers.push(Server::distrod("mio", bin, server_args.clone()));
            }
            ServerRuntime::Glommio => {
                let bin = locate(a.distrod_glommio.as_deref(), "distrod-glommio").ok_or(
                    "distrod-glommio not found: build it (cargo build --release -p distro-glommio) or pass --distrod-glommio",
                )?;
                for n in &a.shards {
                    let mut args = vec!["--shards".to_string(), n.to_string()];
                    args.extend(server_args.iter().cloned());
                    servers.push(Server::distrod(&format!("glommio-{n}"), bin.clone(), args));
                }
            }
        }
    }
    let rnacos = if a.no_rnacos {
        Err("left out (--no-rnacos)".to_string())
    } else {
        match &a.rnacos {
            Some(p) => locate(Some(p), "rnacos").ok_or(format!("{} does not exist", p.display())),
            None => locate(None, "rnacos").ok_or_else(|| {
                "no rnacos binary on PATH (install it with `cargo install rnacos --root <dir>`, then pass --rnacos <dir>/bin/rnacos)"
                    .to_string()
            }),
        }
    };
    let command = std::env::args()
        .map(|s| if s.contains(' ') { format!("'{s}'") } else { s })
        .collect::<Vec<_>>()
        .join(" ");
    let spec = CompareSpec {
        name: a.name,
        out_dir: a.out_dir,
        servers,
        rnacos,
        rounds: a.rounds.max(1),
        workloads: a.workloads,
        native_workloads: a.native_workloads,
        grpc_workloads: a.grpc_workloads,
        connections: a.load.connections,
        pipeline: a.load.pipeline,
        threads: a.load.threads,
        warmup: Duration::from_secs_f64(a.load.warmup),
        duration: Duration::from_secs_f64(a.load.duration),
        services: a.load.services,
        instances: a.load.instances,
        command,
    };
    let md = compare::run(&spec)?;
    print!("{md}");
    Ok(())
}
