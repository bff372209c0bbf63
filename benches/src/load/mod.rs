//! `distro-load`: a load generator for Nacos-compatible registries.
//!
//! * `run`: one workload (register unique instances, beat, list, mixed) over the v1 HTTP API
//!   (any Nacos-compatible server) or the native protocol, closed loop (N connections, each
//!   with `pipeline` requests outstanding; HTTP/1.1 pipelining) or open loop at a target rate,
//!   with warm-up and duration. Latency goes into HDR histograms (p50, p90, p99, p99.9, max),
//!   with throughput and errors; the result is printed as a table and written as JSON and an
//!   SVG latency plot.
//! * `propagation`: register at member A, observe at the others by subscription push and by
//!   polling; reports time-to-visible percentiles, optionally under background registrations.
//! * `compare`: starts `distrod` and r-nacos side by side and writes a markdown table.

pub mod cli;
pub mod compare;
pub mod engine;
pub mod grpc;
pub mod propagation;
pub mod proto;
pub mod report;
pub mod server;

use engine::{LoadSpec, RunResult};
use report::{kind_reports, LoadReport};

/// Runs one load (see [`engine::run`]).
pub fn run_load(spec: &LoadSpec) -> std::io::Result<RunResult> {
    match spec.protocol {
        proto::Protocol::Grpc => grpc::run(spec),
        _ => engine::run(spec),
    }
}

/// Turns a run into its report.
pub fn build_report(spec: &LoadSpec, result: &RunResult, label: &str) -> LoadReport {
    let (total, kinds) = kind_reports(&result.recorder, result.measured.as_secs_f64());
    LoadReport {
        label: label.to_string(),
        protocol: match spec.protocol {
            proto::Protocol::Http => "http".into(),
            proto::Protocol::Native => "native".into(),
            proto::Protocol::Grpc => "grpc".into(),
        },
        workload: spec.workload.kind.name().into(),
        mode: if spec.rate.is_some() {
            "open"
        } else {
            "closed"
        }
        .into(),
        connections: spec.connections,
        pipeline: spec.pipeline,
        rate: spec.rate,
        threads: spec.threads,
        warmup_s: spec.warmup.as_secs_f64(),
        duration_s: result.measured.as_secs_f64(),
        setup_ok: result.setup.total_ok(),
        setup_errors: result.setup.total_errors(),
        setup_s: result.setup_time.as_secs_f64(),
        total,
        kinds,
        error_reasons: result.recorder.reasons.clone(),
    }
}
