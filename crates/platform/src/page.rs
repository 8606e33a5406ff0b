//! Cursor pagination (`kuajing.type.v1.PageRequest`): a page size and an opaque token
//! naming the last item seen as (timestamp, id). Lists order by that pair, so pages have
//! no gaps or repeats even while items are added.

use chrono::{DateTime, Utc};
use kuajing_proto::types;
use uuid::Uuid;

use crate::error::FieldViolations;

/// Page size when the request gives none.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// Largest page size; larger requests are clamped.
pub const MAX_PAGE_SIZE: i64 = 1000;

/// The position after which the next page starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// Sort time of the last item returned.
    pub time: DateTime<Utc>,
    /// Id of the last item returned (tie-breaker).
    pub id: Uuid,
}

impl Cursor {
    /// The opaque token for this cursor.
    pub fn token(&self) -> String {
        let raw = format!("v1|{}|{}", self.time.timestamp_micros(), self.id.simple());
        raw.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses a token made by [`Cursor::token`].
    pub fn parse(token: &str) -> Option<Cursor> {
        if !token.len().is_multiple_of(2) || token.len() > 200 {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
            .collect();
        let raw = String::from_utf8(bytes?).ok()?;
        let mut parts = raw.split('|');
        if parts.next()? != "v1" {
            return None;
        }
        let micros: i64 = parts.next()?.parse().ok()?;
        let id = Uuid::try_parse(parts.next()?).ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Cursor {
            time: DateTime::from_timestamp_micros(micros)?,
            id,
        })
    }
}

/// A validated page request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// Items to return.
    pub size: i64,
    /// Start after this position; `None` for the first page.
    pub after: Option<Cursor>,
}

impl Page {
    /// Validates `page` (field name `field`, usually `page`), recording violations.
    pub fn from_proto(
        field: &str,
        page: Option<&types::PageRequest>,
        violations: &mut FieldViolations,
    ) -> Page {
        let default = types::PageRequest::default();
        let page = page.unwrap_or(&default);
        let size = match i64::from(page.page_size) {
            0 => DEFAULT_PAGE_SIZE,
            n if n < 0 => {
                violations.add(format!("{field}.page_size"), "must not be negative");
                DEFAULT_PAGE_SIZE
            }
            n => n.min(MAX_PAGE_SIZE),
        };
        let after = if page.page_token.is_empty() {
            None
        } else {
            let cursor = Cursor::parse(&page.page_token);
            if cursor.is_none() {
                violations.add(
                    format!("{field}.page_token"),
                    "is not a token this list issued",
                );
            }
            cursor
        };
        Page { size, after }
    }

    /// The rows to fetch: one more than the page, to know whether another page follows.
    pub fn fetch_limit(&self) -> i64 {
        self.size + 1
    }

    /// Cuts `rows` (fetched with [`Page::fetch_limit`]) to the page and returns the
    /// response part, with a token when more rows follow. The one way a list ends.
    pub fn finish<T>(
        &self,
        rows: &mut Vec<T>,
        cursor_of: impl Fn(&T) -> Cursor,
    ) -> types::PageResponse {
        let size = usize::try_from(self.size).unwrap_or(usize::MAX);
        let next_page_token = if rows.len() > size {
            rows.truncate(size);
            rows.last()
                .map(|r| cursor_of(r).token())
                .unwrap_or_default()
        } else {
            String::new()
        };
        types::PageResponse { next_page_token }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        let c = Cursor {
            time: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::parse(&c.token()), Some(c));
        for bad in ["", "zz", "7631", "abc", &"00".repeat(150)] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn page_sizes_default_clamp_and_refuse_negatives() {
        let mut v = FieldViolations::new();
        let p = |n| types::PageRequest {
            page_size: n,
            page_token: String::new(),
        };
        assert_eq!(
            Page::from_proto("page", Some(&p(0)), &mut v).size,
            DEFAULT_PAGE_SIZE
        );
        assert_eq!(
            Page::from_proto("page", Some(&p(5000)), &mut v).size,
            MAX_PAGE_SIZE
        );
        assert!(v.is_empty());
        Page::from_proto("page", Some(&p(-1)), &mut v);
        assert!(v.finish().is_err());
    }

    #[test]
    fn finish_cuts_and_tokens_the_last_row() {
        let page = Page {
            size: 2,
            after: None,
        };
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let now = Utc::now();
        let mut rows = ids.clone();
        let resp = page.finish(&mut rows, |id| Cursor { time: now, id: *id });
        assert_eq!(rows.len(), 2);
        assert_eq!(Cursor::parse(&resp.next_page_token).unwrap().id, ids[1]);
        let mut last = vec![ids[2]];
        assert!(
            page.finish(&mut last, |id| Cursor { time: now, id: *id })
                .next_page_token
                .is_empty()
        );
    }
}
