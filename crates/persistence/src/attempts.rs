//! `AttemptStore` in the database: rate limits shared by every instance.
//!
//! A reservation is one conditional `UPDATE` (the admission rule in its
//! `WHERE` clause, so concurrent reservations of one key are serialised by
//! the row lock and each re-checks the rule on the row it finally sees), or
//! for a new key an `INSERT` (a unique violation means another request
//! created it first: the `UPDATE` is tried again). Nothing is decided on a
//! value read earlier.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rolegate_domain::{Admission, AttemptStore, Attempts, Limit, Reservation, StoreError};
use sea_orm::sea_query::{CaseStatement, Condition, Expr, ExprTrait as _};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::Database;
use crate::entities::auth_attempts::{self, Column};
use crate::error::{is_unique_violation, map_db_err};

/// `rule` as a condition on the stored row.
fn admitted(rule: &Admission) -> Condition {
    let mut any = Condition::any()
        .add(Column::LastAt.lt(rule.expired_before))
        .add(Column::Count.lt(i64::from(rule.max)));
    for step in &rule.steps {
        let count = i64::from(step.count);
        let counts = if step.and_above {
            Column::Count.gte(count)
        } else {
            Column::Count.eq(count)
        };
        any = any.add(
            Condition::all()
                .add(counts)
                .add(Column::LastAt.lte(step.last_at_or_before)),
        );
    }
    any
}

impl Database {
    /// Counts one attempt if `rule` admits it: count = 1 when the window has
    /// passed, else count + 1. Whether a row was updated.
    async fn reserve_existing(
        &self,
        key: &str,
        now: DateTime<Utc>,
        rule: &Admission,
    ) -> Result<bool, StoreError> {
        let next = CaseStatement::new()
            .case(Column::LastAt.lt(rule.expired_before), Expr::val(1))
            .finally(Expr::col(Column::Count).add(1));
        let updated = auth_attempts::Entity::update_many()
            .col_expr(Column::Count, next.into())
            .col_expr(Column::LastAt, Expr::value(now))
            .filter(Column::Key.eq(key))
            .filter(admitted(rule))
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(updated.rows_affected > 0)
    }

    /// Why `key` was refused: the wait its row asks for (at least a second,
    /// also when the row changed since the refusal).
    async fn wait_for(
        &self,
        key: &str,
        now: DateTime<Utc>,
        limit: &Limit,
    ) -> Result<Reservation, StoreError> {
        let current = self.get(key).await?;
        Ok(Reservation::Blocked(
            limit.retry_after(current.as_ref(), now).unwrap_or(1),
        ))
    }
}

#[async_trait]
impl AttemptStore for Database {
    async fn reserve(
        &self,
        key: &str,
        now: DateTime<Utc>,
        limit: &Limit,
    ) -> Result<Reservation, StoreError> {
        let rule = limit.admission(now);
        if self.reserve_existing(key, now, &rule).await? {
            return Ok(Reservation::Reserved);
        }
        let inserted = auth_attempts::ActiveModel {
            key: Set(key.to_owned()),
            count: Set(1),
            last_at: Set(now),
        }
        .insert(&self.conn)
        .await;
        match inserted {
            Ok(_) => Ok(Reservation::Reserved),
            // The row exists: it refused (or another request created it a
            // moment ago, and the rule decides again on what it wrote).
            Err(e) if is_unique_violation(&e) => {
                if self.reserve_existing(key, now, &rule).await? {
                    Ok(Reservation::Reserved)
                } else {
                    self.wait_for(key, now, limit).await
                }
            }
            Err(e) => Err(map_db_err(e)),
        }
    }

    async fn refund(&self, key: &str) -> Result<(), StoreError> {
        auth_attempts::Entity::update_many()
            .col_expr(Column::Count, Expr::col(Column::Count).sub(1))
            .filter(Column::Key.eq(key))
            .filter(Column::Count.gt(0))
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Attempts>, StoreError> {
        Ok(auth_attempts::Entity::find_by_id(key.to_owned())
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
            .map(|m| Attempts {
                count: u32::try_from(m.count).unwrap_or(0),
                last: m.last_at,
            }))
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        auth_attempts::Entity::delete_by_id(key.to_owned())
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn clear_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let deleted = auth_attempts::Entity::delete_many()
            .filter(Column::Key.like(crate::like::starts_with(prefix)))
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(deleted.rows_affected)
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let deleted = auth_attempts::Entity::delete_many()
            .filter(Column::LastAt.lt(before))
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(deleted.rows_affected)
    }
}

#[cfg(test)]
mod tests {
    use crate::like::prefix_pattern;

    #[test]
    fn prefixes_escape_like_wildcards() {
        assert_eq!(
            prefix_pattern("signin:pair:a_b%c!|"),
            "signin:pair:a!_b!%c!!|%"
        );
    }
}
