//! Client requests: routing (forwarding to the responsible member) and execution.

use crate::distro::SyncKey;
use crate::io::Output;
use crate::model::{
    ClientId, ConnId, Instance, Instances, RequestId, Revision, ServiceKey, ServiceMeta,
    META_BEAT_INTERVAL,
};
use crate::node::Node;
use crate::push::{CACHE_MILLIS_POLL, CACHE_MILLIS_PUSH};
use crate::registry::LimitHit;
use crate::request::{
    ApiError, InstanceDetail, MetricsView, Reply, Request, ServiceDetail, ServiceView,
    BEAT_NOT_FOUND, BEAT_OK,
};
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;

impl Node {
    pub(crate) fn on_request(&mut self, conn: ConnId, id: RequestId, request: Request) {
        self.stats.requests += 1;
        let native = self.conns.contains_key(&conn);
        if !native {
            if let Some((ip, port)) = request.ip_port_write_target() {
                if !self.members.is_self_responsible(ip, port) {
                    let owner = self.members.responsible(ip, port).clone();
                    if self.forwardable(&owner) {
                        if let Request::Beat {
                            service, ip, port, ..
                        } = &request
                        {
                            // Heard here, executed there: evidence here too.
                            let client = ClientId::IpPort {
                                ip: ip.clone(),
                                port: *port,
                            };
                            self.note_heard(&client, service);
                        }
                        self.forward(owner, conn, id, request);
                        return;
                    }
                    // The responsible member is unreachable: serve here (availability first).
                }
            }
        }
        let marks = self.outboxes.marks;
        let reply = self.execute(native.then_some(conn), request, self.now);
        self.answer_write(crate::distro::Answer::Client { conn, id, reply }, marks);
    }

    pub(crate) fn reply(&mut self, conn: ConnId, id: RequestId, reply: Reply) {
        if matches!(reply, Reply::Error(_)) {
            self.stats.request_errors += 1;
        }
        self.emit(Output::Reply { conn, id, reply });
    }

    /// Executes a request here. `native` is the native connection it came on, if any;
    /// `received` is when this member got it (a forwarded request served here after its
    /// forward timed out was received earlier), which a beat counts from.
    pub(crate) fn execute(
        &mut self,
        native: Option<ConnId>,
        request: Request,
        received: Timestamp,
    ) -> Reply {
        match self.try_execute(native, request, received) {
            Ok(r) => r,
            Err(e) => Reply::Error(e),
        }
    }

    fn client_for(&self, native: Option<ConnId>, ip: &Arc<str>, port: u16) -> ClientId {
        match native.and_then(|c| self.conns.get(&c)) {
            Some(nc) => nc.client.clone(),
            None => ClientId::IpPort {
                ip: ip.clone(),
                port,
            },
        }
    }

