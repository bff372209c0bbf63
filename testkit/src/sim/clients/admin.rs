//! An operator: now and then creates, updates or deletes a service's settings (v1 `/service`)
//! at a random member. Settings replicate like clients, last writer wins by revision.

use super::super::world::{ClientRef, Ev, NodeIn, ReqInfo, Sim, HTTP_CONN};
use super::service;
use core::time::Duration;
use distro_core::{ConnId, Request, RequestId};
use std::collections::BTreeMap;

/// Connection id of the operator's requests.
const ADMIN_CONN: u64 = HTTP_CONN + (1 << 30);

impl Sim {
    /// One operator action; the next one is queued.
    pub(crate) fn admin_act(&mut self) {
        let r = &mut self.fault_rng;
        let gap = r.between(Duration::from_secs(10), Duration::from_secs(60));
        let svc = service(r.index(self.cfg.workload.services.max(1)));
        let threshold = (r.below(5) as f32) / 10.0;
        let mut metadata = BTreeMap::new();
        metadata.insert("owner".to_string(), format!("team-{}", r.below(3)));
        let request = match r.below(4) {
            0 => Request::CreateService {
                service: svc,
                protect_threshold: threshold,
                metadata,
            },
            1 => Request::DeleteService { service: svc },
            _ => Request::UpdateService {
                service: svc,
                protect_threshold: threshold,
                metadata: Some(metadata),
            },
        };
        if self.now < self.churn_until {
            let member = self.pick_member(ClientRef::Admin);
            let id = RequestId(self.next_req);
            self.next_req += 1;
            self.requests.insert(
                id.0,
                ReqInfo {
                    client: ClientRef::Admin,
                    member,
                    sent: self.now,
                },
            );
            let lat = self.cfg.workload.client_latency;
            let input = NodeIn::Request {
                conn: ConnId(ADMIN_CONN),
                id,
                request,
            };
            self.after(lat, Ev::Node(member, input));
        }
        self.after(gap, Ev::Admin);
    }
}
