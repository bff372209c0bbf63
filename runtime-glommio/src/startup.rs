//! Starting the shards: claiming the ports, the executor pool, binding, the ready line, and
//! the stop.

use crate::mesh::{self, Pipe, CHANNEL_CAPACITY};
use crate::preflight::{self, Unsupported, IO_MEMORY};
use crate::shard::Shard;
use crate::tcp;
use distro_host::{ConfigError, Host, Listener, ServerConfig};
use glommio::channels::channel_mesh::MeshBuilder;
use glommio::net::{TcpListener, UdpSocket};
use glommio::{CpuSet, LocalExecutorPoolBuilder, PoolPlacement};
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// Why `distrod-glommio` could not start or stopped with an error.
#[derive(Debug)]
pub enum RunError {
    /// The machine cannot run glommio executors.
    Unsupported(Unsupported),
    /// A shard's configuration could not be derived (e.g. a port past 65535).
    Config(ConfigError),
    /// A socket could not be bound.
    Bind(String),
    /// The executors could not be started, or one failed.
    Executor(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Unsupported(u) => u.fmt(f),
            RunError::Config(e) => e.fmt(f),
            RunError::Bind(e) => f.write_str(e),
            RunError::Executor(e) => write!(f, "executor failed: {e}"),
        }
    }
}

impl std::error::Error for RunError {}

/// What one shard bound.
#[derive(Clone, Copy, Debug)]
struct Bound {
    http: SocketAddr,
    native: SocketAddr,
    peer: SocketAddr,
    udp: SocketAddr,
}

/// Shards report here what they bound.
#[derive(Default)]
struct Startup {
    state: Mutex<Vec<Option<Result<Bound, String>>>>,
    changed: Condvar,
}

impl Startup {
    fn report(&self, shard: usize, result: Result<Bound, String>) {
        let mut s = self.state.lock().expect("startup lock");
        s[shard] = Some(result);
        self.changed.notify_all();
    }

    /// Every shard's result, once all reported or one failed.
    fn all(&self) -> Result<Vec<Bound>, String> {
        let mut s = self.state.lock().expect("startup lock");
        loop {
            if let Some(Some(Err(e))) = s.iter().find(|r| matches!(r, Some(Err(_)))) {
                return Err(e.clone());
            }
            if s.iter().all(Option::is_some) {
                return Ok(s.iter().flatten().flatten().copied().collect());
            }
            s = self.changed.wait(s).expect("startup lock");
        }
    }
}

/// Starts the shards, prints the ready line, and serves until SIGINT or SIGTERM.
pub fn run(config: ServerConfig) -> Result<(), RunError> {
    let online = std::thread::available_parallelism().map_or(1, |n| n.get());
    let shards = config
        .shards
        .unwrap_or(u16::try_from(online).unwrap_or(u16::MAX));
    preflight::check(shards).map_err(RunError::Unsupported)?;
    let mut config = config;
    claim_ports(&mut config, shards)?;
    let placement = placement(shards, &config.cpus)?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| RunError::Executor(format!("cannot handle signals: {e}")))?;
    }
    let startup = Arc::new(Startup {
        state: Mutex::new(vec![None; usize::from(shards)]),
        changed: Condvar::new(),
    });
    let mesh = MeshBuilder::<Pipe, _>::full(usize::from(shards), CHANNEL_CAPACITY);
    let handles = LocalExecutorPoolBuilder::new(placement)
        .name("distro-shard")
        .io_memory(IO_MEMORY)
        .on_all_shards({
            let (startup, stop) = (startup.clone(), stop.clone());
            move || serve_shard(config, shards, mesh, startup, stop)
        })
        .map_err(|e| RunError::Executor(e.to_string()))?;
    match startup.all() {
        Ok(bound) => {
            let b = bound[0];
            tracing::info!(shards, "listening");
            for (k, s) in bound.iter().enumerate() {
                tracing::info!(shard = k, peer = %s.peer, udp = %s.udp, "shard bound");
            }
            // One write, so a reader never sees half of the line (stderr is unbuffered).
            let line = format!(
                "distrod listening http={} native={} peer={} udp={} shards={shards}\n",
                b.http, b.native, b.peer, b.udp
            );
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        }
        Err(e) => {
            stop.store(true, Ordering::Relaxed);
            return Err(RunError::Bind(e));
        }
    }
    let mut failed = None;
    for r in handles.join_all() {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed = Some(e),
            Err(e) => failed = Some(e.to_string()),
        }
    }
    match failed {
        None => {
            tracing::info!("every shard stopped");
            Ok(())
        }
        Some(e) => Err(RunError::Executor(e)),
    }
}

