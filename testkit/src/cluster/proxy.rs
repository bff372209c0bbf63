//! A TCP proxy in front of one member's peer port, for one sending member: cut, it blackholes
//! the link (reads and drops, answers nothing, as a network link that went down); healed, it
//! breaks the blackholed connections (so the sender reconnects, as after a long outage) and
//! forwards again.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One directed link's proxy.
pub(crate) struct LinkProxy {
    /// Where the sender connects.
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl LinkProxy {
    /// A proxy on a free loopback port forwarding to `upstream`.
    pub fn start(upstream: SocketAddr) -> std::io::Result<LinkProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let cut = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, cs, st) = (cut.clone(), conns.clone(), stop.clone());
        std::thread::spawn(move || {
            for down in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(down) = down else { continue };
                let up = if c.load(Ordering::SeqCst) {
                    None
                } else {
                    match TcpStream::connect(upstream) {
                        Ok(up) => Some(up),
                        // the member is not listening (yet): the sender sees the link fail
                        Err(_) => continue,
                    }
                };
                if let Ok(d) = down.try_clone() {
                    cs.lock().unwrap_or_else(|e| e.into_inner()).push(d);
                }
                match up {
                    Some(up) => {
                        if let Ok(u) = up.try_clone() {
                            cs.lock().unwrap_or_else(|e| e.into_inner()).push(u);
                        }
                        let (d2, u2) = (down.try_clone(), up.try_clone());
                        let cut1 = c.clone();
                        std::thread::spawn(move || pump(down, up, cut1));
                        if let (Ok(d2), Ok(u2)) = (d2, u2) {
                            let cut2 = c.clone();
                            std::thread::spawn(move || pump(u2, d2, cut2));
                        }
                    }
                    // cut: hold the connection and drop what arrives
                    None => {
                        std::thread::spawn(move || {
                            let mut down = down;
                            let mut buf = [0u8; 4096];
                            while matches!(down.read(&mut buf), Ok(n) if n > 0) {}
                        });
                    }
                }
            }
        });
        Ok(LinkProxy {
            addr,
            cut,
            conns,
            stop,
        })
    }

    /// Cuts (blackholes) or heals the link.
    pub fn set_cut(&self, cut: bool) {
        let was = self.cut.swap(cut, Ordering::SeqCst);
        if was && !cut {
            // the connections of the outage are broken: the sender reconnects
            for s in self
                .conns
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain(..)
            {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        for s in self
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Copies `from` to `to`, dropping the bytes while the link is cut.
fn pump(mut from: TcpStream, mut to: TcpStream, cut: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if !cut.load(Ordering::SeqCst) && to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn forwards_until_cut_and_breaks_the_outage_connections_on_heal() {
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = LinkProxy::start(upstream.local_addr().unwrap()).unwrap();
        let mut client = TcpStream::connect(p.addr).unwrap();
        let (mut server, _) = upstream.accept().unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        client.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        server.write_all(b"pong").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pong");
        p.set_cut(true);
        client.write_all(b"lost").unwrap();
        server
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        assert!(server.read(&mut buf).is_err(), "nothing crosses a cut link");
        p.set_cut(false);
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        assert!(
            matches!(client.read(&mut buf), Ok(0) | Err(_)),
            "broken on heal"
        );
    }
}
