//! The data model: services, instances, clients, members and revisions.

use alloc_types::*;
use core::fmt;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

mod alloc_types {
    pub use std::collections::BTreeMap;
    pub use std::sync::Arc;
}

/// Deserializes an `Arc<str>` straight from the string the decoder holds: one allocation
/// (serde's own impl decodes a `String` first, then copies it into the `Arc`). Used on the
/// strings every frame carries many of (members, services, ips, clusters).
pub(crate) mod arc_str {
    use super::Arc;
    use core::fmt;
    use serde::de::{Deserializer, Error, Visitor};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Arc<str>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Arc<str>, E> {
                Ok(Arc::from(v))
            }
        }
        d.deserialize_str(V)
    }
}

/// Default namespace of the Nacos naming API.
pub const DEFAULT_NAMESPACE: &str = "public";
/// Default group of the Nacos naming API.
pub const DEFAULT_GROUP: &str = "DEFAULT_GROUP";
/// Default cluster of an instance.
pub const DEFAULT_CLUSTER: &str = "DEFAULT";
/// Separator of `group@@service` names.
pub const GROUP_SEPARATOR: &str = "@@";

/// Metadata key: beat interval told to the client, in milliseconds.
pub const META_BEAT_INTERVAL: &str = "preserved.heart.beat.interval";
/// Metadata key: an instance turns unhealthy after this many milliseconds without a beat.
pub const META_BEAT_TIMEOUT: &str = "preserved.heart.beat.timeout";
/// Metadata key: an instance is deleted after this many milliseconds without a beat.
pub const META_DELETE_TIMEOUT: &str = "preserved.ip.delete.timeout";

/// A host-chosen identifier of a client connection (HTTP or native).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConnId(pub u64);

/// A host-chosen identifier of one request, echoed in its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RequestId(pub u64);

/// A member of the cluster, named by its `ip:port` address (the HTTP address, as in Nacos).
///
/// Members are ordered by the address string, which is the order of the responsibility ring.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MemberId(#[serde(deserialize_with = "arc_str::deserialize")] pub Arc<str>);

impl MemberId {
    /// A member id from its address string.
    pub fn new(addr: &str) -> Self {
        MemberId(Arc::from(addr))
    }

    /// The address string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of shard `shard` of the process whose HTTP address is `machine`: `machine`
    /// itself for shard 0 (so a one-shard process and a single-threaded runtime are named
    /// alike), `machine/shard` otherwise.
    pub fn of_shard(machine: &str, shard: u16) -> Self {
        if shard == 0 {
            MemberId::new(machine)
        } else {
            MemberId(Arc::from(format!("{machine}/{shard}")))
        }
    }

    /// The process (its HTTP address) this member is a shard of.
    pub fn machine(&self) -> &str {
        match self.0.rsplit_once('/') {
            Some((m, k)) if k.parse::<u16>().is_ok() => m,
            _ => &self.0,
        }
    }

    /// Which shard of its process this member is (0 for a member named by its address).
    pub fn shard(&self) -> u16 {
        match self.0.rsplit_once('/') {
            Some((_, k)) => k.parse().unwrap_or(0),
            None => 0,
        }
    }
}

impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A service: namespace, group and name. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServiceKey {
    /// Namespace id (`public` by default).
    #[serde(deserialize_with = "arc_str::deserialize")]
    pub namespace: Arc<str>,
    /// Group (`DEFAULT_GROUP` by default).
    #[serde(deserialize_with = "arc_str::deserialize")]
    pub group: Arc<str>,
    /// Service name without the group prefix.
    #[serde(deserialize_with = "arc_str::deserialize")]
    pub name: Arc<str>,
}

impl ServiceKey {
    /// A service key from its three parts.
    pub fn new(namespace: &str, group: &str, name: &str) -> Self {
        ServiceKey {
            namespace: Arc::from(namespace),
            group: Arc::from(group),
            name: Arc::from(name),
        }
    }

