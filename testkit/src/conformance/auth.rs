//! Peer authentication with a cluster secret: a member without it never joins and learns
//! nothing; secrets rotate by restarting members one at a time.

use super::replication::start_cluster;
use super::v1::{self, addrs, wait_all_up, wait_for_addrs};
use crate::cluster::{wait_until, Cluster, Target};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A file holding `text`, in a directory of this test process.
fn secret_file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("distro-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, text).expect("write secret");
    path.to_string_lossy().to_string()
}

/// The cluster's arguments with this secret file.
fn with_secret(c: &Cluster, file: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut it = c.extra_args().iter();
    while let Some(a) = it.next() {
        if a == "--cluster-secret-file" {
            it.next();
        } else {
            args.push(a.clone());
        }
    }
    args.extend(["--cluster-secret-file".to_string(), file.to_string()]);
    args
}

fn restart_with(c: &mut Cluster, i: usize, args: &[String]) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    c.set_args(i, &args);
    c.stop(i);
    c.restart(i);
}

/// A member whose secret differs never joins: it receives no data of the others (its lists stay
/// empty), theirs stay without its data, it is DOWN to them, and the refusals are counted.
pub fn wrong_cluster_secret_never_joins(t: &Target) {
    let right = secret_file("right", "correct horse\n");
    let wrong = secret_file("wrong", "battery staple\n");
    let mut c = start_cluster(t, 3, &["--cluster-secret-file", &right]);
    for i in 0..3 {
        wait_all_up(&c, i);
    }
    let bad = with_secret(&c, &wrong);
    restart_with(&mut c, 2, &bad);
    v1::register(&c, 0, "sealed", "10.11.0.1", 80);
    wait_for_addrs(&c, 1, "sealed", &["10.11.0.1:80"]);
    v1::register(&c, 2, "sealed", "10.11.0.2", 80);
    // several verify rounds: nothing crosses either way
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        assert!(
            addrs(&c, 2, "sealed").iter().all(|a| a != "10.11.0.1:80"),
            "member 2 learnt data"
        );
        for i in 0..2 {
            assert!(
                addrs(&c, i, "sealed").iter().all(|a| a != "10.11.0.2:80"),
                "member {i} took data"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_until(
        Duration::from_secs(20),
        "member 2 to be DOWN at member 0",
        || {
            let r = c.http(0, "GET", "/nacos/v1/core/cluster/nodes");
            let down = r.json()["data"].as_array().is_some_and(|a| {
                a.iter().any(|m| {
                    m["address"]
                        .as_str()
                        .is_some_and(|x| x.starts_with(&c.http_addr(2).to_string()))
                        && m["state"] == "DOWN"
                })
            });
            if down {
                Ok(())
            } else {
                Err(r.body)
            }
        },
    );
    let refused: u64 = (0..3).map(|i| c.metric(i, "runtime_peers_refused")).sum();
    assert!(refused > 0, "the refusals are counted");
    let log = c.log(0) + &c.log(1) + &c.log(2);
    assert!(
        !log.contains("correct horse") && !log.contains("battery staple"),
        "a secret was logged"
    );
}

/// Rotating the secret by restarting members one at a time, three times ([old, new], then
/// [new, old], then [new]): the cluster stays whole at every step.
pub fn cluster_secret_rotation(t: &Target) {
    let old = secret_file("old", "old-secret\n");
    let both_old_first = secret_file("old-new", "old-secret\nnew-secret\n");
    let both_new_first = secret_file("new-old", "new-secret\nold-secret\n");
    let new = secret_file("new", "new-secret\n");
    let mut c = start_cluster(t, 3, &["--cluster-secret-file", &old]);
    for i in 0..3 {
        wait_all_up(&c, i);
    }
    let mut k = 0;
    for file in [&both_old_first, &both_new_first, &new] {
        let args = with_secret(&c, file);
        for i in 0..3 {
            restart_with(&mut c, i, &args);
            for j in 0..3 {
                wait_all_up(&c, j);
            }
            k += 1;
            let ip = format!("10.12.0.{k}");
            v1::register(&c, (i + 1) % 3, "rotation", &ip, 80);
            let want = format!("{ip}:80");
            for j in 0..3 {
                wait_until(
                    Duration::from_secs(20),
                    "the write to reach every member",
                    || {
                        if addrs(&c, j, "rotation").contains(&want) {
                            Ok(())
                        } else {
                            Err(format!("member {j}: {:?}", addrs(&c, j, "rotation")))
                        }
                    },
                );
            }
        }
    }
}

/// `nacos` with the password `nacos-check-password`, as `htpasswd -nbB` writes it.
const USERS: &str = "nacos:$2y$05$qGeeSsO1tYWAZD8b/Z04..16pNlDtENec8LxB9FdgHiDA9VDlL5Oe\n";

/// With a users file, naming requests need an `accessToken` from a login (v1 parameter or
/// header, gRPC metadata header); a token one member issued works at every member; wrong
/// passwords and missing tokens answer 403 and are counted; health and metrics stay open.
pub fn client_auth_tokens(t: &Target) {
    let users = secret_file("users", USERS);
    let mut args = super::CLUSTER_TIMINGS.to_vec();
    args.extend(["--auth-users-file", &users]);
    // the cluster endpoints need a token too: no waiting on them here
    let c = Cluster::start(t, 2, &args);
    let list = "/nacos/v1/ns/instance/list?serviceName=authed";
    assert_eq!(c.http(0, "GET", list).status, 403, "no token");
    let r = c.http(
        0,
        "POST",
        "/nacos/v1/auth/login?username=nacos&password=wrong",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = c.http(
        0,
        "POST",
        "/nacos/v1/auth/users/login?username=nacos&password=nacos-check-password",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let login = r.json();
    let token = login["accessToken"]
        .as_str()
        .expect("accessToken")
        .to_string();
    assert!(
        login["tokenTtl"].as_u64() > Some(0) && login["globalAdmin"].is_boolean(),
        "{login}"
    );
    let r = c.http(
        0,
        "POST",
        &format!(
            "/nacos/v1/ns/instance?serviceName=authed&ip=10.13.0.1&port=80&accessToken={token}"
        ),
    );
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    // the other member accepts the token, as a header too
    let mut conn = crate::cluster::HttpConn::connect(c.http_addr(1)).expect("connect");
    conn.send(format!("GET {list} HTTP/1.1\r\nHost: x\r\naccessToken: {token}\r\n\r\n").as_bytes())
        .expect("send");
    let r = conn.read_response().expect("answer");
    assert_eq!(r.status, 200, "{}", r.body);
    let forged = format!("{}0", &token[..token.len() - 1]);
    let r = c.http(1, "GET", &format!("{list}&accessToken={forged}"));
    assert_eq!(r.status, 403, "a forged token");
    assert_eq!(
        c.http(0, "GET", "/nacos/v1/console/health/liveness").status,
        200
    );
    assert_eq!(c.http(0, "GET", "/metrics").status, 200);
    // gRPC: refused without the token, served with it
    let mut g = crate::cluster::GrpcClient::connect(c.native_addr(1));
    let (kind, body) = g.register("authed", "10.13.0.2", 81);
    assert_eq!(
        (kind.as_str(), body["errorCode"].as_i64()),
        ("ErrorResponse", Some(403)),
        "{body}"
    );
    g.token = Some(token);
    let (kind, _) = g.register("authed", "10.13.0.2", 81);
    assert_eq!(kind, "InstanceResponse");
    assert!(c.metric(0, "runtime_auth_refused") + c.metric(1, "runtime_auth_refused") >= 4);
}
