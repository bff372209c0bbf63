//! Real-client check: the unmodified crate `nacos-sdk` (naming over gRPC) against a Nacos 2.x
//! gRPC server.
//!
//! ```text
//! rust-check [check] [SERVERS]              the single-program checks
//! rust-check hold SERVICE IP PORT [SERVERS] register SERVICE IP:PORT, print `READY ...`, stay
//!                                           connected until SIGTERM/SIGINT (exit 0) or SIGKILL
//! ```
//!
//! SERVERS: comma-separated HTTP addresses; default `$NACOS_SERVERS`, else 127.0.0.1:8848. The
//! SDK connects to HTTP port + 1000 (its default). `$NACOS_GROUP`, `$NACOS_NAMESPACE` (default
//! public), `$NACOS_CHECK_TIMEOUT` (seconds, default 30) as for the other SDK checks. The SDK has
//! no shutdown call (and a dropped `NamingService` keeps its connection): a client closes its
//! connection when the process exits.

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nacos_sdk::api::naming::{
    NamingChangeEvent, NamingEventListener, NamingService, NamingServiceBuilder, ServiceInstance,
};
use nacos_sdk::api::props::ClientProps;
use tokio::sync::mpsc;

static PASSED: AtomicUsize = AtomicUsize::new(0);
static FAILED: AtomicUsize = AtomicUsize::new(0);

fn env_or(k: &str, d: &str) -> String {
    std::env::var(k)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| d.to_string())
}

fn timeout() -> Duration {
    Duration::from_secs_f64(env_or("NACOS_CHECK_TIMEOUT", "30").parse().unwrap_or(30.0))
}

fn namespace() -> String {
    env_or("NACOS_NAMESPACE", "public")
}

fn report(name: &str, ok: bool, detail: &str) {
    if ok {
        PASSED.fetch_add(1, Ordering::SeqCst);
        println!("PASS {name}");
    } else {
        FAILED.fetch_add(1, Ordering::SeqCst);
        println!("FAIL {name} - {detail}");
    }
}

async fn client(servers: &str, tag: &str) -> nacos_sdk::api::error::Result<NamingService> {
    let dir = std::env::temp_dir().join(format!("nacos-rust-check-{}-{tag}", std::process::id()));
    let props = ClientProps::new()
        .server_addr(servers)
        .namespace(namespace())
        .app_name("distro-rust-check")
        .naming_load_cache_at_start(false)
        // pushes with no hosts are delivered (the default drops them: a client setting)
        .naming_push_empty_protection(false)
        .cache_dir(dir);
    NamingServiceBuilder::new(props).build().await
}

fn instance(ip: &str, port: i32) -> ServiceInstance {
    ServiceInstance {
        ip: ip.to_string(),
        port,
        weight: 1.0,
        healthy: true,
        enabled: true,
        ephemeral: true,
        ..Default::default()
    }
}

fn addrs(hosts: &[ServiceInstance]) -> Vec<String> {
    let mut v: Vec<String> = hosts
        .iter()
        .map(|h| format!("{}:{}", h.ip, h.port))
        .collect();
    v.sort();
    v
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Polls `probe` until it returns `want`; one report line.
async fn eventually<T, E, F, Fut>(name: &str, mut probe: F, want: T) -> bool
where
    T: PartialEq + Debug,
    E: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + timeout();
    let mut last;
    loop {
        match tokio::time::timeout(timeout(), probe()).await {
            Ok(Ok(got)) if got == want => {
                report(name, true, "");
                return true;
            }
            Ok(Ok(got)) => last = format!("{got:?}"),
            Ok(Err(e)) => last = format!("error: {e:?}"),
            Err(_) => last = "the call timed out".to_string(),
        }
        if Instant::now() > deadline {
            report(
                name,
                false,
                &format!("wanted {want:?}, last {last} after {:?}", timeout()),
            );
            return false;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Runs one SDK call that must succeed; a report line only on failure.
async fn step<T, E: Debug>(name: &str, call: impl Future<Output = Result<T, E>>) -> bool {
    match tokio::time::timeout(timeout(), call).await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => {
            report(name, false, &format!("{e:?}"));
            false
        }
        Err(_) => {
            report(name, false, "the call timed out");
            false
        }
    }
}

struct Pushes(mpsc::UnboundedSender<Vec<String>>);

impl NamingEventListener for Pushes {
    fn event(&self, event: Arc<NamingChangeEvent>) {
        let hosts = event.instances.clone().unwrap_or_default();
        let _ = self.0.send(addrs(&hosts));
    }
}

async fn wait_push(name: &str, rx: &mut mpsc::UnboundedReceiver<Vec<String>>, want: Vec<String>) {
    let deadline = tokio::time::Instant::now() + timeout();
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(got)) => {
                let hit = got == want;
                seen.push(got);
                if hit {
                    report(name, true, "");
                    return;
                }
            }
            _ => {
                report(
                    name,
                    false,
                    &format!(
                        "no push with {want:?} within {:?}; pushes seen: {seen:?}",
                        timeout()
                    ),
                );
                return;
            }
        }
    }
}

