//! `AdminStore` over SeaORM: users' roles and status, roles, permissions and
//! the audit log.
//!
//! Every write runs in one transaction that first takes a lock on the `admin`
//! role's row (a no-op update). That serialises administrative writes on all
//! three backends — on SQLite it also makes the transaction a writer from its
//! first statement, so it waits on the busy timeout instead of failing — and
//! lets the "at least one active admin" rule be checked without a race: the
//! count before and after the change is read under the lock, and a change
//! that takes it from some to none is rolled back.

use std::collections::HashMap;

use async_trait::async_trait;
use rolegate_domain::access::permissions::BUILT_IN;
use rolegate_domain::{
    AdminStore, AuditEvent, Change, Description, NewAuditEvent, Page, PageRequest, Permission,
    PermissionInfo, Precondition, RoleInfo, RoleName, StoreError, UniqueField, User, UserId,
};
use sea_orm::sea_query::{Expr, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait,
    JoinType, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, RelationTrait, Set,
};

use crate::Database;
use crate::entities::{
    audit_events, permissions, refresh_tokens, role_permissions, roles, user_roles, users,
};
use crate::error::{is_unique_violation, map_db_err};

/// The escape character of LIKE patterns (not `\`, whose quoting differs by backend).
const LIKE_ESCAPE: char = '!';

fn like_contains(needle: &str) -> LikeExpr {
    LikeExpr::new(contains_pattern(needle)).escape(LIKE_ESCAPE)
}

/// `%needle%` with the wildcards in `needle` escaped.
fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | LIKE_ESCAPE) {
            pattern.push(LIKE_ESCAPE);
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

fn parse_role(name: &str) -> Option<RoleName> {
    RoleName::parse(name)
        .inspect_err(
            |e| tracing::warn!(role = %name, error = %e, "skipping a role with an invalid name"),
        )
        .ok()
}

fn parse_permission(name: &str) -> Option<Permission> {
    Permission::parse(name)
        .inspect_err(|e| {
            tracing::warn!(permission = %name, error = %e, "skipping a permission with an invalid name")
        })
        .ok()
}

fn conflict_on(e: sea_orm::DbErr, field: UniqueField) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict(field)
    } else {
        map_db_err(e)
    }
}

