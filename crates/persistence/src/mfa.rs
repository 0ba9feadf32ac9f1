//! `MfaStore` over SeaORM: TOTP secrets (sealed), recovery codes (keyed
//! hashes) and the second steps of sign-ins (hashed tokens). Every write
//! that can race is a conditional UPDATE: one request wins.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rolegate_domain::{
    AuthMethod, ChallengeRecord, MfaMethod, MfaStore, NewAuditEvent, NewChallenge, StoreError,
    TotpRecord, UserId,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};

use crate::Database;
use crate::admin::insert_audit;
use crate::entities::{mfa_challenges, passkeys, recovery_codes, user_totp};
use crate::error::map_db_err;

async fn delete_recovery_codes(
    conn: &impl ConnectionTrait,
    user: UserId,
) -> Result<(), StoreError> {
    recovery_codes::Entity::delete_many()
        .filter(recovery_codes::Column::UserId.eq(user.0))
        .exec(conn)
        .await
        .map_err(map_db_err)?;
    Ok(())
}

async fn insert_recovery_codes(
    conn: &impl ConnectionTrait,
    user: UserId,
    hashes: Vec<String>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if hashes.is_empty() {
        return Ok(());
    }
    recovery_codes::Entity::insert_many(hashes.into_iter().map(|h| recovery_codes::ActiveModel {
        user_id: Set(user.0),
        code_hash: Set(h),
        created_at: Set(at),
        used_at: Set(None),
        ..Default::default()
    }))
    .exec(conn)
    .await
    .map_err(map_db_err)?;
    Ok(())
}

/// Deletes every second factor of `user` and their pending second steps
/// (an administrator's reset); in the caller's transaction.
pub(crate) async fn delete_second_factors(
    conn: &impl ConnectionTrait,
    user: UserId,
) -> Result<(), StoreError> {
    user_totp::Entity::delete_many()
        .filter(user_totp::Column::UserId.eq(user.0))
        .exec(conn)
        .await
        .map_err(map_db_err)?;
    delete_recovery_codes(conn, user).await?;
    mfa_challenges::Entity::delete_many()
        .filter(mfa_challenges::Column::UserId.eq(user.0))
        .exec(conn)
        .await
        .map_err(map_db_err)?;
    crate::passkeys::delete_passkeys(conn, user).await?;
    Ok(())
}

#[async_trait]
impl MfaStore for Database {
    async fn methods(&self, user: UserId) -> Result<Vec<MfaMethod>, StoreError> {
        // One round trip at every password sign-in (it was three COUNTs):
        // SELECT CASE WHEN EXISTS(…) THEN 1 ELSE 0 END AS totp, … (no FROM).
        use sea_orm::sea_query::{Alias, Expr, Query, SelectStatement};
        // Literals, not bound values: PostgreSQL would type a parameter in
        // CASE as text.
        let flag = |select: SelectStatement| {
            Expr::case(Expr::exists(select), Expr::cust("1")).finally(Expr::cust("0"))
        };
        let totp = Query::select()
            .expr(Expr::cust("1"))
            .from(user_totp::Entity)
            .and_where(user_totp::Column::UserId.eq(user.0))
            .and_where(user_totp::Column::ConfirmedAt.is_not_null())
            .to_owned();
        let codes = Query::select()
            .expr(Expr::cust("1"))
            .from(recovery_codes::Entity)
            .and_where(recovery_codes::Column::UserId.eq(user.0))
            .and_where(recovery_codes::Column::UsedAt.is_null())
            .to_owned();
        let keys = Query::select()
            .expr(Expr::cust("1"))
            .from(passkeys::Entity)
            .and_where(passkeys::Column::UserId.eq(user.0))
            .to_owned();
        let select = Query::select()
            .expr_as(flag(totp), Alias::new("totp"))
            .expr_as(flag(codes), Alias::new("codes"))
            .expr_as(flag(keys), Alias::new("passkeys"))
            .to_owned();
        let row = self
            .conn
            .query_one(&select)
            .await
            .map_err(map_db_err)?
            .ok_or_else(|| StoreError::internal("SELECT without FROM returned no row"))?;
        // An INT on PostgreSQL, a BIGINT on MySQL, an INTEGER on SQLite.
        let has = |column: &str| -> Result<bool, StoreError> {
            row.try_get::<i64>("", column)
                .or_else(|_| row.try_get::<i32>("", column).map(i64::from))
                .map(|flag| flag != 0)
                .map_err(map_db_err)
        };
        let mut methods = Vec::new();
        for (column, method) in [
            ("totp", MfaMethod::Totp),
            ("codes", MfaMethod::RecoveryCode),
            ("passkeys", MfaMethod::Passkey),
        ] {
            if has(column)? {
                methods.push(method);
            }
        }
        Ok(methods)
    }

    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>, StoreError> {
        Ok(user_totp::Entity::find_by_id(user.0)
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
            .map(|m| TotpRecord {
                secret_sealed: m.secret_sealed,
                confirmed_at: m.confirmed_at,
                last_step: m.last_step,
            }))
    }

