//! A connection's outgoing bytes: appended by the loop, flushed until the socket would block.

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::io::{self, Write};

/// Bytes waiting to be written to a socket.
#[derive(Debug, Default)]
pub struct WriteBuf {
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    pos: usize,
}

/// What a flush achieved.
#[derive(Debug, PartialEq, Eq)]
pub enum Flushed {
    /// Everything was written.
    All,
    /// The socket would block with bytes still queued.
    Partial,
}

impl WriteBuf {
    /// Bytes queued and not written yet.
    pub fn len(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(data);
    }

    /// The vector to render into directly (the caller appends to it).
    pub fn tail(&mut self) -> &mut Vec<u8> {
        self.compact();
        &mut self.buf
    }

    /// The bytes queued and not written yet.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.pos = 0;
    }

    /// Writes until everything is written or the writer would block. Returns the number of
    /// bytes written too, so callers can tell progress.
    pub fn flush_to<W: Write>(&mut self, w: &mut W) -> io::Result<(Flushed, usize)> {
        let mut written = 0;
        while self.pos < self.buf.len() {
            match w.write(&self.buf[self.pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.pos += n;
                    written += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok((Flushed::Partial, written))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.clear();
        if self.buf.capacity() > 1 << 20 {
            // a burst (a snapshot, a big push) should not pin its memory for the connection's life
            self.buf = Vec::new();
        }
        Ok((Flushed::All, written))
    }

    /// Writes to a registered socket, keeping `WRITABLE` interest (flag `writable`) exactly
    /// while bytes remain queued.
    pub fn flush_registered(
        &mut self,
        stream: &mut TcpStream,
        registry: &Registry,
        token: Token,
        writable: &mut bool,
    ) -> io::Result<(Flushed, usize)> {
        let (flushed, written) = self.flush_to(stream)?;
        let want = flushed == Flushed::Partial;
        if want != *writable {
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            registry.reregister(stream, token, interest)?;
            *writable = want;
        }
        Ok((flushed, written))
    }

    /// Moves unwritten bytes to the front once the written prefix is large.
    fn compact(&mut self) {
        if self.pos > 0 && (self.pos == self.buf.len() || self.pos >= 64 << 10) {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that accepts at most `room` bytes, then would block.
    struct Choked {
        out: Vec<u8>,
        room: usize,
    }

    impl Write for Choked {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = data.len().min(self.room).min(3);
            self.room -= n;
            self.out.extend_from_slice(&data[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_keep_order_across_pushes() {
        let mut b = WriteBuf::default();
        let mut w = Choked {
            out: Vec::new(),
            room: 4,
        };
        b.push(b"hello ");
        assert_eq!(b.flush_to(&mut w).unwrap(), (Flushed::Partial, 4));
        b.push(b"world");
        b.tail().extend_from_slice(b"!");
        assert_eq!(b.len(), 8);
        w.room = 100;
        assert_eq!(b.flush_to(&mut w).unwrap(), (Flushed::All, 8));
        assert_eq!(w.out, b"hello world!");
        assert!(b.is_empty());
    }
}