    fn try_execute(
        &mut self,
        native: Option<ConnId>,
        request: Request,
        received: Timestamp,
    ) -> Result<Reply, ApiError> {
        let now = self.now;
        match request {
            Request::Register { service, instance } => {
                self.validate(&service, std::slice::from_ref(&instance))?;
                let id = self.client_for(native, &instance.ip, instance.port);
                self.write_publication(&id, &service, smallvec::smallvec![instance])
            }
            Request::BatchRegister { service, instances } => {
                let Some(conn) = native else {
                    return Err(ApiError::bad_request(
                        "batch register needs a native connection",
                    ));
                };
                self.validate(&service, &instances)?;
                let id = self.conns[&conn].client.clone();
                if instances.is_empty() {
                    self.remove_publication_owned(&id, &service, "deregistered");
                    return Ok(Reply::Ok);
                }
                self.write_publication(&id, &service, instances.into_iter().collect())
            }
            Request::Deregister { service, ip, port } => {
                let id = self.client_for(native, &ip, port);
                self.remove_publication_owned(&id, &service, "deregistered");
                Ok(Reply::Ok)
            }
            Request::Update {
                service,
                ip,
                port,
                weight,
                enabled,
                metadata,
                replace_metadata,
            } => {
                let id = self.client_for(native, &ip, port);
                self.update_instance(
                    &id,
                    &service,
                    &ip,
                    port,
                    weight,
                    enabled,
                    metadata,
                    replace_metadata,
                )
            }
            Request::Beat {
                service,
                ip,
                port,
                register,
            } => self.beat(native, service, ip, port, register, received),
            Request::GetInstance {
                service,
                ip,
                port,
                cluster,
            } => {
                let view = self
                    .registry
                    .list(&service, "", false, &self.cfg.timings, 0);
                let host = view.hosts.into_iter().find(|h| {
                    h.ip == ip && h.port == port && cluster.as_ref().is_none_or(|c| *c == h.cluster)
                });
                match host {
                    Some(host) => Ok(Reply::Instance(Box::new(InstanceDetail { service, host }))),
                    None => Err(ApiError::not_found(format!(
                        "no ips found for cluster {} in service {}",
                        cluster.as_deref().unwrap_or("DEFAULT"),
                        service.grouped_name()
                    ))),
                }
            }
            Request::List {
                service,
                clusters,
                healthy_only,
                udp_subscriber,
            } => {
                self.validate_filter(&clusters)?;
                let mut cache = CACHE_MILLIS_POLL;
                if let Some(addr) = udp_subscriber {
                    let expires = now.plus(self.cfg.timings.udp_subscriber_ttl);
                    if self.push.subscribe_udp(
                        &service,
                        addr,
                        &clusters,
                        expires,
                        self.cfg.limits.max_subscriptions,
                    ) {
                        cache = CACHE_MILLIS_PUSH;
                    } else {
                        self.stats.limit_rejections += 1;
                    }
                }
                Ok(Reply::Service(self.view(
                    &service,
                    &clusters,
                    healthy_only,
                    cache,
                )))
            }
            Request::Subscribe { service, clusters } => {
                let Some(conn) = native else {
                    return Err(ApiError::bad_request(
                        "subscribe needs a native connection (v1 clients poll with udpPort)",
                    ));
                };
                self.validate_service(&service)?;
                self.validate_filter(&clusters)?;
                let filter = Arc::new(crate::registry::ClusterFilter::parse(&clusters));
                if !self.push.subscribe_conn(
                    &service,
                    conn,
                    &filter,
                    self.cfg.limits.max_subscriptions,
                ) {
                    self.stats.limit_rejections += 1;
                    return Err(ApiError::unavailable(
                        "too many subscriptions on this member (limits.max_subscriptions)",
                    ));
                }
                let nc = self.conns.get_mut(&conn).expect("native");
                if !nc
                    .subscriptions
                    .iter()
                    .any(|(s, c)| *s == service && c.raw == clusters)
                {
                    nc.subscriptions.push((service.clone(), filter));
                }
                Ok(Reply::Service(self.view(&service, &clusters, false, 0)))
            }
            Request::Unsubscribe { service, clusters } => {
                if let Some(conn) = native {
                    self.push.unsubscribe_conn(&service, conn, &clusters);
                    if let Some(nc) = self.conns.get_mut(&conn) {
                        nc.subscriptions
                            .retain(|(s, c)| !(*s == service && c.raw == clusters));
                    }
                }
                Ok(Reply::Ok)
            }
            Request::CreateService {
                service,
                protect_threshold,
                metadata,
            } => {
                self.validate_service(&service)?;
                check_threshold(protect_threshold)?;
                self.validate_metadata(&metadata)?;
                if self
                    .registry
                    .service_meta(&service)
                    .is_some_and(|m| !m.deleted)
                {
                    return Err(ApiError::bad_request(format!(
                        "specified service {} already exists",
                        service.grouped_name()
                    )));
                }
                self.write_meta(service, protect_threshold, metadata, false)
            }
            Request::UpdateService {
                service,
                protect_threshold,
                metadata,
            } => {
                check_threshold(protect_threshold)?;
                if let Some(m) = &metadata {
                    self.validate_metadata(m)?;
                }
                if !self.service_exists(&service) {
                    return Err(ApiError::bad_request(format!(
                        "service {} not found",
                        service.grouped_name()
                    )));
                }
                let old = self
                    .registry
                    .service_meta(&service)
                    .filter(|m| !m.deleted)
                    .map(|m| m.metadata.clone());
                let metadata = metadata.or(old).unwrap_or_default();
                self.write_meta(service, protect_threshold, metadata, false)
            }
            Request::DeleteService { service } => {
                if self
                    .registry
                    .services
                    .get(&service)
                    .is_some_and(|e| !e.publishers.is_empty())
                {
                    return Err(ApiError::bad_request(format!(
                        "service {} has instances, can't be deleted",
                        service.grouped_name()
                    )));
                }
                if self
                    .registry
                    .service_meta(&service)
                    .is_some_and(|m| !m.deleted)
                {
                    self.write_meta(service, 0.0, BTreeMap::new(), true)?;
                }
                Ok(Reply::Ok)
            }
            Request::GetService { service } => {
                if !self.service_exists(&service) {
                    return Err(ApiError::not_found(format!(
                        "service {} not found",
                        service.grouped_name()
                    )));
                }
                let meta = self.registry.service_meta(&service).filter(|m| !m.deleted);
                let view = self
                    .registry
                    .list(&service, "", false, &self.cfg.timings, 0);
                let mut clusters: Vec<Arc<str>> =
                    view.hosts.iter().map(|h| h.cluster.clone()).collect();
                clusters.sort();
                clusters.dedup();
                Ok(Reply::ServiceDetail(Box::new(ServiceDetail {
                    protect_threshold: meta.map(|m| m.protect_threshold).unwrap_or(0.0),
                    metadata: meta.map(|m| m.metadata.clone()).unwrap_or_default(),
                    clusters,
                    service,
                })))
            }
            Request::ListServices {
                namespace,
                group,
                page_no,
                page_size,
            } => {
                let mut names: Vec<Arc<str>> = self
                    .registry
                    .services
                    .iter()
                    .filter(|(k, _)| k.namespace == namespace && k.group == group)
                    .filter(|(k, _)| self.service_exists(k))
                    .map(|(k, _)| k.name.clone())
                    .collect();
                names.sort();
                let count = names.len() as u64;
                Ok(Reply::ServiceNames {
                    count,
                    names: page(names, page_no, page_size),
                })
            }
            Request::CatalogInstances {
                service,
                cluster,
                page_no,
                page_size,
            } => {
                let clusters = cluster.as_deref().unwrap_or("");
                let view = self
                    .registry
                    .list(&service, clusters, false, &self.cfg.timings, 0);
                let count = view.hosts.len() as u64;
                Ok(Reply::Catalog {
                    count,
                    hosts: page(view.hosts, page_no, page_size),
                    service,
                })
            }
            Request::Metrics { only_status } => Ok(Reply::Metrics {
                only_status,
                metrics: Box::new(self.metrics()),
            }),
            Request::DistroClient { ip, port } => Ok(Reply::Responsible {
                server: self.members.responsible(&ip, port).clone(),
            }),
            Request::ClusterNodes { keyword } => {
                let mut members = self.members();
                if let Some(k) = keyword.filter(|k| !k.is_empty()) {
                    members.retain(|m| m.id.as_str().contains(&k));
                }
                Ok(Reply::Members(members))
            }
            Request::Liveness => Ok(Reply::Health { ok: true }),
            Request::Readiness => Ok(Reply::Health { ok: self.ready }),
            Request::Prometheus => Ok(Reply::Prometheus(self.prometheus())),
            Request::Ping => Ok(Reply::Pong),
        }
    }

