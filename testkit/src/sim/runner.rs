//! Running seeds: the environment knobs (`SIM_SEED`, `SIM_SEEDS`), the determinism check,
//! and what a failure leaves behind (the exact command that replays it and a trace file).

use super::config::SimConfig;
use super::invariants::Violation;
use super::world::Sim;
use distro_core::Timestamp;
use std::fmt;
use std::path::PathBuf;

/// How many times the checks that need calm conditions actually judged something.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Judged {
    /// Samples taken while calm (convergence, no lost live client, expiry bounds).
    pub calm_samples: u64,
    /// Stopped ip-port clients checked for the unhealthy bound.
    pub unhealthy_bounds: u64,
    /// Records of stopped or closed clients whose expiry deadline was checked while calm.
    pub expiry_deadlines: u64,
    /// Member checks run after an event that changed its registry in a calm period.
    pub event_checks: u64,
    /// (live ip-port client, member on its side) pairs judged by the beat-side check.
    pub side_judgements: u64,
}

/// What a clean run did.
#[derive(Clone, Debug)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Virtual time simulated.
    pub virtual_time: core::time::Duration,
    /// Wall-clock time it took.
    pub real_time: core::time::Duration,
    /// Events processed.
    pub steps: u64,
    /// Inputs and outputs traced.
    pub trace_records: u64,
    /// Hash of the whole trace.
    pub trace_hash: u64,
    /// Member slots used (initial members plus added ones).
    pub members: usize,
    /// Ip-port and connection clients.
    pub clients: (usize, usize),
    /// How often the calm-only checks judged something.
    pub judged: Judged,
}

impl Report {
    /// Virtual seconds simulated per real second.
    pub fn speedup(&self) -> f64 {
        self.virtual_time.as_secs_f64() / self.real_time.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {}: {} members, {}+{} clients, {:.0} s virtual in {:.2} s real ({:.0}x), {} steps, judged {}/{}/{}/{}/{}, trace {:016x}",
            self.seed,
            self.members,
            self.clients.0,
            self.clients.1,
            self.virtual_time.as_secs_f64(),
            self.real_time.as_secs_f64(),
            self.speedup(),
            self.steps,
            self.judged.calm_samples,
            self.judged.unhealthy_bounds,
            self.judged.expiry_deadlines,
            self.judged.event_checks,
            self.judged.side_judgements,
            self.trace_hash
        )
    }
}

/// A run that broke an invariant.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// What broke (the run stops at the first sample that finds something).
    pub violations: Vec<Violation>,
    /// Hash of the trace up to the failure.
    pub trace_hash: u64,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {} failed:", self.seed)?;
        for v in &self.violations {
            let t = v.at.as_nanos();
            writeln!(
                f,
                "  at {}.{:06} s: {}: {}",
                t / 1_000_000_000,
                (t / 1_000) % 1_000_000,
                v.kind,
                v.detail
            )?;
        }
        Ok(())
    }
}

impl Sim {
    /// Runs the whole configured duration, then the final checks.
    pub fn run(mut self) -> Result<Report, Failure> {
        let end = Timestamp::ZERO.plus(self.cfg.duration);
        self.run_until(end);
        self.finish()
    }

    /// Final checks after a run driven by hand (leave a quiet tail first).
    pub fn finish(mut self) -> Result<Report, Failure> {
        if self.violations.is_empty() {
            self.check();
        }
        if self.violations.is_empty() && self.is_calm() {
            self.quiesce();
            if self.violations.is_empty() {
                self.check_subscribers();
            }
            // After a calm, quiet tail no write can still be in flight: a client that is not
            // settled means the simulator lost count (its checks would have skipped it).
            let unsettled = self
                .ip
                .iter()
                .position(|c| !c.active && c.outstanding.is_none() && c.settled_at.is_none());
            if let Some(c) = unsettled.filter(|_| self.violations.is_empty()) {
                let pending = self.ip[c].pending;
                self.violate(
                    "simulator bookkeeping",
                    format!("ip client {c} stopped but never settled ({pending} writes pending)"),
                );
            }
        }
        self.trace.flush();
        if !self.violations.is_empty() {
            return Err(Failure {
                seed: self.cfg.seed,
                violations: self.violations.clone(),
                trace_hash: self.trace_hash(),
            });
        }
        Ok(Report {
            seed: self.cfg.seed,
            virtual_time: core::time::Duration::from_nanos(self.now.as_nanos()),
            real_time: self.started.elapsed(),
            steps: self.steps,
            trace_records: self.trace_records(),
            trace_hash: self.trace_hash(),
            members: self.slots.len(),
            clients: (self.ip.len(), self.conn.len()),
            judged: self.judged,
        })
    }
}

