//! Outgoing peer links: one write-only TCP connection to every other member, reconnected with
//! backoff. The node speaks first on each (its handshake) after `Input::PeerUp`.

use crate::buffer::WriteBuf;
use crate::server::{Server, Work};
use distro_core::{Input, MemberId, Timestamp};
use mio::net::TcpStream;
use mio::{Interest, Poll, Token};
use std::collections::HashMap;
use std::io::{ErrorKind, Read};
use std::net::SocketAddr;
use std::time::Duration;

/// First reconnect delay.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest reconnect delay.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// A connect attempt not finished after this is abandoned.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The state of one link.
#[derive(Debug)]
enum LinkState {
    /// Not connected; the next attempt is due at `retry_at`.
    Down { retry_at: Timestamp },
    /// A non-blocking connect is under way.
    Connecting {
        stream: TcpStream,
        token: Token,
        since: Timestamp,
    },
    /// Connected; frames are written.
    Up {
        stream: TcpStream,
        token: Token,
        writable: bool,
    },
}

/// The link to one member.
#[derive(Debug)]
pub(crate) struct PeerLink {
    member: MemberId,
    addr: SocketAddr,
    state: LinkState,
    out: WriteBuf,
    /// Frames given while connecting, written right after the handshake.
    held: WriteBuf,
    backoff: Duration,
}

/// Every outgoing link, by member and by token.
#[derive(Debug)]
pub(crate) struct PeerLinks {
    links: Vec<PeerLink>,
    by_member: HashMap<MemberId, usize>,
    by_token: HashMap<Token, usize>,
    max_buffer: usize,
}

impl PeerLinks {
    /// Links to `peers`, all down and due to connect at once.
    pub(crate) fn new(peers: &[(MemberId, SocketAddr)], max_buffer: usize) -> Self {
        let links: Vec<PeerLink> = peers
            .iter()
            .map(|(member, addr)| PeerLink {
                member: member.clone(),
                addr: *addr,
                state: LinkState::Down {
                    retry_at: Timestamp::ZERO,
                },
                out: WriteBuf::default(),
                held: WriteBuf::default(),
                backoff: BACKOFF_MIN,
            })
            .collect();
        let by_member = links
            .iter()
            .enumerate()
            .map(|(i, l)| (l.member.clone(), i))
            .collect();
        PeerLinks {
            links,
            by_member,
            by_token: HashMap::new(),
            max_buffer,
        }
    }

    /// The link using `token`, if any.
    pub(crate) fn by_token(&self, token: Token) -> Option<usize> {
        self.by_token.get(&token).copied()
    }

    /// The earliest reconnect or connect-timeout deadline.
    pub(crate) fn next_deadline(&self) -> Timestamp {
        self.links
            .iter()
            .map(|l| match &l.state {
                LinkState::Down { retry_at } => *retry_at,
                LinkState::Connecting { since, .. } => since.plus(CONNECT_TIMEOUT),
                LinkState::Up { .. } => Timestamp::NEVER,
            })
            .min()
            .unwrap_or(Timestamp::NEVER)
    }

    /// Makes every link that is down retry at once: a member just connected to us, so the
    /// members that were down may be back.
    pub(crate) fn retry_now(&mut self, now: Timestamp) {
        for link in &mut self.links {
            if let LinkState::Down { retry_at } = &mut link.state {
                *retry_at = now;
                link.backoff = BACKOFF_MIN;
            }
        }
    }

    /// Starts the connects that are due; abandons those that took too long.
    pub(crate) fn connect_due(&mut self, poll: &Poll, now: Timestamp, next_token: &mut usize) {
        for (i, link) in self.links.iter_mut().enumerate() {
            match &mut link.state {
                LinkState::Down { retry_at } if *retry_at <= now => {}
                LinkState::Connecting {
                    stream,
                    token,
                    since,
                } if now.since(*since) > CONNECT_TIMEOUT => {
                    tracing::debug!(member = %link.member, "peer connect timed out");
                    let _ = poll.registry().deregister(stream);
                    self.by_token.remove(token);
                    link.state = LinkState::Down { retry_at: now };
                }
                _ => continue,
            }
            let token = Token(*next_token);
            *next_token += 1;
            let started = TcpStream::connect(link.addr).and_then(|mut stream| {
                let interest = Interest::READABLE | Interest::WRITABLE;
                poll.registry()
                    .register(&mut stream, token, interest)
                    .map(|()| stream)
            });
            match started {
                Ok(stream) => {
                    self.by_token.insert(token, i);
                    link.state = LinkState::Connecting {
                        stream,
                        token,
                        since: now,
                    };
                }
                Err(e) => {
                    tracing::debug!(member = %link.member, error = %e, "peer connect failed");
                    link.retry_later(now);
                }
            }
        }
    }
}

impl PeerLink {
    /// Schedules the next attempt after the current backoff, and doubles it.
    fn retry_later(&mut self, now: Timestamp) {
        self.held.clear();
        self.state = LinkState::Down {
            retry_at: now.plus(self.backoff),
        };
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }
}

