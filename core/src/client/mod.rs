//! A sans-IO native-protocol client: what it has registered and subscribed, and what to redo
//! after a reconnect.
//!
//! A native client's instances live as long as its connection. When the connection breaks, the
//! member drops them, so the client must register them again on its next connection, and
//! subscribe again. [`ClientState`] keeps that bookkeeping and builds every [`ClientMsg`] to
//! send; the host owns the socket, the threads and the clock.
//!
//! ```
//! use distro_core::client::{ClientState, Completion};
//! use distro_core::{Instance, Reply, ServiceKey};
//!
//! let mut c = ClientState::new();
//! let svc = ServiceKey::parse(None, None, "orders");
//! c.on_connected();
//! let (id, _msg) = c.register(svc.clone(), Instance::new("10.0.0.5", 8080)); // send _msg
//! assert_eq!(c.on_reply(id, Reply::Ok), Completion::Caller(Reply::Ok));
//! c.on_disconnected();
//! let redo = c.on_connected(); // send these on the new connection
//! assert_eq!(redo.len(), 1);
//! ```

use crate::model::{Instance, RequestId, ServiceKey};
use crate::request::{Reply, Request, ServiceView};
use crate::wire::ClientMsg;
use std::collections::BTreeMap;
use std::sync::Arc;

#[cfg(test)]
mod tests;

/// What the client publishes into one service.
#[derive(Clone, Debug, PartialEq)]
struct Publication {
    instances: Vec<Instance>,
    /// Whether it was made by a batch register (and is redone as one).
    batch: bool,
    /// Bumped by every change, so a late error reply only undoes the change it answers.
    generation: u64,
}

/// Why a request is in flight.
#[derive(Clone, Debug, PartialEq)]
enum Purpose {
    /// A caller waits for the reply.
    Caller,
    /// A register of `service` at `generation`; the caller waits.
    Publish {
        service: ServiceKey,
        generation: u64,
    },
    /// A subscribe of `key`; the caller waits.
    Subscribe {
        key: (ServiceKey, String),
        generation: u64,
    },
    /// Sent by [`ClientState::on_connected`]; nobody waits.
    Redo,
}

/// What a reply means to the host.
#[derive(Clone, Debug, PartialEq)]
pub enum Completion {
    /// Hand this reply to the caller waiting for it.
    Caller(Reply),
    /// The reply to a redone subscription after a reconnect: the service's current view,
    /// to deliver like a push (it may have changed while the client was away).
    RedoneView(ServiceView),
    /// The reply to another redone request; nothing to do.
    Redone,
    /// A reply to no request in flight (late, after a reconnect): ignore it.
    Unknown,
}

/// The redo bookkeeping of one native client across its successive connections.
#[derive(Debug, Default)]
pub struct ClientState {
    next_id: u64,
    next_generation: u64,
    connected: bool,
    publications: BTreeMap<ServiceKey, Publication>,
    /// `(service, clusters)` → generation of the subscribe.
    subscriptions: BTreeMap<(ServiceKey, String), u64>,
    in_flight: BTreeMap<RequestId, Purpose>,
}

impl ClientState {
    /// A client with nothing registered, not connected.
    pub fn new() -> Self {
        ClientState::default()
    }

    /// Whether a connection is up (between [`on_connected`](Self::on_connected) and
    /// [`on_disconnected`](Self::on_disconnected)).
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Registers `instance` in `service`, replacing what this client published there.
    /// Remembered for redo even if not connected now (then the message need not be sent).
    pub fn register(&mut self, service: ServiceKey, instance: Instance) -> (RequestId, ClientMsg) {
        let generation = self.publish(service.clone(), vec![instance.clone()], false);
        self.send(
            Purpose::Publish {
                service: service.clone(),
                generation,
            },
            Request::Register { service, instance },
        )
    }

    /// Registers several instances of `service` at once, replacing what this client published
    /// there.
    pub fn batch_register(
        &mut self,
        service: ServiceKey,
        instances: Vec<Instance>,
    ) -> (RequestId, ClientMsg) {
        let generation = self.publish(service.clone(), instances.clone(), true);
        let purpose = Purpose::Publish {
            service: service.clone(),
            generation,
        };
        self.send(purpose, Request::BatchRegister { service, instances })
    }

    /// Deregisters the instance `ip:port` of `service`. As on the member (and in Nacos 2), a
    /// connection client's deregister withdraws everything it published in that service, a
    /// batch included; none of it is redone.
    pub fn deregister(
        &mut self,
        service: ServiceKey,
        ip: &str,
        port: u16,
    ) -> (RequestId, ClientMsg) {
        self.publications.remove(&service);
        self.send(
            Purpose::Caller,
            Request::Deregister {
                service,
                ip: Arc::from(ip),
                port,
            },
        )
    }

