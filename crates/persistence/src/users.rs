//! `UserStore` and `HealthCheck` over SeaORM.

use async_trait::async_trait;
use rolegate_domain::{
    Email, HealthCheck, LoginRecord, NewAuditEvent, NewUser, PasswordHash, Permission, RoleName,
    StoreError, UniqueField, UserId, UserProfile, UserStore, Username,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, JoinType, QueryFilter,
    QueryOrder, QuerySelect, RelationTrait, Set,
};

use crate::Database;
use crate::entities::{permissions, role_permissions, roles, user_roles, users};
use crate::error::{is_unique_violation, map_db_err};

impl Database {
    /// Which of username/email is taken, checked after a unique violation.
    async fn conflict_of<C: ConnectionTrait>(
        db: &C,
        username_key: &str,
        email: &str,
    ) -> Result<Option<UniqueField>, StoreError> {
        let taken = users::Entity::find()
            .filter(
                Condition::any()
                    .add(users::Column::UsernameKey.eq(username_key))
                    .add(users::Column::Email.eq(email)),
            )
            .limit(2)
            .all(db)
            .await
            .map_err(map_db_err)?;
        if taken.iter().any(|u| u.username_key == username_key) {
            Ok(Some(UniqueField::Username))
        } else if taken.is_empty() {
            Ok(None)
        } else {
            Ok(Some(UniqueField::Email))
        }
    }

    /// The id of the user named `username_key` if its stored hash is
    /// `hash` — the row this request wrote.
    async fn own_row<C: ConnectionTrait>(
        db: &C,
        username_key: &str,
        hash: &str,
    ) -> Result<Option<i64>, StoreError> {
        Ok(users::Entity::find()
            .filter(users::Column::UsernameKey.eq(username_key))
            .filter(users::Column::PasswordHash.eq(hash))
            .one(db)
            .await
            .map_err(map_db_err)?
            .map(|u| u.id))
    }

    pub(crate) async fn role_names_of<C: ConnectionTrait>(
        db: &C,
        user: i64,
    ) -> Result<Vec<RoleName>, StoreError> {
        let rows = roles::Entity::find()
            .join(JoinType::InnerJoin, roles::Relation::UserRoles.def())
            .filter(user_roles::Column::UserId.eq(user))
            .order_by_asc(roles::Column::Id)
            .all(db)
            .await
            .map_err(map_db_err)?;
        Ok(rows
            .into_iter()
            .filter_map(|r| match RoleName::parse(&r.name) {
                Ok(name) => Some(name),
                Err(e) => {
                    tracing::warn!(role = %r.name, error = %e, "skipping a role with an invalid name");
                    None
                }
            })
            .collect())
    }
}

impl Database {
    /// The permissions the user's roles grant, de-duplicated and sorted.
    pub(crate) async fn permissions_of_user<C: ConnectionTrait>(
        db: &C,
        user: i64,
    ) -> Result<Vec<Permission>, StoreError> {
        let granted: Vec<String> = permissions::Entity::find()
            .select_only()
            .column(permissions::Column::Name)
            .distinct()
            .join(
                JoinType::InnerJoin,
                permissions::Relation::RolePermissions.def(),
            )
            .join(JoinType::InnerJoin, role_permissions::Relation::Role.def())
            .join(JoinType::InnerJoin, roles::Relation::UserRoles.def())
            .filter(user_roles::Column::UserId.eq(user))
            .order_by_asc(permissions::Column::Name)
            .into_tuple()
            .all(db)
            .await
            .map_err(map_db_err)?;
        Ok(granted
            .iter()
            .filter_map(|p| Permission::parse(p).ok())
            .collect())
    }
}

