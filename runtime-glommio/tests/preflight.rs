//! Without enough locked memory, `distrod-glommio` says so in one line and exits 1 before
//! any executor starts (glommio itself would hang or panic in a shard's thread).

use std::process::Command;

#[test]
fn too_little_locked_memory_is_one_clear_line_and_exit_1() {
    // drop CAP_IPC_LOCK (root is not bound by the limit), then lower the limit
    let bin = env!("CARGO_BIN_EXE_distrod-glommio");
    let script = format!(
        "ulimit -l 64 && exec setpriv --bounding-set=-ipc_lock --inh-caps=-ipc_lock -- {bin} --shards 2 --http 127.0.0.1:0 --native 127.0.0.1:0 --peer 127.0.0.1:0"
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .output()
        .expect("run sh (and setpriv, from util-linux)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("locked memory") && err.contains("64 KiB"),
        "{err}"
    );
}
