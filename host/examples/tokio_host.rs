//! A whole registry member on tokio: the Nacos v1 HTTP API and the native protocol, served by
//! `distro_host::Host` on a current-thread runtime. Everything but moving bytes is the host's.
//!
//! ```text
//! cargo run -p distro-host --example tokio_host -- --http 127.0.0.1:18848
//! curl -X POST '127.0.0.1:18848/nacos/v1/ns/instance?serviceName=s&ip=10.0.0.1&port=80'
//! ```

use distro_core::ConnId;
use distro_host::{Action, Host, Listener, ServerConfig};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Notify;
use tokio::task::spawn_local;

/// The host and the tasks that own its connections' sockets.
struct Shared {
    host: RefCell<Host>,
    /// Wakes a connection's task: bytes to write, a read to resume, or a close.
    tasks: RefCell<HashMap<ConnId, Rc<Notify>>>,
    udp: UdpSocket,
    /// Wakes the timer task: the deadline may be earlier now.
    timer: Notify,
}

impl Shared {
    /// Does what the host asks. Called after every input, never across an await.
    fn pump(&self) {
        loop {
            let action = self.host.borrow_mut().poll_action();
            match action {
                None => break,
                Some(Action::Write(c) | Action::Read(c) | Action::Close(c)) => {
                    if let Some(n) = self.tasks.borrow().get(&c) {
                        n.notify_one();
                    }
                }
                Some(Action::SendTo { addr, data }) => {
                    let _ = self.udp.try_send_to(&data, addr);
                }
                // a standalone member has no peer links to open
                Some(Action::Connect { conn, .. }) => self.host.borrow_mut().failed(conn),
            }
        }
        self.timer.notify_one();
    }
}

/// Moves bytes between one socket and the host until either side closes.
async fn connection(shared: Rc<Shared>, conn: ConnId, mut stream: TcpStream, wake: Rc<Notify>) {
    let (mut rbuf, mut wbuf) = (vec![0u8; 64 << 10], Vec::new());
    let mut eof = false;
    loop {
        loop {
            {
                let mut host = shared.host.borrow_mut();
                if !host.is_open(conn) {
                    return;
                }
                host.take_output(conn, &mut wbuf);
            }
            if wbuf.is_empty() {
                break;
            }
            if stream.write_all(&wbuf).await.is_err() {
                break;
            }
            wbuf.clear();
            shared.host.borrow_mut().written(conn);
            shared.pump();
        }
        let wants = !eof && shared.host.borrow().wants_read(conn);
        tokio::select! {
            _ = wake.notified() => continue,
            r = stream.read(&mut rbuf), if wants => {
                match r {
                    Ok(0) => {
                        eof = true;
                        shared.host.borrow_mut().read_closed(conn);
                    }
                    Ok(n) => shared.host.borrow_mut().received(conn, &rbuf[..n]),
                    Err(_) => {
                        shared.tasks.borrow_mut().remove(&conn);
                        shared.host.borrow_mut().failed(conn);
                        shared.pump();
                        return;
                    }
                }
                shared.pump();
            }
        }
    }
}

async fn accept(shared: Rc<Shared>, listener: TcpListener, kind: Listener) {
    while let Ok((stream, addr)) = listener.accept().await {
        let Some(conn) = shared.host.borrow_mut().accept(kind, addr) else {
            continue;
        };
        let wake = Rc::new(Notify::new());
        shared.tasks.borrow_mut().insert(conn, wake.clone());
        spawn_local(connection(shared.clone(), conn, stream, wake));
        shared.pump();
    }
}

/// Serves `config` (standalone) until `stop` is notified.
pub async fn serve(config: ServerConfig, stop: Arc<Notify>) -> std::io::Result<()> {
    let http = TcpListener::bind(config.http).await?;
    let native = TcpListener::bind(config.native).await?;
    let udp = UdpSocket::bind((config.http.ip(), 0)).await?;
    let shared = Rc::new(Shared {
        host: RefCell::new(Host::new(config)),
        tasks: RefCell::new(HashMap::new()),
        udp,
        timer: Notify::new(),
    });
    spawn_local(accept(shared.clone(), http, Listener::Http));
    spawn_local(accept(shared.clone(), native, Listener::Native));
    let udp_in = shared.clone();
    spawn_local(async move {
        let mut buf = vec![0u8; 64 << 10];
        while let Ok((n, from)) = udp_in.udp.recv_from(&mut buf).await {
            udp_in.host.borrow_mut().datagram(from, &buf[..n]);
            udp_in.pump();
        }
    });
    shared.pump();
    loop {
        let wait = {
            let host = shared.host.borrow();
            host.clock().until(host.next_deadline())
        };
        let sleep = tokio::time::sleep(wait.unwrap_or(std::time::Duration::from_secs(3600)));
        tokio::select! {
            _ = stop.notified() => return Ok(()),
            _ = shared.timer.notified() => {}
            _ = sleep => {}
        }
        let due = {
            let host = shared.host.borrow();
            host.clock().now() >= host.next_deadline()
        };
        if due {
            shared.host.borrow_mut().handle_timeout();
            shared.pump();
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = ServerConfig::from_env()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    eprintln!("tokio host listening http={}", config.http);
    local.block_on(&runtime, serve(config, Arc::new(Notify::new())))?;
    Ok(())
}
