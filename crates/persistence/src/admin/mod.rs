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

mod lock;
mod rows;
mod search;

use std::collections::HashMap;

use async_trait::async_trait;
use rolegate_domain::access::permissions::BUILT_IN;
use rolegate_domain::{
    AdminStore, AuditEvent, Change, Description, NewAuditEvent, Page, PageRequest, Permission,
    PermissionInfo, RoleInfo, RoleName, StoreError, UniqueField, User, UserId,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, JoinType,
    QueryFilter, QueryOrder, QuerySelect, RelationTrait, Set, TransactionTrait,
};

use crate::Database;
use crate::entities::{
    audit_events, permissions, refresh_tokens, role_permissions, roles, user_roles, users,
};
use crate::error::map_db_err;
use lock::{active_admins, find_role, find_user};
use rows::{conflict_on, link_permissions, parse_permission, parse_role, permission_ids};
pub(crate) use rows::{insert_audit, summary};
use search::{count_capped, search_users};

#[async_trait]
impl AdminStore for Database {
    async fn list_users(
        &self,
        query: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<User>, StoreError> {
        let backend = self.conn.get_database_backend();
        let (rows, counted) = match query {
            // PostgreSQL would, after five executions of the prepared
            // statement, be free to keep one generic plan for every `q`: a
            // primary-key scan that reads the whole table for a rare prefix,
            // or bitmaps of every match for a common one. Planning each
            // search for its own `q` keeps both cheap.
            Some(q) if backend == DatabaseBackend::Postgres => {
                let txn = self.conn.begin().await.map_err(map_db_err)?;
                let found = async {
                    txn.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan")
                        .await
                        .map_err(map_db_err)?;
                    search_users(&txn, backend, Some(q), page).await
                }
                .await;
                match found {
                    Ok(found) => {
                        txn.commit().await.map_err(map_db_err)?;
                        found
                    }
                    Err(e) => {
                        let _ = txn.rollback().await;
                        return Err(e);
                    }
                }
            }
            _ => search_users(&self.conn, backend, query, page).await?,
        };
        let ids: Vec<i64> = rows.iter().map(|u| u.id).collect();
        let mut roles = self.roles_of_users(&ids).await?;
        let items = rows
            .into_iter()
            .map(|u| {
                let r = roles.remove(&u.id).unwrap_or_default();
                summary(u, r)
            })
            .collect();
        Ok(Page::assemble(items, page, counted, |u: &User| u.id.0))
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
                    crate::revocations::revoke_sessions(
                        txn,
                        refresh_tokens::Column::UserId.eq(id.0),
                        at,
                    )
                    .await?;
                }
                // Access tokens: refused everywhere while disabled (sessions
                // ended now stay ended when enabled again).
                crate::revocations::record_user(txn, id, !disabled, at).await?;
                Ok(())
            })
        })
        .await
    }

    async fn reset_second_factors(&self, id: UserId, change: Change) -> Result<(), StoreError> {
        self.admin_write(change, move |txn| {
            Box::pin(async move {
                find_user(txn, id).await?;
                crate::mfa::delete_second_factors(txn, id).await
            })
        })
        .await
    }

    async fn delete_user(&self, id: UserId, change: Change) -> Result<(), StoreError> {
        let at = change.audit.at;
        self.admin_write(change, move |txn| {
            Box::pin(async move {
                find_user(txn, id).await?;
                // The user's access tokens: refused everywhere from now on.
                crate::revocations::record_user(txn, id, false, at).await?;
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

    async fn record_change(&self, change: Change) -> Result<(), StoreError> {
        self.admin_write(change, |_| Box::pin(async { Ok(()) }))
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
        // From the newest end: the purge leaves the oldest end full of dead
        // rows (PostgreSQL) that an unordered scan would wade through.
        let counted = count_capped(
            &self.conn,
            vec![audit_events::Entity::find().order_by_desc(audit_events::Column::Id)],
            audit_events::Column::Id,
        )
        .await?;
        let mut select = audit_events::Entity::find();
        if let Some(after) = page.after {
            select = select.filter(audit_events::Column::Id.lt(after));
        }
        let rows = select
            .order_by_desc(audit_events::Column::Id)
            .offset(page.offset())
            .limit(u64::from(page.per_page) + 1)
            .all(&self.conn)
            .await
            .map_err(map_db_err)?;
        let items = rows
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
            .collect();
        Ok(Page::assemble(items, page, counted, |e: &AuditEvent| e.id))
    }

    async fn count_active_admins(&self) -> Result<u64, StoreError> {
        active_admins(&self.conn).await
    }
}
