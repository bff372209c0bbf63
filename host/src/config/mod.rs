//! The command line and config file of every `distrod` binary.
//!
//! One place parses flags and the optional TOML file into a [`ServerConfig`], so that all
//! runtimes take the same options. Flags override the file; the file overrides the defaults.
//!
//! * With no flags, a standalone member serves HTTP on `127.0.0.1:8848`, the native protocol on
//!   the HTTP port + 1000 (9848) and peers on the HTTP port + 1001 (9849), like Nacos.
//! * A cluster comes from `--members a:p,b:p` or `--members-file cluster.conf` (one `ip:port`
//!   per line, `#` comments). A member is named by its HTTP address; its peer address is that
//!   port + 1001. This member's own name is `--self`, by default its HTTP address.
//! * Every field of [`distro_core::Timings`] and [`distro_core::Limits`] can be set:
//!   `--timing beat_timeout=15000` (milliseconds), `--limit max_clients=1000`, or in the file
//!   `[timings] beat_timeout_ms = 15000` and `[limits] max_clients = 1000`.
//!
//! ```
//! let cfg = distro_host::ServerConfig::parse_from(["distrod", "--http", "127.0.0.1:18848",
//!     "--members", "127.0.0.1:18848,127.0.0.1:18858", "--timing", "verify_interval=1000"]).unwrap();
//! assert_eq!(cfg.peer.port(), 19849);
//! assert_eq!(cfg.peers[0].1.port(), 19859);
//! ```

mod file;
pub mod tuning;

use clap::{CommandFactory, FromArgMatches, Parser};
use distro_core::{Config, MemberId};
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use file::FileConfig;

/// Port offset of the native client protocol from the HTTP port (Nacos SDK gRPC offset).
pub const NATIVE_PORT_OFFSET: u16 = 1000;
/// Port offset of the peer protocol from the HTTP port (Nacos cluster gRPC offset).
pub const PEER_PORT_OFFSET: u16 = 1001;
/// The HTTP address without flags.
pub const DEFAULT_HTTP: &str = "127.0.0.1:8848";

