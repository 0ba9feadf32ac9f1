//! `AttemptStore` in the database: rate limits shared by every instance.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rolegate_domain::{AttemptStore, Attempts, StoreError};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait as _};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::Database;
use crate::entities::auth_attempts::{self, Column};
use crate::error::{is_unique_violation, map_db_err};

impl Database {
    /// count = 1 if the last hit is older than the window, else count + 1.
    async fn bump(
        &self,
        key: &str,
        now: DateTime<Utc>,
        cutoff: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let next = CaseStatement::new()
            .case(Expr::col(Column::LastAt).lt(cutoff), Expr::val(1))
            .finally(Expr::col(Column::Count).add(1));
        let updated = auth_attempts::Entity::update_many()
            .col_expr(Column::Count, next.into())
            .col_expr(Column::LastAt, Expr::value(now))
            .filter(Column::Key.eq(key))
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(updated.rows_affected)
    }
}

#[async_trait]
impl AttemptStore for Database {
    async fn record(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window_secs: i64,
    ) -> Result<Attempts, StoreError> {
        let cutoff = now - chrono::Duration::seconds(window_secs);
        if self.bump(key, now, cutoff).await? == 0 {
            let inserted = auth_attempts::ActiveModel {
                key: Set(key.to_owned()),
                count: Set(1),
                last_at: Set(now),
            }
            .insert(&self.conn)
            .await;
            match inserted {
                Ok(_) => {}
                // Another instance inserted it first: count on top of it.
                Err(e) if is_unique_violation(&e) => {
                    self.bump(key, now, cutoff).await?;
                }
                Err(e) => return Err(map_db_err(e)),
            }
        }
        self.get(key)
            .await?
            .ok_or_else(|| StoreError::Internal("attempt counter vanished".into()))
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
}