impl Sim {
    /// How often the calm-only checks judged something so far.
    pub fn judged(&self) -> Judged {
        self.judged
    }

    /// Stops client churn and runs until no member's data changed for a second (at most a
    /// minute), so subscribers can be compared with their members' lists.
    fn quiesce(&mut self) {
        self.churn_until = self.churn_until.min(self.now);
        let print = |s: &Sim| -> Vec<u64> {
            s.slots
                .iter()
                .map(|x| x.node.as_ref().map_or(0, |n| n.registry().fingerprint()))
                .collect()
        };
        for _ in 0..60 {
            let before = print(self);
            self.run_for(core::time::Duration::from_secs(1));
            if !self.violations.is_empty() || print(self) == before {
                return;
            }
        }
    }
}

/// The seeds to run: `SIM_SEED=<n>` runs that one; `SIM_SEEDS=<count>` runs that many
/// (starting at `SIM_SEED_BASE`, default `base`); otherwise `count` seeds from `base`.
pub fn seeds_from_env(base: u64, count: u64) -> Vec<u64> {
    if let Some(seed) = env_u64("SIM_SEED") {
        return vec![seed];
    }
    let count = env_u64("SIM_SEEDS").unwrap_or(count);
    let base = env_u64("SIM_SEED_BASE").unwrap_or(base);
    (base..base + count).collect()
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Where the trace of a failing seed is written: `target/sim-traces/<seed>.trace`.
pub fn trace_path(seed: u64) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("sim-traces").join(format!("{seed}.trace"))
}

/// The command that replays `seed` of test `test` in test file `file`.
pub fn replay_command(file: &str, test: &str, seed: u64) -> String {
    format!(
        "SIM_SEED={seed} cargo test -p distro-testkit --test {file} -- {test} --exact --include-ignored --nocapture"
    )
}

/// Runs `make(seed)` again with the text trace written to [`trace_path`]; returns the path.
pub fn write_trace(cfg: SimConfig, drive: impl FnOnce(Sim) -> Result<Report, Failure>) -> PathBuf {
    let path = trace_path(cfg.seed);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(file) = std::fs::File::create(&path) {
        let out: Box<dyn std::io::Write> = Box::new(std::io::BufWriter::new(file));
        let _ = drive(Sim::with_trace(cfg, Some(out)));
    }
    path
}

/// Runs every seed with `make(seed)` and [`Sim::run`]; see [`run_seeds_with`].
pub fn run_seeds(
    file: &str,
    test: &str,
    seeds: &[u64],
    make: impl Fn(u64) -> SimConfig,
) -> Vec<Report> {
    run_seeds_with(file, test, seeds, make, Sim::run)
}

/// Runs every seed: builds `make(seed)`, hands the simulator to `drive` (which runs it and
/// returns [`Sim::finish`] or [`Sim::run`]), and checks determinism by running the first seed
/// twice. Panics after all seeds ran if any failed, printing for each the command that replays
/// it and the trace file it wrote (by running the seed once more with the text trace on).
/// With `SIM_TRACE` set, every seed writes its trace. Returns the clean reports.
pub fn run_seeds_with(
    file: &str,
    test: &str,
    seeds: &[u64],
    make: impl Fn(u64) -> SimConfig,
    drive: impl Fn(Sim) -> Result<Report, Failure>,
) -> Vec<Report> {
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    let always_trace = std::env::var_os("SIM_TRACE").is_some();
    for (n, &seed) in seeds.iter().enumerate() {
        if always_trace {
            let path = write_trace(make(seed), &drive);
            println!("seed {seed}: trace written to {}", path.display());
        }
        match drive(Sim::new(make(seed))) {
            Ok(r) => {
                println!("{r}");
                if n == 0 {
                    match drive(Sim::new(make(seed))) {
                        Ok(b) if b.trace_hash == r.trace_hash => {}
                        other => failures.push(format!(
                            "seed {seed}: not deterministic: trace {:016x}, then {:?}\n  replay: {}",
                            r.trace_hash,
                            other.map(|b| format!("{:016x}", b.trace_hash)),
                            replay_command(file, test, seed)
                        )),
                    }
                }
                reports.push(r);
            }
            Err(f) => {
                let path = write_trace(make(seed), &drive);
                let msg = format!(
                    "{f}  replay: {}\n  trace:  {}",
                    replay_command(file, test, seed),
                    path.display()
                );
                println!("{msg}");
                failures.push(msg);
            }
        }
    }
    println!(
        "{} of {} seeds ran clean",
        seeds.len() - failures.len(),
        seeds.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    reports
}
