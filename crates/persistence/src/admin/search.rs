//! The user search: a prefix of the username key or the e-mail, written so
//! that each backend answers it from an index.
//!
//! - PostgreSQL: a range `col COLLATE "C" >= q AND col COLLATE "C" < q⊕1`,
//!   served by the indexes `ix_users_username_key_c` / `ix_users_email_c`
//!   (migration `m20261212_000011_user_search`). Under the database's own
//!   collation (`en_US.UTF-8`, `C.UTF-8`…) neither a range nor `LIKE 'q%'`
//!   is a prefix test an ordinary btree index can serve; under "C" the range
//!   is exact (byte order is code point order) and a plain range, so it
//!   keeps its index in the generic plans of prepared statements too.
//! - MariaDB/MySQL: `col LIKE 'q%'`, which the optimizer turns into a range
//!   on the unique indexes (under the column's collation).
//! - SQLite: the same range under the columns' BINARY collation, on the
//!   unique indexes (SQLite's own LIKE optimisation wants NOCASE indexes).
//!
//! `%`, `_` and the escape character in `q` are literal everywhere.

use rolegate_domain::{Page, PageRequest, StoreError};
use sea_orm::sea_query::{
    Alias, Asterisk, Expr, ExprTrait, Query, SelectStatement, SimpleExpr, UnionType,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, IdenStatic, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Select,
};

use crate::entities::users;
use crate::error::map_db_err;

/// `column` starts with `prefix` (already in the stored form: lower case).
pub(crate) fn starts_with(
    backend: DatabaseBackend,
    column: users::Column,
    prefix: &str,
) -> SimpleExpr {
    match backend {
        DatabaseBackend::MySql => column.like(crate::like::starts_with(prefix)),
        DatabaseBackend::Postgres => {
            let col = format!(r#""users"."{}" COLLATE "C""#, column.as_str());
            match successor(prefix) {
                Some(end) => Expr::cust_with_values(
                    format!("({col} >= $1 AND {col} < $2)"),
                    [prefix.to_owned(), end],
                ),
                None => Expr::cust_with_values(format!("{col} >= $1"), [prefix.to_owned()]),
            }
        }
        _ => match successor(prefix) {
            Some(end) => column.gte(prefix).and(column.lt(end)),
            None => column.gte(prefix),
        },
    }
}

/// `column` starts with `prefix`, written so that SQLite uses no index for
/// it (a unary `+` on the column): the page is then read in id order.
fn scanned_prefix(column: users::Column, prefix: &str) -> SimpleExpr {
    let col = format!(r#"+"users"."{}""#, column.as_str());
    match successor(prefix) {
        Some(end) => Expr::cust_with_values(
            format!("({col} >= ? AND {col} < ?)"),
            [prefix.to_owned(), end],
        ),
        None => Expr::cust_with_values(format!("{col} >= ?"), [prefix.to_owned()]),
    }
}

/// One page of the users `query` finds (by id), and their count up to the cap.
pub(super) async fn search_users(
    db: &impl ConnectionTrait,
    backend: DatabaseBackend,
    query: Option<&str>,
    page: PageRequest,
) -> Result<(Vec<users::Model>, u64), StoreError> {
    let mut select = users::Entity::find();
    let counted;
    if let Some(q) = query {
        let by_name = starts_with(backend, users::Column::UsernameKey, q);
        let by_mail = starts_with(backend, users::Column::Email, q);
        counted = count_capped(
            db,
            vec![
                users::Entity::find().filter(by_name.clone()),
                users::Entity::find().filter(by_mail.clone()),
            ],
            users::Column::Id,
        )
        .await?;
        if backend == DatabaseBackend::Sqlite && counted > Page::<()>::COUNT_CAP {
            // SQLite plans without the values: it always reads every match
            // from the two indexes and sorts them by id (650 ms for a prefix
            // a million users share). With more than the cap matching, walking
            // the ids and filtering finds a page sooner.
            select = select.filter(
                Condition::any()
                    .add(scanned_prefix(users::Column::UsernameKey, q))
                    .add(scanned_prefix(users::Column::Email, q)),
            );
        } else {
            select = select.filter(Condition::any().add(by_name).add(by_mail));
        }
    } else {
        counted = count_capped(db, vec![select.clone()], users::Column::Id).await?;
    }
    if let Some(after) = page.after {
        select = select.filter(users::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(users::Column::Id)
        .offset(page.offset())
        .limit(u64::from(page.per_page) + 1)
        .all(db)
        .await
        .map_err(map_db_err)?;
    Ok((rows, counted))
}

/// How many distinct rows the `branches` match together (their union by
/// id), counted up to one past [`Page::COUNT_CAP`]: each branch reads at
/// most that many index entries, however many rows match. When the first
/// branch alone passes the cap that is the answer (one index range);
/// otherwise `SELECT COUNT(*) FROM (SELECT id FROM (b1 LIMIT cap+1) UNION
/// …)`. Separately limited branches, not one `WHERE a OR b`: the OR made
/// PostgreSQL build both bitmaps whole (70 ms at a million users for
/// `q=user5`), and the union of two full branches costs a hash of 20 000
/// ids (10 ms) where one range costs 1 ms.
pub(super) async fn count_capped<E: EntityTrait>(
    db: &impl ConnectionTrait,
    branches: Vec<Select<E>>,
    id: impl ColumnTrait + Copy,
) -> Result<u64, StoreError> {
    let cap = Page::<()>::COUNT_CAP + 1;
    let limited: Vec<SelectStatement> = branches
        .into_iter()
        .enumerate()
        .map(|(i, branch)| {
            Query::select()
                .column(Asterisk)
                .from_subquery(
                    branch.select_only().column(id).limit(cap).into_query(),
                    Alias::new(format!("b{i}")),
                )
                .to_owned()
        })
        .collect();
    let Some(first) = limited.first() else {
        return Ok(0);
    };
    if limited.len() > 1 {
        let alone = count_rows(db, first.clone()).await?;
        if alone >= cap {
            return Ok(alone);
        }
    }
    let mut union = first.clone();
    for other in &limited[1..] {
        union.union(UnionType::Distinct, other.clone());
    }
    count_rows(db, union).await
}

/// `SELECT COUNT(*) FROM (rows)`.
async fn count_rows(db: &impl ConnectionTrait, rows: SelectStatement) -> Result<u64, StoreError> {
    let query = Query::select()
        .expr(Expr::cust("COUNT(*) AS n"))
        .from_subquery(rows, "capped")
        .to_owned();
    let row = db.query_one(&query).await.map_err(map_db_err)?;
    let n = match row {
        Some(row) => row.try_get::<i64>("", "n").map_err(map_db_err)?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The least string above every string that starts with `prefix`, in code
/// point (= UTF-8 byte) order: `prefix` with its last character
/// incremented ("u99" → "u9:"). `None` when there is none (empty, or all
/// `char::MAX`).
pub(crate) fn successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = u32::from(last) + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_successor_bounds_every_extension() {
        assert_eq!(successor("u99").as_deref(), Some("u9:"));
        assert_eq!(successor("a\u{d7ff}").as_deref(), Some("a\u{e000}"));
        assert_eq!(successor("b\u{10ffff}").as_deref(), Some("c"));
        assert_eq!(successor("\u{10ffff}"), None);
        assert_eq!(successor(""), None);
        let end = successor("jos\u{e9}").unwrap();
        for s in ["jos\u{e9}", "jos\u{e9}\u{10ffff}", "jos\u{e9}zzz"] {
            assert!(s >= "jos\u{e9}" && s < end.as_str(), "{s}");
        }
        assert!("jot" >= end.as_str());
    }
}