impl Server {
    /// Readiness on a link's socket: the connect finished, bytes can be written, or it closed.
    pub(crate) fn link_event(&mut self, i: usize, event: &mio::event::Event) {
        let now = self.clock.now();
        let link = &mut self.links.links[i];
        match &mut link.state {
            LinkState::Down { .. } => {}
            LinkState::Connecting { stream, token, .. } => {
                let failed = match stream.take_error() {
                    Ok(Some(e)) | Err(e) => Some(e),
                    Ok(None) => match stream.peer_addr() {
                        Ok(_) => None,
                        Err(e) if e.kind() == ErrorKind::NotConnected && !event.is_error() => {
                            return
                        }
                        Err(e) => Some(e),
                    },
                };
                if let Some(e) = failed {
                    tracing::debug!(member = %link.member, error = %e, "peer connect failed");
                    let _ = self.poll.registry().deregister(stream);
                    self.links.by_token.remove(token);
                    link.retry_later(now);
                    return;
                }
                let _ = stream.set_nodelay(true);
                let token = *token;
                let LinkState::Connecting { mut stream, .. } =
                    std::mem::replace(&mut link.state, LinkState::Down { retry_at: now })
                else {
                    unreachable!()
                };
                if self
                    .poll
                    .registry()
                    .reregister(&mut stream, token, Interest::READABLE)
                    .is_err()
                {
                    self.links.by_token.remove(&token);
                    link.retry_later(now);
                    return;
                }
                link.state = LinkState::Up {
                    stream,
                    token,
                    writable: false,
                };
                link.backoff = BACKOFF_MIN;
                link.out.clear();
                let member = link.member.clone();
                tracing::info!(%member, addr = %link.addr, "peer link up");
                self.feed(Input::PeerUp { now, member });
                let link = &mut self.links.links[i];
                if !link.held.is_empty() {
                    let held = std::mem::take(&mut link.held);
                    link.out.push(held.pending());
                    self.link_flush(i);
                }
            }
            LinkState::Up { stream, .. } => {
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    // The link is write-only: anything read is discarded; EOF means it broke.
                    loop {
                        match stream.read(&mut self.scratch) {
                            Ok(0) => {
                                self.work.push_back(Work::LinkDown(i, "closed by peer"));
                                return;
                            }
                            Ok(_) => {}
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) if e.kind() == ErrorKind::Interrupted => {}
                            Err(_) => {
                                self.work.push_back(Work::LinkDown(i, "read failed"));
                                return;
                            }
                        }
                    }
                }
                if event.is_writable() {
                    self.link_flush(i);
                }
            }
        }
    }

    /// Queues a frame for `member` and writes what the socket takes; dropped when its link is
    /// down (the node retries). A link whose unwritten bytes pass the bound is dropped.
    pub(crate) fn link_send(&mut self, member: &MemberId, frame: &[u8]) {
        let Some(&i) = self.links.by_member.get(member) else {
            tracing::debug!(%member, "transmit to an unknown member dropped");
            return;
        };
        let max = self.links.max_buffer;
        let link = &mut self.links.links[i];
        match link.state {
            LinkState::Up { .. } => link.out.push(frame),
            // Held until the node's handshake went out after `PeerUp`: a restarted member's
            // first requests are answered while the link back to it is still connecting.
            LinkState::Connecting { .. } => link.held.push(frame),
            LinkState::Down { .. } => return,
        }
        if link.held.len() > max {
            link.held.clear();
            return;
        }
        self.link_flush(i);
        let link = &mut self.links.links[i];
        if link.out.len() > max {
            self.stats.peer_links_overflowed += 1;
            tracing::warn!(member = %link.member, bytes = link.out.len(), "peer link write buffer over its bound; reconnecting");
            link.out.clear();
            self.work
                .push_back(Work::LinkDown(i, "write buffer over its bound"));
        }
    }

    fn link_flush(&mut self, i: usize) {
        let link = &mut self.links.links[i];
        let LinkState::Up {
            stream,
            token,
            writable,
        } = &mut link.state
        else {
            return;
        };
        if link
            .out
            .flush_registered(stream, self.poll.registry(), *token, writable)
            .is_err()
        {
            self.work.push_back(Work::LinkDown(i, "write failed"));
        }
    }

    /// Drops a broken link, tells the node, and schedules a reconnect.
    pub(crate) fn link_down(&mut self, i: usize, why: &'static str) {
        let now = self.clock.now();
        let link = &mut self.links.links[i];
        let LinkState::Up {
            mut stream, token, ..
        } = std::mem::replace(&mut link.state, LinkState::Down { retry_at: now })
        else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut stream);
        self.links.by_token.remove(&token);
        link.out.clear();
        link.backoff = BACKOFF_MIN;
        link.retry_later(now);
        let member = link.member.clone();
        tracing::info!(%member, why, "peer link down");
        self.feed(Input::PeerDown { now, member });
    }
}
