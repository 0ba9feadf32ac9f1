//! LIKE patterns with the wildcards of user input taken literally.

use sea_orm::sea_query::LikeExpr;

/// The escape character of LIKE patterns (not `\\`, whose quoting differs by backend).
pub(crate) const LIKE_ESCAPE: char = '!';

/// `prefix%` with the wildcards in `prefix` escaped.
pub(crate) fn prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | LIKE_ESCAPE) {
            pattern.push(LIKE_ESCAPE);
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// `LIKE 'prefix%' ESCAPE '!'`: starts with `prefix`, taken literally.
pub(crate) fn starts_with(prefix: &str) -> LikeExpr {
    LikeExpr::new(prefix_pattern(prefix)).escape(LIKE_ESCAPE)
}

#[cfg(test)]
mod tests {
    use super::prefix_pattern;

    #[test]
    fn wildcards_and_the_escape_are_literal() {
        assert_eq!(prefix_pattern("a%b_c!d"), "a!%b!_c!!d%");
    }
}
