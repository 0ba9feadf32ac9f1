//! `AccountStore` over SeaORM: account tokens (hashes only), password and
//! e-mail changes, the sessions a user sees.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rolegate_domain::{
    Account, AccountStore, AccountToken, ClientInfo, NewAccountToken, NewAuditEvent, NewMail,
    PasswordChange, PasswordHash, SessionInfo, StoreError, TokenPurpose, UniqueField, UserId,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use crate::Database;
use crate::admin::insert_audit;
use crate::entities::{account_tokens, refresh_tokens, users};
use crate::error::{is_unique_violation, map_db_err};
use crate::outbox::insert_mail;

/// Stores an account token for `user` in the caller's transaction.
pub(crate) async fn insert_token<C: ConnectionTrait>(
    db: &C,
    user: i64,
    token: NewAccountToken,
) -> Result<(), StoreError> {
    account_tokens::ActiveModel {
        user_id: Set(user),
        purpose: Set(token.purpose.as_str().to_owned()),
        token_hash: Set(token.token_hash),
        email: Set(token.email),
        created_at: Set(token.created_at),
        expires_at: Set(token.expires_at),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(map_db_err)?;
    Ok(())
}

fn account_of(u: users::Model) -> Account {
    Account {
        id: UserId(u.id),
        username: u.username,
        email: u.email,
        email_verified: u.email_verified,
        password_hash: PasswordHash::new(u.password_hash),
        disabled: u.disabled,
    }
}

fn purpose_of(s: &str) -> Option<TokenPurpose> {
    [
        TokenPurpose::Reset,
        TokenPurpose::Verify,
        TokenPurpose::EmailChange,
    ]
    .into_iter()
    .find(|p| p.as_str() == s)
}

/// Marks the token used, if it still is unused: else `Stale` (a concurrent use).
async fn consume<C: ConnectionTrait>(db: &C, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
    let updated = account_tokens::Entity::update_many()
        .col_expr(account_tokens::Column::UsedAt, Expr::value(at))
        .filter(account_tokens::Column::Id.eq(id))
        .filter(account_tokens::Column::UsedAt.is_null())
        .exec(db)
        .await
        .map_err(map_db_err)?;
    if updated.rows_affected == 1 {
        Ok(())
    } else {
        Err(StoreError::Stale)
    }
}

/// Voids the user's unused tokens of these purposes.
async fn void_tokens<C: ConnectionTrait>(
    db: &C,
    user: i64,
    purposes: &[TokenPurpose],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    account_tokens::Entity::update_many()
        .col_expr(account_tokens::Column::UsedAt, Expr::value(at))
        .filter(account_tokens::Column::UserId.eq(user))
        .filter(account_tokens::Column::Purpose.is_in(purposes.iter().map(|p| p.as_str())))
        .filter(account_tokens::Column::UsedAt.is_null())
        .exec(db)
        .await
        .map_err(map_db_err)?;
    Ok(())
}

impl Database {
    /// Revokes every live session of `user` except `keep`.
    async fn revoke_others(
        &self,
        user: UserId,
        keep: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut filter = refresh_tokens::Column::UserId.eq(user.0);
        if let Some(keep) = keep {
            filter = filter.and(refresh_tokens::Column::FamilyId.ne(keep));
        }
        self.revoke_until_none_left(filter, at).await
    }
}

#[async_trait]
impl AccountStore for Database {
    async fn account(&self, id: UserId) -> Result<Option<Account>, StoreError> {
        Ok(users::Entity::find_by_id(id.0)
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
            .map(account_of))
    }

    async fn account_by_email(&self, email: &str) -> Result<Option<Account>, StoreError> {
        Ok(users::Entity::find()
            .filter(users::Column::Email.eq(email))
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
            .map(account_of))
    }

    async fn issue_token(
        &self,
        user: UserId,
        token: NewAccountToken,
        mails: Vec<NewMail>,
    ) -> Result<(), StoreError> {
        self.in_transaction(move |txn| {
            Box::pin(async move {
                // A write first (SQLite then takes the write lock at once).
                void_tokens(txn, user.0, &[token.purpose], token.created_at).await?;
                insert_token(txn, user.0, token).await?;
                for mail in mails {
                    insert_mail(txn, mail).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn find_token(
        &self,
        purpose: TokenPurpose,
        token_hash: &str,
    ) -> Result<Option<AccountToken>, StoreError> {
        let Some(row) = account_tokens::Entity::find()
            .filter(account_tokens::Column::TokenHash.eq(token_hash))
            .filter(account_tokens::Column::Purpose.eq(purpose.as_str()))
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
        else {
            return Ok(None);
        };
        Ok(purpose_of(&row.purpose).map(|purpose| AccountToken {
            id: row.id,
            user_id: UserId(row.user_id),
            purpose,
            email: row.email,
            expires_at: row.expires_at,
            used: row.used_at.is_some(),
        }))
    }

    async fn set_password(&self, change: PasswordChange) -> Result<(), StoreError> {
        let user = change.user;
        let keep = change.keep_session.clone();
        let at = change.at;
        self.in_transaction(move |txn| {
            Box::pin(async move {
                let updated = users::Entity::update_many()
                    .col_expr(
                        users::Column::PasswordHash,
                        Expr::value(change.new_hash.as_str()),
                    )
                    .col_expr(users::Column::UpdatedAt, Expr::value(change.at))
                    .filter(users::Column::Id.eq(change.user.0))
                    .filter(users::Column::PasswordHash.eq(change.expected.as_str()))
                    .exec(txn)
                    .await
                    .map_err(map_db_err)?;
                if updated.rows_affected != 1 {
                    return Err(StoreError::Stale);
                }
                if let Some(token) = change.consumes {
                    consume(txn, token, change.at).await?;
                }
                void_tokens(txn, change.user.0, &[TokenPurpose::Reset], change.at).await?;
                let mut others = refresh_tokens::Column::UserId.eq(change.user.0);
                if let Some(keep) = &change.keep_session {
                    others = others.and(refresh_tokens::Column::FamilyId.ne(keep.as_str()));
                }
                crate::revocations::revoke_sessions(txn, others, change.at).await?;
                insert_audit(txn, change.audit).await?;
                for mail in change.mails {
                    insert_mail(txn, mail).await?;
                }
                Ok(())
            })
        })
        .await?;
        // A rotation racing the change may have inserted a successor the
        // transaction could not see (PostgreSQL, READ COMMITTED): once more.
        self.revoke_others(user, keep.as_deref(), at).await?;
        Ok(())
    }

    async fn verify_email(
        &self,
        token: &AccountToken,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<(), StoreError> {
        let (id, user, email) = (token.id, token.user_id, token.email.clone());
        self.in_transaction(move |txn| {
            Box::pin(async move {
                consume(txn, id, at).await?;
                let Some(email) = email else {
                    return Err(StoreError::Stale);
                };
                let updated = users::Entity::update_many()
                    .col_expr(users::Column::EmailVerified, Expr::value(true))
                    .col_expr(users::Column::UpdatedAt, Expr::value(at))
                    .filter(users::Column::Id.eq(user.0))
                    .filter(users::Column::Email.eq(email))
                    .exec(txn)
                    .await
                    .map_err(map_db_err)?;
                if updated.rows_affected != 1 {
                    // The address changed since the link was sent.
                    return Err(StoreError::Stale);
                }
                void_tokens(txn, user.0, &[TokenPurpose::Verify], at).await?;
                insert_audit(txn, audit).await?;
                Ok(())
            })
        })
        .await
    }

    async fn change_email(
        &self,
        token: &AccountToken,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
        mails: Vec<NewMail>,
    ) -> Result<(), StoreError> {
        let (id, user, email) = (token.id, token.user_id, token.email.clone());
        self.in_transaction(move |txn| {
            Box::pin(async move {
                consume(txn, id, at).await?;
                let Some(email) = email else {
                    return Err(StoreError::Stale);
                };
                let updated = users::Entity::update_many()
                    .col_expr(users::Column::Email, Expr::value(email))
                    .col_expr(users::Column::EmailVerified, Expr::value(true))
                    .col_expr(users::Column::UpdatedAt, Expr::value(at))
                    .filter(users::Column::Id.eq(user.0))
                    .exec(txn)
                    .await
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            StoreError::Conflict(UniqueField::Email)
                        } else {
                            map_db_err(e)
                        }
                    })?;
                if updated.rows_affected != 1 {
                    return Err(StoreError::NotFound);
                }
                void_tokens(
                    txn,
                    user.0,
                    &[TokenPurpose::EmailChange, TokenPurpose::Verify],
                    at,
                )
                .await?;
                insert_audit(txn, audit).await?;
                for mail in mails {
                    insert_mail(txn, mail).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn sessions_of(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        use refresh_tokens::Column;
        let rows = refresh_tokens::Entity::find()
            .filter(Column::UserId.eq(user.0))
            .filter(Column::RevokedAt.is_null())
            .filter(Column::RotatedAt.is_null())
            .filter(Column::ExpiresAt.gt(now))
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .limit(1000)
            .all(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(rows
            .into_iter()
            .map(|m| SessionInfo {
                id: m.family_id,
                started_at: m.session_started_at.unwrap_or(m.created_at),
                last_used_at: m.created_at,
                client: ClientInfo {
                    addr: m.client_addr.unwrap_or_default(),
                    user_agent: m.user_agent,
                },
            })
            .collect())
    }

    async fn end_session(
        &self,
        user: UserId,
        session: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        use refresh_tokens::Column;
        let live = refresh_tokens::Entity::find()
            .filter(Column::UserId.eq(user.0))
            .filter(Column::FamilyId.eq(session))
            .filter(Column::RevokedAt.is_null())
            .filter(Column::ExpiresAt.gt(at))
            .one(&self.conn)
            .await
            .map_err(map_db_err)?;
        if live.is_none() {
            return Ok(false);
        }
        let filter = Column::UserId.eq(user.0).and(Column::FamilyId.eq(session));
        self.revoke_until_none_left(filter, at).await?;
        Ok(true)
    }

    async fn purge_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let deleted = account_tokens::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(account_tokens::Column::ExpiresAt.lt(before))
                    .add(account_tokens::Column::UsedAt.lt(before)),
            )
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(deleted.rows_affected)
    }
}
