//! Peer links between the shards of one process, over glommio's channel mesh instead of TCP.
//!
//! A link is the same byte stream of frames as over TCP, so the host treats both alike: the
//! sending shard's outgoing link is a pipe task that takes the host's bytes and sends them as
//! [`Pipe::Data`]; the receiving shard accepts it as an incoming peer connection and feeds the
//! bytes to its host. Each (sender, receiver) pair of shards has its own bounded FIFO channel,
//! so a link's bytes arrive in order, and a full channel holds the sender back as a socket
//! would (the host's write bound then drops the link).

use crate::shard::{Owner, Shard};
use crate::signal::Signal;
use distro_core::{ConnId, MemberId};
use distro_host::Listener;
use glommio::channels::channel_mesh::Receivers;
use std::rc::Rc;

/// Messages per channel of the mesh.
pub(crate) const CHANNEL_CAPACITY: usize = 1024;

/// A message from one shard to another about a link; `link` is the sending shard's id of its
/// outgoing link.
#[derive(Debug)]
pub(crate) enum Pipe {
    /// A new link from the sender.
    Open { link: u64 },
    /// Bytes on it.
    Data { link: u64, bytes: Vec<u8> },
    /// The sender closed it.
    Close { link: u64 },
    /// The receiver closed the sender's link `link` (it broke the protocol, or left).
    Reset { link: u64 },
}

/// Sends one message that needs no order with others (a reset) without waiting.
pub(crate) fn send(shard: &Rc<Shard>, to: usize, msg: Pipe) {
    let shard = shard.clone();
    glommio::spawn_local(async move {
        let _ = shard.mesh.send_to(to, msg).await;
    })
    .detach();
}

/// Drives this shard's outgoing link `conn` to sibling `to`.
pub(crate) async fn pipe_out(shard: Rc<Shard>, conn: ConnId, to: usize, signal: Rc<Signal>) {
    let link = conn.0;
    if shard.mesh.send_to(to, Pipe::Open { link }).await.is_err() {
        shard.failed(conn);
        return;
    }
    shard.host.borrow_mut().link_connected(conn);
    shard.pump();
    loop {
        let mut bytes = Vec::new();
        {
            let mut host = shard.host.borrow_mut();
            if !host.is_open(conn) {
                break;
            }
            host.take_output(conn, &mut bytes);
        }
        if bytes.is_empty() {
            signal.wait().await;
            continue;
        }
        if shard
            .mesh
            .send_to(to, Pipe::Data { link, bytes })
            .await
            .is_err()
        {
            shard.failed(conn);
            return;
        }
        shard.host.borrow_mut().written(conn);
        shard.pump();
    }
    let _ = shard.mesh.send_to(to, Pipe::Close { link }).await;
}

/// Receives what sibling `from` sends, for as long as the shard runs.
pub(crate) async fn receive(shard: Rc<Shard>, receivers: Rc<Receivers<Pipe>>, from: usize) {
    let sibling = {
        let host = shard.host.borrow();
        let id = MemberId::of_shard(host.config().node.self_id.machine(), from as u16);
        host.config()
            .peer_address_of(&id)
            .unwrap_or(host.config().peer)
    };
    while let Ok(Some(msg)) = receivers.recv_from(from).await {
        match msg {
            Pipe::Open { link } => {
                let conn = shard.host.borrow_mut().accept(Listener::Sibling, sibling);
                if let Some(conn) = conn {
                    shard.pipes_in.borrow_mut().insert((from, link), conn);
                    shard
                        .owners
                        .borrow_mut()
                        .insert(conn, Owner::PipeIn { shard: from, link });
                } else {
                    send(&shard, from, Pipe::Reset { link });
                }
            }
            Pipe::Data { link, bytes } => {
                let conn = shard.pipes_in.borrow().get(&(from, link)).copied();
                if let Some(conn) = conn {
                    shard.host.borrow_mut().received(conn, &bytes);
                }
            }
            Pipe::Close { link } => {
                let conn = shard.pipes_in.borrow_mut().remove(&(from, link));
                if let Some(conn) = conn {
                    shard.owners.borrow_mut().remove(&conn);
                    shard.host.borrow_mut().read_closed(conn);
                }
            }
            Pipe::Reset { link } => {
                // the host drops the link; its Close wakes the pipe task, which ends
                let conn = ConnId(link);
                let ours = matches!(shard.owners.borrow().get(&conn), Some(Owner::PipeOut(_)));
                if ours {
                    shard.host.borrow_mut().read_closed(conn);
                }
            }
        }
        shard.pump();
    }
}
