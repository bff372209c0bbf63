//! A reader that turns fuzzer bytes into choices.

/// Reads numbers, choices and byte strings off the front of a fuzzer input.
///
/// It never fails: past the end every read returns zeros (and empty slices), so a target can
/// read what it needs without checking, and loops stop on [`ByteReader::is_empty`]. Small
/// changes to the input make small changes to the choices, which keeps mutations meaningful.
#[derive(Clone, Debug)]
pub struct ByteReader<'a> {
    data: &'a [u8],
}

impl<'a> ByteReader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        ByteReader { data }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.data.len()
    }

    /// The next byte, 0 past the end.
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next two bytes, little endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next four bytes, little endian.
    pub fn u32(&mut self) -> u32 {
        u32::from(self.u16()) | (u32::from(self.u16()) << 16)
    }

    /// The next eight bytes, little endian.
    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    /// One bit of choice (the low bit of the next byte).
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// True for about one byte value in `n` (for rare choices).
    pub fn one_in(&mut self, n: u8) -> bool {
        self.u8().is_multiple_of(n)
    }

    /// A number below `n` (0 when `n` is 0), from one byte, or two when `n` exceeds 256.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let x = if n <= 256 {
            usize::from(self.u8())
        } else {
            usize::from(self.u16())
        };
        x % n
    }

    /// One of `items` (which must not be empty).
    pub fn pick<'b, T>(&mut self, items: &'b [T]) -> &'b T {
        &items[self.below(items.len())]
    }

    /// A slice of at most `max` of the next bytes; its length is read first.
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let len = self.below(max.saturating_add(1)).min(self.data.len());
        let (head, rest) = self.data.split_at(len);
        self.data = rest;
        head
    }

    /// A string of at most `max` bytes (invalid UTF-8 is replaced, so it may grow slightly).
    pub fn string(&mut self, max: usize) -> String {
        String::from_utf8_lossy(self.bytes(max)).into_owned()
    }

    /// Everything not read yet; the reader is empty afterwards.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::ByteReader;

    #[test]
    fn reads_past_the_end_are_zero() {
        let mut r = ByteReader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), 0x0201);
        assert_eq!(r.u32(), 3);
        assert!(r.is_empty());
        assert_eq!(r.below(10), 0);
        assert_eq!(r.bytes(5), b"");
    }

    #[test]
    fn bytes_reads_its_length_first() {
        let mut r = ByteReader::new(&[2, b'a', b'b', b'c']);
        assert_eq!(r.bytes(8), b"ab");
        assert_eq!(r.rest(), b"c");
    }
}
