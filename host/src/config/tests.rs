use super::*;
use distro_core::{Limits, Timings};

fn parse(args: &[&str]) -> Result<ServerConfig, ConfigError> {
    ServerConfig::parse_from(std::iter::once("distrod").chain(args.iter().copied()))
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("distro-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn no_flags_is_a_standalone_member_on_the_nacos_ports() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.http.to_string(), "127.0.0.1:8848");
    assert_eq!(c.native.to_string(), "127.0.0.1:9848");
    assert_eq!(c.peer.to_string(), "127.0.0.1:9849");
    assert_eq!(c.node.self_id.as_str(), "127.0.0.1:8848");
    assert!(c.node.members.is_empty() && c.peers.is_empty());
    assert_eq!(c.max_connections, 10_000);
    assert_eq!(c.request_timeout, Duration::from_secs(10));
    assert_eq!(c.node.timings.beat_timeout, Timings::default().beat_timeout);
    assert_eq!(c.node.limits.max_clients, Limits::default().max_clients);
}

#[test]
fn members_flag_makes_a_cluster_with_peer_ports_plus_1001() {
    let c = parse(&[
        "--http",
        "127.0.0.1:18858",
        "--members",
        "127.0.0.1:18848,127.0.0.1:18858,127.0.0.1:18868",
        "--seed",
        "42",
    ])
    .unwrap();
    assert_eq!(c.node.self_id.as_str(), "127.0.0.1:18858");
    assert_eq!(c.node.members.len(), 3);
    assert_eq!(c.peer.port(), 19859);
    assert_eq!(c.native.port(), 19858);
    let peers: Vec<String> = c.peers.iter().map(|(m, a)| format!("{m}={a}")).collect();
    assert_eq!(
        peers,
        [
            "127.0.0.1:18848=127.0.0.1:19849",
            "127.0.0.1:18868=127.0.0.1:19869"
        ]
    );
    assert_eq!(c.node.seed, 42);
}

#[test]
fn self_must_be_a_member() {
    let err = parse(&[
        "--http",
        "127.0.0.1:1",
        "--members",
        "127.0.0.1:2,127.0.0.1:3",
    ])
    .unwrap_err();
    assert!(err.to_string().contains("not in the member list"), "{err}");
    let ok = parse(&[
        "--http",
        "0.0.0.0:2",
        "--self",
        "127.0.0.1:2",
        "--members",
        "127.0.0.1:2,127.0.0.1:3",
    ]);
    assert_eq!(ok.unwrap().peers.len(), 1);
}

#[test]
fn members_file_skips_comments_and_blank_lines() {
    let text = "# cluster\n127.0.0.1:18848\n\n  127.0.0.1:18858  # second\n127.0.0.1:18868\n127.0.0.1:18848\n";
    assert_eq!(
        parse_members_file(text),
        [
            "127.0.0.1:18848",
            "127.0.0.1:18858",
            "127.0.0.1:18868",
            "127.0.0.1:18848"
        ]
    );
    let path = temp_file("cluster.conf", text);
    let c = parse(&[
        "--http",
        "127.0.0.1:18868",
        "--members-file",
        path.to_str().unwrap(),
    ])
    .unwrap();
    assert_eq!(c.node.members.len(), 3, "duplicates are dropped");
    assert_eq!(c.peers.len(), 2);
}

#[test]
fn timings_and_limits_from_flags() {
    let c = parse(&[
        "--timing",
        "beat_timeout=1500",
        "--timing",
        "push_window=5",
        "--limit",
        "max_clients=1000",
    ])
    .unwrap();
    assert_eq!(c.node.timings.beat_timeout, Duration::from_millis(1500));
    assert_eq!(c.node.timings.push_window, Duration::from_millis(5));
    assert_eq!(c.node.limits.max_clients, 1000);
    let err = parse(&["--timing", "bogus=1"]).unwrap_err();
    assert!(err.to_string().contains("unknown timing `bogus`"), "{err}");
    let err = parse(&["--limit", "bogus=1"]).unwrap_err();
    assert!(err.to_string().contains("unknown limit `bogus`"), "{err}");
}

#[test]
fn config_file_is_read_and_flags_override_it() {
    let members = temp_file("file-members.conf", "127.0.0.1:28848\n127.0.0.1:28858\n");
    let path = temp_file(
        "distrod.toml",
        &format!(
            "http = \"127.0.0.1:28848\"\nmembers_file = \"{}\"\ncluster_name = \"blue\"\nseed = 9\n\
             log_level = \"debug\"\nmax_connections = 5\n\n[timings]\nbeat_timeout_ms = 15001\n\
             member_fail_threshold = 4\n\n[limits]\nmax_clients = 1001\n",
            members.file_name().unwrap().to_str().unwrap()
        ),
    );
    let p = path.to_str().unwrap();
    let c = parse(&["--config", p]).unwrap();
    assert_eq!(c.http.port(), 28848);
    assert_eq!(c.node.cluster_name, "blue");
    assert_eq!(c.node.seed, 9);
    assert_eq!(c.log, "debug");
    assert_eq!(c.max_connections, 5);
    assert_eq!(
        c.node.members.len(),
        2,
        "members_file is relative to the config file"
    );
    assert_eq!(c.node.timings.beat_timeout, Duration::from_millis(15001));
    assert_eq!(c.node.timings.member_fail_threshold, 4);
    assert_eq!(c.node.limits.max_clients, 1001);

    let c = parse(&[
        "--config",
        p,
        "--seed",
        "10",
        "--limit",
        "max_clients=7",
        "--members",
        "127.0.0.1:28848",
    ])
    .unwrap();
    assert_eq!(c.node.seed, 10);
    assert_eq!(c.node.limits.max_clients, 7);
    assert!(
        c.node.members.is_empty(),
        "--members replaces the file's list; alone it is standalone"
    );
}

#[test]
fn config_file_mistakes_are_clear_errors() {
    let err = FileConfig::parse("htp = \"127.0.0.1:1\"").unwrap_err();
    assert!(err.to_string().contains("htp"), "{err}");
    let path = temp_file("bad-timing.toml", "[timings]\nbeat_timeout_ms = \"soon\"\n");
    let err = parse(&["--config", path.to_str().unwrap()]).unwrap_err();
    assert!(err.to_string().contains("beat_timeout_ms"), "{err}");
    let path = temp_file("bad-limit.toml", "[limits]\nmax_klients = 3\n");
    let err = parse(&["--config", path.to_str().unwrap()]).unwrap_err();
    assert!(
        err.to_string().contains("unknown limit `max_klients`"),
        "{err}"
    );
    let err = parse(&["--config", "/nonexistent/distrod.toml"]).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/distrod.toml"),
        "{err}"
    );
}