    /// Subscribes to pushes of `service` (restricted to `clusters`, comma separated; empty
    /// for all). The reply is the current view.
    pub fn subscribe(&mut self, service: ServiceKey, clusters: &str) -> (RequestId, ClientMsg) {
        let key = (service.clone(), clusters.to_string());
        self.next_generation += 1;
        let generation = self.next_generation;
        self.subscriptions.insert(key.clone(), generation);
        let request = Request::Subscribe {
            service,
            clusters: clusters.to_string(),
        };
        self.send(Purpose::Subscribe { key, generation }, request)
    }

    /// Cancels a subscription; it is no longer redone.
    pub fn unsubscribe(&mut self, service: ServiceKey, clusters: &str) -> (RequestId, ClientMsg) {
        self.subscriptions
            .remove(&(service.clone(), clusters.to_string()));
        self.send(
            Purpose::Caller,
            Request::Unsubscribe {
                service,
                clusters: clusters.to_string(),
            },
        )
    }

    /// Any other request (list, ping, metrics ...), which is not redone.
    pub fn request(&mut self, request: Request) -> (RequestId, ClientMsg) {
        self.send(Purpose::Caller, request)
    }

    /// The answer to a [`ServerMsg::Probe`](crate::wire::ServerMsg::Probe).
    pub fn probe_ack(&self) -> ClientMsg {
        ClientMsg::ProbeAck
    }

    /// A reply arrived. An error reply to a register or subscribe forgets it (it would fail
    /// again on redo) unless a newer one replaced it meanwhile.
    pub fn on_reply(&mut self, id: RequestId, reply: Reply) -> Completion {
        let Some(purpose) = self.in_flight.remove(&id) else {
            return Completion::Unknown;
        };
        let failed = matches!(reply, Reply::Error(_));
        match purpose {
            Purpose::Caller => Completion::Caller(reply),
            Purpose::Publish {
                service,
                generation,
            } => {
                if failed
                    && self
                        .publications
                        .get(&service)
                        .is_some_and(|p| p.generation == generation)
                {
                    self.publications.remove(&service);
                }
                Completion::Caller(reply)
            }
            Purpose::Subscribe { key, generation } => {
                if failed && self.subscriptions.get(&key) == Some(&generation) {
                    self.subscriptions.remove(&key);
                }
                Completion::Caller(reply)
            }
            Purpose::Redo => match reply {
                Reply::Service(view) => {
                    Completion::RedoneView(std::sync::Arc::unwrap_or_clone(view))
                }
                _ => Completion::Redone,
            },
        }
    }

    /// The connection broke. Returns the requests that were in flight: they get no reply, and
    /// their callers should be told so. What they registered or subscribed is still redone.
    pub fn on_disconnected(&mut self) -> Vec<RequestId> {
        self.connected = false;
        // (in id order: nothing here depends on a hash seed)
        core::mem::take(&mut self.in_flight).into_keys().collect()
    }

    /// A new connection is up. Returns what to send on it first: every publication and every
    /// subscription, again (on the very first connection that is nothing).
    pub fn on_connected(&mut self) -> Vec<ClientMsg> {
        self.connected = true;
        self.in_flight.clear();
        let mut requests = Vec::with_capacity(self.publications.len() + self.subscriptions.len());
        for (service, p) in &self.publications {
            requests.push(if p.batch || p.instances.len() != 1 {
                Request::BatchRegister {
                    service: service.clone(),
                    instances: p.instances.clone(),
                }
            } else {
                Request::Register {
                    service: service.clone(),
                    instance: p.instances[0].clone(),
                }
            });
        }
        for (service, clusters) in self.subscriptions.keys() {
            requests.push(Request::Subscribe {
                service: service.clone(),
                clusters: clusters.clone(),
            });
        }
        requests
            .into_iter()
            .map(|r| self.send(Purpose::Redo, r).1)
            .collect()
    }

    /// The services this client publishes into, with their instances.
    pub fn registered(&self) -> impl Iterator<Item = (&ServiceKey, &[Instance])> + '_ {
        self.publications
            .iter()
            .map(|(s, p)| (s, p.instances.as_slice()))
    }

    /// The subscriptions: `(service, clusters)`.
    pub fn subscribed(&self) -> impl Iterator<Item = (&ServiceKey, &str)> + '_ {
        self.subscriptions.keys().map(|(s, c)| (s, c.as_str()))
    }

    /// Requests sent and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    fn publish(&mut self, service: ServiceKey, instances: Vec<Instance>, batch: bool) -> u64 {
        self.next_generation += 1;
        let generation = self.next_generation;
        if instances.is_empty() {
            self.publications.remove(&service);
        } else {
            self.publications.insert(
                service,
                Publication {
                    instances,
                    batch,
                    generation,
                },
            );
        }
        generation
    }

    fn send(&mut self, purpose: Purpose, request: Request) -> (RequestId, ClientMsg) {
        self.next_id += 1;
        let id = RequestId(self.next_id);
        if self.connected {
            self.in_flight.insert(id, purpose);
        }
        (id, ClientMsg::Request { id, request })
    }
}
