//! `PasskeyStore` over SeaORM: passkeys (the serialized credential, looked
//! up by the SHA-256 of its id) and the state of WebAuthn ceremonies
//! (single-use: taken with a conditional delete).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rolegate_domain::{
    Ceremony, CeremonyKind, NewPasskey, PasskeyInfo, PasskeyStore, StoreError, StoredPasskey,
    UniqueField, UserId,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use sha2::{Digest, Sha256};

use crate::Database;
use crate::entities::{passkeys, webauthn_challenges};
use crate::error::{is_unique_violation, map_db_err};

/// The indexed form of a credential id (ids may be too long to index).
fn id_hash(credential_id: &str) -> String {
    Sha256::digest(credential_id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn info_of(p: passkeys::Model) -> PasskeyInfo {
    PasskeyInfo {
        id: p.id,
        name: p.name,
        created_at: p.created_at,
        last_used_at: p.last_used_at,
    }
}

fn count_of(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// Deletes every passkey of `user` (and its open ceremonies) in the
/// caller's transaction; returns how many passkeys went.
pub(crate) async fn delete_passkeys(
    conn: &impl sea_orm::ConnectionTrait,
    user: UserId,
) -> Result<u64, StoreError> {
    webauthn_challenges::Entity::delete_many()
        .filter(webauthn_challenges::Column::UserId.eq(user.0))
        .exec(conn)
        .await
        .map_err(map_db_err)?;
    let deleted = passkeys::Entity::delete_many()
        .filter(passkeys::Column::UserId.eq(user.0))
        .exec(conn)
        .await
        .map_err(map_db_err)?;
    Ok(deleted.rows_affected)
}

#[async_trait]
impl PasskeyStore for Database {
    async fn user_handle(&self, user: UserId) -> Result<Option<String>, StoreError> {
        Ok(passkeys::Entity::find()
            .filter(passkeys::Column::UserId.eq(user.0))
            .order_by_asc(passkeys::Column::Id)
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
            .map(|p| p.user_handle))
    }

    async fn credential_ids(&self, user: UserId) -> Result<Vec<String>, StoreError> {
        Ok(passkeys::Entity::find()
            .select_only()
            .column(passkeys::Column::CredentialId)
            .filter(passkeys::Column::UserId.eq(user.0))
            .into_tuple::<String>()
            .all(&self.conn)
            .await
            .map_err(map_db_err)?)
    }

    async fn list(&self, user: UserId) -> Result<Vec<PasskeyInfo>, StoreError> {
        Ok(passkeys::Entity::find()
            .filter(passkeys::Column::UserId.eq(user.0))
            .order_by_asc(passkeys::Column::Id)
            .all(&self.conn)
            .await
            .map_err(map_db_err)?
            .into_iter()
            .map(info_of)
            .collect())
    }

    async fn insert(&self, p: NewPasskey) -> Result<PasskeyInfo, StoreError> {
        let model = passkeys::ActiveModel {
            user_id: Set(p.user_id.0),
            name: Set(p.name),
            user_handle: Set(p.user_handle),
            credential_id_hash: Set(id_hash(&p.credential_id)),
            credential_id: Set(p.credential_id),
            credential: Set(p.credential),
            sign_count: Set(i64::from(p.sign_count)),
            created_at: Set(p.created_at),
            last_used_at: Set(None),
            ..Default::default()
        }
        .insert(&self.conn)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(UniqueField::Credential)
            } else {
                map_db_err(e)
            }
        })?;
        Ok(info_of(model))
    }

    async fn find_by_credential_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<StoredPasskey>, StoreError> {
        Ok(passkeys::Entity::find()
            .filter(passkeys::Column::CredentialIdHash.eq(id_hash(credential_id)))
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
            .map(|p| StoredPasskey {
                id: p.id,
                user_id: UserId(p.user_id),
                user_handle: p.user_handle,
                credential: p.credential,
                sign_count: count_of(p.sign_count),
            }))
    }

    async fn record_use(
        &self,
        id: i64,
        credential: &str,
        sign_count: u32,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let count = i64::from(sign_count);
        // The counter only goes up; an authenticator without one (0) stays at 0.
        let counter_ok = if count == 0 {
            passkeys::Column::SignCount.eq(0)
        } else {
            passkeys::Column::SignCount.lt(count)
        };
        let updated = passkeys::Entity::update_many()
            .col_expr(passkeys::Column::Credential, Expr::value(credential))
            .col_expr(passkeys::Column::SignCount, Expr::value(count))
            .col_expr(passkeys::Column::LastUsedAt, Expr::value(at))
            .filter(passkeys::Column::Id.eq(id))
            .filter(counter_ok)
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(updated.rows_affected == 1)
    }

    async fn delete(&self, user: UserId, id: i64) -> Result<bool, StoreError> {
        let deleted = passkeys::Entity::delete_many()
            .filter(passkeys::Column::Id.eq(id))
            .filter(passkeys::Column::UserId.eq(user.0))
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(deleted.rows_affected == 1)
    }

    async fn delete_all_for_user(&self, user: UserId) -> Result<u64, StoreError> {
        delete_passkeys(&self.conn, user).await
    }

    async fn insert_ceremony(&self, id_hash: &str, c: &Ceremony) -> Result<(), StoreError> {
        webauthn_challenges::ActiveModel {
            id_hash: Set(id_hash.to_owned()),
            user_id: Set(c.user_id.map(|u| u.0)),
            kind: Set(c.kind.as_str().to_owned()),
            state: Set(c.state.clone()),
            expires_at: Set(c.expires_at),
            ..Default::default()
        }
        .insert(&self.conn)
        .await
        .map_err(map_db_err)?;
        Ok(())
    }

    async fn take_ceremony(&self, id_hash: &str) -> Result<Option<Ceremony>, StoreError> {
        let Some(row) = webauthn_challenges::Entity::find()
            .filter(webauthn_challenges::Column::IdHash.eq(id_hash))
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
        else {
            return Ok(None);
        };
        // One delete wins: a concurrent finish of the same ceremony gets none.
        let deleted = webauthn_challenges::Entity::delete_many()
            .filter(
                Condition::all()
                    .add(webauthn_challenges::Column::Id.eq(row.id))
                    .add(webauthn_challenges::Column::IdHash.eq(id_hash)),
            )
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        if deleted.rows_affected != 1 {
            return Ok(None);
        }
        let Some(kind) = CeremonyKind::parse(&row.kind) else {
            return Err(StoreError::internal(format!(
                "webauthn_challenges row {} has an unknown kind {:?}",
                row.id, row.kind
            )));
        };
        Ok(Some(Ceremony {
            kind,
            user_id: row.user_id.map(UserId),
            state: row.state,
            expires_at: row.expires_at,
        }))
    }

    async fn purge_ceremonies(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let deleted = webauthn_challenges::Entity::delete_many()
            .filter(webauthn_challenges::Column::ExpiresAt.lt(now))
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(deleted.rows_affected)
    }
}
