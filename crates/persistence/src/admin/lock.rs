//! The administrative write: one transaction under the `admin` row lock, its
//! preconditions re-checked, the active admins counted before and after.

use rolegate_domain::{Change, Permission, Precondition, RoleName, StoreError, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, JoinType, PaginatorTrait,
    QueryFilter, QuerySelect, RelationTrait,
};

use crate::Database;
use crate::entities::{permissions, role_permissions, roles, user_roles, users};
use crate::error::map_db_err;

use super::rows::{insert_audit, parse_permission};

pub(super) async fn active_admins<C: ConnectionTrait>(db: &C) -> Result<u64, StoreError> {
    users::Entity::find()
        .join(JoinType::InnerJoin, users::Relation::UserRoles.def())
        .join(JoinType::InnerJoin, user_roles::Relation::Role.def())
        .filter(roles::Column::Name.eq(RoleName::ADMIN))
        .filter(users::Column::Disabled.eq(false))
        .count(db)
        .await
        .map_err(map_db_err)
}

pub(super) async fn find_user<C: ConnectionTrait>(
    db: &C,
    id: UserId,
) -> Result<users::Model, StoreError> {
    users::Entity::find_by_id(id.0)
        .one(db)
        .await
        .map_err(map_db_err)?
        .ok_or(StoreError::NotFound)
}

pub(super) async fn find_role<C: ConnectionTrait>(
    db: &C,
    name: &RoleName,
) -> Result<roles::Model, StoreError> {
    roles::Entity::find()
        .filter(roles::Column::Name.eq(name.as_str()))
        .one(db)
        .await
        .map_err(map_db_err)?
        .ok_or(StoreError::NotFound)
}

/// The permissions a role grants, by name.
pub(super) async fn role_permission_names<C: ConnectionTrait>(
    db: &C,
    role_id: i64,
) -> Result<Vec<String>, StoreError> {
    role_permissions::Entity::find()
        .select_only()
        .column(permissions::Column::Name)
        .join(
            JoinType::InnerJoin,
            role_permissions::Relation::Permission.def(),
        )
        .filter(role_permissions::Column::RoleId.eq(role_id))
        .into_tuple()
        .all(db)
        .await
        .map_err(map_db_err)
}

fn same_set<'a>(a: impl Iterator<Item = &'a str>, b: impl Iterator<Item = &'a str>) -> bool {
    let a: std::collections::BTreeSet<&str> = a.collect();
    let b: std::collections::BTreeSet<&str> = b.collect();
    a == b
}

/// Checks what a change relied on, inside its transaction and under the lock.
pub(super) async fn check_preconditions(
    txn: &DatabaseTransaction,
    preconditions: &[Precondition],
) -> Result<(), StoreError> {
    for pre in preconditions {
        let holds = match pre {
            Precondition::ActorHolds { actor, permissions } => {
                match users::Entity::find_by_id(actor.0)
                    .one(txn)
                    .await
                    .map_err(map_db_err)?
                {
                    Some(user) if !user.disabled => {
                        let held = Database::permissions_of_user(txn, user.id).await?;
                        permissions.iter().all(|p| held.contains(p))
                    }
                    _ => false,
                }
            }
            Precondition::UserRoles { user, roles } => {
                let now = Database::role_names_of(txn, find_user(txn, *user).await?.id).await?;
                same_set(
                    now.iter().map(RoleName::as_str),
                    roles.iter().map(RoleName::as_str),
                )
            }
            Precondition::RolePermissions { role, permissions } => {
                match find_role(txn, role).await {
                    Ok(row) => {
                        // Compared like list_roles reads them: unparsable names skipped.
                        let now: Vec<Permission> = role_permission_names(txn, row.id)
                            .await?
                            .iter()
                            .filter_map(|p| parse_permission(p))
                            .collect();
                        same_set(
                            now.iter().map(Permission::as_str),
                            permissions.iter().map(Permission::as_str),
                        )
                    }
                    Err(StoreError::NotFound) => false,
                    Err(e) => return Err(e),
                }
            }
        };
        if !holds {
            tracing::info!(
                ?pre,
                "an administrative change lost a race: its precondition no longer holds"
            );
            return Err(StoreError::Stale);
        }
    }
    Ok(())
}

impl Database {
    /// Runs an administrative write: lock, check the preconditions, count
    /// admins, `body`, count again, store the audit event.
    pub(super) async fn admin_write<T, F>(&self, change: Change, body: F) -> Result<T, StoreError>
    where
        T: Send,
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'c>,
            > + Send
            + 'static,
    {
        self.in_transaction(move |txn| {
            Box::pin(async move {
                roles::Entity::update_many()
                    .col_expr(roles::Column::BuiltIn, Expr::col(roles::Column::BuiltIn))
                    .filter(roles::Column::Name.eq(RoleName::ADMIN))
                    .exec(txn)
                    .await
                    .map_err(map_db_err)?;
                check_preconditions(txn, &change.preconditions).await?;
                let before = active_admins(txn).await?;
                let out = body(txn).await?;
                if before > 0 && active_admins(txn).await? == 0 {
                    return Err(StoreError::LastAdmin);
                }
                insert_audit(txn, change.audit).await?;
                Ok(out)
            })
        })
        .await
    }
}
