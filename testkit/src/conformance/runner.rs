//! A test runner for suites that may not run on every machine: each case passes, fails, or is
//! skipped with its reason, and the summary line says how many of each, so a skip is never
//! mistaken for a pass. Used as the `main` of an integration test with `harness = false`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// One case of a suite.
pub struct Case {
    /// Its name, as printed and as matched by filters.
    pub name: String,
    /// Runs it; panics when it fails.
    pub run: Box<dyn Fn() + Send + Sync>,
}

impl Case {
    /// A case named `name`.
    pub fn new(name: impl Into<String>, run: impl Fn() + Send + Sync + 'static) -> Self {
        Case {
            name: name.into(),
            run: Box::new(run),
        }
    }
}

/// Runs `cases` (those whose name contains one of the command line's free arguments, or all),
/// `threads` at a time, and prints one line per case and
/// `<suite>: N passed, N failed, N skipped`. With `skip` set, every case is reported skipped
/// with that reason. The exit status is a failure if any case failed.
pub fn run_suite(suite: &str, cases: Vec<Case>, skip: Option<String>, threads: usize) -> ExitCode {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let listing = std::env::args().any(|a| a == "--list");
    let cases: Vec<Case> = cases
        .into_iter()
        .filter(|c| filters.is_empty() || filters.iter().any(|f| c.name.contains(f.as_str())))
        .collect();
    if listing {
        for c in &cases {
            println!("{}: test", c.name);
        }
        return ExitCode::SUCCESS;
    }
    if let Some(why) = skip {
        for c in &cases {
            println!("test {} ... skipped ({why})", c.name);
        }
        println!("{suite}: 0 passed, 0 failed, {} skipped", cases.len());
        return ExitCode::SUCCESS;
    }
    let next = AtomicUsize::new(0);
    let failed = Mutex::new(Vec::new());
    let passed = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = cases.get(i) else { return };
                // the thread name names the logs the cluster launcher writes
                let name = case.name.replace(['/', ' ', '='], "_");
                let outcome = std::thread::Builder::new()
                    .name(name)
                    .spawn_scoped(s, || catch_unwind(AssertUnwindSafe(|| (case.run)())))
                    .expect("spawn a case")
                    .join()
                    .unwrap_or(Err(Box::new("case thread failed")));
                match outcome {
                    Ok(()) => {
                        passed.fetch_add(1, Ordering::SeqCst);
                        println!("test {} ... ok", case.name);
                    }
                    Err(_) => {
                        println!("test {} ... FAILED", case.name);
                        failed.lock().expect("lock").push(case.name.clone());
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().expect("lock");
    for f in &failed {
        println!("failed: {f}");
    }
    println!(
        "{suite}: {} passed, {} failed, 0 skipped",
        passed.load(Ordering::SeqCst),
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
