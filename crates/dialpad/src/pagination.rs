//! Cursor pagination: one page with `send()`, everything with `stream()`.

use std::marker::PhantomData;

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::client::{Client, RequestSpec};
use crate::error::Result;
use crate::wire;

/// One page of a Dialpad collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
#[non_exhaustive]
pub struct Page<T> {
    /// Items on this page (`null`/absent decode as empty).
    #[serde(default, deserialize_with = "wire::null_default")]
    pub items: Vec<T>,
    /// Cursor for the next page; `None` when Dialpad omitted it or sent
    /// `null`/`""`, meaning this was the last page.
    #[serde(default, deserialize_with = "wire::opt_cursor")]
    pub cursor: Option<String>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Page {
            items: Vec::new(),
            cursor: None,
        }
    }
}

impl<T> Page<T> {
    /// Builds a page (handy in tests and simulators).
    pub fn new(items: Vec<T>, cursor: Option<String>) -> Self {
        Page { items, cursor }
    }

    /// Whether another page exists.
    pub fn has_more(&self) -> bool {
        self.cursor.is_some()
    }
}

impl<T> IntoIterator for Page<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// Stream of items across all pages.
pub type ItemStream<T> = BoxStream<'static, Result<T>>;

/// A list request: set filters, then [`send`](Self::send) for one page or
/// [`stream`](Self::stream) for all items. Resource-specific filters are
/// methods on `ListRequest<ThatResource>`.
#[must_use = "a list request does nothing until you call send() or stream()"]
pub struct ListRequest<T> {
    pub(crate) client: Client,
    pub(crate) spec: RequestSpec,
    _item: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for ListRequest<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListRequest")
            .field("path", &self.spec.display_path())
            .field("query", &self.spec.query)
            .finish()
    }
}

impl<T: DeserializeOwned + Send + 'static> ListRequest<T> {
    pub(crate) fn new(client: &Client, spec: RequestSpec) -> Self {
        ListRequest {
            client: client.clone(),
            spec,
            _item: PhantomData,
        }
    }

    pub(crate) fn param(mut self, key: &str, value: impl ToString) -> Self {
        self.spec.set_query(key, value);
        self
    }

    /// Start from this cursor (from a previous [`Page::cursor`]).
    pub fn cursor(self, cursor: impl Into<String>) -> Self {
        self.param("cursor", cursor.into())
    }

    /// Page size hint. Not in every operation's published parameters;
    /// Dialpad ignores it where unsupported.
    pub fn limit(self, limit: u32) -> Self {
        self.param("limit", limit)
    }

    /// Fetches one page.
    pub async fn send(self) -> Result<Page<T>> {
        self.client.json(self.spec).await
    }

    /// Streams every item, following `cursor` until Dialpad stops sending
    /// one. Stops early (without error) if Dialpad repeats the cursor it
    /// was just given, which would otherwise loop forever.
    pub fn stream(self) -> ItemStream<T> {
        struct State {
            client: Client,
            spec: RequestSpec,
            next: Option<Option<String>>,
        }
        let initial_cursor = self
            .spec
            .query
            .iter()
            .find(|(k, _)| k == "cursor")
            .map(|(_, v)| v.clone());
        let state = State {
            client: self.client,
            spec: self.spec,
            next: Some(initial_cursor),
        };
        stream::try_unfold(state, |mut st| async move {
            let Some(cursor) = st.next.take() else {
                return Ok::<_, crate::Error>(None);
            };
            let mut spec = st.spec.clone();
            if let Some(c) = &cursor {
                spec.set_query("cursor", c);
            }
            let page: Page<T> = st.client.json(spec).await?;
            st.next = match page.cursor {
                Some(next) if Some(&next) != cursor.as_ref() => Some(Some(next)),
                _ => None,
            };
            Ok(Some((page.items, st)))
        })
        .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_end_variants() {
        for lit in [
            r#"{"items":[1,2]}"#,
            r#"{"items":[1,2],"cursor":null}"#,
            r#"{"items":[1,2],"cursor":""}"#,
        ] {
            let p: Page<i64> = serde_json::from_str(lit).unwrap();
            assert_eq!(p.items, vec![1, 2]);
            assert!(!p.has_more(), "{lit}");
        }
        let p: Page<i64> = serde_json::from_str(r#"{"cursor":"abc","extra":1}"#).unwrap();
        assert!(p.items.is_empty());
        assert_eq!(p.cursor.as_deref(), Some("abc"));
        let p: Page<i64> = serde_json::from_str(r#"{"items":null}"#).unwrap();
        assert!(p.items.is_empty());
        let p: Page<i64> = serde_json::from_str("{}").unwrap();
        assert!(p.items.is_empty() && p.cursor.is_none());
    }
}