async fn check(servers: String) {
    let group = std::env::var("NACOS_GROUP")
        .ok()
        .filter(|g| !g.is_empty())
        .unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            format!("rust-{:08x}", nanos ^ std::process::id())
        });
    let g = || Some(group.clone());
    let (s1, s2, s3) = (
        "svc-a".to_string(),
        "svc-b".to_string(),
        "svc-batch".to_string(),
    );
    println!(
        "# rust nacos-sdk 0.8.3 servers={servers} namespace={} group={group}",
        namespace()
    );
    let a = match client(&servers, "a").await {
        Ok(a) => a,
        Err(e) => return report("client", false, &format!("{e:?}")),
    };
    let query = |c: NamingService, svc: String, group: Option<String>| async move {
        // get_all_instances without subscribing sends ServiceQueryRequest
        c.get_all_instances(svc, group, Vec::new(), false)
            .await
            .map(|h| addrs(&h))
    };

    let mut i1 = instance("10.0.0.1", 8080);
    i1.metadata = HashMap::from([("sdk".to_string(), "rust".to_string())]);
    if step("register-two", a.register_instance(s1.clone(), g(), i1)).await
        && step(
            "register-two",
            a.register_instance(s2.clone(), g(), instance("10.0.0.2", 8080)),
        )
        .await
    {
        report("register-two", true, "");
    }
    eventually(
        "query",
        || query(a.clone(), s1.clone(), g()),
        strs(&["10.0.0.1:8080"]),
    )
    .await;
    eventually(
        "query-second",
        || query(a.clone(), s2.clone(), g()),
        strs(&["10.0.0.2:8080"]),
    )
    .await;
    eventually(
        "select-instances",
        || async {
            let h = a
                .select_instances(s1.clone(), g(), Vec::new(), true, true)
                .await?;
            Ok::<_, nacos_sdk::api::error::Error>(addrs(&h))
        },
        strs(&["10.0.0.1:8080"]),
    )
    .await;

    let batch = vec![instance("10.0.0.3", 8080), instance("10.0.0.4", 8080)];
    if step(
        "batch-register",
        a.batch_register_instance(s3.clone(), g(), batch),
    )
    .await
    {
        eventually(
            "batch-register",
            || query(a.clone(), s3.clone(), g()),
            strs(&["10.0.0.3:8080", "10.0.0.4:8080"]),
        )
        .await;
    }

    eventually(
        "list-services",
        || async {
            let (mut names, count) = a.get_service_list(1, 100, g()).await?;
            names.sort();
            Ok::<_, nacos_sdk::api::error::Error>((count, names))
        },
        (3, strs(&["svc-a", "svc-b", "svc-batch"])),
    )
    .await;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut b = None;
    if step(
        "subscribe",
        a.subscribe(s1.clone(), g(), Vec::new(), Arc::new(Pushes(tx))),
    )
    .await
    {
        report("subscribe", true, "");
        match client(&servers, "b").await {
            Err(e) => report("client-b", false, &format!("{e:?}")),
            Ok(bb) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                while rx.try_recv().is_ok() {}
                if step(
                    "push-on-register",
                    bb.register_instance(s1.clone(), g(), instance("10.0.0.9", 9090)),
                )
                .await
                {
                    wait_push(
                        "push-on-register",
                        &mut rx,
                        strs(&["10.0.0.1:8080", "10.0.0.9:9090"]),
                    )
                    .await;
                }
                if step(
                    "push-on-deregister",
                    bb.deregister_instance(s1.clone(), g(), instance("10.0.0.9", 9090)),
                )
                .await
                {
                    wait_push("push-on-deregister", &mut rx, strs(&["10.0.0.1:8080"])).await;
                }
                b = Some(bb);
            }
        }
    }

    if step(
        "deregister",
        a.deregister_instance(s2.clone(), g(), instance("10.0.0.2", 8080)),
    )
    .await
    {
        eventually(
            "deregister",
            || query(a.clone(), s2.clone(), g()),
            Vec::<String>::new(),
        )
        .await;
    }

    // nacos-sdk 0.8.3 has no shutdown, and dropping every `NamingService` handle leaves its
    // connection open (its background tasks keep it: seen against r-nacos, A's instances were
    // still listed 30 s after the drop). A client that closes is the process that exits, which
    // .ci/grpc-client-check.sh checks (`close`, with `hold` mode). Here B only reads A's
    // instances from another connection.
    drop(b);
    match client(&servers, "c").await {
        Ok(c) => {
            eventually(
                "other-client-reads",
                || query(c.clone(), s3.clone(), g()),
                strs(&["10.0.0.3:8080", "10.0.0.4:8080"]),
            )
            .await;
        }
        Err(e) => report("client-c", false, &format!("{e:?}")),
    }
    println!("# close-removes: checked by the runner's close scenario (the SDK has no shutdown)");
    drop(a);
}