impl Database {
    /// Creates a user and its role links in one transaction, with an audit
    /// event (target `user:<new id>`) when given.
    pub(crate) async fn create_user_audited(
        &self,
        user: NewUser,
        audit: Option<NewAuditEvent>,
    ) -> Result<UserId, StoreError> {
        let username_key = user.username.key();
        let email = user.email.as_str().to_owned();
        // Resolve the roles before the transaction, so that its first statement
        // is a write: on SQLite a deferred transaction that reads first fails with
        // SQLITE_BUSY instead of waiting when another writer got in between.
        let names: Vec<&str> = user.roles.iter().map(RoleName::as_str).collect();
        let found = roles::Entity::find()
            .filter(roles::Column::Name.is_in(names.iter().copied()))
            .all(&self.conn)
            .await
            .map_err(map_db_err)?;
        if let Some(missing) = names.iter().find(|n| !found.iter().any(|r| r.name == **n)) {
            return Err(StoreError::UnknownRole((*missing).to_owned()));
        }

        let now = user.created_at;
        // Unique to this request (argon2's random salt): how a lost commit
        // answer recognises our own row.
        let our_hash = user.password_hash.as_str().to_owned();
        let row = users::ActiveModel {
            username: Set(user.username.as_str().to_owned()),
            username_key: Set(username_key.clone()),
            email: Set(email.clone()),
            password_hash: Set(user.password_hash.as_str().to_owned()),
            disabled: Set(false),
            email_verified: Set(user.email_verified),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        let welcome = user.welcome;
        let role_ids: Vec<i64> = found.iter().map(|r| r.id).collect();
        let role_names = names.join(", ");
        let created = self
            .in_transaction(move |txn| {
                Box::pin(async move {
                    let created = row.insert(txn).await.map_err(|e| {
                        if is_unique_violation(&e) {
                            // Which field: decided below, outside the transaction.
                            StoreError::Conflict(UniqueField::Username)
                        } else {
                            map_db_err(e)
                        }
                    })?;
                    let links = role_ids.into_iter().map(|role_id| user_roles::ActiveModel {
                        user_id: Set(created.id),
                        role_id: Set(role_id),
                    });
                    user_roles::Entity::insert_many(links)
                        .exec(txn)
                        .await
                        .map_err(|e| match e.sql_err() {
                            // A role was deleted between the look-up and the insert.
                            Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => {
                                StoreError::UnknownRole(role_names)
                            }
                            _ => map_db_err(e),
                        })?;
                    if let Some(mut event) = audit {
                        event.target = format!("user:{}", created.id);
                        crate::admin::insert_audit(txn, event).await?;
                    }
                    if let Some(welcome) = welcome {
                        crate::accounts::insert_token(txn, created.id, welcome.token).await?;
                        crate::outbox::insert_mail(txn, welcome.mail).await?;
                    }
                    Ok(created.id)
                })
            })
            .await;
        match created {
            Ok(id) => Ok(UserId(id)),
            // The connection broke — possibly after the COMMIT reached the
            // server, its answer lost: if the row is ours (our hash, with its
            // unique salt), the account exists and that is the answer. A
            // deadlock among racing sign-ups (InnoDB reports one instead of
            // the duplicate key at times): if the name or email is now taken
            // by another, that is the answer; otherwise the 503 stands.
            Err(StoreError::Unavailable(detail)) => {
                match Self::own_row(&self.conn, &username_key, &our_hash).await {
                    Ok(Some(id)) => {
                        tracing::info!(
                            user_id = id,
                            "the commit's answer was lost, but the account was created"
                        );
                        return Ok(UserId(id));
                    }
                    Ok(None) => {}
                    Err(_) => return Err(StoreError::Unavailable(detail)),
                }
                match Self::conflict_of(&self.conn, &username_key, &email).await {
                    Ok(Some(field)) => Err(StoreError::Conflict(field)),
                    _ => Err(StoreError::Unavailable(detail)),
                }
            }
            Err(StoreError::Conflict(_)) => {
                let field = Self::conflict_of(&self.conn, &username_key, &email)
                    .await?
                    // The other row vanished in between: report the likelier field.
                    .unwrap_or(UniqueField::Username);
                Err(StoreError::Conflict(field))
            }
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl UserStore for Database {
    async fn create_user(
        &self,
        user: NewUser,
        audit: Option<NewAuditEvent>,
    ) -> Result<UserId, StoreError> {
        self.create_user_audited(user, audit).await
    }

    async fn find_conflict(
        &self,
        username: &Username,
        email: &Email,
    ) -> Result<Option<UniqueField>, StoreError> {
        Self::conflict_of(&self.conn, &username.key(), email.as_str()).await
    }

    async fn login_by_id(&self, id: UserId) -> Result<Option<LoginRecord>, StoreError> {
        Ok(users::Entity::find_by_id(id.0)
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
            .map(login_record))
    }

    async fn find_login(&self, username: &Username) -> Result<Option<LoginRecord>, StoreError> {
        Ok(users::Entity::find()
            .filter(users::Column::UsernameKey.eq(username.key()))
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
            .map(login_record))
    }

    async fn replace_password_hash(
        &self,
        id: UserId,
        expected: &PasswordHash,
        new: PasswordHash,
    ) -> Result<bool, StoreError> {
        let updated = users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(new.as_str()))
            .filter(users::Column::Id.eq(id.0))
            .filter(users::Column::PasswordHash.eq(expected.as_str()))
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(updated.rows_affected == 1)
    }

    async fn grants_of(&self, id: UserId) -> Result<(Vec<RoleName>, Vec<Permission>), StoreError> {
        let roles = Self::role_names_of(&self.conn, id.0).await?;
        Ok((roles, Self::permissions_of_user(&self.conn, id.0).await?))
    }

    async fn profile(&self, id: UserId) -> Result<Option<UserProfile>, StoreError> {
        let Some(user) = users::Entity::find_by_id(id.0)
            .one(&self.conn)
            .await
            .map_err(map_db_err)?
        else {
            return Ok(None);
        };
        let (roles, permissions) = self.grants_of(UserId(user.id)).await?;
        Ok(Some(UserProfile {
            user: crate::admin::summary(user, roles),
            permissions,
        }))
    }

    async fn missing_roles(&self, names: &[RoleName]) -> Result<Vec<RoleName>, StoreError> {
        let found = roles::Entity::find()
            .filter(roles::Column::Name.is_in(names.iter().map(RoleName::as_str)))
            .all(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(names
            .iter()
            .filter(|n| !found.iter().any(|r| r.name == n.as_str()))
            .cloned()
            .collect())
    }
}

#[async_trait]
impl HealthCheck for Database {
    async fn ping(&self) -> Result<(), StoreError> {
        self.conn.ping().await.map_err(map_db_err)
    }
}

/// What a sign-in needs of a user row (by id or by name).
fn login_record(u: users::Model) -> LoginRecord {
    LoginRecord {
        id: UserId(u.id),
        username: u.username,
        email: u.email,
        password_hash: PasswordHash::new(u.password_hash),
        disabled: u.disabled,
        email_verified: u.email_verified,
    }
}
