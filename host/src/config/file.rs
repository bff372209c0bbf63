//! The optional TOML config file.

use crate::ConfigError;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The contents of a `--config` file. Every key is optional; unknown keys are errors.
///
/// ```toml
/// http = "127.0.0.1:18848"
/// members = ["127.0.0.1:18848", "127.0.0.1:18858", "127.0.0.1:18868"]
/// seed = 7
///
/// [timings]
/// beat_timeout_ms = 15000
///
/// [limits]
/// max_clients = 1000
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// HTTP listen address.
    pub http: Option<SocketAddr>,
    /// Native protocol listen address.
    pub native: Option<SocketAddr>,
    /// Peer protocol listen address.
    pub peer: Option<SocketAddr>,
    /// This member's identity.
    #[serde(rename = "self")]
    pub self_id: Option<String>,
    /// Member HTTP addresses.
    #[serde(default)]
    pub members: Vec<String>,
    /// A cluster.conf-style member file, relative to the config file.
    pub members_file: Option<PathBuf>,
    /// Cluster name.
    pub cluster_name: Option<String>,
    /// File of accepted cluster secrets (relative to the config file).
    pub cluster_secret_file: Option<PathBuf>,
    /// Users file of client authentication (relative to the config file).
    pub auth_users_file: Option<PathBuf>,
    /// Seed of the node's randomness.
    pub seed: Option<u64>,
    /// Log filter.
    pub log_level: Option<String>,
    /// Push UDP to the request's source IP.
    pub push_to_client_ip: Option<bool>,
    /// Most open client connections.
    pub max_connections: Option<usize>,
    /// Time allowed for one HTTP request to arrive, in milliseconds.
    pub request_timeout_ms: Option<u64>,
    /// Idle keep-alive HTTP connections are closed after this many milliseconds.
    pub idle_timeout_ms: Option<u64>,
    /// Write buffer bound of a client connection, in bytes.
    pub client_write_buffer: Option<usize>,
    /// Write buffer bound of a peer link, in bytes.
    pub peer_write_buffer: Option<usize>,
    /// Shards of a thread-per-core runtime (`distrod-glommio`).
    pub shards: Option<u16>,
    /// CPUs the shards are pinned to, in order.
    pub cpus: Option<Vec<usize>>,
    /// `[timings]`: `NAME_ms = milliseconds`.
    #[serde(default)]
    pub timings: toml::Table,
    /// `[limits]`: `NAME = count`.
    #[serde(default)]
    pub limits: toml::Table,
}

impl FileConfig {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(format!("config file {}: {e}", path.display())))?;
        let mut cfg = Self::parse(&text)
            .map_err(|e| ConfigError::new(format!("config file {}: {e}", path.display())))?;
        if let Some(dir) = path.parent() {
            for f in [
                &mut cfg.members_file,
                &mut cfg.cluster_secret_file,
                &mut cfg.auth_users_file,
            ] {
                if let Some(p) = f.as_ref().filter(|p| p.is_relative()) {
                    *f = Some(dir.join(p));
                }
            }
        }
        Ok(cfg)
    }

    /// Parses the text of a config file.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::new(e.to_string()))
    }
}