#[test]
fn settings_a_node_cannot_run_with_are_refused_naming_the_field() {
    let err = parse(&[
        "--timing",
        "sync_retry_min_ms=5000",
        "--timing",
        "sync_retry_max_ms=1000",
    ])
    .unwrap_err();
    assert!(err.to_string().contains("timings.sync_retry_min"), "{err}");
    let err = parse(&["--limit", "max_clients=0"]).unwrap_err();
    assert!(err.to_string().contains("limits.max_clients"), "{err}");
}

#[test]
fn default_seeds_differ_between_calls() {
    let a = random_seed();
    std::thread::sleep(Duration::from_millis(1));
    assert_ne!(a, random_seed());
}

#[test]
fn port_overflow_is_an_error() {
    let err = parse(&["--http", "127.0.0.1:65000"]).unwrap_err();
    assert!(err.to_string().contains("above 65535"), "{err}");
}

#[test]
fn a_shard_has_its_own_identity_and_peer_port_and_links_to_every_other_member() {
    let c = parse(&[
        "--http",
        "127.0.0.1:18858",
        "--members",
        "127.0.0.1:18848,127.0.0.1:18858",
    ])
    .unwrap();
    let s = c.for_shard(2, 3).unwrap();
    assert_eq!(s.node.self_id.as_str(), "127.0.0.1:18858/2");
    assert_eq!((s.node.shards, s.peer.port()), (3, 19861));
    assert_eq!(s.http, c.http, "client ports are shared");
    let peers: Vec<(String, u16)> = s
        .peers
        .iter()
        .map(|(m, a)| (m.to_string(), a.port()))
        .collect();
    assert_eq!(
        peers,
        vec![
            ("127.0.0.1:18848".to_string(), 19849),
            ("127.0.0.1:18858".to_string(), 19859),
            ("127.0.0.1:18858/1".to_string(), 19860),
        ]
    );
    // another process's shard, announced later
    let other = distro_core::MemberId::of_shard("127.0.0.1:18848", 1);
    assert_eq!(s.peer_address_of(&other).unwrap().port(), 19850);
    assert_ne!(c.node.seed, s.node.seed);
    assert!(parse(&["--shards", "0"]).is_err());
}
