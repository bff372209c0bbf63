//! Pushes to subscribers: native subscriptions and v1 UDP subscribers. Changes to a service are
//! merged for a window, then every subscriber gets the full current view; UDP pushes are
//! tracked by acknowledgement and sent once more after a timeout.

use crate::error::Error;
use crate::io::{Output, PushTarget, Source};
use crate::model::{ConnId, ServiceKey};
use crate::node::Node;
use crate::registry::{new_map, ClusterFilter, Map};
use crate::request::ServiceView;
use crate::time::{Timer, Timestamp};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

/// Cache time told to v1 clients that get UDP pushes (Nacos: 10 s), and to those that poll.
pub(crate) const CACHE_MILLIS_PUSH: u64 = 10_000;
pub(crate) const CACHE_MILLIS_POLL: u64 = 3_000;

#[derive(Debug)]
struct UdpSub {
    addr: SocketAddr,
    clusters: Arc<ClusterFilter>,
    expires: Timestamp,
}

#[derive(Debug, Default)]
struct Subscribers {
    native: Vec<(ConnId, Arc<ClusterFilter>)>,
    udp: Vec<UdpSub>,
    /// When this service was last pushed (the merge window runs from there).
    last_push: Option<Timestamp>,
}

#[derive(Debug)]
struct PendingAck {
    view: Arc<ServiceView>,
    sent: Timestamp,
    retried: bool,
}

/// Subscriptions and pushes in flight.
#[derive(Debug)]
pub(crate) struct PushState {
    subs: Map<ServiceKey, Subscribers>,
    count: usize,
    /// Changed services and when each is due to be pushed.
    pending: Map<ServiceKey, Timestamp>,
    /// UDP pushes waiting for their acknowledgement, by subscriber and ack number: an ack (a
    /// datagram anyone can send) finds its push at once.
    acks: Map<(SocketAddr, u64), PendingAck>,
    /// The same pushes in the order they were sent, for their timeouts. An entry whose push
    /// was acknowledged or resent since is skipped when it comes up.
    ack_order: VecDeque<(Timestamp, SocketAddr, u64)>,
    next_ack: u64,
    ack_timeout: core::time::Duration,
}

impl PushState {
    pub fn new(seed: u64) -> Self {
        PushState {
            subs: new_map(seed),
            count: 0,
            pending: new_map(seed ^ 1),
            acks: new_map(seed ^ 2),
            ack_order: VecDeque::new(),
            next_ack: 0,
            ack_timeout: core::time::Duration::from_secs(10),
        }
    }

    pub fn has_subscribers(&self, service: &ServiceKey) -> bool {
        self.subs.contains_key(service)
    }

    /// Number of subscriptions held.
    pub fn count(&self) -> usize {
        self.count
    }

    pub fn next_deadline(&self) -> Timestamp {
        self.ack_order
            .front()
            .map(|a| a.0.plus(self.ack_timeout))
            .unwrap_or(Timestamp::NEVER)
    }

    /// The oldest entry of the send order, if its push is still waiting as sent then.
    fn pop_oldest(&mut self) -> Option<(SocketAddr, u64, Timestamp)> {
        let (sent, addr, ack) = self.ack_order.pop_front()?;
        Some((addr, ack, sent))
            .filter(|_| self.acks.get(&(addr, ack)).is_some_and(|a| a.sent == sent))
    }

    /// Adds a native subscription; false when the limit is reached.
    pub fn subscribe_conn(
        &mut self,
        service: &ServiceKey,
        conn: ConnId,
        clusters: &Arc<ClusterFilter>,
        max: usize,
    ) -> bool {
        let subs = self.subs.entry_ref(service).or_default();
        if subs
            .native
            .iter()
            .any(|(c, cl)| *c == conn && cl.raw == clusters.raw)
        {
            return true;
        }
        if self.count >= max {
            if subs.native.is_empty() && subs.udp.is_empty() {
                self.subs.remove(service);
            }
            return false;
        }
        subs.native.push((conn, clusters.clone()));
        self.count += 1;
        true
    }