    /// Parses a Nacos service name as the v1 API does: `group@@name` carries its group, a bare
    /// name takes `group` (or `DEFAULT_GROUP` when that is empty). Empty namespaces become `public`.
    pub fn parse(namespace: Option<&str>, group: Option<&str>, service_name: &str) -> Self {
        let ns = namespace
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_NAMESPACE);
        match service_name.split_once(GROUP_SEPARATOR) {
            Some((g, n)) => ServiceKey::new(ns, if g.is_empty() { DEFAULT_GROUP } else { g }, n),
            None => {
                let g = group.filter(|s| !s.is_empty()).unwrap_or(DEFAULT_GROUP);
                ServiceKey::new(ns, g, service_name)
            }
        }
    }

    /// The grouped name `group@@name`, as the v1 API shows it.
    pub fn grouped_name(&self) -> String {
        let mut s = String::with_capacity(self.group.len() + 2 + self.name.len());
        s.push_str(&self.group);
        s.push_str(GROUP_SEPARATOR);
        s.push_str(&self.name);
        s
    }
}

impl fmt::Debug for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}@@{}", self.namespace, self.group, self.name)
    }
}

/// An instance published by a client into a service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// IP address (or host name) of the instance.
    #[serde(deserialize_with = "arc_str::deserialize")]
    pub ip: Arc<str>,
    /// Port of the instance.
    pub port: u16,
    /// Cluster name (`DEFAULT` by default).
    #[serde(deserialize_with = "arc_str::deserialize")]
    pub cluster: Arc<str>,
    /// Load-balancing weight, 0 to 10000.
    pub weight: f64,
    /// Health as last decided by the responsible member.
    pub healthy: bool,
    /// Whether the instance is served to consumers.
    pub enabled: bool,
    /// User metadata, sorted by key.
    pub metadata: BTreeMap<String, String>,
}

impl Instance {
    /// A healthy, enabled instance of weight 1 in cluster `DEFAULT` without metadata.
    pub fn new(ip: &str, port: u16) -> Self {
        Instance {
            ip: Arc::from(ip),
            port,
            cluster: Arc::from(DEFAULT_CLUSTER),
            weight: 1.0,
            healthy: true,
            enabled: true,
            metadata: BTreeMap::new(),
        }
    }

    /// The Nacos instance id `ip#port#cluster#group@@service`.
    pub fn instance_id(&self, service: &ServiceKey) -> String {
        format!(
            "{}#{}#{}#{}@@{}",
            self.ip, self.port, self.cluster, service.group, service.name
        )
    }

    /// A millisecond value from the `preserved.*` metadata, if present and valid.
    pub fn preserved_millis(&self, key: &str) -> Option<u64> {
        self.metadata
            .get(key)
            .and_then(|v| v.trim().parse::<u64>().ok())
    }
}

/// Identity of a client: the owner of a set of published instances.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ClientId {
    /// A v1 client identified by `ip:port`, kept alive by beats (Nacos id `ip:port#true`).
    IpPort {
        /// The instance IP.
        #[serde(deserialize_with = "arc_str::deserialize")]
        ip: Arc<str>,
        /// The instance port.
        port: u16,
    },
    /// A native-protocol connection held by member `owner`.
    Conn {
        /// The member that holds the connection.
        owner: MemberId,
        /// The owner's boot epoch, so ids from before a restart never collide with new ones.
        epoch: u64,
        /// The connection id on the owner.
        conn: u64,
    },
}

impl ClientId {
    /// The ip-port client id for an instance address.
    pub fn ip_port(ip: &str, port: u16) -> Self {
        ClientId::IpPort {
            ip: Arc::from(ip),
            port,
        }
    }

    /// Whether this is an ip-port client.
    pub fn is_ip_port(&self) -> bool {
        matches!(self, ClientId::IpPort { .. })
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientId::IpPort { ip, port } => write!(f, "{ip}:{port}#true"),
            ClientId::Conn { owner, epoch, conn } => write!(f, "{epoch}_{conn}_{owner}"),
        }
    }
}