/// Command line of a `distrod` server. Every option can also be set in the `--config` file.
#[derive(Parser, Debug, Default, Clone)]
#[command(
    name = "distrod",
    version,
    about = "A Nacos-compatible ephemeral service registry (Distro protocol)"
)]
pub struct Args {
    /// TOML config file; flags override it.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// HTTP (Nacos v1 API) address [default: 127.0.0.1:8848].
    #[arg(long, value_name = "IP:PORT")]
    pub http: Option<SocketAddr>,
    /// Native client protocol address [default: HTTP port + 1000].
    #[arg(long, value_name = "IP:PORT")]
    pub native: Option<SocketAddr>,
    /// Peer protocol address [default: HTTP port + 1001].
    #[arg(long, value_name = "IP:PORT")]
    pub peer: Option<SocketAddr>,
    /// This member's identity (its HTTP address as the other members list it) [default: --http].
    #[arg(long = "self", value_name = "IP:PORT")]
    pub self_id: Option<String>,
    /// Cluster members' HTTP addresses, comma separated.
    #[arg(long, value_name = "IP:PORT,...", value_delimiter = ',')]
    pub members: Vec<String>,
    /// A cluster.conf-style file of members: one `ip:port` per line, `#` comments.
    #[arg(long, value_name = "PATH")]
    pub members_file: Option<PathBuf>,
    /// Cluster name, checked in the peer handshake [default: distro].
    #[arg(long)]
    pub cluster_name: Option<String>,
    /// File of accepted cluster secrets, one per line (the first signs): peers must prove
    /// one in a challenge-response before their frames are accepted [default: none, peers are
    /// not authenticated].
    #[arg(long, value_name = "PATH")]
    pub cluster_secret_file: Option<PathBuf>,
    /// Users file in htpasswd's bcrypt format (`user:$2y$...`, as `htpasswd -nbB` writes):
    /// clients then log in and send an `accessToken` with every naming request [default:
    /// none, clients are not authenticated, as in Nacos].
    #[arg(long, value_name = "PATH")]
    pub auth_users_file: Option<PathBuf>,
    /// Seed of the node's randomness [default: from the clock and the process id].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Log filter, e.g. `info` or `distro_mio=debug,info` [default: $RUST_LOG or info].
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Set a timing in milliseconds, e.g. `beat_timeout=15000` (repeatable).
    #[arg(long = "timing", value_name = "NAME=MS")]
    pub timings: Vec<String>,
    /// Set a limit, e.g. `max_clients=1000` (repeatable).
    #[arg(long = "limit", value_name = "NAME=N")]
    pub limits: Vec<String>,
    /// Push UDP to the request's source IP instead of the `clientIP` parameter.
    #[arg(long)]
    pub push_to_client_ip: bool,
    /// Most open client connections of a member (of each shard, for distrod-glommio); more
    /// are accepted and closed at once [default: 10000].
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// An HTTP request not complete this long after its first byte closes its connection
    /// [default: 10000].
    #[arg(long, value_name = "MS")]
    pub request_timeout_ms: Option<u64>,
    /// An idle keep-alive HTTP connection is closed after this [default: 60000].
    #[arg(long, value_name = "MS")]
    pub idle_timeout_ms: Option<u64>,
    /// Bytes queued for one slow client connection before it is closed [default: 32 MiB].
    #[arg(long, value_name = "BYTES")]
    pub client_write_buffer: Option<usize>,
    /// Bytes queued for one peer link before it is dropped and reconnected [default: 64 MiB].
    #[arg(long, value_name = "BYTES")]
    pub peer_write_buffer: Option<usize>,
    /// The peer address of a member where it is not its HTTP port + 1001 (+ shard): e.g.
    /// `--peer-address 10.0.0.2:8848=10.1.0.2:7000` behind NAT or a proxy (repeatable).
    #[arg(long = "peer-address", value_name = "MEMBER=IP:PORT")]
    pub peer_addresses: Vec<String>,
    /// Shards (members) of a thread-per-core runtime, each pinned to a CPU; only
    /// `distrod-glommio` runs more than one [default: the number of online CPUs].
    #[arg(long, value_name = "N")]
    pub shards: Option<u16>,
    /// CPUs to pin the shards to, comma separated, in shard order [default: 0, 1, ...].
    #[arg(long, value_name = "CPU,...", value_delimiter = ',')]
    pub cpus: Vec<usize>,
}

/// Everything a runtime needs to start a member.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// HTTP (Nacos v1 API) listen address.
    pub http: SocketAddr,
    /// Native client protocol listen address.
    pub native: SocketAddr,
    /// Peer protocol listen address.
    pub peer: SocketAddr,
    /// Every other member with the address of its peer listener.
    pub peers: Vec<(MemberId, SocketAddr)>,
    /// The node's configuration (identity, members, timings, limits, seed).
    pub node: Config,
    /// Log filter (`tracing-subscriber` `EnvFilter` syntax).
    pub log: String,
    /// Push UDP to the request's source IP (`http::ApiOptions::push_to_client_ip`).
    pub push_to_client_ip: bool,
    /// Most open client connections.
    pub max_connections: usize,
    /// Time allowed for one HTTP request to arrive completely.
    pub request_timeout: Duration,
    /// Idle keep-alive HTTP connections are closed after this.
    pub idle_timeout: Duration,
    /// Write buffer bound of a client connection.
    pub client_write_buffer: usize,
    /// Write buffer bound of a peer link.
    pub peer_write_buffer: usize,
    /// Peer addresses given explicitly, by member (`--peer-address`).
    pub peer_address_overrides: Vec<(MemberId, SocketAddr)>,
    /// Accepted cluster secrets (empty: peers are not authenticated).
    pub cluster_secrets: crate::auth::Secrets,
    /// Users of client authentication (empty: clients are not authenticated).
    pub users: crate::users::Users,
    /// Shards asked for (`--shards`); `None` lets the runtime choose.
    pub shards: Option<u16>,
    /// CPUs to pin shards to (`--cpus`), empty for the runtime's choice.
    pub cpus: Vec<usize>,
}

