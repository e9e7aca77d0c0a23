//! Paging of `list_connections`, the same for both backends: the request (cursor and limit)
//! becomes a `seq > after … LIMIT n` in each backend's SQL, and the rows fetched become the
//! page and the next cursor here.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::rows::{ConnectionRow, TimeColumn};
use crate::{Connection, Result, StoreError};

/// Cursors are the creation sequence number, base64url-wrapped so callers treat them as
/// opaque. A malformed cursor is `NotFound` (it points nowhere).
fn encode_cursor(seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("c{seq}"))
}

fn decode_cursor(c: &str) -> Result<i64> {
    URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix('c').and_then(|n| n.parse().ok()))
        .ok_or(StoreError::NotFound)
}

/// One page asked for: the rows after sequence number `after`, at most `limit` (1 to 1000)
/// of them.
pub(crate) struct PageRequest {
    pub after: i64,
    limit: i64,
}

impl PageRequest {
    pub(crate) fn new(cursor: Option<&str>, limit: u32) -> Result<Self> {
        Ok(PageRequest {
            after: cursor.map(decode_cursor).transpose()?.unwrap_or(0),
            limit: i64::from(limit.clamp(1, 1000)),
        })
    }

    /// How many rows to fetch: one more than the page, to tell whether another page follows.
    pub(crate) fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }

    /// The page from the rows fetched (in sequence order), and the cursor of the next page
    /// (None on the last one).
    pub(crate) fn page<T: TimeColumn>(
        &self,
        mut rows: Vec<ConnectionRow<T>>,
    ) -> Result<(Vec<Connection>, Option<String>)> {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next = match (more, rows.last()) {
            (true, Some(last)) => Some(encode_cursor(last.seq)),
            _ => None,
        };
        let list = rows
            .into_iter()
            .map(ConnectionRow::into_connection)
            .collect::<Result<Vec<_>>>()?;
        Ok((list, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(42)).unwrap(), 42);
        assert!(matches!(decode_cursor("zz!"), Err(StoreError::NotFound)));
    }

    #[test]
    fn limit_is_clamped() {
        assert_eq!(PageRequest::new(None, 0).unwrap().fetch_limit(), 2);
        assert_eq!(PageRequest::new(None, 5000).unwrap().fetch_limit(), 1001);
        assert_eq!(PageRequest::new(None, 7).unwrap().after, 0);
    }
}