/// Binds every port the shards will share or own once without `SO_REUSEPORT` and lets it go:
/// a port another process holds (even one that set `SO_REUSEPORT`, such as another
/// `distrod-glommio`) fails here instead of being silently shared, and a port 0 becomes the
/// free port every shard then binds.
fn claim_ports(config: &mut ServerConfig, shards: u16) -> Result<(), RunError> {
    let claim = |what: &str, addr: SocketAddr| {
        let error = |e: std::io::Error| {
            RunError::Bind(format!("cannot bind the {what} address {addr}: {e}"))
        };
        match std::net::TcpListener::bind(addr).and_then(|l| l.local_addr()) {
            Ok(a) => Ok(a),
            // Connections of an earlier run of this process (TIME_WAIT, with SO_REUSEPORT)
            // also refuse the plain bind; only a listener makes the port taken.
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && !listening(addr) => Ok(addr),
            Err(e) => Err(error(e)),
        }
    };
    config.http = claim("HTTP", config.http)?;
    config.native = claim("native", config.native)?;
    for k in 0..shards {
        let cfg = config.for_shard(k, shards).map_err(RunError::Config)?;
        if cfg.peer.port() != 0 {
            claim("peer", cfg.peer)?;
        }
    }
    Ok(())
}

/// Whether something accepts connections at `addr` (a wildcard address is tried on loopback).
fn listening(addr: SocketAddr) -> bool {
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    std::net::TcpStream::connect_timeout(&target, std::time::Duration::from_millis(500)).is_ok()
}

/// Pinning: `--cpus` in shard order, or glommio's spread over the online CPUs (fenced to all
/// of them when there are more shards than CPUs).
fn placement(shards: u16, cpus: &[usize]) -> Result<PoolPlacement, RunError> {
    let online = CpuSet::online().map_err(|e| RunError::Executor(e.to_string()))?;
    if !cpus.is_empty() {
        if cpus.len() != usize::from(shards) {
            return Err(RunError::Config(ConfigError::new(format!(
                "--cpus lists {} CPUs for {shards} shards",
                cpus.len()
            ))));
        }
        let mut sets = Vec::new();
        for &cpu in cpus {
            let set = online.clone().filter(|l| l.cpu == cpu);
            if set.is_empty() {
                return Err(RunError::Config(ConfigError::new(format!(
                    "--cpus: CPU {cpu} is not online"
                ))));
            }
            sets.push(set);
        }
        return Ok(PoolPlacement::Custom(sets));
    }
    if usize::from(shards) <= online.len() {
        Ok(PoolPlacement::MaxSpread(usize::from(shards), None))
    } else {
        Ok(PoolPlacement::Fenced(usize::from(shards), online))
    }
}

/// One shard's life: join the mesh, bind, serve until stopped.
async fn serve_shard(
    config: ServerConfig,
    shards: u16,
    mesh: MeshBuilder<Pipe, glommio::channels::channel_mesh::Full>,
    startup: Arc<Startup>,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    let (senders, receivers) = mesh.join().await.map_err(|e| e.to_string())?;
    let index = senders.peer_id();
    let mut cfg = config
        .for_shard(index as u16, shards)
        .map_err(|e| e.to_string())?;
    let bound = bind(&mut cfg);
    let (http, native, peer, udp) = match bound {
        Ok(b) => b,
        Err(e) => {
            startup.report(index, Err(e.clone()));
            return Err(e);
        }
    };
    let addrs = Bound {
        http: cfg.http,
        native: cfg.native,
        peer: cfg.peer,
        udp: udp.local_addr().map_err(|e| e.to_string())?,
    };
    startup.report(index, Ok(addrs));
    let shard = Shard::new(index, Host::new(cfg), senders, udp, stop);
    for (listener, kind) in [
        (http, Listener::Http),
        (native, Listener::Native),
        (peer, Listener::Peer),
    ] {
        glommio::spawn_local(tcp::accept_loop(shard.clone(), listener, kind)).detach();
    }
    glommio::spawn_local(shard.clone().receive_datagrams()).detach();
    glommio::spawn_local(shard.clone().send_datagrams()).detach();
    let receivers = Rc::new(receivers);
    for from in (0..usize::from(shards)).filter(|k| *k != index) {
        glommio::spawn_local(mesh::receive(shard.clone(), receivers.clone(), from)).detach();
    }
    shard.pump();
    shard.clone().run_timers().await;
    tracing::debug!(shard = index, "shard stopped");
    Ok(())
}

type Sockets = (TcpListener, TcpListener, TcpListener, UdpSocket);

/// Binds a shard's sockets (the client ports with `SO_REUSEPORT`, shared by the shards).
fn bind(cfg: &mut ServerConfig) -> Result<Sockets, String> {
    let tcp = |what: &str, addr: SocketAddr| {
        TcpListener::bind(addr).map_err(|e| format!("cannot bind the {what} address {addr}: {e}"))
    };
    let http = tcp("HTTP", cfg.http)?;
    let native = tcp("native", cfg.native)?;
    let peer = tcp("peer", cfg.peer)?;
    let local = |l: &TcpListener| l.local_addr().map_err(|e| e.to_string());
    cfg.http = local(&http)?;
    cfg.native = local(&native)?;
    cfg.peer = local(&peer)?;
    let udp_addr = SocketAddr::new(cfg.http.ip(), 0);
    let udp = UdpSocket::bind(udp_addr)
        .map_err(|e| format!("cannot bind the UDP push address {udp_addr}: {e}"))?;
    Ok((http, native, peer, udp))
}