/// Version of a client's (or a service's metadata) replicated state.
///
/// Revisions are totally ordered: a replica applies data only when its revision is newer than
/// the one it holds. Only the writer (the responsible member) creates revisions, always above
/// every revision it has seen for that key and above its own clock, so a restarted member never
/// reuses one; `writer` breaks ties between two members that wrote during a split view.
///
/// Changes the member derives on its own from missing beats (an instance turning unhealthy, a
/// publication or the whole client expiring) are not client writes: they take
/// [`Revision::derived`] (or [`Revision::expiry`] for a deletion), just above the state they
/// derive from, so that a member that took
/// over a stale copy during a split view can never outrank a write made meanwhile on the
/// other side (a deregistration would be resurrected, a registration lost when the split
/// heals). They are suspicions, refuted by a member that still hears the client (see the
/// crate docs, "Suspicion and refutation").
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Revision {
    /// Logical time: max(previous + 1, writer's clock in microseconds), or previous + 1 for a
    /// derived change.
    pub time: u64,
    /// A stable number of the writing member (hash of its address; mixed with its boot epoch
    /// for derived changes, so two runs of one member never write different data under one
    /// revision).
    pub writer: u32,
}

impl Revision {
    /// The next revision after `prev` written by `writer` at `now`.
    pub fn next(prev: Revision, now: crate::Timestamp, writer: u32) -> Revision {
        let clock = now.as_nanos() / 1_000;
        Revision {
            time: prev.time.saturating_add(1).max(clock),
            writer,
        }
    }

    /// The revision of a change derived from `prev` without a client write (a health flip,
    /// a publication expiring, a refutation): just above `prev`, whatever the clock says.
    pub fn derived(prev: Revision, writer: u32) -> Revision {
        Revision {
            time: prev.time.saturating_add(1),
            writer,
        }
    }

    /// The revision of a client's deletion for lack of beats, judged on the state at `prev`:
    /// [`EXPIRY_MARGIN`](Self::EXPIRY_MARGIN) above it, so that it ranks above every change
    /// other members derive from that state meanwhile (each a microsecond above its base),
    /// and, whatever the clock says, below the client's next write (made at the writer's
    /// clock, which has run at least a delete timeout past that state's last beat).
    pub fn expiry(prev: Revision, writer: u32) -> Revision {
        Revision {
            time: prev.time.saturating_add(Self::EXPIRY_MARGIN),
            writer,
        }
    }

    /// How far above the state it judged an expiry ranks, in revision time (microseconds).
    pub const EXPIRY_MARGIN: u64 = 1_000_000;

    /// How far ahead of a member's clock a revision it receives may be, in revision time
    /// (microseconds): a day, far more than members' clocks differ. A revision further ahead
    /// (a peer's bug or malice, `u64::MAX`) would leave no room for the writes after it.
    pub const MAX_AHEAD: u64 = 86_400_000_000;
}

/// The instances a client publishes into one service: one instance, or several after a batch
/// register.
pub type Instances = SmallVec<[Instance; 1]>;

/// What a client publishes into one service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Publication {
    /// The service.
    pub service: ServiceKey,
    /// Its instances (one, unless batch-registered).
    pub instances: Instances,
}

/// The replicated state of one client: what every member holds a copy of.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// Client identity.
    pub id: ClientId,
    /// Revision of this state.
    pub revision: Revision,
    /// Publications, at most one per service, sorted by service.
    pub publications: Vec<Publication>,
}

/// Replicated service-level settings (v1 `/service` API), last writer wins by revision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceMeta {
    /// The service.
    pub service: ServiceKey,
    /// Revision of these settings.
    pub revision: Revision,
    /// Protect threshold, 0.0 to 1.0.
    pub protect_threshold: f32,
    /// Service metadata.
    pub metadata: BTreeMap<String, String>,
    /// Whether the service was deleted (a tombstone for the settings).
    pub deleted: bool,
}

/// The Java `String.hashCode` of a string (UTF-16 code units, wrapping `i32`).
pub fn java_string_hash(s: &str) -> i32 {
    let mut h: i32 = 0;
    if s.is_ascii() {
        for &b in s.as_bytes() {
            h = h.wrapping_mul(31).wrapping_add(b as i32);
        }
        return h;
    }
    for unit in s.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(unit as i32);
    }
    h
}

/// Nacos's `distroHash`: `abs(javaHash(tag) % i32::MAX)`.
pub fn distro_hash(tag: &str) -> u32 {
    (java_string_hash(tag) % i32::MAX).unsigned_abs()
}