async fn active_admins<C: ConnectionTrait>(db: &C) -> Result<u64, StoreError> {
    users::Entity::find()
        .join(JoinType::InnerJoin, users::Relation::UserRoles.def())
        .join(JoinType::InnerJoin, user_roles::Relation::Role.def())
        .filter(roles::Column::Name.eq(RoleName::ADMIN))
        .filter(users::Column::Disabled.eq(false))
        .count(db)
        .await
        .map_err(map_db_err)
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

async fn find_user<C: ConnectionTrait>(db: &C, id: UserId) -> Result<users::Model, StoreError> {
    users::Entity::find_by_id(id.0)
        .one(db)
        .await
        .map_err(map_db_err)?
        .ok_or(StoreError::NotFound)
}

async fn find_role<C: ConnectionTrait>(
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

/// The ids of `wanted` permissions; `UnknownPermission` names the first missing one.
async fn permission_ids<C: ConnectionTrait>(
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

/// The permissions a role grants, by name.
async fn role_permission_names<C: ConnectionTrait>(
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
async fn check_preconditions(
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

async fn link_permissions(
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
    /// Runs an administrative write: lock, check the preconditions, count
    /// admins, `body`, count again, store the audit event.
    async fn admin_write<T, F>(&self, change: Change, body: F) -> Result<T, StoreError>
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

    /// Role names per user, for a page of users (one query).
    async fn roles_of_users(&self, ids: &[i64]) -> Result<HashMap<i64, Vec<RoleName>>, StoreError> {
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
    }
}

#[async_trait]
impl AdminStore for Database {
    async fn list_users(
        &self,
        query: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<User>, StoreError> {
        let mut select = users::Entity::find();
        if let Some(q) = query {
            select = select.filter(
                Condition::any()
                    .add(users::Column::UsernameKey.like(like_contains(q)))
                    .add(users::Column::Email.like(like_contains(q))),
            );
        }
        let total = select.clone().count(&self.conn).await.map_err(map_db_err)?;
        let rows = select
            .order_by_asc(users::Column::Id)
            .offset(page.offset())
            .limit(u64::from(page.per_page))
            .all(&self.conn)
            .await
            .map_err(map_db_err)?;
        let ids: Vec<i64> = rows.iter().map(|u| u.id).collect();
        let mut roles = self.roles_of_users(&ids).await?;
        let items = rows
            .into_iter()
            .map(|u| {
                let r = roles.remove(&u.id).unwrap_or_default();
                summary(u, r)
            })
            .collect();
        Ok(Page {
            items,
            page: page.page,
            per_page: page.per_page,
            total,
        })
    }

    async fn set_user_roles(
        &self,
        id: UserId,
        roles: &[RoleName],
        change: Change,
    ) -> Result<(), StoreError> {
        let names: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
        let at = change.audit.at;
        self.admin_write(change, move |txn| {
            Box::pin(async move {
                find_user(txn, id).await?;
                let found = roles::Entity::find()
                    .filter(roles::Column::Name.is_in(names.iter().map(String::as_str)))
                    .all(txn)
                    .await
                    .map_err(map_db_err)?;
                if let Some(missing) = names.iter().find(|n| !found.iter().any(|r| &r.name == *n)) {
                    return Err(StoreError::UnknownRole(missing.clone()));
                }
                user_roles::Entity::delete_many()
                    .filter(user_roles::Column::UserId.eq(id.0))
                    .exec(txn)
                    .await
                    .map_err(map_db_err)?;
                if !found.is_empty() {
                    let links = found.iter().map(|r| user_roles::ActiveModel {
                        user_id: Set(id.0),
                        role_id: Set(r.id),
                    });
                    user_roles::Entity::insert_many(links)
                        .exec(txn)
                        .await
                        .map_err(map_db_err)?;
                }
                users::Entity::update_many()
                    .col_expr(users::Column::UpdatedAt, Expr::value(at))
                    .filter(users::Column::Id.eq(id.0))
                    .exec(txn)
                    .await
                    .map_err(map_db_err)?;
                Ok(())
            })
        })
        .await
    }

    async fn set_user_disabled(
        &self,
        id: UserId,
        disabled: bool,
        change: Change,
    ) -> Result<(), StoreError> {
        let at = change.audit.at;
        self.admin_write(change, move |txn| {
            Box::pin(async move {
                find_user(txn, id).await?;
                users::Entity::update_many()
                    .col_expr(users::Column::Disabled, Expr::value(disabled))
                    .col_expr(users::Column::UpdatedAt, Expr::value(at))
                    .filter(users::Column::Id.eq(id.0))
                    .exec(txn)
                    .await
                    .map_err(map_db_err)?;
                if disabled {
                    // A refresh racing this sees `disabled` when it re-reads the
                    // user and revokes its own family.
                    refresh_tokens::Entity::update_many()
                        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(Some(at)))
                        .filter(refresh_tokens::Column::UserId.eq(id.0))
                        .filter(refresh_tokens::Column::RevokedAt.is_null())
                        .exec(txn)
                        .await
                        .map_err(map_db_err)?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn delete_user(&self, id: UserId, change: Change) -> Result<(), StoreError> {
        self.admin_write(change, move |txn| {
            Box::pin(async move {
                find_user(txn, id).await?;
                // Role links and refresh tokens go with it (ON DELETE CASCADE).
                users::Entity::delete_by_id(id.0)
                    .exec(txn)
                    .await
                    .map_err(map_db_err)?;
                Ok(())
            })
        })
        .await
    }

    async fn list_roles(&self) -> Result<Vec<RoleInfo>, StoreError> {
        let rows = roles::Entity::find()
            .order_by_asc(roles::Column::Id)
            .all(&self.conn)
            .await
            .map_err(map_db_err)?;
        let grants: Vec<(i64, String)> = role_permissions::Entity::find()
            .select_only()
            .column(role_permissions::Column::RoleId)
            .column(permissions::Column::Name)
            .join(
                JoinType::InnerJoin,
                role_permissions::Relation::Permission.def(),
            )
            .order_by_asc(permissions::Column::Name)
            .into_tuple()
            .all(&self.conn)
            .await
            .map_err(map_db_err)?;
        let mut by_role: HashMap<i64, Vec<Permission>> = HashMap::new();
        for (role, permission) in grants {
            if let Some(p) = parse_permission(&permission) {
                by_role.entry(role).or_default().push(p);
            }
        }
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(RoleInfo {
                    name: parse_role(&r.name)?,
                    permissions: by_role.remove(&r.id).unwrap_or_default(),
                    description: Description::from_stored(r.description),
                    built_in: r.built_in,
                })
            })
            .collect())
    }

    async fn create_role(&self, role: &RoleInfo, change: Change) -> Result<(), StoreError> {
        let role = role.clone();
        let at = change.audit.at;
        self.admin_write(change, move |txn| {
            Box::pin(async move {
                let ids = permission_ids(txn, &role.permissions).await?;
                let created = roles::ActiveModel {
                    name: Set(role.name.as_str().to_owned()),
                    description: Set(role.description.as_str().to_owned()),
                    built_in: Set(false),
                    created_at: Set(at),
                    ..Default::default()
                }
                .insert(txn)
                .await
                .map_err(|e| conflict_on(e, UniqueField::Role))?;
                link_permissions(txn, created.id, ids).await?;
                Ok(())
            })
        })
        .await
    }

    async fn update_role(
        &self,
        name: &RoleName,
        permissions: &[Permission],
        description: Option<&Description>,
        change: Change,
    ) -> Result<(), StoreError> {
        let name = name.clone();
        let permissions = permissions.to_vec();
        let description = description.map(|d| d.as_str().to_owned());
        self.admin_write(change, move |txn| {
            Box::pin(async move {
                let role = find_role(txn, &name).await?;
                let ids = permission_ids(txn, &permissions).await?;
                role_permissions::Entity::delete_many()
                    .filter(role_permissions::Column::RoleId.eq(role.id))
                    .exec(txn)
                    .await
                    .map_err(map_db_err)?;
                link_permissions(txn, role.id, ids).await?;
                if let Some(description) = description {
                    roles::Entity::update_many()
                        .col_expr(roles::Column::Description, Expr::value(description))
                        .filter(roles::Column::Id.eq(role.id))
                        .exec(txn)
                        .await
                        .map_err(map_db_err)?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn delete_role(&self, name: &RoleName, change: Change) -> Result<(), StoreError> {
        let name = name.clone();
        self.admin_write(change, move |txn| {
            Box::pin(async move {
                let role = find_role(txn, &name).await?;
                // Its user and permission links go with it (ON DELETE CASCADE).
                roles::Entity::delete_by_id(role.id)
                    .exec(txn)
                    .await
                    .map_err(map_db_err)?;
                Ok(())
            })
        })
        .await
    }

    async fn list_permissions(&self) -> Result<Vec<PermissionInfo>, StoreError> {
        let rows = permissions::Entity::find()
            .order_by_asc(permissions::Column::Name)
            .all(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(rows
            .into_iter()
            .filter_map(|p| {
                Some(PermissionInfo {
                    built_in: BUILT_IN.contains(&p.name.as_str()),
                    name: parse_permission(&p.name)?,
                    description: Description::from_stored(p.description),
                })
            })
            .collect())
    }

    async fn create_permission(
        &self,
        permission: &PermissionInfo,
        grant_to: &[RoleName],
        change: Change,
    ) -> Result<(), StoreError> {
        let permission = permission.clone();
        let grant_to: Vec<String> = grant_to.iter().map(|r| r.as_str().to_owned()).collect();
        self.admin_write(change, move |txn| {
            Box::pin(async move {
                let created = permissions::ActiveModel {
                    name: Set(permission.name.as_str().to_owned()),
                    description: Set(permission.description.as_str().to_owned()),
                    ..Default::default()
                }
                .insert(txn)
                .await
                .map_err(|e| conflict_on(e, UniqueField::Permission))?;
                let roles = roles::Entity::find()
                    .filter(roles::Column::Name.is_in(grant_to.iter().map(String::as_str)))
                    .all(txn)
                    .await
                    .map_err(map_db_err)?;
                for role in roles {
                    link_permissions(txn, role.id, vec![created.id]).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn list_audit(&self, page: PageRequest) -> Result<Page<AuditEvent>, StoreError> {
        let total = audit_events::Entity::find()
            .count(&self.conn)
            .await
            .map_err(map_db_err)?;
        let rows = audit_events::Entity::find()
            .order_by_desc(audit_events::Column::Id)
            .offset(page.offset())
            .limit(u64::from(page.per_page))
            .all(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(|r| AuditEvent {
                    id: r.id,
                    event: NewAuditEvent {
                        at: r.at,
                        actor_id: r.actor_id.map(UserId),
                        actor: r.actor,
                        action: r.action,
                        target: r.target,
                        detail: r.detail,
                    },
                })
                .collect(),
            page: page.page,
            per_page: page.per_page,
            total,
        })
    }

    async fn count_active_admins(&self) -> Result<u64, StoreError> {
        active_admins(&self.conn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("a%b_c!d"), "%a!%b!_c!!d%");
    }
}
