//! Faults: crash and restart, pause, partitions (symmetric and one-way) and heal, network
//! degradation, and membership changes. Each is a method (scriptable) and is also drawn at
//! random from the seed. Every fault pushes back the time from which the cluster must have
//! settled (`calm_from`), so invariants that need quiet only judge quiet periods.

use super::config::{Fault, NetParams};
use super::truth::CloseKind;
use super::world::{Ev, NodeIn, Sim};
use core::time::Duration;
use distro_core::MemberId;

impl Sim {
    /// How long after a fault ends the cluster gets to settle: two verify rounds, a sync
    /// timeout and the longest retry delay, two member pings (to see a member UP again).
    pub fn settle_time(&self) -> Duration {
        let t = &self.cfg.timings;
        2 * t.verify_interval
            + t.sync_timeout
            + t.sync_retry_max
            + t.sync_delay
            + 2 * t.member_ping_interval
            + Duration::from_secs(1)
    }

    /// How long members take to see a dead member DOWN (pings over the failure threshold).
    pub fn down_detect_time(&self) -> Duration {
        let t = &self.cfg.timings;
        t.member_ping_interval * (t.member_fail_threshold + 2)
    }

    /// Pushes back the start of the next calm period.
    pub(crate) fn disturb(&mut self, extra: Duration) {
        let until = self.now.plus(extra + self.settle_time());
        self.calm_from = self.calm_from.max(until);
    }

    /// Whether the cluster is calm: no fault active and every past fault settled.
    pub fn is_calm(&self) -> bool {
        self.now >= self.calm_from
            && !self.any_cut()
            && self.slots.iter().all(|s| s.paused.is_none())
            && self.net == self.cfg.net
            && self.links.iter().flatten().all(|l| l.params.is_none())
    }

    /// Kills member `i`: its memory is gone, its links break, its connections drop.
    pub fn crash(&mut self, i: usize) {
        if !self.alive(i) {
            return;
        }
        self.trace.note(self.now, format_args!("crash n{i}"));
        self.slots[i].node = None;
        self.slots[i].crashed_at = Some(self.now);
        self.slots[i].last_crash = Some(self.now);
        self.slots[i].paused = None;
        let backlog = std::mem::take(&mut self.slots[i].backlog);
        for input in backlog {
            self.lost(i, input);
        }
        for j in 0..self.slots.len() {
            if j != i {
                self.break_link(i, j);
                self.break_link(j, i);
            }
        }
        self.drop_requests_of(i);
        for s in 0..self.sessions.len() {
            let t = &self.sessions[s];
            if t.member == i && t.settled_at.is_none() {
                self.session_closed_by_member(s as u32, CloseKind::MemberCrashed);
            }
        }
        let d = self.down_detect_time();
        self.disturb(d);
    }

    /// Starts crashed member `i` afresh (empty memory, current member list).
    pub fn restart(&mut self, i: usize) {
        if self.alive(i) || !self.slots[i].member {
            return;
        }
        self.trace.note(self.now, format_args!("restart n{i}"));
        let members = self.member_ids();
        self.set_view(i, &members);
        self.boot(i, members);
        self.disturb(Duration::ZERO);
    }

    /// Stalls member `i` for `d`.
    pub fn pause(&mut self, i: usize, d: Duration) {
        if !self.alive(i) || self.slots[i].paused.is_some() {
            return;
        }
        self.trace
            .note(self.now, format_args!("pause n{i} for {d:?}"));
        let slot = &mut self.slots[i];
        slot.paused = Some(self.now.plus(d));
        slot.pause_gen += 1;
        let gen = slot.pause_gen;
        self.after(d, Ev::Resume(i, gen));
    }

    pub(crate) fn resume(&mut self, i: usize, gen: u32) {
        if self.slots[i].pause_gen != gen || self.slots[i].paused.is_none() || !self.alive(i) {
            return;
        }
        self.trace.note(self.now, format_args!("resume n{i}"));
        self.slots[i].paused = None;
        self.slots[i].active_since = self.now;
        self.last_boot = self.now;
        // Before the backlog: the checks after each of its inputs must not see a calm cluster.
        self.disturb(Duration::ZERO);
        let backlog = std::mem::take(&mut self.slots[i].backlog);
        for input in backlog {
            if self.alive(i) {
                self.feed(i, Some(input));
            } else {
                self.lost(i, input);
            }
        }
    }

    /// Cuts every link between groups `a` and `b`, both ways.
    pub fn partition(&mut self, a: &[usize], b: &[usize]) {
        self.trace
            .note(self.now, format_args!("partition {a:?} | {b:?}"));
        for &x in a {
            for &y in b {
                self.cut_link(x, y);
                self.cut_link(y, x);
            }
        }
        self.disturb(Duration::ZERO);
    }

    /// Cuts the link from `from` to `to` only.
    pub fn cut_one_way(&mut self, from: usize, to: usize) {
        self.trace
            .note(self.now, format_args!("cut n{from} -> n{to}"));
        self.cut_link(from, to);
        self.disturb(Duration::ZERO);
    }