/// A configuration mistake, with a message for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(String);

impl ConfigError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError(message.into())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl ServerConfig {
    /// Parses the process's command line; prints help or version and exits when asked, and
    /// exits with status 2 on a malformed command line.
    pub fn from_env() -> Result<Self, ConfigError> {
        let matches = command().get_matches();
        let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        Self::from_args(args)
    }

    /// Parses a command line (the first item is the program name). Help, version and syntax
    /// errors are returned as errors too.
    pub fn parse_from<I, T>(argv: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = command()
            .try_get_matches_from(argv)
            .map_err(|e| ConfigError::new(e.to_string()))?;
        let args = Args::from_arg_matches(&matches).map_err(|e| ConfigError::new(e.to_string()))?;
        Self::from_args(args)
    }

    /// Builds the configuration from parsed flags and the config file they name.
    pub fn from_args(args: Args) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        build(args, file)
    }
}

/// The command line, with the names `--timing` and `--limit` accept listed in `--help`.
fn command() -> clap::Command {
    let help = format!(
        "Timings (--timing NAME=MS, or [timings] NAME_ms = MS in the config file):\n  {}\n\n\
         Limits (--limit NAME=N, or [limits] NAME = N in the config file):\n  {}",
        tuning::timing_names().join(", "),
        tuning::limit_names().join(", ")
    );
    Args::command().after_help(help)
}

