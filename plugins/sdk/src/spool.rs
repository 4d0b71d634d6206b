//! Reading a spooled body (see `http.send-spooled`) as a JSON array, element by element, over
//! as many calls as it takes: each call reads from the offset the previous one stopped at (kept
//! in the adapter's cursor) and stops after as many elements as make a page.
//!
//! ```ignore
//! let mut rows = SpooledArray::open(&body_id, offset);
//! while let Some(row) = rows.next_element()? { /* serde_json::from_slice(row) */ }
//! let next_offset = rows.offset();
//! ```

use crate::AdapterError;
use crate::json::{Found, next_element};

/// Why a spooled body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpoolError {
    /// The host no longer has it (the attempt that fetched it ended): fetch it again.
    Gone(String),
    /// Anything else, as the adapter error to answer.
    Adapter(AdapterError),
}

/// A body that is gone is a passing failure for a caller that does not fetch it again.
impl From<SpoolError> for AdapterError {
    fn from(err: SpoolError) -> Self {
        match err {
            SpoolError::Gone(m) => AdapterError::Transient(format!("spooled body gone: {m}")),
            SpoolError::Adapter(e) => e,
        }
    }
}

/// Bytes read from the host at a time.
const READ_BYTES: u32 = 1 << 20;

/// A JSON array in a spooled body, read in pieces.
pub struct SpooledArray {
    body_id: String,
    buf: Vec<u8>,
    /// Offset in the body of `buf[0]`.
    buf_offset: u64,
    /// Next scan position in `buf`.
    at: usize,
    at_start: bool,
    eof: bool,
}

impl SpooledArray {
    /// Starts at `offset`: 0 for the whole array, or an [`SpooledArray::offset`] a previous call
    /// returned.
    pub fn open(body_id: &str, offset: u64) -> Self {
        Self {
            body_id: body_id.to_owned(),
            buf: Vec::new(),
            buf_offset: offset,
            at: 0,
            at_start: offset == 0,
            eof: false,
        }
    }

    /// Where the next element starts: the offset to continue from.
    pub fn offset(&self) -> u64 {
        self.buf_offset + self.at as u64
    }

    /// The next element's bytes, or `None` at the end of the array (or of an empty body).
    pub fn next_element(&mut self) -> Result<Option<&[u8]>, SpoolError> {
        loop {
            let found = next_element(&self.buf, self.at, self.at_start)
                .map_err(|e| SpoolError::Adapter(AdapterError::Upstream(format!("unexpected body: {e}"))))?;
            match found {
                Found::Element { start, end } => {
                    (self.at, self.at_start) = (end, false);
                    return Ok(Some(&self.buf[start..end]));
                }
                Found::End { after } => {
                    self.at = after;
                    self.eof = true;
                    return Ok(None);
                }
                Found::NeedMore if self.eof => {
                    let rest = &self.buf[self.at..];
                    if rest.iter().all(u8::is_ascii_whitespace) {
                        return Ok(None);
                    }
                    return Err(SpoolError::Adapter(AdapterError::Upstream("the body ends inside an element".into())));
                }
                Found::NeedMore => self.fill()?,
            }
        }
    }

    fn fill(&mut self) -> Result<(), SpoolError> {
        if self.at > 0 {
            self.buf.drain(..self.at);
            self.buf_offset += self.at as u64;
            self.at = 0;
        }
        let from = self.buf_offset + self.buf.len() as u64;
        let more = crate::http::read_spooled(&self.body_id, from, READ_BYTES).map_err(|e| match e {
            crate::http::HttpError::InvalidRequest(m) => SpoolError::Gone(m),
            other => SpoolError::Adapter(other.into()),
        })?;
        if more.is_empty() {
            self.eof = true;
        } else {
            self.buf.extend_from_slice(&more);
        }
        Ok(())
    }
}
