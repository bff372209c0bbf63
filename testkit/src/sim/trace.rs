//! The trace of a run: every input given to a node and every output it returned, plus the
//! simulator's own decisions (faults, client actions). Always folded into a 64-bit hash (the
//! determinism check); written out as text only when asked (a failing seed is replayed with a
//! trace file, which is cheaper than keeping every line of every run in memory).

use distro_core::wire::{decode_payload, ClientMsg, PeerMsg};
use distro_core::{Input, Output, Timestamp};
use serde::Serialize;
use std::fmt::{self, Write as _};
use std::io::Write as _;

/// Hash state plus an optional text sink.
pub(crate) struct Trace {
    hash: u64,
    buf: Vec<u8>,
    line: String,
    out: Option<Box<dyn std::io::Write>>,
    /// Number of records folded in.
    pub records: u64,
}

const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl fmt::Write for Trace {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}

impl Trace {
    pub fn new(out: Option<Box<dyn std::io::Write>>) -> Self {
        Trace {
            hash: 0x5151_D157_0000_0001,
            buf: Vec::with_capacity(4096),
            line: String::new(),
            out,
            records: 0,
        }
    }

    pub fn hash(&self) -> u64 {
        self.hash
    }

    pub fn writing(&self) -> bool {
        self.out.is_some()
    }

    fn word(&mut self, w: u64) {
        self.hash = (self.hash.rotate_left(23) ^ w).wrapping_mul(K);
    }

    fn bytes(&mut self, b: &[u8]) {
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        self.word(u64::from_le_bytes(last) ^ (b.len() as u64) << 56);
    }

    fn ser<T: Serialize>(&mut self, v: &T) {
        let mut buf = core::mem::take(&mut self.buf);
        buf.clear();
        buf = postcard::to_extend(v, buf).expect("serialize into a Vec");
        self.bytes(&buf);
        self.buf = buf;
    }

    fn head(&mut self, tag: u64, node: usize, now: Timestamp) {
        self.records += 1;
        self.word(tag);
        self.word(node as u64);
        self.word(now.as_nanos());
    }

    fn emit_line(&mut self, now: Timestamp, who: &str, dir: &str, args: fmt::Arguments<'_>) {
        if let Some(out) = self.out.as_mut() {
            self.line.clear();
            let n = now.as_nanos();
            let _ = write!(
                self.line,
                "{:>7}.{:06} {who:<5} {dir} {args}",
                n / 1_000_000_000,
                (n / 1_000) % 1_000_000
            );
            let _ = writeln!(out, "{}", self.line);
        }
    }

    /// An input given to node `node`.
    pub fn input(&mut self, node: usize, now: Timestamp, input: &Input<'_>) {
        match input {
            Input::Timeout(_) => self.head(1, node, now),
            Input::PeerUp { member, .. } => {
                self.head(2, node, now);
                self.bytes(member.as_str().as_bytes());
            }
            Input::PeerDown { member, .. } => {
                self.head(3, node, now);
                self.bytes(member.as_str().as_bytes());
            }
            Input::PeerFrame { conn, frame, .. } => {
                self.head(4, node, now);
                self.word(conn.0);
                self.bytes(frame);
            }
            Input::ConnectionOpened { conn, .. } => {
                self.head(5, node, now);
                self.word(conn.0);
            }
            Input::ConnectionClosed { conn, .. } => {
                self.head(6, node, now);
                self.word(conn.0);
            }
            Input::ClientFrame { conn, frame, .. } => {
                self.head(7, node, now);
                self.word(conn.0);
                self.bytes(frame);
            }
            Input::Request {
                conn, id, request, ..
            } => {
                self.head(8, node, now);
                self.word(conn.0);
                self.word(id.0);
                self.ser(request);
            }
            Input::ProbeAnswered { conn, .. } => {
                self.head(11, node, now);
                self.word(conn.0);
            }
            Input::Datagram { from, data, .. } => {
                self.head(9, node, now);
                let _ = write!(self, "{from}");
                self.bytes(data);
            }
            Input::SetMembers { members, .. } => {
                self.head(10, node, now);
                for m in members {
                    self.bytes(m.as_str().as_bytes());
                }
            }
        }
        if self.writing() {
            let who = format!("n{node}");
            match input {
                Input::PeerFrame { conn, frame, .. } => {
                    let msg = decode_payload::<PeerMsg>(frame);
                    self.emit_line(now, &who, "<", format_args!("peer {conn:?} {msg:?}"));
                }
                Input::ClientFrame { conn, frame, .. } => {
                    let msg = decode_payload::<ClientMsg>(frame);
                    self.emit_line(now, &who, "<", format_args!("client {conn:?} {msg:?}"));
                }
                other => self.emit_line(now, &who, "<", format_args!("{other:?}")),
            }
        }
    }

    /// An output node `node` returned.
    pub fn output(&mut self, node: usize, now: Timestamp, output: &Output) {
        match output {
            Output::Transmit { to, frame } => {
                self.head(21, node, now);
                self.bytes(to.as_str().as_bytes());
                self.bytes(frame);
            }
            Output::Reply { conn, id, reply } => {
                self.head(22, node, now);
                self.word(conn.0);
                self.word(id.0);
                self.ser(reply);
            }
            Output::Push { to, view } => {
                self.head(23, node, now);
                let _ = write!(self, "{to:?}");
                self.ser(&**view);
            }
            Output::Probe { conn } => {
                self.head(24, node, now);
                self.word(conn.0);
            }
            Output::Close { conn } => {
                self.head(25, node, now);
                self.word(conn.0);
            }
            Output::Event(e) => {
                self.head(26, node, now);
                let _ = write!(self, "{e:?}");
            }
            Output::Timeout(d) => {
                self.head(27, node, now);
                self.word(d.as_nanos());
            }
        }
        if self.writing() {
            let who = format!("n{node}");
            match output {
                Output::Transmit { to, frame } => {
                    let msg = decode_payload::<PeerMsg>(&frame[4..]);
                    self.emit_line(now, &who, ">", format_args!("to {to} {msg:?}"));
                }
                Output::Push { to, view } => {
                    let hosts: Vec<String> = view
                        .hosts
                        .iter()
                        .map(|h| format!("{}:{}{}", h.ip, h.port, if h.healthy { "" } else { "!" }))
                        .collect();
                    let svc = &view.service;
                    self.emit_line(
                        now,
                        &who,
                        ">",
                        format_args!("push {to:?} {svc:?} {hosts:?}"),
                    );
                }
                other => self.emit_line(now, &who, ">", format_args!("{other:?}")),
            }
        }
    }

    /// A decision of the simulator itself (a fault, a client action).
    pub fn note(&mut self, now: Timestamp, args: fmt::Arguments<'_>) {
        self.head(40, usize::MAX, now);
        let _ = self.write_fmt(args);
        if self.writing() {
            self.emit_line(now, "sim", "*", args);
        }
    }

    /// Flushes the text sink.
    pub fn flush(&mut self) {
        if let Some(out) = self.out.as_mut() {
            let _ = out.flush();
        }
    }
}
