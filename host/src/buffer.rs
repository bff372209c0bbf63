//! A connection's outgoing bytes: appended by the host, taken by the runtime.
//!
//! Two ways to take them, one per kind of runtime:
//! * readiness (mio, epoll): write [`OutBuf::pending`] straight from the buffer and
//!   [`OutBuf::consume`] what the socket took;
//! * completion (glommio, io_uring; tokio): [`OutBuf::take`] swaps the bytes into the runtime's
//!   own vector (no copy), which stays counted as in flight until [`OutBuf::written`].
//!
//! Either way [`OutBuf::len`] counts every byte not yet on the wire, so the slow-reader bound
//! holds for both.

/// Bytes waiting to be written to a socket.
#[derive(Debug, Default)]
pub(crate) struct OutBuf {
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    pos: usize,
    /// Bytes handed to the runtime by `take` and not reported written yet.
    in_flight: usize,
}

impl OutBuf {
    /// Bytes queued or in flight.
    pub fn len(&self) -> usize {
        self.buf.len() - self.pos + self.in_flight
    }

    /// Whether nothing is queued or in flight.
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

    /// The queued bytes not yet written.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// `n` bytes of [`OutBuf::pending`] were written.
    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.reset();
        }
    }

    /// Moves every queued byte into `into` (swapping vectors when `into` is empty, so no byte
    /// is copied); they count as in flight until [`OutBuf::written`].
    pub fn take(&mut self, into: &mut Vec<u8>) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.in_flight += self.buf.len();
        if into.is_empty() {
            std::mem::swap(into, &mut self.buf);
        } else {
            into.append(&mut self.buf);
        }
    }

    /// Everything taken so far was written.
    pub fn written(&mut self) {
        self.in_flight = 0;
    }

    /// Drops everything queued (bytes in flight stay counted until written).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.pos = 0;
    }

    fn reset(&mut self) {
        self.clear();
        if self.buf.capacity() > 1 << 20 {
            // a burst (a snapshot, a big push) should not pin its memory for the connection's life
            self.buf = Vec::new();
        }
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

    #[test]
    fn partial_consumes_keep_order_across_pushes() {
        let mut b = OutBuf::default();
        b.push(b"hello ");
        b.consume(4);
        b.push(b"world");
        b.tail().extend_from_slice(b"!");
        assert_eq!(b.pending(), b"o world!");
        assert_eq!(b.len(), 8);
        b.consume(8);
        assert!(b.is_empty());
    }

    #[test]
    fn taken_bytes_count_until_written() {
        let mut b = OutBuf::default();
        b.push(b"abcdef");
        b.consume(2);
        let mut v = Vec::new();
        b.take(&mut v);
        assert_eq!(v, b"cdef");
        assert_eq!(b.len(), 4, "in flight still counts against the bound");
        b.push(b"gh");
        assert_eq!(b.pending(), b"gh");
        assert_eq!(b.len(), 6);
        b.written();
        assert_eq!(b.len(), 2);
        let mut w = vec![b'x'];
        b.take(&mut w);
        assert_eq!(w, b"xgh");
    }
}
