//! `SessionStore` over SeaORM: refresh tokens (hashes only) in families.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rolegate_domain::{
    AuthMethod, ClientInfo, NewRefreshToken, RefreshRecord, SessionStore, StoreError, UserId,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::Database;
use crate::entities::refresh_tokens::{self, Column};
use crate::error::map_db_err;

/// Families revoked at most by one sign-in over the cap (the rest go at the
/// next sign-ins; normally it is one).
const MAX_REVOKED_PER_SIGN_IN: u64 = 1000;

fn active(t: NewRefreshToken) -> refresh_tokens::ActiveModel {
    refresh_tokens::ActiveModel {
        family_id: Set(t.family),
        user_id: Set(t.user_id.0),
        token_hash: Set(t.token_hash),
        generation: Set(t.generation),
        created_at: Set(t.created_at),
        expires_at: Set(t.expires_at),
        rotated_at: Set(None),
        successor_sealed: Set(None),
        // No longer read: every presentation within the grace window gets the successor.
        grace_used: Set(false),
        revoked_at: Set(None),
        user_agent: Set(t.client.user_agent),
        client_addr: Set(Some(t.client.addr).filter(|a| !a.is_empty())),
        session_started_at: Set(Some(t.session_started_at)),
        amr: Set(Some(AuthMethod::join(&t.amr))),
        ..Default::default()
    }
}

impl From<refresh_tokens::Model> for RefreshRecord {
    fn from(m: refresh_tokens::Model) -> Self {
        Self {
            id: m.id,
            family: m.family_id,
            user_id: UserId(m.user_id),
            token_hash: m.token_hash,
            generation: m.generation,
            expires_at: m.expires_at,
            rotated_at: m.rotated_at,
            successor_sealed: m.successor_sealed,
            revoked: m.revoked_at.is_some(),
            // Tokens from before sessions recorded their start: the token's own.
            session_started_at: m.session_started_at.unwrap_or(m.created_at),
            client: ClientInfo {
                addr: m.client_addr.unwrap_or_default(),
                user_agent: m.user_agent,
            },
            amr: AuthMethod::split(m.amr.as_deref()),
        }
    }
}

impl Database {
    /// Marks every live token matching `filter` revoked, repeating until a pass
    /// finds none. One pass is not enough on PostgreSQL (READ COMMITTED): an
    /// UPDATE that waited for a concurrent rotation's row lock re-checks that
    /// row but cannot see the successor the rotation inserted, so a second
    /// pass, with a fresh snapshot, is what catches it.
    pub(crate) async fn revoke_until_none_left(
        &self,
        filter: sea_orm::sea_query::SimpleExpr,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut total = 0;
        for _ in 0..8 {
            let filter = filter.clone();
            // Each pass records the sessions it revoked in its transaction.
            let updated = self
                .in_transaction(move |txn| {
                    Box::pin(crate::revocations::revoke_sessions(txn, filter, at))
                })
                .await?;
            if updated == 0 {
                break;
            }
            total += updated;
        }
        Ok(total)
    }
}

#[async_trait]
impl SessionStore for Database {
    async fn insert_refresh(&self, token: NewRefreshToken) -> Result<(), StoreError> {
        active(token).insert(&self.conn).await.map_err(map_db_err)?;
        Ok(())
    }

    async fn find_refresh(&self, token_hash: &str) -> Result<Option<RefreshRecord>, StoreError> {
        Ok(refresh_tokens::Entity::find()
            .filter(Column::TokenHash.eq(token_hash))
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
            .map(Into::into))
    }

    async fn rotate_refresh(
        &self,
        id: i64,
        rotated_at: DateTime<Utc>,
        successor_sealed: String,
        successor: NewRefreshToken,
    ) -> Result<bool, StoreError> {
        // The conditional update is the lock: of two concurrent rotations of
        // one token, exactly one sees `rotated_at IS NULL`.
        self.in_transaction(move |txn| {
            Box::pin(async move {
                let updated = refresh_tokens::Entity::update_many()
                    .col_expr(Column::RotatedAt, Expr::value(rotated_at))
                    .col_expr(Column::SuccessorSealed, Expr::value(successor_sealed))
                    .filter(Column::Id.eq(id))
                    .filter(Column::RotatedAt.is_null())
                    .filter(Column::RevokedAt.is_null())
                    .exec(txn)
                    .await
                    .map_err(map_db_err)?;
                if updated.rows_affected != 1 {
                    return Ok(false);
                }
                active(successor).insert(txn).await.map_err(map_db_err)?;
                Ok(true)
            })
        })
        .await
    }

    async fn find_generation(
        &self,
        family: &str,
        generation: i32,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        Ok(refresh_tokens::Entity::find()
            .filter(Column::FamilyId.eq(family))
            .filter(Column::Generation.eq(generation))
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
            .map(Into::into))
    }

    async fn session_live(&self, family: &str, user: UserId) -> Result<bool, StoreError> {
        Ok(refresh_tokens::Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::FamilyId.eq(family))
            .filter(Column::UserId.eq(user.0))
            .filter(Column::RevokedAt.is_null())
            .limit(1)
            .into_tuple::<i64>()
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
            .is_some())
    }

    async fn revoke_family(&self, family: &str, at: DateTime<Utc>) -> Result<u64, StoreError> {
        self.revoke_until_none_left(Column::FamilyId.eq(family), at)
            .await
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.revoke_until_none_left(Column::UserId.eq(user.0), at)
            .await
    }

    async fn revoke_sessions_beyond(
        &self,
        user: UserId,
        keep: u32,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        // The newest token of each live family, most recently issued first;
        // every family past the first `keep` goes. (A family seen here past
        // the `keep` newest has at least `keep` newer ones, even if a
        // concurrent sign-in's is not visible yet: nothing is over-revoked.)
        let older: Vec<String> = refresh_tokens::Entity::find()
            .select_only()
            .column(Column::FamilyId)
            .filter(Column::UserId.eq(user.0))
            .filter(Column::RotatedAt.is_null())
            .filter(Column::RevokedAt.is_null())
            .filter(Column::ExpiresAt.gt(now))
            .order_by_desc(Column::Id)
            .offset(u64::from(keep))
            .limit(MAX_REVOKED_PER_SIGN_IN)
            .into_tuple()
            .all(&self.conn)
            .await
            .map_err(map_db_err)?;
        if older.is_empty() {
            return Ok(0);
        }
        self.revoke_until_none_left(Column::FamilyId.is_in(older), now)
            .await
    }

    async fn purge_expired(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let deleted = refresh_tokens::Entity::delete_many()
            .filter(Column::ExpiresAt.lt(before))
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(deleted.rows_affected)
    }
}