    /// A service's view, from the cache while the service has not changed.
    fn view(
        &mut self,
        service: &ServiceKey,
        clusters: &str,
        healthy_only: bool,
        cache_ms: u64,
    ) -> Arc<ServiceView> {
        if !self.registry.changed.contains(service) {
            if let Some(v) = self.views.get(service, clusters, healthy_only, cache_ms) {
                return v;
            }
        }
        let view = Arc::new(self.registry.list(
            service,
            clusters,
            healthy_only,
            &self.cfg.timings,
            cache_ms,
        ));
        // Only what exists: anyone can list any name, and those views are all empty anyway.
        if !self.registry.changed.contains(service) && self.registry.services.contains_key(service)
        {
            self.views.put(view.clone(), healthy_only, cache_ms);
        }
        view
    }

    fn service_exists(&self, service: &ServiceKey) -> bool {
        self.registry.services.get(service).is_some_and(|e| {
            !e.publishers.is_empty() || e.meta.as_ref().is_some_and(|m| !m.deleted)
        })
    }

    /// Publishes for a client this member is responsible for; bumps and syncs on change.
    fn write_publication(
        &mut self,
        id: &ClientId,
        service: &ServiceKey,
        instances: Instances,
    ) -> Result<Reply, ApiError> {
        match self
            .registry
            .put_publication(id, service, instances, self.now)
        {
            Ok(true) => {
                self.bump_and_sync(id);
                Ok(Reply::Ok)
            }
            Ok(false) => Ok(Reply::Ok),
            Err(hit) => {
                self.stats.limit_rejections += 1;
                let status = if hit == LimitHit::InstancesPerClient {
                    400
                } else {
                    503
                };
                Err(ApiError {
                    status,
                    message: hit.message().into(),
                })
            }
        }
    }