async fn hold(service: String, ip: String, port: i32, servers: String) -> i32 {
    let group = env_or("NACOS_GROUP", "DEFAULT_GROUP");
    let c = match client(&servers, "hold").await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("client failed: {e:?}");
            return 1;
        }
    };
    match tokio::time::timeout(
        timeout(),
        c.register_instance(service.clone(), Some(group.clone()), instance(&ip, port)),
    )
    .await
    {
        Ok(Ok(())) => {}
        other => {
            eprintln!("register failed: {other:?}");
            return 1;
        }
    }
    println!("READY rust {} {group} {service} {ip}:{port}", namespace());
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("signal: {e}");
            return 1;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    drop(c);
    println!("CLOSED rust");
    0
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mode = match args.first().map(String::as_str) {
        Some("check") | Some("hold") => args.remove(0),
        _ => "check".to_string(),
    };
    let servers = |rest: &[String]| {
        rest.first()
            .cloned()
            .unwrap_or_else(|| env_or("NACOS_SERVERS", "127.0.0.1:8848"))
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    if mode == "hold" {
        if args.len() < 3 {
            eprintln!("usage: rust-check hold SERVICE IP PORT [SERVERS]");
            std::process::exit(2);
        }
        let port: i32 = args[2].parse().unwrap_or_else(|_| {
            eprintln!("bad port {}", args[2]);
            std::process::exit(2)
        });
        let code = rt.block_on(hold(
            args[0].clone(),
            args[1].clone(),
            port,
            servers(&args[3..]),
        ));
        std::process::exit(code);
    }
    let all = servers(&args);
    let done = rt.block_on(async { tokio::time::timeout(timeout() * 10, check(all)).await });
    if done.is_err() {
        report("run", false, "the checks did not finish in time");
    }
    let (p, f) = (PASSED.load(Ordering::SeqCst), FAILED.load(Ordering::SeqCst));
    println!("{p} passed, {f} failed");
    std::process::exit(if f > 0 { 1 } else { 0 });
}
