//! Pagination of lists: numbered pages for small offsets, keyset cursors for
//! everything else.
//!
//! A numbered page costs the database every row before it (`OFFSET`), so
//! offsets are bounded ([`PageRequest::MAX_OFFSET`]); past that a client
//! follows the `next` cursor of each page, which costs one index seek
//! wherever it points. Totals are counted up to [`Page::COUNT_CAP`] only.

use crate::error::FieldErrors;

/// A page request: either a 1-based `page` (with `after` absent) or the
/// items after a keyset position (`after`: the last id of the page before,
/// in the list's order); `per_page` within 1..=[`PageRequest::MAX_PER_PAGE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub per_page: u32,
    /// Keyset position: the id of the last item already seen.
    pub after: Option<i64>,
}

impl PageRequest {
    pub const DEFAULT_PER_PAGE: u32 = 20;
    pub const MAX_PER_PAGE: u32 = 100;
    /// How many items a numbered page may skip; deeper pages are reached
    /// with the cursor (an offset costs every row it skips).
    pub const MAX_OFFSET: u64 = 10_000;
    /// The highest page number any `per_page` allows (`per_page` = 1).
    pub const MAX_PAGE: u32 = 10_001;

    /// Checks the bounds; absent values take the defaults.
    pub fn parse(page: Option<u32>, per_page: Option<u32>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(Self::DEFAULT_PER_PAGE);
        if page < 1 {
            errors.add("page", "must be at least 1");
        }
        if !(1..=Self::MAX_PER_PAGE).contains(&per_page) {
            errors.add(
                "per_page",
                format!("must be between 1 and {}", Self::MAX_PER_PAGE),
            );
        }
        let request = Self {
            page,
            per_page,
            after: None,
        };
        if errors.is_empty() && request.offset() > Self::MAX_OFFSET {
            errors.add(
                "page",
                format!(
                    "skips more than {} items: follow the `next` cursor of each page (cursor=…) \
                     to go deeper",
                    Self::MAX_OFFSET
                ),
            );
        }
        if errors.is_empty() {
            Ok(request)
        } else {
            Err(errors)
        }
    }

    /// The `per_page` items after the keyset position `after`.
    pub fn after(after: i64, per_page: Option<u32>) -> Result<Self, FieldErrors> {
        let mut request = Self::parse(None, per_page)?;
        request.after = Some(after);
        Ok(request)
    }

    /// How many rows come before this page (0 for a keyset page).
    pub fn offset(&self) -> u64 {
        if self.after.is_some() {
            return 0;
        }
        u64::from(self.page.saturating_sub(1)) * u64::from(self.per_page)
    }
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The page number asked for; `None` for a keyset page.
    pub page: Option<u32>,
    pub per_page: u32,
    /// How many match in all, counted up to [`Page::COUNT_CAP`]: a total
    /// equal to the cap means "at least this many" (`total_capped`).
    pub total: u64,
    pub total_capped: bool,
    /// The keyset position of the next page (the last item's id), when
    /// more items follow.
    pub next: Option<i64>,
}

impl<T> Page<T> {
    /// Matches are counted up to this many: an exact count of a million
    /// rows costs a scan of a million rows.
    pub const COUNT_CAP: u64 = 10_000;

    /// A page of `rows` read with one extra row beyond `request.per_page`
    /// (whether it came says whether more follow); `id` gives an item's
    /// keyset position; `counted` is the count up to `COUNT_CAP + 1`.
    pub fn assemble(
        mut rows: Vec<T>,
        request: PageRequest,
        counted: u64,
        id: impl Fn(&T) -> i64,
    ) -> Self {
        let per_page = request.per_page as usize;
        let more = rows.len() > per_page;
        rows.truncate(per_page);
        let next = if more { rows.last().map(&id) } else { None };
        Page {
            items: rows,
            page: request.after.is_none().then_some(request.page),
            per_page: request.per_page,
            total: counted.min(Self::COUNT_CAP),
            total_capped: counted > Self::COUNT_CAP,
            next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_bounds() {
        assert_eq!(
            PageRequest::parse(None, None).unwrap(),
            PageRequest {
                page: 1,
                per_page: PageRequest::DEFAULT_PER_PAGE,
                after: None,
            }
        );
        assert_eq!(PageRequest::parse(Some(3), Some(10)).unwrap().offset(), 20);
        let e = PageRequest::parse(Some(0), Some(101)).unwrap_err();
        assert!(e.0.contains_key("page") && e.0.contains_key("per_page"));
        assert!(PageRequest::parse(Some(1), Some(0)).is_err());
        assert!(PageRequest::parse(Some(PageRequest::MAX_PAGE), Some(1)).is_ok());
        assert!(PageRequest::parse(Some(PageRequest::MAX_PAGE + 1), Some(1)).is_err());
        // offset 10 000 is the deepest: page 101 of 100, not page 102
        assert!(PageRequest::parse(Some(101), Some(100)).is_ok());
        let deep = PageRequest::parse(Some(102), Some(100)).unwrap_err();
        assert!(deep.0["page"].contains("cursor"), "{deep:?}");
        let keyset = PageRequest::after(42, Some(5)).unwrap();
        assert_eq!((keyset.after, keyset.offset()), (Some(42), 0));
    }

    #[test]
    fn assembled_pages_say_what_follows() {
        let request = PageRequest::parse(None, Some(2)).unwrap();
        let page = Page::assemble(vec![1_i64, 2, 3], request, 3, |i| *i);
        assert_eq!(
            (page.items, page.next, page.page),
            (vec![1, 2], Some(2), Some(1))
        );
        let last = Page::assemble(
            vec![7_i64],
            PageRequest::after(2, Some(2)).unwrap(),
            3,
            |i| *i,
        );
        assert_eq!((last.next, last.page), (None, None));
        let many = Page::<i64>::assemble(Vec::new(), request, Page::<i64>::COUNT_CAP + 1, |i| *i);
        assert_eq!(
            (many.total, many.total_capped),
            (Page::<i64>::COUNT_CAP, true)
        );
    }
}