    pub fn unsubscribe_conn(&mut self, service: &ServiceKey, conn: ConnId, clusters: &str) {
        if let Some(subs) = self.subs.get_mut(service) {
            let before = subs.native.len();
            subs.native
                .retain(|(c, cl)| !(*c == conn && cl.raw == clusters));
            self.count -= before - subs.native.len();
            if subs.native.is_empty() && subs.udp.is_empty() {
                self.subs.remove(service);
            }
        }
    }

    /// Adds or refreshes a UDP subscriber; false when the limit is reached.
    pub fn subscribe_udp(
        &mut self,
        service: &ServiceKey,
        addr: SocketAddr,
        clusters: &str,
        expires: Timestamp,
        max: usize,
    ) -> bool {
        let subs = self.subs.entry_ref(service).or_default();
        if let Some(s) = subs
            .udp
            .iter_mut()
            .find(|s| s.addr == addr && s.clusters.raw == clusters)
        {
            s.expires = expires;
            return true;
        }
        if self.count >= max {
            if subs.native.is_empty() && subs.udp.is_empty() {
                self.subs.remove(service);
            }
            return false;
        }
        subs.udp.push(UdpSub {
            addr,
            clusters: Arc::new(ClusterFilter::parse(clusters)),
            expires,
        });
        self.count += 1;
        true
    }

    pub fn expire_udp(&mut self, now: Timestamp) {
        let mut removed = 0;
        self.subs.retain(|_, subs| {
            let before = subs.udp.len();
            subs.udp.retain(|s| s.expires > now);
            removed += before - subs.udp.len();
            !(subs.native.is_empty() && subs.udp.is_empty())
        });
        self.count -= removed;
    }
}