    /// Advances the revision of a client this member changed and queues it for every peer.
    pub(crate) fn bump_and_sync(&mut self, id: &ClientId) {
        let (now, writer) = (self.now, self.writer);
        // A write served here for a client another member is responsible for (its owner was
        // unreachable, or a forwarder's ring differs) does not make this member its owner:
        // the owner adopts the newer revision when it arrives.
        let owned = self.owns(id);
        if let Some(c) = self.registry.clients.get_mut(id) {
            c.record.revision = Revision::next(c.record.revision, now, writer);
            c.written = c.record.revision;
            c.owned = owned;
        }
        self.registry.touch();
        self.mark_sync(SyncKey::Client(id.clone()));
    }

    /// Like [`Node::bump_and_sync`] for a change derived from missing beats (see
    /// [`Revision::derived`]), which a member that heard the client refutes.
    pub(crate) fn bump_derived_and_sync(&mut self, id: &ClientId) {
        let writer = self.derived_writer();
        if let Some(c) = self.registry.clients.get_mut(id) {
            c.record.revision = Revision::derived(c.record.revision, writer);
        }
        self.registry.touch();
        self.mark_sync(SyncKey::Client(id.clone()));
    }

    /// The writer number of this member's derived revisions: mixed with the boot epoch, so
    /// two runs of one member never write different data under one revision.
    pub(crate) fn derived_writer(&self) -> u32 {
        self.writer ^ (self.epoch as u32).rotate_left(7)
    }

    /// Removes a publication of a client this member is responsible for; deletes the client
    /// when it publishes nothing else.
    pub(crate) fn remove_publication_owned(
        &mut self,
        id: &ClientId,
        service: &ServiceKey,
        reason: &'static str,
    ) {
        self.remove_publication(id, service, reason, false);
    }