    async fn put_pending_totp(
        &self,
        user: UserId,
        secret_sealed: String,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.in_transaction(move |txn| {
            Box::pin(async move {
                // A write first: on SQLite a transaction that reads first
                // fails at once (SQLITE_BUSY) when another writer got in.
                // Only an unconfirmed enrolment is replaced.
                user_totp::Entity::delete_many()
                    .filter(user_totp::Column::UserId.eq(user.0))
                    .filter(user_totp::Column::ConfirmedAt.is_null())
                    .exec(txn)
                    .await
                    .map_err(map_db_err)?;
                let confirmed = user_totp::Entity::find_by_id(user.0)
                    .one(txn)
                    .await
                    .map_err(map_db_err)?;
                if confirmed.is_some() {
                    return Ok(false);
                }
                user_totp::ActiveModel {
                    user_id: Set(user.0),
                    secret_sealed: Set(secret_sealed),
                    created_at: Set(at),
                    confirmed_at: Set(None),
                    last_step: Set(-1),
                }
                .insert(txn)
                .await
                .map_err(|e| {
                    // Another start won the race.
                    if crate::error::is_unique_violation(&e) {
                        StoreError::Stale
                    } else {
                        map_db_err(e)
                    }
                })?;
                Ok(true)
            })
        })
        .await
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        step: i64,
        recovery_hashes: Vec<String>,
        audit: NewAuditEvent,
    ) -> Result<bool, StoreError> {
        self.in_transaction(move |txn| {
            Box::pin(async move {
                let at = audit.at;
                let updated = user_totp::Entity::update_many()
                    .col_expr(user_totp::Column::ConfirmedAt, Expr::value(Some(at)))
                    .col_expr(user_totp::Column::LastStep, Expr::value(step))
                    .filter(user_totp::Column::UserId.eq(user.0))
                    .filter(user_totp::Column::ConfirmedAt.is_null())
                    .exec(txn)
                    .await
                    .map_err(map_db_err)?;
                if updated.rows_affected != 1 {
                    return Ok(false);
                }
                delete_recovery_codes(txn, user).await?;
                insert_recovery_codes(txn, user, recovery_hashes, at).await?;
                insert_audit(txn, audit).await?;
                Ok(true)
            })
        })
        .await
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
        let updated = user_totp::Entity::update_many()
            .col_expr(user_totp::Column::LastStep, Expr::value(step))
            .filter(user_totp::Column::UserId.eq(user.0))
            .filter(user_totp::Column::LastStep.lt(step))
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(updated.rows_affected == 1)
    }

    async fn remove_totp(&self, user: UserId, audit: NewAuditEvent) -> Result<bool, StoreError> {
        self.in_transaction(move |txn| {
            Box::pin(async move {
                let deleted = user_totp::Entity::delete_many()
                    .filter(user_totp::Column::UserId.eq(user.0))
                    .exec(txn)
                    .await
                    .map_err(map_db_err)?;
                if deleted.rows_affected == 0 {
                    return Ok(false);
                }
                delete_recovery_codes(txn, user).await?;
                insert_audit(txn, audit).await?;
                Ok(true)
            })
        })
        .await
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        hashes: Vec<String>,
        audit: NewAuditEvent,
    ) -> Result<(), StoreError> {
        self.in_transaction(move |txn| {
            Box::pin(async move {
                let at = audit.at;
                delete_recovery_codes(txn, user).await?;
                insert_recovery_codes(txn, user, hashes, at).await?;
                insert_audit(txn, audit).await?;
                Ok(())
            })
        })
        .await
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = recovery_codes::Entity::update_many()
            .col_expr(recovery_codes::Column::UsedAt, Expr::value(Some(at)))
            .filter(recovery_codes::Column::UserId.eq(user.0))
            .filter(recovery_codes::Column::CodeHash.eq(hash))
            .filter(recovery_codes::Column::UsedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        // Two rows with one hash are as good as impossible (50 random bits);
        // if it happened, both are spent, which errs on the safe side.
        Ok(updated.rows_affected >= 1)
    }

    async fn insert_challenge(&self, c: NewChallenge) -> Result<(), StoreError> {
        mfa_challenges::ActiveModel {
            user_id: Set(c.user_id.0),
            token_hash: Set(c.token_hash),
            amr: Set(AuthMethod::join(&c.amr)),
            failures: Set(0),
            created_at: Set(c.created_at),
            expires_at: Set(c.expires_at),
            used_at: Set(None),
            ..Default::default()
        }
        .insert(&self.conn)
        .await
        .map_err(map_db_err)?;
        Ok(())
    }

    async fn find_challenge(
        &self,
        token_hash: &str,
    ) -> Result<Option<ChallengeRecord>, StoreError> {
        Ok(mfa_challenges::Entity::find()
            .filter(mfa_challenges::Column::TokenHash.eq(token_hash))
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
            .map(|m| ChallengeRecord {
                id: m.id,
                user_id: UserId(m.user_id),
                amr: AuthMethod::split(Some(&m.amr)),
                failures: m.failures,
                expires_at: m.expires_at,
                used: m.used_at.is_some(),
            }))
    }

    async fn count_challenge_failure(&self, id: i64) -> Result<i32, StoreError> {
        mfa_challenges::Entity::update_many()
            .col_expr(
                mfa_challenges::Column::Failures,
                Expr::col(mfa_challenges::Column::Failures).add(1),
            )
            .filter(mfa_challenges::Column::Id.eq(id))
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(mfa_challenges::Entity::find_by_id(id)
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
            .map_or(i32::MAX, |m| m.failures))
    }

    async fn consume_challenge(&self, id: i64, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let updated = mfa_challenges::Entity::update_many()
            .col_expr(mfa_challenges::Column::UsedAt, Expr::value(Some(at)))
            .filter(mfa_challenges::Column::Id.eq(id))
            .filter(mfa_challenges::Column::UsedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(updated.rows_affected == 1)
    }

    async fn purge_challenges(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let deleted = mfa_challenges::Entity::delete_many()
            .filter(mfa_challenges::Column::ExpiresAt.lt(before))
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(deleted.rows_affected)
    }

    async fn any_enrolled(&self) -> Result<bool, StoreError> {
        Ok(user_totp::Entity::find()
            .filter(user_totp::Column::ConfirmedAt.is_not_null())
            .count(&self.conn)
            .await
            .map_err(map_db_err)?
            > 0)
    }
}
