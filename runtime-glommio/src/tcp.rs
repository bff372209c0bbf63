//! TCP sockets: accept loops, outgoing peer connects, and one task per connection that reads
//! into the host and writes what the host hands back.

use crate::shard::{Owner, Shard};
use crate::signal::Signal;
use distro_core::ConnId;
use distro_host::Listener;
use futures_lite::{future, AsyncRead, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

/// Read buffer size.
const READ_BUFFER: usize = 64 << 10;

/// Accepts connections on `listener` for as long as the shard runs.
pub(crate) async fn accept_loop(shard: Rc<Shard>, listener: TcpListener, kind: Listener) {
    loop {
        let stream = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // e.g. EMFILE: try again once a descriptor may have been freed
                tracing::warn!(error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(peer_addr) = stream.peer_addr() else {
            continue;
        };
        let accepted = shard.host.borrow_mut().accept(kind, peer_addr);
        let Some(conn) = accepted else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let signal = Rc::new(Signal::default());
        shard
            .owners
            .borrow_mut()
            .insert(conn, Owner::Tcp(signal.clone()));
        glommio::spawn_local(drive(shard.clone(), conn, stream, signal)).detach();
        shard.pump();
    }
}

/// Connects an outgoing peer link, then drives it. The host abandons a connect that takes
/// too long (the signal says so).
pub(crate) async fn connect(shard: Rc<Shard>, conn: ConnId, addr: SocketAddr, signal: Rc<Signal>) {
    let connected = future::or(async { Some(TcpStream::connect(addr).await) }, async {
        signal.wait().await;
        None
    })
    .await;
    match connected {
        Some(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            shard.host.borrow_mut().link_connected(conn);
            shard.pump();
            drive(shard, conn, stream, signal).await;
        }
        Some(Err(e)) => {
            tracing::debug!(%addr, error = %e, "peer connect failed");
            shard.failed(conn);
        }
        // abandoned: the host forgot it already
        None => {}
    }
}

/// What woke a connection task.
enum Woken {
    /// The host queued bytes, asked for a read, or closed the connection.
    Signal,
    /// A read finished.
    Read(std::io::Result<usize>),
}

/// Moves bytes between one socket and the host until either side closes.
async fn drive(shard: Rc<Shard>, conn: ConnId, mut stream: TcpStream, signal: Rc<Signal>) {
    let mut rbuf = vec![0u8; READ_BUFFER];
    let mut wbuf = Vec::new();
    let mut eof = false;
    loop {
        // write everything queued (the host keeps counting it until written)
        loop {
            {
                let mut host = shard.host.borrow_mut();
                if !host.is_open(conn) {
                    return;
                }
                host.take_output(conn, &mut wbuf);
            }
            if wbuf.is_empty() {
                break;
            }
            if stream.write_all(&wbuf).await.is_err() {
                shard.failed(conn);
                return;
            }
            wbuf.clear();
            shard.host.borrow_mut().written(conn);
            shard.pump();
        }
        let woken = future::poll_fn(|cx| {
            if signal.poll_take(cx) {
                return Poll::Ready(Woken::Signal);
            }
            if !eof && shard.host.borrow().wants_read(conn) {
                if let Poll::Ready(r) = Pin::new(&mut stream).poll_read(cx, &mut rbuf) {
                    return Poll::Ready(Woken::Read(r));
                }
            }
            Poll::Pending
        })
        .await;
        match woken {
            Woken::Signal => {}
            Woken::Read(Ok(0)) => {
                eof = true;
                shard.host.borrow_mut().read_closed(conn);
                shard.pump();
            }
            Woken::Read(Ok(n)) => {
                shard.host.borrow_mut().received(conn, &rbuf[..n]);
                shard.pump();
            }
            Woken::Read(Err(_)) => {
                shard.failed(conn);
                return;
            }
        }
    }
}
