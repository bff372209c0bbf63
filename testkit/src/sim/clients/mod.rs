//! Simulated clients: the workload that drives the members and the ground truth it leaves.

mod admin;
mod conn;
mod ip;
mod udp;

pub(crate) use conn::{ConnClient, ConnEv, ConnPhase};
pub(crate) use ip::{IpClient, IpEv, IpPhase};
pub(crate) use udp::UdpWatch;

use super::rng::Rng;
use super::world::{Ev, Sim};
use core::time::Duration;
use distro_core::ServiceKey;

/// The service of number `k`.
pub fn service(k: usize) -> ServiceKey {
    ServiceKey::parse(None, None, &format!("svc-{k}"))
}

impl Sim {
    /// Creates the configured clients; each starts at a random time within the start window.
    pub(crate) fn spawn_workload(&mut self) {
        let w = self.cfg.workload.clone();
        self.spawn_ip_clients(w.ip_clients, Duration::ZERO, w.start_within);
        self.spawn_conn_clients(w.conn_clients, Duration::ZERO, w.start_within);
        if w.service_admin {
            self.after(w.start_within, Ev::Admin);
        }
    }

    /// Adds `n` ip-port clients that start within `[from, from + within]` from now (a
    /// registration storm when `within` is short). Returns the index of the first.
    pub fn spawn_ip_clients(&mut self, n: usize, from: Duration, within: Duration) -> usize {
        let seed = self.cfg.seed;
        let services = self.cfg.workload.services.max(1);
        let first = self.ip.len();
        for k in first..first + n {
            let mut rng = Rng::fork(seed, 1_000_000 + k as u64);
            let mut svcs = vec![service(rng.index(services))];
            if services > 1 && rng.chance(0.2) {
                let other = service(rng.index(services));
                if other != svcs[0] {
                    svcs.push(other);
                }
            }
            let body = rng.chance(self.cfg.workload.beat_body);
            let start = from + rng.between(Duration::ZERO, within);
            let watch = rng.chance(0.2).then(|| UdpWatch {
                service: service(rng.index(services)),
                addr: format!("192.168.{}.{}:{}", k / 200, k % 200 + 1, 40000 + k % 7)
                    .parse()
                    .expect("an address"),
                member: 0,
                view: None,
                gen: 0,
            });
            let mut client = IpClient::new(k, svcs, body, rng);
            if let Some(w) = &watch {
                self.watch_of.insert(w.addr, k as u32);
            }
            client.watch = watch;
            self.ip_index
                .insert((client.ip.clone(), client.port), k as u32);
            self.ip.push(client);
            self.ip[k].wake_gen = 1;
            self.after(start, Ev::Ip(k as u32, IpEv::Wake(1)));
        }
        first
    }

    /// Adds `n` connection clients that start within `[from, from + within]` from now; about
    /// a third subscribe to services, a few only subscribe. Returns the index of the first.
    pub fn spawn_conn_clients(&mut self, n: usize, from: Duration, within: Duration) -> usize {
        let seed = self.cfg.seed;
        let services = self.cfg.workload.services.max(1);
        let first = self.conn.len();
        for k in first..first + n {
            let mut rng = Rng::fork(seed, 2_000_000 + k as u64);
            let publishes = if rng.chance(0.1) { 0 } else { 1 + rng.index(2) };
            let mut svcs: Vec<ServiceKey> = Vec::new();
            for _ in 0..publishes {
                let s = service(rng.index(services));
                if !svcs.contains(&s) {
                    svcs.push(s);
                }
            }
            let mut subs = Vec::new();
            if publishes == 0 || rng.chance(0.3) {
                subs.push(service(rng.index(services)));
            }
            let start = from + rng.between(Duration::ZERO, within);
            self.conn.push(ConnClient::new(k, svcs, subs, rng));
            self.conn[k].wake_gen = 1;
            self.after(start, Ev::Conn(k as u32, ConnEv::Wake(1)));
        }
        first
    }

    /// Number of ip-port clients.
    pub fn ip_client_count(&self) -> usize {
        self.ip.len()
    }

    /// Whether ip-port client `k` is registered and beating, with every registration
    /// acknowledged.
    pub fn ip_client_live(&self, k: usize) -> bool {
        let c = &self.ip[k];
        c.active && c.phase == IpPhase::Beating && c.registered_at.is_some()
    }

    /// Ip and port of ip-port client `k`.
    pub fn ip_client_addr(&self, k: usize) -> (&str, u16) {
        (&self.ip[k].ip, self.ip[k].port)
    }

    /// Makes ip-port client `k` register its instances again now (identical ones, unless it
    /// changed its metadata), as a v1 client does after a restart.
    pub fn reregister_ip_client(&mut self, k: usize) {
        self.reregister(k as u32);
    }

    /// Makes ip-port client `k` deregister now; it registers again (the same instances) after
    /// `back_after`, if given.
    pub fn deregister_ip_client(&mut self, k: usize, back_after: Option<Duration>) {
        self.deregister(k as u32, back_after);
    }

    /// Records a failed scenario expectation (the run stops, like any invariant violation).
    pub fn expect(&mut self, ok: bool, what: &str) {
        if !ok {
            self.violate("scenario", what.to_string());
        }
    }

    /// Number of connection clients.
    pub fn conn_client_count(&self) -> usize {
        self.conn.len()
    }

    /// The member slot connection client `k` is connected to, if it is connected and live.
    pub fn conn_client_member(&self, k: usize) -> Option<usize> {
        let c = &self.conn[k];
        (c.phase == ConnPhase::Live)
            .then_some(c.session)
            .flatten()
            .map(|s| self.sessions[s as usize].member)
    }
}
