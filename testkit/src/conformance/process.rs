//! The process contract every runtime binary keeps: exit statuses and stop signals.

use crate::cluster::Target;
use crate::cluster::{Cluster, HttpConn, NativeClient};

use std::time::Duration;

/// SIGTERM and SIGINT stop a member with exit status 0, also with open client connections.
pub fn signals_exit_0(t: &Target) {
    let mut c = Cluster::start(t, 1, &[]);
    for sig in ["TERM", "INT"] {
        let _idle = HttpConn::connect(c.http_addr(0)).expect("connect");
        let mut native = NativeClient::connect(c.native_addr(0));
        native.register("sig", "10.0.0.1", 1);
        c.signal(0, sig);
        let status = c.wait_exit(0, Duration::from_secs(10));
        assert_eq!(status.code(), Some(0), "SIG{sig} gave {status}");
        c.restart(0);
    }
}

/// A socket that cannot be bound exits with status 1 and a message naming the address.
pub fn bind_failure_exits_1(t: &Target) {
    let c = Cluster::start(t, 1, &[]);
    let taken = c.http_addr(0).to_string();
    let out = t
        .command()
        .args(["--http", &taken])
        .output()
        .expect("run the binary");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(
        err.contains(&taken) && err.to_lowercase().contains("bind"),
        "the message should say which address could not be bound: {err}"
    );
    assert!(!err.contains("distrod listening"), "{err}");
}

/// A bad command line exits with status 2 and says what is wrong, before binding anything.
pub fn bad_command_line_exits_2(t: &Target) {
    let cases: &[(&[&str], &str)] = &[
        (&["--timing", "nope=1"], "nope"),
        (&["--limit", "max_clients=many"], "max_clients"),
        (&["--no-such-flag"], "--no-such-flag"),
        (&["--members", "127.0.0.1:1,127.0.0.1:2"], "127.0.0.1:8848"),
        (&["--limit", "max_clients=0"], "limits.max_clients"),
        (
            &[
                "--timing",
                "sync_retry_min=5000",
                "--timing",
                "sync_retry_max=1000",
            ],
            "timings.sync_retry_min",
        ),
    ];
    for (args, mentions) in cases {
        let out = t.command().args(*args).output().expect("run the binary");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(mentions),
            "{args:?}: stderr should mention {mentions:?}: {err}"
        );
        assert!(!err.contains("distrod listening"), "{args:?}: {err}");
    }
}
