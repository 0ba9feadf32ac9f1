//! Pagination of lists.

use crate::error::FieldErrors;

/// A page request: 1-based `page`, `per_page` within 1..=[`PageRequest::MAX_PER_PAGE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub per_page: u32,
}

impl PageRequest {
    pub const DEFAULT_PER_PAGE: u32 = 20;
    pub const MAX_PER_PAGE: u32 = 100;
    /// Deep pages beyond this are refused (offsets stay cheap and bounded).
    pub const MAX_PAGE: u32 = 100_000;

    /// Checks the bounds; absent values take the defaults.
    pub fn parse(page: Option<u32>, per_page: Option<u32>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(Self::DEFAULT_PER_PAGE);
        if !(1..=Self::MAX_PAGE).contains(&page) {
            errors.add("page", format!("must be between 1 and {}", Self::MAX_PAGE));
        }
        if !(1..=Self::MAX_PER_PAGE).contains(&per_page) {
            errors.add(
                "per_page",
                format!("must be between 1 and {}", Self::MAX_PER_PAGE),
            );
        }
        if errors.is_empty() {
            Ok(Self { page, per_page })
        } else {
            Err(errors)
        }
    }

    /// How many rows come before this page.
    pub fn offset(&self) -> u64 {
        u64::from(self.page.saturating_sub(1)) * u64::from(self.per_page)
    }
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    /// How many match in all.
    pub total: u64,
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
                per_page: PageRequest::DEFAULT_PER_PAGE
            }
        );
        assert_eq!(PageRequest::parse(Some(3), Some(10)).unwrap().offset(), 20);
        let e = PageRequest::parse(Some(0), Some(101)).unwrap_err();
        assert!(e.0.contains_key("page") && e.0.contains_key("per_page"));
        assert!(PageRequest::parse(Some(1), Some(0)).is_err());
        assert!(PageRequest::parse(Some(PageRequest::MAX_PAGE + 1), None).is_err());
    }
}