/// A stable 32-bit number of a member used to break revision ties.
pub(crate) fn writer_number(member: &MemberId) -> u32 {
    java_string_hash(member.as_str()) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_ids_name_their_process() {
        let m = MemberId::of_shard("10.0.0.1:8848", 0);
        assert_eq!(
            (m.as_str(), m.machine(), m.shard()),
            ("10.0.0.1:8848", "10.0.0.1:8848", 0)
        );
        let m = MemberId::of_shard("10.0.0.1:8848", 3);
        assert_eq!(
            (m.as_str(), m.machine(), m.shard()),
            ("10.0.0.1:8848/3", "10.0.0.1:8848", 3)
        );
        let m = MemberId::new("[::1]:8848/x");
        assert_eq!((m.machine(), m.shard()), ("[::1]:8848/x", 0));
    }

    #[test]
    fn java_hash_matches_the_documented_vectors() {
        assert_eq!(java_string_hash("10.0.0.5:8080"), -1528827200);
        assert_eq!(distro_hash("10.0.0.5:8080"), 1528827200);
        assert_eq!(distro_hash("10.0.0.5:8080") % 3, 2);
        assert_eq!(java_string_hash("127.0.0.1:18081"), -1114069147);
        assert_eq!(distro_hash("127.0.0.1:18081"), 1114069147);
        assert_eq!(distro_hash("127.0.0.1:18081") % 3, 1);
        assert_eq!(java_string_hash("192.168.1.10:80"), 116398359);
        assert_eq!(distro_hash("192.168.1.10:80") % 5, 4);
    }

    #[test]
    fn java_hash_of_non_ascii_uses_utf16_units() {
        // "é" is one UTF-16 unit 0xE9; "😀" is a surrogate pair 0xD83D 0xDE00.
        assert_eq!(java_string_hash("é"), 0xE9);
        assert_eq!(java_string_hash("😀"), 0xD83D * 31 + 0xDE00);
    }

    #[test]
    fn service_name_parsing_follows_the_v1_filter() {
        let k = ServiceKey::parse(None, None, "svc");
        assert_eq!(
            (&*k.namespace, &*k.group, &*k.name),
            ("public", "DEFAULT_GROUP", "svc")
        );
        let k = ServiceKey::parse(Some(""), Some("G"), "svc");
        assert_eq!((&*k.namespace, &*k.group, &*k.name), ("public", "G", "svc"));
        // an already grouped name is never prefixed twice
        let k = ServiceKey::parse(Some("ns"), Some("DEFAULT_GROUP"), "DEFAULT_GROUP@@svc");
        assert_eq!(
            (&*k.namespace, &*k.group, &*k.name),
            ("ns", "DEFAULT_GROUP", "svc")
        );
        assert_eq!(k.grouped_name(), "DEFAULT_GROUP@@svc");
    }

    #[test]
    fn instance_id_has_the_nacos_shape() {
        let i = Instance::new("10.0.0.5", 8080);
        assert_eq!(
            i.instance_id(&ServiceKey::parse(None, None, "svc")),
            "10.0.0.5#8080#DEFAULT#DEFAULT_GROUP@@svc"
        );
    }

    #[test]
    fn revisions_advance_past_the_previous_and_the_clock() {
        let r1 = Revision::next(Revision::default(), crate::Timestamp::from_millis(5), 7);
        assert_eq!(r1.time, 5_000);
        let r2 = Revision::next(r1, crate::Timestamp::from_millis(1), 7);
        assert!(r2 > r1);
        let other = Revision {
            time: r2.time,
            writer: 9,
        };
        assert!(other > r2, "the writer breaks ties");
    }

    #[test]
    fn an_expiry_outranks_what_others_derive_from_its_state_but_not_the_next_write() {
        let base = Revision::next(Revision::default(), crate::Timestamp::from_millis(5), 7);
        let mut chain = base;
        for w in 0..100 {
            chain = Revision::derived(chain, w); // flips, refutations, by any member
        }
        let expiry = Revision::expiry(base, 1);
        assert!(expiry > chain);
        // the client's next write comes at least a delete timeout after the state it judged
        let next = Revision::next(expiry, crate::Timestamp::from_millis(5 + 30_000), 7);
        let write_elsewhere = Revision::next(base, crate::Timestamp::from_millis(5 + 30_000), 9);
        assert!(next > expiry && write_elsewhere > expiry);
    }
}
