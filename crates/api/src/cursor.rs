//! Keyset cursors on the wire: opaque to clients, checked on the way in.
//!
//! A cursor is URL-safe base64 (no padding) of `<list>:<id>`, where `<list>`
//! names the list that gave it out (`users`, `audit`) and `<id>` is the last
//! id of the page it follows. Clients pass back what `next` held; anything
//! else (another list's cursor, text that does not decode) is a 400.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rolegate_domain::{FieldErrors, PageRequest};

use crate::error::ApiError;

/// Longest cursor accepted (a 64-bit id and a list name fit in 40).
const MAX_LEN: usize = 64;

/// Which list a cursor belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Users,
    Audit,
}

impl List {
    fn name(self) -> &'static str {
        match self {
            List::Users => "users",
            List::Audit => "audit",
        }
    }
}

/// The cursor that continues `list` after the item `id`.
pub fn encode(list: List, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{id}", list.name()))
}

/// The keyset position in `raw`, if it is a cursor `list` gave out.
pub fn decode(list: List, raw: &str) -> Option<i64> {
    if raw.len() > MAX_LEN {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let (name, digits) = text.split_once(':')?;
    let id: i64 = digits.parse().ok()?;
    // Only the form `encode` writes (`users:007` or `users:+7` are not cursors).
    (name == list.name() && id > 0 && id.to_string() == digits).then_some(id)
}

/// The page request of a list: a numbered page or a cursor, never both.
pub fn page_request(
    list: List,
    page: Option<u32>,
    per_page: Option<u32>,
    cursor: Option<&str>,
) -> Result<PageRequest, ApiError> {
    let Some(raw) = cursor else {
        return PageRequest::parse(page, per_page).map_err(ApiError::Validation);
    };
    let mut errors = FieldErrors::default();
    if page.is_some() {
        errors.add(
            "page",
            "cannot be combined with cursor: a cursor already says where the page starts",
        );
    }
    let after = decode(list, raw);
    if after.is_none() {
        errors.add(
            "cursor",
            "is not a cursor of this list: pass the `next` value of a page as it was given, \
             or leave cursor out to start from the first page",
        );
    }
    match after {
        Some(after) if errors.is_empty() => {
            PageRequest::after(after, per_page).map_err(ApiError::Validation)
        }
        _ => Err(ApiError::Validation(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_belong_to_their_list() {
        let c = encode(List::Users, 1_000_001);
        assert_eq!(decode(List::Users, &c), Some(1_000_001));
        assert_eq!(decode(List::Audit, &c), None);
        for bad in [
            "",
            "!!",
            "dXNlcnM6",     // "users:"
            "dXNlcnM6LTE",  // "users:-1"
            "dXNlcnM6MDA3", // "users:007"
            "dXNlcnM6eA",   // "users:x"
            "MTIz",         // "123"
            &"A".repeat(MAX_LEN + 1),
        ] {
            assert_eq!(decode(List::Users, bad), None, "{bad}");
        }
    }
}