fn build(args: Args, file: FileConfig) -> Result<ServerConfig, ConfigError> {
    let http = match args.http.or(file.http) {
        Some(a) => a,
        None => DEFAULT_HTTP.parse().expect("valid default"),
    };
    let native = args
        .native
        .or(file.native)
        .map_or_else(|| offset(http, NATIVE_PORT_OFFSET), Ok)?;
    let peer = args
        .peer
        .or(file.peer)
        .map_or_else(|| offset(http, PEER_PORT_OFFSET), Ok)?;

    let mut members = if !args.members.is_empty() || args.members_file.is_some() {
        members_from(&args.members, args.members_file.as_deref())?
    } else {
        let listed_file = file.members_file.as_deref();
        members_from(&file.members, listed_file)?
    };
    let self_id = args
        .self_id
        .or(file.self_id)
        .unwrap_or_else(|| http.to_string());
    resolve(&self_id).map_err(|e| ConfigError::new(format!("--self {self_id}: {e}")))?;
    let standalone = members.is_empty() || members == [self_id.clone()];
    if !standalone && !members.contains(&self_id) {
        return Err(ConfigError::new(format!(
            "this member `{self_id}` is not in the member list {members:?}; set --self to its entry"
        )));
    }
    if standalone {
        members.clear();
    }
    let mut peer_address_overrides = Vec::new();
    for a in &args.peer_addresses {
        let (member, addr) = a.split_once('=').ok_or_else(|| {
            ConfigError::new(format!("--peer-address {a}: expected MEMBER=IP:PORT"))
        })?;
        let addr =
            resolve(addr).map_err(|e| ConfigError::new(format!("--peer-address {a}: {e}")))?;
        peer_address_overrides.push((MemberId::new(member.trim()), addr));
    }
    let overridden = |id: &MemberId| {
        peer_address_overrides
            .iter()
            .find(|(m, _)| m == id)
            .map(|(_, a)| *a)
    };
    let mut peers = Vec::new();
    for m in members.iter().filter(|m| **m != self_id) {
        let id = MemberId::new(m);
        let addr = match overridden(&id) {
            Some(a) => a,
            None => peer_address(&id).map_err(|e| ConfigError::new(format!("member {m}: {e}")))?,
        };
        peers.push((id, addr));
    }

    let mut node = Config {
        self_id: MemberId::new(&self_id),
        members: members.iter().map(|m| MemberId::new(m)).collect(),
        ..Config::default()
    };
    if let Some(name) = args.cluster_name.or(file.cluster_name) {
        node.cluster_name = name;
    }
    node.seed = args.seed.or(file.seed).unwrap_or_else(random_seed);
    tuning::apply_table(&file.timings, "timings", |n, v| {
        tuning::set_timing(&mut node.timings, n, v)
    })?;
    tuning::apply_table(&file.limits, "limits", |n, v| {
        tuning::set_limit(&mut node.limits, n, v)
    })?;
    for t in &args.timings {
        let (name, value) = tuning::split_assignment("--timing", t)?;
        tuning::set_timing(&mut node.timings, &name, value)?;
    }
    for l in &args.limits {
        let (name, value) = tuning::split_assignment("--limit", l)?;
        tuning::set_limit(&mut node.limits, &name, value)?;
    }
    node.validate()
        .map_err(|e| ConfigError::new(format!("invalid setting {e}")))?;

    let log = args
        .log_level
        .or(file.log_level)
        .or_else(|| std::env::var("RUST_LOG").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "info".to_string());
    let ms = Duration::from_millis;
    let cluster_secrets = match args.cluster_secret_file.or(file.cluster_secret_file) {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::new(format!("cluster secret file {}: {e}", path.display()))
            })?;
            let secrets = crate::auth::Secrets::parse(&text);
            if !secrets.enabled() {
                return Err(ConfigError::new(format!(
                    "cluster secret file {} holds no secret",
                    path.display()
                )));
            }
            secrets
        }
        None => Default::default(),
    };
    let users = match args.auth_users_file.or(file.auth_users_file) {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| ConfigError::new(format!("users file {}: {e}", path.display())))?;
            crate::users::Users::parse(&text, &cluster_secrets)
                .map_err(|e| ConfigError::new(format!("users file {}: {e}", path.display())))?
        }
        None => Default::default(),
    };
    Ok(ServerConfig {
        http,
        native,
        peer,
        peers,
        node,
        log,
        push_to_client_ip: args.push_to_client_ip || file.push_to_client_ip.unwrap_or(false),
        max_connections: args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(10_000),
        request_timeout: ms(args
            .request_timeout_ms
            .or(file.request_timeout_ms)
            .unwrap_or(10_000)),
        idle_timeout: ms(args
            .idle_timeout_ms
            .or(file.idle_timeout_ms)
            .unwrap_or(60_000)),
        client_write_buffer: args
            .client_write_buffer
            .or(file.client_write_buffer)
            .unwrap_or(32 << 20),
        peer_write_buffer: args
            .peer_write_buffer
            .or(file.peer_write_buffer)
            .unwrap_or(64 << 20),
        peer_address_overrides,
        cluster_secrets,
        users,
        shards: match args.shards.or(file.shards) {
            Some(0) => return Err(ConfigError::new("--shards must be at least 1")),
            s => s,
        },
        cpus: if args.cpus.is_empty() {
            file.cpus.unwrap_or_default()
        } else {
            args.cpus
        },
    })
}

impl ServerConfig {
    /// Whether another shard of this process could be named `member`'s process.
    fn own_process(&self, member: &MemberId) -> bool {
        member.machine() == self.node.self_id.machine()
    }

    /// The peer address of `member`: for a shard of this process, this process's peer port
    /// plus the shard number; for another process, its HTTP port + 1001 + the shard number.
    pub fn peer_address_of(&self, member: &MemberId) -> Result<SocketAddr, ConfigError> {
        if let Some((_, a)) = self
            .peer_address_overrides
            .iter()
            .find(|(m, _)| m == member)
        {
            return Ok(*a);
        }
        if self.own_process(member) {
            let base = self.peer.port() - self.node.self_id.shard();
            let port = base
                .checked_add(member.shard())
                .ok_or_else(|| ConfigError::new(format!("{member}: peer port above 65535")))?;
            return Ok(SocketAddr::new(self.peer.ip(), port));
        }
        peer_address(member).map_err(|e| ConfigError::new(format!("member {member}: {e}")))
    }

