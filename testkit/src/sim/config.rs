//! What a simulation is made of: the seed, the members and their configuration, the network,
//! the workload and the faults.

use core::time::Duration;
use distro_core::{Limits, Timings};

/// Everything that determines a run. Two runs of equal configs produce equal traces.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The seed of every random choice (network, faults, clients, node seeds).
    pub seed: u64,
    /// Members at the start.
    pub members: usize,
    /// Timings given to every node.
    pub timings: Timings,
    /// Limits given to every node.
    pub limits: Limits,
    /// The network between members at the start (faults change it for a while).
    pub net: NetParams,
    /// The clients.
    pub workload: Workload,
    /// The faults.
    pub faults: FaultPlan,
    /// Virtual time that [`Sim::run`](super::Sim::run) simulates.
    pub duration: Duration,
    /// How often invariants are sampled.
    pub check_interval: Duration,
}

impl SimConfig {
    /// A small cluster with default node timings, a reliable LAN, no clients and no faults.
    pub fn new(seed: u64, members: usize) -> Self {
        SimConfig {
            seed,
            members,
            timings: Timings::default(),
            limits: Limits::default(),
            net: NetParams::default(),
            workload: Workload::default(),
            faults: FaultPlan::default(),
            duration: Duration::from_secs(300),
            check_interval: Duration::from_secs(1),
        }
    }

    /// The configuration of a random run: the cluster size, the workload and the fault mix are
    /// all drawn from `seed`, and faults stop at half the run so the rest shows convergence
    /// (clients keep churning until 45 s before the end).
    pub fn random(seed: u64) -> Self {
        let mut r = super::rng::Rng::fork(seed, 0xC0F1);
        let members = 3 + r.index(3);
        let mut cfg = SimConfig::new(seed, members);
        cfg.duration = Duration::from_secs(240 + r.below(121));
        // Timings and limits off their defaults exercise other paths of the core.
        let ms = Duration::from_millis;
        cfg.timings.sync_delay = [ms(0), ms(0), ms(1), ms(50), ms(1000)][r.index(5)];
        if r.chance(0.3) {
            cfg.timings.verify_interval = ms(2000);
        }
        if r.chance(0.3) {
            cfg.limits.snapshot_chunk_clients = 1 + r.index(40);
            cfg.limits.sync_batch_clients = 1 + r.index(20);
            cfg.limits.verify_chunk_entries = 1 + r.index(30);
        }
        cfg.workload = Workload {
            ip_clients: 40 + r.index(80),
            conn_clients: 10 + r.index(30),
            services: 3 + r.index(8),
            churn_per_minute: 0.05 + r.unit() * 0.25,
            ..Workload::default()
        };
        cfg.faults = FaultPlan {
            random: true,
            until: cfg.duration / 2,
            mean_gap: Duration::from_secs(5 + r.below(16)),
            lossy: r.chance(0.5),
            membership: r.chance(0.3),
            harsh: false,
            script: Vec::new(),
        };
        cfg
    }
}

impl SimConfig {
    /// A harsher random run: faults every few seconds, lossy periods and membership changes
    /// always in the mix, up to 20 % loss.
    pub fn harsh(seed: u64) -> Self {
        let mut cfg = SimConfig::random(seed);
        cfg.faults.mean_gap = Duration::from_secs(3);
        cfg.faults.lossy = true;
        cfg.faults.membership = true;
        cfg.faults.harsh = true;
        cfg
    }
}

/// How frames between members travel.
#[derive(Clone, Debug, PartialEq)]
pub struct NetParams {
    /// Base one-way latency.
    pub latency: Duration,
    /// Extra random delay, uniformly in `[0, jitter]`.
    pub jitter: Duration,
    /// Probability that a frame is lost.
    pub drop: f64,
    /// Probability that a frame is delivered twice.
    pub duplicate: f64,
    /// Whether frames of one link may overtake each other (otherwise each link is FIFO).
    pub reorder: bool,
}

impl Default for NetParams {
    fn default() -> Self {
        NetParams {
            latency: Duration::from_micros(500),
            jitter: Duration::from_micros(500),
            drop: 0.0,
            duplicate: 0.0,
            reorder: false,
        }
    }
}

/// The simulated clients.
#[derive(Clone, Debug)]
pub struct Workload {
    /// v1 clients (ip-port clients kept alive by beats).
    pub ip_clients: usize,
    /// Native clients (connection clients kept alive by their connection and probes); about a
    /// third of them also subscribe to services.
    pub conn_clients: usize,
    /// Services the clients publish into and subscribe to.
    pub services: usize,
    /// Clients start at random times within this window.
    pub start_within: Duration,
    /// Lifecycle events (stop beating, deregister, come back, disconnect, hang ...) per client
    /// per minute of virtual time.
    pub churn_per_minute: f64,
    /// Fraction of ip-port clients whose beats carry the instance (and so re-register it).
    pub beat_body: f64,
    /// One-way latency between clients and members.
    pub client_latency: Duration,
    /// How long a client waits for a reply before trying another member.
    pub request_timeout: Duration,
    /// An operator creates, updates and deletes service settings now and then.
    pub service_admin: bool,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            ip_clients: 0,
            conn_clients: 0,
            services: 4,
            start_within: Duration::from_secs(20),
            churn_per_minute: 0.1,
            beat_body: 0.3,
            client_latency: Duration::from_micros(300),
            request_timeout: Duration::from_secs(3),
            service_admin: true,
        }
    }
}

/// Which faults happen and when.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    /// Draw faults at random from the seed.
    pub random: bool,
    /// Random faults stop here; every member is restarted, resumed and healed at this time.
    pub until: Duration,
    /// Mean time between random faults.
    pub mean_gap: Duration,
    /// Random faults include lossy periods (drop, duplicate, reorder).
    pub lossy: bool,
    /// Random faults include membership changes.
    pub membership: bool,
    /// Lossy periods lose up to 20 % of frames (5 % otherwise).
    pub harsh: bool,
    /// Faults at fixed times (applied in addition to random ones).
    pub script: Vec<(Duration, Fault)>,
}

/// One fault (or its repair), scriptable and also drawn at random.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Cut every link between the two groups, both ways.
    Partition(Vec<usize>, Vec<usize>),
    /// Cut the link from one member to another (frames one way are lost; replies the other
    /// way are sent on the cut link, so they are lost too).
    OneWay {
        /// Sender whose frames are lost.
        from: usize,
        /// Receiver.
        to: usize,
    },
    /// Restore every cut link.
    Heal,
    /// Change the network for every link.
    Net(NetParams),
    /// Kill a member: its memory is gone.
    Crash(usize),
    /// Start a crashed member afresh.
    Restart(usize),
    /// Stall a member (a GC pause): nothing reaches it and its timers do not fire until the
    /// pause ends; then it gets everything late. Links stay up.
    Pause(usize, Duration),
    /// Add a brand-new member and tell every member the new list.
    AddMember,
    /// Take a member out of the list and stop it.
    RemoveMember(usize),
}
