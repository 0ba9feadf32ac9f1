//! `AccountStore` over SeaORM: account tokens (hashes only), password and
//! e-mail changes, the sessions a user sees.

use rolegate_domain::{NewAccountToken, StoreError};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};

use crate::entities::account_tokens;
use crate::error::map_db_err;

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
