//! Request parameters: `application/x-www-form-urlencoded` decoding of query strings and form
//! bodies.

use crate::ApiError;

/// The parameters of a request, in arrival order: the query string's, then the form body's.
///
/// A name may occur more than once; [`Params::get`] answers the first occurrence, as a servlet's
/// `getParameter` does (so a query parameter wins over a form-body one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// The value of the first parameter called `name`, if any (possibly empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every `(name, value)` pair in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// How many pairs there are.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no parameters at all.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Appends the pairs of an urlencoded string (`a=1&b=x+y`). A pair without `=` has an empty
    /// value; empty pairs (`&&`) are skipped.
    pub(crate) fn extend_urlencoded(&mut self, input: &[u8]) -> Result<(), ApiError> {
        for pair in input.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            self.pairs
                .push((percent_decode(name, true)?, percent_decode(value, true)?));
        }
        Ok(())
    }
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, as in form encoding). A `%`
/// not followed by two hex digits is kept literally, as lenient servers do; the result must be
/// UTF-8.
pub(crate) fn percent_decode(input: &[u8], plus_is_space: bool) -> Result<String, ApiError> {
    let needs_work = input
        .iter()
        .any(|&b| b == b'%' || (plus_is_space && b == b'+'));
    let bytes = if needs_work {
        let mut out = Vec::with_capacity(input.len());
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            if b == b'%' && i + 2 < input.len() {
                if let (Some(h), Some(l)) = (hex(input[i + 1]), hex(input[i + 2])) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
            }
            out.push(if plus_is_space && b == b'+' { b' ' } else { b });
            i += 1;
        }
        out
    } else {
        input.to_vec()
    };
    String::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request("request parameters and paths must be UTF-8"))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