/// Reads a v1 push acknowledgement: `{"type":"push-ack","lastRefTime":<n or "n">,"data":""}`.
pub(crate) fn parse_ack(data: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Ack<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
        #[serde(rename = "lastRefTime")]
        last_ref_time: serde_json::Value,
    }
    let ack: Ack = serde_json::from_slice(data).ok()?;
    if !ack.kind.ends_with("-ack") {
        return None;
    }
    match ack.last_ref_time {
        serde_json::Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl Node {
    /// Moves services that changed into the push queue (only those with subscribers).
    pub(crate) fn collect_push_changes(&mut self, now: Timestamp) {
        if self.registry.changed.is_empty() {
            return;
        }
        let window = self.cfg.timings.push_window;
        let mut earliest = Timestamp::NEVER;
        for service in self.registry.changed.drain() {
            self.views.invalidate(&service);
            let Some(subs) = self.push.subs.get(&service) else {
                continue;
            };
            // Leading edge: a service not pushed within the window goes out at once; changes
            // after that merge until the window since its last push ends.
            let due = subs.last_push.map_or(now, |t| t.plus(window).max(now));
            let due = *self.push.pending.entry(service).or_insert(due);
            earliest = earliest.min(due);
        }
        if earliest != Timestamp::NEVER {
            self.timers.set_earliest(Timer::PushFlush, earliest);
        }
    }

    /// Pushes every merged change to its subscribers.
    pub(crate) fn flush_pushes(&mut self) {
        let now = self.now;
        let mut services: Vec<ServiceKey> = self
            .push
            .pending
            .iter()
            .filter(|(_, due)| **due <= now)
            .map(|(k, _)| k.clone())
            .collect();
        services.sort();
        for s in &services {
            self.push.pending.remove(s);
        }
        if let Some(next) = self.push.pending.values().min() {
            self.timers.set_earliest(Timer::PushFlush, *next);
        }
        for service in services {
            if let Some(subs) = self.push.subs.get_mut(&service) {
                subs.last_push = Some(now);
            }
            let Some(subs) = self.push.subs.get(&service) else {
                continue;
            };
            let mut targets: Vec<(PushTarget, Arc<ClusterFilter>)> = Vec::new();
            for (conn, clusters) in &subs.native {
                targets.push((PushTarget::Conn(*conn), clusters.clone()));
            }
            for s in &subs.udp {
                targets.push((
                    PushTarget::Udp {
                        addr: s.addr,
                        ack: 0,
                    },
                    s.clusters.clone(),
                ));
            }
            let mut views: Vec<(Arc<ClusterFilter>, Arc<ServiceView>)> = Vec::new();
            for (mut target, clusters) in targets {
                let view = match views.iter().find(|(c, _)| c.raw == clusters.raw) {
                    Some((_, v)) => v.clone(),
                    None => {
                        let cache = if matches!(target, PushTarget::Udp { .. }) {
                            CACHE_MILLIS_PUSH
                        } else {
                            0
                        };
                        let v = Arc::new(self.registry.list_filtered(
                            &service,
                            &clusters,
                            false,
                            &self.cfg.timings,
                            cache,
                        ));
                        views.push((clusters, v.clone()));
                        v
                    }
                };
                if let PushTarget::Udp { addr, ack } = &mut target {
                    self.push.next_ack += 1;
                    *ack = self.push.next_ack;
                    self.track_ack(*addr, *ack, view.clone(), now);
                }
                self.stats.pushes_sent += 1;
                self.emit(Output::Push { to: target, view });
            }
        }
    }

    fn track_ack(&mut self, addr: SocketAddr, ack: u64, view: Arc<ServiceView>, now: Timestamp) {
        let max = self.cfg.limits.max_subscriptions.max(1);
        let push = &mut self.push;
        while push.acks.len() >= max && !push.ack_order.is_empty() {
            // Give up on the oldest push still waiting.
            if let Some((addr, ack, _)) = push.pop_oldest() {
                push.acks.remove(&(addr, ack));
                self.stats.push_failures += 1;
            }
        }
        push.ack_timeout = self.cfg.timings.push_ack_timeout;
        let pending = PendingAck {
            view,
            sent: now,
            retried: false,
        };
        push.acks.insert((addr, ack), pending);
        push.ack_order.push_back((now, addr, ack));
        if push.ack_order.len() > 2 * push.acks.len() + 1024 {
            // Many acknowledged: drop their entries (amortized over the sends that made them).
            let acks = &push.acks;
            push.ack_order.retain(|(sent, addr, ack)| {
                acks.get(&(*addr, *ack)).is_some_and(|a| a.sent == *sent)
            });
        }
    }

    /// Resends unacknowledged UDP pushes once; gives up on the second timeout.
    pub(crate) fn push_acks_timeout(&mut self) {
        let now = self.now;
        let timeout = self.cfg.timings.push_ack_timeout;
        while self
            .push
            .ack_order
            .front()
            .is_some_and(|a| now.since(a.0) >= timeout)
        {
            let Some((addr, ack, _)) = self.push.pop_oldest() else {
                continue; // acknowledged or resent since
            };
            let a = self.push.acks.get_mut(&(addr, ack)).expect("live");
            if a.retried {
                self.push.acks.remove(&(addr, ack));
                self.stats.push_failures += 1;
                continue;
            }
            a.retried = true;
            a.sent = now;
            let view = a.view.clone();
            self.push.ack_order.push_back((now, addr, ack));
            self.stats.push_retries += 1;
            self.emit(Output::Push {
                to: PushTarget::Udp { addr, ack },
                view,
            });
        }
    }

    pub(crate) fn on_datagram(&mut self, from: SocketAddr, data: &[u8]) -> Result<(), Error> {
        let Some(ack) = parse_ack(data) else {
            self.reject(
                Source::Udp(from),
                "datagram is not a push acknowledgement".into(),
            );
            return Err(Error::InvalidFrame(crate::FrameError::Malformed));
        };
        if self.push.acks.remove(&(from, ack)).is_some() {
            self.stats.push_acks += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_ack;

    #[test]
    fn acks_parse_with_numbers_or_strings() {
        assert_eq!(
            parse_ack(br#"{"type":"push-ack","lastRefTime":1795248481303,"data":""}"#),
            Some(1795248481303)
        );
        assert_eq!(
            parse_ack(br#"{"type":"push-ack","lastRefTime":"42","data":""}"#),
            Some(42)
        );
        assert_eq!(
            parse_ack(br#"{"type":"unknown-ack","lastRefTime":7}"#),
            Some(7)
        );
        assert_eq!(parse_ack(br#"{"type":"dom","lastRefTime":7}"#), None);
        assert_eq!(parse_ack(b"\x1f\x8b garbage"), None);
    }
}
