//! Revocations: written in the transaction of every change that ends access
//! (a session revoked, a user disabled, deleted or enabled again), read by
//! every instance's poller ([`RevocationFeed`]), purged once no access token
//! they could refuse is left.

use async_trait::async_trait;
use chrono::{DateTime, Duration, SubsecRound as _, Utc};
use rolegate_domain::{Revocation, RevocationFeed, Revoked, StoreError, UserId};
use sea_orm::sea_query::{Expr, Query, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use crate::Database;
use crate::entities::{refresh_tokens, revocations};
use crate::error::map_db_err;

/// Revokes every live refresh token matching `filter` at `at` and records
/// each session (family) that had one as revoked, in `db`'s transaction.
/// Returns how many tokens were revoked.
///
/// The write comes first (SQLite then holds the write lock from the start;
/// MySQL and PostgreSQL hold the rows' locks), then the record reads back
/// the families matching `filter` revoked since the second before `at` —
/// a family revoked by someone else in that second is recorded twice, which
/// is harmless — so that no timestamp is compared for equality (MySQL
/// rounds `at` to its column's precision).
pub(crate) async fn revoke_sessions<C: ConnectionTrait>(
    db: &C,
    filter: SimpleExpr,
    at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    use refresh_tokens::Column;
    let updated = refresh_tokens::Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(at))
        .filter(filter.clone())
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await
        .map_err(map_db_err)?;
    if updated.rows_affected == 0 {
        return Ok(0);
    }
    let since = at.trunc_subsecs(0) - Duration::seconds(1);
    let families = Query::select()
        .distinct()
        .column(Column::UserId)
        .expr(Expr::value(Revoked::Session(String::new()).kind()))
        .column(Column::FamilyId)
        .expr(Expr::value(at))
        .from(refresh_tokens::Entity)
        .and_where(filter)
        .and_where(Column::RevokedAt.gte(since))
        .to_owned();
    let record = Query::insert()
        .into_table(revocations::Entity)
        .columns([
            revocations::Column::UserId,
            revocations::Column::Kind,
            revocations::Column::SessionId,
            revocations::Column::CreatedAt,
        ])
        .select_from(families)
        .map_err(|e| StoreError::internal(format!("recording revoked sessions: {e}")))?
        .to_owned();
    db.execute(&record).await.map_err(map_db_err)?;
    Ok(updated.rows_affected)
}

/// Records that every access token of `user` is refused from `at`
/// ([`Revoked::User`]: disabled, deleted) or no longer is
/// ([`Revoked::UserRestored`]), in `db`'s transaction.
pub(crate) async fn record_user<C: ConnectionTrait>(
    db: &C,
    user: UserId,
    restored: bool,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let what = if restored {
        Revoked::UserRestored
    } else {
        Revoked::User
    };
    revocations::ActiveModel {
        user_id: Set(user.0),
        kind: Set(what.kind().to_owned()),
        session_id: Set(None),
        created_at: Set(at),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(map_db_err)?;
    Ok(())
}

fn revocation(m: revocations::Model) -> Option<Revocation> {
    let what = match (m.kind.as_str(), m.session_id) {
        ("session", Some(sid)) => Revoked::Session(sid),
        ("user", _) => Revoked::User,
        ("user_restored", _) => Revoked::UserRestored,
        (kind, _) => {
            tracing::warn!(id = m.id, kind, "a revocation of an unknown kind: skipped");
            return None;
        }
    };
    Some(Revocation {
        id: m.id,
        user: UserId(m.user_id),
        what,
        at: m.created_at,
    })
}

#[async_trait]
impl RevocationFeed for Database {
    /// One range read through `ix_revocations_created_at`.
    async fn revocations_since(&self, since: DateTime<Utc>) -> Result<Vec<Revocation>, StoreError> {
        use revocations::Column;
        let rows = revocations::Entity::find()
            .filter(Column::CreatedAt.gte(since))
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id)
            .all(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(rows.into_iter().filter_map(revocation).collect())
    }

    async fn purge_revocations(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let deleted = revocations::Entity::delete_many()
            .filter(revocations::Column::CreatedAt.lt(before))
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(deleted.rows_affected)
    }
}
