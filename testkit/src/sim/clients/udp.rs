//! v1 subscribers: some ip-port clients also watch a service the v1 way, polling the list
//! with their UDP port every 10 s (which subscribes them at the member they asked), taking the
//! pushes that member sends and acknowledging each one by datagram.

use super::super::world::{ClientRef, Ev, NodeIn, ReqInfo, Sim, HTTP_CONN};
use super::IpEv;
use core::time::Duration;
use distro_core::{ConnId, Reply, Request, RequestId, ServiceView};
use std::net::SocketAddr;
use std::sync::Arc;

/// The v1 subscription of an ip-port client.
#[derive(Debug)]
pub(crate) struct UdpWatch {
    pub service: distro_core::ServiceKey,
    pub addr: SocketAddr,
    /// The member it last listed at (its pushes are the ones that matter).
    pub member: usize,
    /// The latest list answer or push from that member.
    pub view: Option<Arc<ServiceView>>,
    pub gen: u32,
}

/// How often a v1 subscriber polls (its `cacheMillis` is longer when pushes work).
const POLL: Duration = Duration::from_secs(10);

impl Sim {
    /// Starts the polling of ip-port client `c`'s watch.
    pub(crate) fn udp_start(&mut self, c: u32) {
        let Some(w) = self.ip[c as usize].watch.as_mut() else {
            return;
        };
        w.gen += 1;
        w.view = None;
        let gen = w.gen;
        self.after(Duration::ZERO, Ev::Ip(c, IpEv::Poll(gen)));
    }

    /// Polls the list (subscribing this address at the member asked).
    pub(crate) fn udp_poll(&mut self, c: u32, gen: u32) {
        let (member, active) = (self.ip[c as usize].member, self.ip[c as usize].active);
        let Some(w) = self.ip[c as usize].watch.as_mut() else {
            return;
        };
        if w.gen != gen {
            return;
        }
        if !active {
            // The application is down; it polls again if it comes back.
            self.after(POLL, Ev::Ip(c, IpEv::Poll(gen)));
            return;
        }
        w.member = member;
        let request = Request::List {
            service: w.service.clone(),
            clusters: String::new(),
            healthy_only: false,
            udp_subscriber: Some(w.addr),
        };
        let id = RequestId(self.next_req);
        self.next_req += 1;
        self.requests.insert(
            id.0,
            ReqInfo {
                client: ClientRef::Watch(c),
                member,
                sent: self.now,
            },
        );
        let lat = self.cfg.workload.client_latency;
        let input = NodeIn::Request {
            conn: ConnId(HTTP_CONN + c as u64),
            id,
            request,
        };
        self.after(lat, Ev::Node(member, input));
        self.after(POLL, Ev::Ip(c, IpEv::Poll(gen)));
    }

    /// The list answer of a poll.
    pub(crate) fn udp_listed(&mut self, c: u32, member: usize, reply: Reply) {
        if let (Some(w), Reply::Service(view)) = (self.ip[c as usize].watch.as_mut(), reply) {
            if w.member == member {
                w.view = Some(view);
            }
        }
    }

    /// A push from member `from`: keep it if it is from the member listed at, and acknowledge.
    pub(crate) fn udp_pushed(&mut self, c: u32, from: usize, ack: u64, view: Arc<ServiceView>) {
        let Some(w) = self.ip[c as usize].watch.as_mut() else {
            return;
        };
        if w.member == from && w.service == view.service {
            w.view = Some(view);
        }
        let data = format!(r#"{{"type":"push-ack","lastRefTime":"{ack}","data":""}}"#);
        let addr = w.addr;
        let lat = self.cfg.workload.client_latency;
        let input = NodeIn::Datagram(addr, bytes::Bytes::from(data.into_bytes()));
        self.after(lat, Ev::Node(from, input));
    }
}