    /// The configuration of shard `shard` of `shards` of this process: its member id
    /// ([`MemberId::of_shard`] of the HTTP address), its own peer port (this one + `shard`)
    /// and seed, and links to every sibling shard and every other configured process. HTTP and
    /// native ports are shared by the shards.
    pub fn for_shard(&self, shard: u16, shards: u16) -> Result<ServerConfig, ConfigError> {
        let machine = self.node.self_id.machine().to_string();
        let mut cfg = self.clone();
        cfg.node.self_id = MemberId::of_shard(&machine, shard);
        cfg.node.shards = shards;
        cfg.node.seed = self.node.seed ^ (u64::from(shard) << 48);
        // port 0 (any free port) stays 0 for every shard
        let port = match self.peer.port() {
            0 => 0,
            p => p.checked_add(shard).ok_or_else(|| {
                ConfigError::new(format!(
                    "--peer {}: port + {shard} is above 65535",
                    self.peer
                ))
            })?,
        };
        cfg.peer = SocketAddr::new(self.peer.ip(), port);
        let mut peers: Vec<(MemberId, SocketAddr)> = self
            .peers
            .iter()
            .filter(|(m, _)| !cfg.own_process(m))
            .cloned()
            .collect();
        for k in (0..shards).filter(|k| *k != shard) {
            let id = MemberId::of_shard(&machine, k);
            let addr = cfg.peer_address_of(&id)?;
            peers.push((id, addr));
        }
        peers.sort();
        cfg.peers = peers;
        Ok(cfg)
    }
}

/// The peer address of a member of another process: the HTTP port of its process + 1001 +
/// its shard number.
fn peer_address(member: &MemberId) -> Result<SocketAddr, String> {
    let addr = resolve(member.machine())?;
    let by = PEER_PORT_OFFSET
        .checked_add(member.shard())
        .ok_or("shard number too large")?;
    offset(addr, by).map_err(|e| e.to_string())
}

/// `addr` with its port moved up by `by`.
fn offset(addr: SocketAddr, by: u16) -> Result<SocketAddr, ConfigError> {
    let port = addr
        .port()
        .checked_add(by)
        .ok_or_else(|| ConfigError::new(format!("{addr}: port + {by} is above 65535")))?;
    Ok(SocketAddr::new(addr.ip(), port))
}

/// Resolves `host:port` (an IP or a name) to its first address.
fn resolve(member: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = member.parse::<SocketAddr>() {
        return Ok(a);
    }
    match member.to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| "resolves to no address".to_string()),
        Err(e) => Err(format!("not an ip:port address ({e})")),
    }
}

/// The member list from `--members` entries and a members file, deduplicated in order.
fn members_from(listed: &[String], file: Option<&Path>) -> Result<Vec<String>, ConfigError> {
    let mut all: Vec<String> = listed
        .iter()
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .collect();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(format!("members file {}: {e}", path.display())))?;
        all.extend(parse_members_file(&text));
    }
    let mut out: Vec<String> = Vec::with_capacity(all.len());
    for m in all {
        if !out.contains(&m) {
            out.push(m);
        }
    }
    Ok(out)
}

/// Parses a cluster.conf: one `ip:port` per line; `#` starts a comment; blank lines are skipped.
pub fn parse_members_file(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

/// A seed that differs between runs: the clock's nanoseconds mixed with the process id.
fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mixed = nanos ^ (u64::from(std::process::id()) << 32);
    // splitmix64 finaliser, so close clocks give unrelated seeds
    let mut z = mixed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;

/// What a runtime binary's `main` starts with: parses the command line (help and version
/// exit at once), then sets up logging to stderr with the configured filter. On a bad
/// command line or log filter, prints `program: <why>` and returns the exit code 2.
pub fn start(program: &str) -> Result<ServerConfig, std::process::ExitCode> {
    use std::io::IsTerminal;
    let fail = |why: String| {
        eprintln!("{program}: {why}");
        std::process::ExitCode::from(2)
    };
    let config = ServerConfig::from_env().map_err(|e| fail(e.to_string()))?;
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .map_err(|e| fail(format!("invalid log filter `{}`: {e}", config.log)))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    Ok(config)
}
