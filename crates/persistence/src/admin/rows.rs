//! Reading and writing the rows administration touches.

use std::collections::HashMap;

use rolegate_domain::{NewAuditEvent, Permission, RoleName, StoreError, UniqueField, User, UserId};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, JoinType,
    QueryFilter, QueryOrder, QuerySelect, RelationTrait, Set,
};

use crate::Database;
use crate::entities::{audit_events, permissions, role_permissions, roles, user_roles, users};
use crate::error::{is_unique_violation, map_db_err};

pub(crate) fn parse_role(name: &str) -> Option<RoleName> {
    RoleName::parse(name)
        .inspect_err(
            |e| tracing::warn!(role = %name, error = %e, "skipping a role with an invalid name"),
        )
        .ok()
}

pub(crate) fn parse_permission(name: &str) -> Option<Permission> {
    Permission::parse(name)
        .inspect_err(|e| {
            tracing::warn!(permission = %name, error = %e, "skipping a permission with an invalid name")
        })
        .ok()
}

pub(crate) fn conflict_on(e: sea_orm::DbErr, field: UniqueField) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict(field)
    } else {
        map_db_err(e)
    }
}

pub(crate) async fn insert_audit<C: ConnectionTrait>(
    db: &C,
    e: NewAuditEvent,
) -> Result<(), StoreError> {
    audit_events::ActiveModel {
        at: Set(e.at),
        actor_id: Set(e.actor_id.map(|id| id.0)),
        actor: Set(e.actor.chars().take(64).collect()),
        action: Set(e.action.chars().take(64).collect()),
        target: Set(e.target.chars().take(128).collect()),
        detail: Set(e.detail),
        ..Default::default()
    }
    .insert(db)
    .await
    .map(|_| ())
    .map_err(map_db_err)
}

/// The ids of `wanted` permissions; `UnknownPermission` names the first missing one.
pub(crate) async fn permission_ids<C: ConnectionTrait>(
    db: &C,
    wanted: &[Permission],
) -> Result<Vec<i64>, StoreError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let found = permissions::Entity::find()
        .filter(permissions::Column::Name.is_in(wanted.iter().map(Permission::as_str)))
        .all(db)
        .await
        .map_err(map_db_err)?;
    if let Some(missing) = wanted
        .iter()
        .find(|p| !found.iter().any(|f| f.name == p.as_str()))
    {
        return Err(StoreError::UnknownPermission(missing.to_string()));
    }
    Ok(found.into_iter().map(|p| p.id).collect())
}

pub(crate) async fn link_permissions(
    txn: &DatabaseTransaction,
    role_id: i64,
    permission_ids: Vec<i64>,
) -> Result<(), StoreError> {
    if permission_ids.is_empty() {
        return Ok(());
    }
    let links = permission_ids
        .into_iter()
        .map(|permission_id| role_permissions::ActiveModel {
            role_id: Set(role_id),
            permission_id: Set(permission_id),
        });
    role_permissions::Entity::insert_many(links)
        .exec(txn)
        .await
        .map(|_| ())
        .map_err(|e| match e.sql_err() {
            Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => {
                StoreError::UnknownPermission("(removed meanwhile)".into())
            }
            _ => map_db_err(e),
        })
}

impl Database {
    /// Role names per user, for a page of users (one query).
    pub(super) async fn roles_of_users(
        &self,
        ids: &[i64],
    ) -> Result<HashMap<i64, Vec<RoleName>>, StoreError> {
        let mut by_user: HashMap<i64, Vec<RoleName>> = HashMap::new();
        if ids.is_empty() {
            return Ok(by_user);
        }
        let rows: Vec<(i64, String)> = user_roles::Entity::find()
            .select_only()
            .column(user_roles::Column::UserId)
            .column(roles::Column::Name)
            .join(JoinType::InnerJoin, user_roles::Relation::Role.def())
            .filter(user_roles::Column::UserId.is_in(ids.iter().copied()))
            .order_by_asc(roles::Column::Id)
            .into_tuple()
            .all(&self.conn)
            .await
            .map_err(map_db_err)?;
        for (user, role) in rows {
            if let Some(role) = parse_role(&role) {
                by_user.entry(user).or_default().push(role);
            }
        }
        Ok(by_user)
    }
}

pub(crate) fn summary(user: users::Model, roles: Vec<RoleName>) -> User {
    User {
        id: UserId(user.id),
        username: user.username,
        email: user.email,
        roles,
        disabled: user.disabled,
        created_at: user.created_at,
        email_verified: user.email_verified,
    }
}