    /// Restores every cut link.
    pub fn heal(&mut self) {
        self.trace.note(self.now, format_args!("heal"));
        self.heal_links();
        self.disturb(Duration::ZERO);
    }

    /// Changes the network of every link.
    pub fn set_net(&mut self, p: NetParams) {
        self.trace.note(self.now, format_args!("net {p:?}"));
        self.net = p;
        self.net_changed_at = self.now;
        self.disturb(Duration::ZERO);
    }

    /// Gives link `from -> to` its own network (a slow or lossy link), or back the common one.
    pub fn set_link_net(&mut self, from: usize, to: usize, p: Option<NetParams>) {
        self.trace
            .note(self.now, format_args!("link n{from} -> n{to} net {p:?}"));
        self.links[from][to].params = p;
        self.net_changed_at = self.now;
        self.disturb(Duration::ZERO);
    }

    /// Adds a brand-new member; every member learns the new list within two seconds.
    /// Returns its slot.
    pub fn add_member(&mut self) -> usize {
        let i = self.new_slot();
        self.trace.note(self.now, format_args!("add member n{i}"));
        let members = self.member_ids();
        self.set_view(i, &members);
        self.boot(i, members.clone());
        self.announce_members(members, Some(i));
        self.disturb(Duration::from_secs(2));
        i
    }

    /// Takes member `i` out of the list and stops it.
    pub fn remove_member(&mut self, i: usize) {
        if !self.slots[i].member || self.slots.iter().filter(|s| s.member).count() <= 1 {
            return;
        }
        self.trace
            .note(self.now, format_args!("remove member n{i}"));
        self.crash(i);
        self.slots[i].member = false;
        let members = self.member_ids();
        self.announce_members(members, None);
        self.disturb(Duration::from_secs(2));
    }

    fn announce_members(&mut self, members: Vec<MemberId>, except: Option<usize>) {
        for j in 0..self.slots.len() {
            if Some(j) == except || !self.alive(j) || !self.slots[j].member {
                continue;
            }
            let skew = self
                .fault_rng
                .between(Duration::ZERO, Duration::from_secs(2));
            self.after(skew, Ev::Node(j, NodeIn::SetMembers(members.clone())));
        }
    }

    /// Slot `i`'s node now has member list `members`: links follow it.
    pub(crate) fn set_view(&mut self, i: usize, members: &[MemberId]) {
        let view: Vec<usize> = members.iter().filter_map(|m| self.slot_of(m)).collect();
        self.slots[i].view = view;
    }

    /// After node `i` took a new member list: drop links to members it left out, handshake
    /// again with the members it did not know, connect to the new ones.
    pub(crate) fn after_set_members(&mut self, i: usize, members: &[MemberId]) {
        let old = self.slots[i].view.clone();
        self.set_view(i, members);
        for j in 0..self.slots.len() {
            if j == i {
                continue;
            }
            let known = self.slots[i].view.contains(&j);
            if !known {
                self.break_link(i, j);
            } else if !old.contains(&j) {
                // A member it did not know starts UP in its view.
                let sees = &mut self.slots[i].sees;
                if sees.len() <= j {
                    sees.resize(j + 1, None);
                }
                sees[j] = Some(self.now);
                if self.links[i][j].state == super::links::LinkState::Up {
                    self.deliver(i, NodeIn::PeerUp(j));
                }
                self.ensure_link(i, j);
            }
        }
    }

    pub(crate) fn apply_fault(&mut self, f: Fault) {
        match f {
            Fault::Partition(a, b) => self.partition(&a, &b),
            Fault::OneWay { from, to } => self.cut_one_way(from, to),
            Fault::Heal => self.heal(),
            Fault::Net(p) => self.set_net(p),
            Fault::Crash(i) => self.crash(i),
            Fault::Restart(i) => self.restart(i),
            Fault::Pause(i, d) => self.pause(i, d),
            Fault::AddMember => {
                self.add_member();
            }
            Fault::RemoveMember(i) => self.remove_member(i),
        }
    }

    /// Queues the scripted faults, the first random one and the end of the fault period.
    pub(crate) fn schedule_faults(&mut self) {
        let script = self.cfg.faults.script.clone();
        for (at, f) in script {
            self.at(distro_core::Timestamp::ZERO.plus(at), Ev::Fault(f));
        }
        if self.cfg.faults.random && !self.cfg.faults.until.is_zero() {
            // Clients keep churning into the calm tail (so the expiry bounds are judged in
            // calm conditions too) and stop 45 s before the end.
            let tail = self.cfg.duration.saturating_sub(Duration::from_secs(45));
            self.churn_until = self
                .faults_until
                .max(distro_core::Timestamp::ZERO.plus(tail));
            let gap = self.next_fault_gap();
            self.after(gap, Ev::RandomFault);
            self.at(self.faults_until, Ev::EndFaults);
        }
    }

    fn next_fault_gap(&mut self) -> Duration {
        let mean = self.cfg.faults.mean_gap.as_secs_f64().max(1.0);
        let u = self.fault_rng.unit();
        Duration::from_secs_f64(-mean * (1.0 - u).ln()).min(Duration::from_secs(600))
    }

