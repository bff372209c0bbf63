//! Replaying committed fuzz corpora (`fuzz/corpus/<target>/*`: seeds and inputs that once found
//! a bug) through the functions the libFuzzer targets call, so a plain `cargo test` covers them
//! without nightly features. Files and panics are the test harness's business, so this lives
//! here rather than in the I/O-free core.

use std::path::{Path, PathBuf};

/// The committed corpus of fuzz target `target`.
pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Runs every file in `dir` through `run` (the same function a fuzz target calls), in name
/// order; panics naming the file that failed, or if `dir` holds no file.
pub fn replay_corpus(dir: &Path, run: fn(&[u8])) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    for file in &files {
        let data = std::fs::read(file).expect("a corpus file");
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            panic!("{} failed", file.display());
        }
    }
}
