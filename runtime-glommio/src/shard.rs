//! One shard: a [`Host`] (so one member) on one pinned executor, its timer task, and the
//! routing of the host's actions to the tasks that own the sockets and pipes.

use crate::mesh::{self, Pipe};
use crate::signal::Signal;
use crate::tcp;
use distro_core::{ConnId, MemberId, Timestamp};
use distro_host::{Action, Host};
use futures_lite::future;
use glommio::channels::channel_mesh::Senders;
use glommio::net::UdpSocket;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Longest sleep of the timer task, so that a stop request is seen promptly.
const STOP_CHECK: Duration = Duration::from_millis(50);
/// Datagrams queued for the UDP sender; more are dropped (the node resends pushes).
const MAX_QUEUED_DATAGRAMS: usize = 65_536;

/// What owns a connection id of the host.
pub(crate) enum Owner {
    /// A task driving a TCP socket (or connecting one), woken by the signal.
    Tcp(Rc<Signal>),
    /// A pipe task sending this shard's outgoing link to sibling `shard`.
    PipeOut(Rc<Signal>),
    /// An incoming link from sibling `shard`, its link id there.
    PipeIn { shard: usize, link: u64 },
}

/// A shard's state, shared by its tasks (one thread, so `Rc` and `RefCell`; the host is
/// borrowed only between awaits, never across one).
pub(crate) struct Shard {
    pub host: RefCell<Host>,
    pub owners: RefCell<HashMap<ConnId, Owner>>,
    /// Incoming sibling links: (sibling, its link id) to the host's connection.
    pub pipes_in: RefCell<HashMap<(usize, u64), ConnId>>,
    pub mesh: Senders<Pipe>,
    pub udp: Rc<UdpSocket>,
    datagrams: RefCell<VecDeque<(SocketAddr, Vec<u8>)>>,
    datagrams_ready: Signal,
    /// The host's deadline moved earlier than the one the timer task sleeps to.
    timer: Signal,
    /// The deadline the timer task sleeps to.
    armed: Cell<Timestamp>,
    pub stop: Arc<AtomicBool>,
    pub stopped: Cell<bool>,
}

impl Shard {
    pub fn new(
        index: usize,
        host: Host,
        mesh: Senders<Pipe>,
        udp: UdpSocket,
        stop: Arc<AtomicBool>,
    ) -> Rc<Shard> {
        tracing::debug!(shard = index, "shard starting");
        Rc::new(Shard {
            host: RefCell::new(host),
            owners: RefCell::new(HashMap::new()),
            pipes_in: RefCell::new(HashMap::new()),
            mesh,
            udp: Rc::new(udp),
            datagrams: RefCell::new(VecDeque::new()),
            datagrams_ready: Signal::default(),
            timer: Signal::default(),
            armed: Cell::new(Timestamp::NEVER),
            stop,
            stopped: Cell::new(false),
        })
    }

    /// Does what the host asks until it asks nothing more. Called after every input.
    pub fn pump(self: &Rc<Self>) {
        loop {
            let action = self.host.borrow_mut().poll_action();
            let Some(action) = action else { break };
            match action {
                Action::Write(conn) | Action::Read(conn) => self.wake(conn),
                Action::Close(conn) => self.close(conn),
                Action::Connect { conn, member, addr } => self.connect(conn, &member, addr),
                Action::SendTo { addr, data } => {
                    let mut q = self.datagrams.borrow_mut();
                    if q.len() < MAX_QUEUED_DATAGRAMS {
                        q.push_back((addr, data));
                        self.datagrams_ready.notify();
                    }
                }
            }
        }
        // wake the timer task only for an earlier deadline: re-arming a timer costs a
        // submission, and most inputs leave the deadline where it was
        if self.host.borrow().next_deadline() < self.armed.get() {
            self.timer.notify();
        }
    }

    fn wake(&self, conn: ConnId) {
        if let Some(Owner::Tcp(s) | Owner::PipeOut(s)) = self.owners.borrow().get(&conn) {
            s.notify();
        }
    }

    fn close(self: &Rc<Self>, conn: ConnId) {
        let owner = self.owners.borrow_mut().remove(&conn);
        match owner {
            // the task sees the host forgot the connection and drops its socket or pipe
            Some(Owner::Tcp(s) | Owner::PipeOut(s)) => s.notify(),
            Some(Owner::PipeIn { shard, link }) => {
                self.pipes_in.borrow_mut().remove(&(shard, link));
                mesh::send(self, shard, Pipe::Reset { link });
            }
            None => {}
        }
    }

    fn connect(self: &Rc<Self>, conn: ConnId, member: &MemberId, addr: SocketAddr) {
        let own = self.host.borrow().config().node.self_id.machine() == member.machine();
        let signal = Rc::new(Signal::default());
        if own {
            self.owners
                .borrow_mut()
                .insert(conn, Owner::PipeOut(signal.clone()));
            let shard = usize::from(member.shard());
            glommio::spawn_local(mesh::pipe_out(self.clone(), conn, shard, signal)).detach();
        } else {
            self.owners
                .borrow_mut()
                .insert(conn, Owner::Tcp(signal.clone()));
            glommio::spawn_local(tcp::connect(self.clone(), conn, addr, signal)).detach();
        }
    }

    /// A task's socket failed: the host forgets it.
    pub fn failed(self: &Rc<Self>, conn: ConnId) {
        self.owners.borrow_mut().remove(&conn);
        self.host.borrow_mut().failed(conn);
        self.pump();
    }

    /// Runs the host's timers until a stop is asked for.
    pub async fn run_timers(self: Rc<Self>) {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                self.stopped.set(true);
                return;
            }
            let (deadline, wait) = {
                let h = self.host.borrow();
                let deadline = h.next_deadline();
                (deadline, h.clock().until(deadline))
            };
            let wait = wait.map_or(STOP_CHECK, |d| d.min(STOP_CHECK));
            if !wait.is_zero() {
                self.armed.set(deadline);
                future::or(glommio::timer::sleep(wait), self.timer.wait()).await;
                self.armed.set(Timestamp::NEVER);
            }
            let due = {
                let h = self.host.borrow();
                h.clock().now() >= h.next_deadline()
            };
            if due {
                self.host.borrow_mut().handle_timeout();
                self.pump();
            }
        }
    }

    /// Sends queued datagrams.
    pub async fn send_datagrams(self: Rc<Self>) {
        loop {
            self.datagrams_ready.wait().await;
            loop {
                let next = self.datagrams.borrow_mut().pop_front();
                let Some((addr, data)) = next else { break };
                if let Err(e) = self.udp.send_to(&data, addr).await {
                    // UDP is best effort; the node resends unacknowledged pushes
                    tracing::debug!(%addr, error = %e, "udp push not sent");
                }
            }
        }
    }

    /// Receives datagrams (push acknowledgements) in a task of its own: a cancelled receive
    /// could lose one.
    pub async fn receive_datagrams(self: Rc<Self>) {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match self.udp.recv_from(&mut buf).await {
                Ok((n, from)) => {
                    self.host.borrow_mut().datagram(from, &buf[..n]);
                    self.pump();
                }
                Err(e) => {
                    tracing::debug!(error = %e, "udp receive failed");
                    glommio::timer::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    }
}