    fn pick_alive(&mut self) -> Option<usize> {
        let alive: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.alive(i) && self.slots[i].member)
            .collect();
        (!alive.is_empty()).then(|| alive[self.fault_rng.index(alive.len())])
    }

    /// Draws and applies one random fault, with its repair scheduled; queues the next.
    pub(crate) fn random_fault(&mut self) {
        if self.now >= self.faults_until {
            return;
        }
        let r = &mut self.fault_rng;
        let kind = r.below(if self.cfg.faults.membership { 13 } else { 11 });
        let (short, long) = (Duration::from_secs(3), Duration::from_secs(60));
        let alive = (0..self.slots.len())
            .filter(|&i| self.alive(i) && self.slots[i].member)
            .count();
        match kind {
            0 | 1 if alive > 1 => {
                let i = self.pick_alive().expect("alive");
                self.crash(i);
                let d = self.fault_rng.between(short, long);
                self.after(d, Ev::Fault(Fault::Restart(i)));
            }
            2 | 3 => {
                if let Some(i) = self.pick_alive() {
                    let d = self
                        .fault_rng
                        .between(Duration::from_secs(1), Duration::from_secs(40));
                    self.pause(i, d);
                }
            }
            4 | 5 => {
                let members: Vec<usize> = (0..self.slots.len())
                    .filter(|&i| self.slots[i].member)
                    .collect();
                let (mut a, mut b) = (Vec::new(), Vec::new());
                for m in members {
                    if self.fault_rng.chance(0.5) {
                        a.push(m)
                    } else {
                        b.push(m)
                    }
                }
                if !a.is_empty() && !b.is_empty() {
                    self.partition(&a, &b);
                    let d = self.fault_rng.between(short, long);
                    self.after(d, Ev::Fault(Fault::Heal));
                }
            }
            6 => {
                let members: Vec<usize> = (0..self.slots.len())
                    .filter(|&i| self.slots[i].member)
                    .collect();
                let from = members[self.fault_rng.index(members.len())];
                let to = members[self.fault_rng.index(members.len())];
                if from != to {
                    self.cut_one_way(from, to);
                    let d = self.fault_rng.between(short, long);
                    self.after(d, Ev::Fault(Fault::Heal));
                }
            }
            7 | 8 => {
                let base = self.cfg.net.clone();
                let r = &mut self.fault_rng;
                let worst = if self.cfg.faults.harsh { 0.2 } else { 0.05 };
                let p = if self.cfg.faults.lossy && r.chance(0.6) {
                    NetParams {
                        drop: r.unit() * worst,
                        duplicate: r.unit() * worst,
                        reorder: r.chance(0.5),
                        jitter: r.between(Duration::from_millis(1), Duration::from_millis(80)),
                        ..base.clone()
                    }
                } else {
                    NetParams {
                        latency: r.between(Duration::from_millis(20), Duration::from_millis(400)),
                        jitter: r.between(Duration::ZERO, Duration::from_millis(200)),
                        ..base.clone()
                    }
                };
                self.set_net(p);
                let d = self.fault_rng.between(short, long);
                self.after(d, Ev::Fault(Fault::Net(base)));
            }
            9 if alive > 1 => {
                // A quick restart: back before the others see it DOWN.
                let i = self.pick_alive().expect("alive");
                self.crash(i);
                let d = self
                    .fault_rng
                    .between(Duration::from_millis(500), Duration::from_secs(6));
                self.after(d, Ev::Fault(Fault::Restart(i)));
            }
            10 if self.fault_rng.chance(0.3) => {
                // A long split: replicas on the far side outlive their renewal and expire.
                let members: Vec<usize> = (0..self.slots.len())
                    .filter(|&i| self.slots[i].member)
                    .collect();
                let lone = members[self.fault_rng.index(members.len())];
                let others: Vec<usize> = members.into_iter().filter(|&m| m != lone).collect();
                self.partition(&[lone], &others);
                let d = self
                    .fault_rng
                    .between(Duration::from_secs(100), Duration::from_secs(220));
                self.after(d, Ev::Fault(Fault::Heal));
            }
            11 if alive < 7 => {
                self.add_member();
            }
            12 if alive > 2 => {
                if let Some(i) = self.pick_alive() {
                    self.remove_member(i);
                }
            }
            _ => {}
        }
        let gap = self.next_fault_gap();
        self.after(gap, Ev::RandomFault);
    }

    /// The fault period is over: heal, restore the network, resume and restart everyone.
    pub(crate) fn end_faults(&mut self) {
        self.trace.note(self.now, format_args!("faults end"));
        self.heal_links();
        self.net = self.cfg.net.clone();
        self.net_changed_at = self.now;
        for row in &mut self.links {
            for l in row.iter_mut() {
                l.params = None;
            }
        }
        for i in 0..self.slots.len() {
            if self.slots[i].paused.is_some() {
                let gen = self.slots[i].pause_gen;
                self.resume(i, gen);
            }
            if self.slots[i].member && !self.alive(i) {
                self.restart(i);
            }
        }
        self.disturb(Duration::ZERO);
    }
}
