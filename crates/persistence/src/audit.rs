//! Audit retention: the oldest events go a batch at a time.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rolegate_domain::{AuditRetention, StoreError};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::Database;
use crate::entities::audit_events::{self, Column};
use crate::error::map_db_err;

#[async_trait]
impl AuditRetention for Database {
    /// Two short statements, the same on every backend: the batch's ids,
    /// read through the index on `at` (`ix_audit_events_at`), then a
    /// `DELETE … WHERE id IN (…)` by primary key. Neither scans the table
    /// or holds locks beyond the batch's rows.
    async fn purge_audit_batch(
        &self,
        before: DateTime<Utc>,
        batch: u64,
    ) -> Result<u64, StoreError> {
        if batch == 0 {
            return Ok(0);
        }
        let ids: Vec<i64> = audit_events::Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::At.lt(before))
            .order_by_asc(Column::At)
            .order_by_asc(Column::Id)
            .limit(batch)
            .into_tuple()
            .all(&self.conn)
            .await
            .map_err(map_db_err)?;
        if ids.is_empty() {
            return Ok(0);
        }
        let deleted = audit_events::Entity::delete_many()
            .filter(Column::Id.is_in(ids))
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(deleted.rows_affected)
    }
}