    /// Removes a publication; `derived` when time passing removed it (an expiry), not a client.
    pub(crate) fn remove_publication(
        &mut self,
        id: &ClientId,
        service: &ServiceKey,
        reason: &'static str,
        derived: bool,
    ) {
        if !self
            .registry
            .remove_publication(id, service, derived, self.now)
        {
            return;
        }
        let empty = self
            .registry
            .clients
            .get(id)
            .is_some_and(|c| c.record.publications.is_empty());
        if empty {
            self.delete_owned(id, reason, derived);
        } else if derived {
            self.bump_derived_and_sync(id);
        } else {
            self.bump_and_sync(id);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn update_instance(
        &mut self,
        id: &ClientId,
        service: &ServiceKey,
        ip: &str,
        port: u16,
        weight: Option<f64>,
        enabled: Option<bool>,
        metadata: Option<BTreeMap<String, String>>,
        replace: bool,
    ) -> Result<Reply, ApiError> {
        if let Some(w) = weight {
            if !(0.0..=10000.0).contains(&w) {
                return Err(ApiError::bad_request("weight must be between 0 and 10000"));
            }
        }
        let not_found = || {
            ApiError::not_found(format!(
                "instance {ip}:{port} not found in service {}",
                service.grouped_name()
            ))
        };
        let client = self.registry.clients.get(id).ok_or_else(not_found)?;
        let i = client.find(service).map_err(|_| not_found())?;
        let j = client.record.publications[i]
            .instances
            .iter()
            .position(|x| &*x.ip == ip && x.port == port)
            .ok_or_else(not_found)?;
        let mut inst = client.record.publications[i].instances[j].clone();
        if let Some(w) = weight {
            inst.weight = w;
        }
        if let Some(e) = enabled {
            inst.enabled = e;
        }
        if let Some(m) = metadata {
            if replace {
                inst.metadata = m;
            } else {
                inst.metadata.extend(m);
            }
        }
        let mut instances = client.record.publications[i].instances.clone();
        self.validate(service, std::slice::from_ref(&inst))?;
        instances[j] = inst;
        self.write_publication(id, service, instances)
    }

    fn beat(
        &mut self,
        native: Option<ConnId>,
        service: ServiceKey,
        ip: Arc<str>,
        port: u16,
        register: Option<Instance>,
        received: Timestamp,
    ) -> Result<Reply, ApiError> {
        let default_interval = self.cfg.timings.beat_interval.as_millis() as u64;
        if native.is_some() {
            // Connection clients are kept alive by their connection.
            return Ok(Reply::Beat {
                client_beat_interval_ms: default_interval,
                code: BEAT_OK,
            });
        }
        let id = ClientId::IpPort { ip, port };
        let found = self.registry.clients.get_mut(&id).and_then(|c| {
            let i = c.find(&service).ok()?;
            c.beats[i] = crate::registry::BeatClock::heard(received);
            let p = &mut c.record.publications[i];
            let interval = p.instances[0].preserved_millis(META_BEAT_INTERVAL);
            let revived = p.instances.iter().any(|x| !x.healthy);
            if revived {
                for x in p.instances.iter_mut() {
                    x.healthy = true;
                }
            }
            Some((interval, revived))
        });
        match found {
            Some((interval, revived)) => {
                self.stats.beats += 1;
                if revived {
                    self.registry.changed.insert(service);
                    self.bump_and_sync(&id);
                }
                Ok(Reply::Beat {
                    client_beat_interval_ms: interval.unwrap_or(default_interval),
                    code: BEAT_OK,
                })
            }
            None => match register {
                Some(instance) => {
                    self.stats.beats += 1;
                    let interval = instance
                        .preserved_millis(META_BEAT_INTERVAL)
                        .unwrap_or(default_interval);
                    self.validate(&service, std::slice::from_ref(&instance))?;
                    self.write_publication(&id, &service, smallvec::smallvec![instance])?;
                    Ok(Reply::Beat {
                        client_beat_interval_ms: interval,
                        code: BEAT_OK,
                    })
                }
                None => Ok(Reply::Beat {
                    client_beat_interval_ms: default_interval,
                    code: BEAT_NOT_FOUND,
                }),
            },
        }
    }

    fn write_meta(
        &mut self,
        service: ServiceKey,
        protect_threshold: f32,
        metadata: BTreeMap<String, String>,
        deleted: bool,
    ) -> Result<Reply, ApiError> {
        let prev = self
            .registry
            .service_meta(&service)
            .map(|m| m.revision)
            .unwrap_or_default();
        let meta = ServiceMeta {
            revision: Revision::next(prev, self.now, self.writer),
            service: service.clone(),
            protect_threshold,
            metadata,
            deleted,
        };
        if let Err(hit) = self.registry.put_meta(meta, self.now) {
            self.stats.limit_rejections += 1;
            return Err(ApiError::unavailable(hit.message()));
        }
        self.mark_sync(SyncKey::Meta(service));
        Ok(Reply::Ok)
    }

    fn validate_service(&mut self, s: &ServiceKey) -> Result<(), ApiError> {
        let max = self.cfg.limits.max_name_len;
        for (what, v) in [
            ("namespaceId", &s.namespace),
            ("groupName", &s.group),
            ("serviceName", &s.name),
        ] {
            if v.is_empty() && what == "serviceName" {
                return Err(ApiError::bad_request("Param 'serviceName' is required."));
            }
            if v.len() > max {
                self.stats.limit_rejections += 1;
                return Err(ApiError::bad_request(format!(
                    "{what} longer than {max} bytes"
                )));
            }
        }
        Ok(())
    }

    /// A cluster filter is held with the views and subscriptions made with it: bounded.
    fn validate_filter(&mut self, clusters: &str) -> Result<(), ApiError> {
        let max = self.cfg.limits.max_filter_len;
        if clusters.len() > max {
            self.stats.limit_rejections += 1;
            return Err(ApiError::bad_request(format!(
                "clusters longer than {max} bytes (limits.max_filter_len)"
            )));
        }
        Ok(())
    }

    fn validate_metadata(&mut self, m: &BTreeMap<String, String>) -> Result<(), ApiError> {
        let l = &self.cfg.limits;
        if m.len() > l.max_metadata_entries {
            self.stats.limit_rejections += 1;
            return Err(ApiError::bad_request(format!(
                "more than {} metadata entries",
                l.max_metadata_entries
            )));
        }
        if m.iter()
            .any(|(k, v)| k.len() > l.max_metadata_value_len || v.len() > l.max_metadata_value_len)
        {
            self.stats.limit_rejections += 1;
            return Err(ApiError::bad_request(format!(
                "metadata key or value longer than {} bytes",
                l.max_metadata_value_len
            )));
        }
        Ok(())
    }

    fn validate(&mut self, service: &ServiceKey, instances: &[Instance]) -> Result<(), ApiError> {
        self.validate_service(service)?;
        let max_name = self.cfg.limits.max_name_len;
        let max_bytes = self.cfg.limits.max_instance_bytes;
        if instances.len() > self.cfg.limits.max_instances_per_client {
            self.stats.limit_rejections += 1;
            return Err(ApiError::bad_request(
                LimitHit::InstancesPerClient.message(),
            ));
        }
        for i in instances {
            if i.ip.is_empty() {
                return Err(ApiError::bad_request("Param 'ip' is required."));
            }
            if i.ip.len() > max_name || i.cluster.len() > max_name {
                self.stats.limit_rejections += 1;
                return Err(ApiError::bad_request(format!(
                    "ip or clusterName longer than {max_name} bytes"
                )));
            }
            if !(0.0..=10000.0).contains(&i.weight) || i.weight.is_nan() {
                return Err(ApiError::bad_request("weight must be between 0 and 10000"));
            }
            self.validate_metadata(&i.metadata)?;
            let bytes = i.ip.len()
                + i.cluster.len()
                + i.metadata
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum::<usize>();
            if bytes > max_bytes {
                self.stats.limit_rejections += 1;
                return Err(ApiError::bad_request(format!(
                    "instance larger than {max_bytes} bytes (limits.max_instance_bytes)"
                )));
            }
        }
        Ok(())
    }

    fn metrics(&self) -> MetricsView {
        let mut m = MetricsView {
            status: if self.ready { "UP" } else { "STARTING" }.into(),
            service_count: self.registry.service_count() as u64,
            instance_count: self.registry.instance_count() as u64,
            subscribe_count: self.push.count() as u64,
            client_count: self.registry.client_count() as u64,
            ..MetricsView::default()
        };
        for c in self.registry.clients.values() {
            if c.record.id.is_ip_port() {
                m.ip_port_client_count += 1;
            } else {
                m.connection_client_count += 1;
            }
            if c.owned {
                m.responsible_client_count += 1;
                m.responsible_instance_count += c
                    .record
                    .publications
                    .iter()
                    .map(|p| p.instances.len() as u64)
                    .sum::<u64>();
            }
        }
        m
    }

    fn prometheus(&self) -> String {
        let m = self.metrics();
        let up = self
            .members
            .peers
            .iter()
            .filter(|p| p.state == crate::MemberState::Up)
            .count() as u64
            + 1;
        let gauges = [
            ("ready", self.ready as u64),
            ("services", m.service_count),
            ("instances", m.instance_count),
            ("clients", m.client_count),
            ("responsible_clients", m.responsible_client_count),
            ("subscriptions", m.subscribe_count),
            ("native_connections", self.conns.len() as u64),
            ("members_up", up),
            ("members", self.members.peers.len() as u64 + 1),
            (
                "sync_backlog",
                self.members
                    .peers
                    .iter()
                    .map(|p| self.outboxes.backlog(&p.id) as u64)
                    .sum(),
            ),
        ];
        // which member answered: a process of several shards has one per shard
        let mut out = format!(
            "# TYPE distro_member_info gauge\ndistro_member_info{{member=\"{}\"}} 1\n",
            self.members.self_id
        );
        out.push_str(&self.stats.to_prometheus(&gauges));
        out
    }
}

fn check_threshold(t: f32) -> Result<(), ApiError> {
    if (0.0..=1.0).contains(&t) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "protectThreshold must be between 0 and 1",
        ))
    }
}

fn page<T>(items: Vec<T>, page_no: u32, page_size: u32) -> Vec<T> {
    let size = page_size.max(1) as usize;
    let start = (page_no.max(1) as usize - 1).saturating_mul(size);
    items.into_iter().skip(start).take(size).collect()
}
