//! Administration: users' roles and status, roles and their permissions,
//! the audit log, and the first admin. Written against ports like the
//! authentication use cases.
//!
//! Rules kept here (and tested per backend through the API):
//! - every change is made by an [`Actor`] whose *current* permissions (read
//!   from the store, not from a possibly stale token) allow it;
//! - nobody reaches beyond what they hold: giving a user a role, giving or
//!   taking a role's permissions, deleting a role, and changing, disabling or
//!   deleting a user all need every permission involved (the role's before
//!   and after, the user's current ones);
//! - the built-in roles cannot be deleted, `admin` never loses the
//!   permissions needed to administer, and `user` (every new account's role)
//!   never gets them;
//! - what a decision relied on is re-checked by the store under its lock, in
//!   the change's transaction ([`Precondition`]), so concurrent changes cannot
//!   slip between the check and the write;
//! - at least one active admin remains (the store checks it atomically);
//! - every change writes an audit event in the same transaction, and a log line.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::error::{FieldErrors, StoreError, UniqueField};
use crate::ports::{Clock, HashError, NewUser, PasswordHasher, UserStore};
use crate::types::{Email, Password, Permission, RoleName, UserId, Username};

/// Names of the built-in permissions.
pub mod perms {
    pub const CONTENT_READ: &str = "content:read";
    pub const CONTENT_MODERATE: &str = "content:moderate";
    pub const USERS_READ: &str = "users:read";
    pub const USERS_WRITE: &str = "users:write";
    pub const ROLES_READ: &str = "roles:read";
    pub const ROLES_WRITE: &str = "roles:write";
    pub const AUDIT_READ: &str = "audit:read";
    /// Every built-in permission.
    pub const BUILT_IN: [&str; 7] = [
        CONTENT_READ,
        CONTENT_MODERATE,
        USERS_READ,
        USERS_WRITE,
        ROLES_READ,
        ROLES_WRITE,
        AUDIT_READ,
    ];
    /// What the `admin` role always keeps: enough to administer.
    pub const ADMIN_REQUIRED: [&str; 5] =
        [USERS_READ, USERS_WRITE, ROLES_READ, ROLES_WRITE, AUDIT_READ];
}

/// A page request: 1-based `page`, `per_page` within 1..=[`PageRequest::MAX_PER_PAGE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub per_page: u32,
}

impl PageRequest {
    pub const DEFAULT_PER_PAGE: u32 = 20;
    pub const MAX_PER_PAGE: u32 = 100;
    /// Deep pages beyond this are refused (offsets stay cheap and bounded).
    pub const MAX_PAGE: u32 = 100_000;

    /// Checks the bounds; absent values take the defaults.
    pub fn parse(page: Option<u32>, per_page: Option<u32>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(Self::DEFAULT_PER_PAGE);
        if !(1..=Self::MAX_PAGE).contains(&page) {
            errors.add("page", format!("must be between 1 and {}", Self::MAX_PAGE));
        }
        if !(1..=Self::MAX_PER_PAGE).contains(&per_page) {
            errors.add(
                "per_page",
                format!("must be between 1 and {}", Self::MAX_PER_PAGE),
            );
        }
        if errors.is_empty() {
            Ok(Self { page, per_page })
        } else {
            Err(errors)
        }
    }

    pub fn offset(&self) -> u64 {
        u64::from(self.page.saturating_sub(1)) * u64::from(self.per_page)
    }
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    /// How many match in all.
    pub total: u64,
}

/// A user as the admin API lists it.
#[derive(Debug, Clone)]
pub struct UserSummary {
    pub id: UserId,
    pub username: String,
    pub email: String,
    /// Ordered like the role ids: user, moderator, admin, then custom roles.
    pub roles: Vec<RoleName>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// A user with what their roles grant.
#[derive(Debug, Clone)]
pub struct UserProfile {
    pub user: UserSummary,
    pub permissions: Vec<Permission>,
}

/// A role with its permissions.
#[derive(Debug, Clone)]
pub struct RoleInfo {
    pub name: RoleName,
    pub description: String,
    pub built_in: bool,
    pub permissions: Vec<Permission>,
}

/// A permission of the catalogue.
#[derive(Debug, Clone)]
pub struct PermissionInfo {
    pub name: Permission,
    pub description: String,
    pub built_in: bool,
}

/// An audit event to be written.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub at: DateTime<Utc>,
    /// The acting user, or `None` for the command line and the bootstrap.
    pub actor_id: Option<UserId>,
    /// The acting user's name, or `cli` / `bootstrap`.
    pub actor: String,
    /// What was done, e.g. `user.roles.set`, `role.create`.
    pub action: String,
    /// What it was done to, e.g. `user:42`, `role:editor`.
    pub target: String,
    /// A JSON object with the details (before/after).
    pub detail: String,
}

/// A recorded audit event.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub id: i64,
    pub event: NewAuditEvent,
}

/// What must still hold, checked by the store under its lock, in the
/// transaction of a change. The use case decides from what it read before;
/// these make that decision race-free: if anything it relied on changed in
/// between, the store refuses with `StoreError::Stale` and writes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// The acting user exists, is not disabled and holds these permissions.
    ActorHolds {
        actor: UserId,
        permissions: Vec<Permission>,
    },
    /// The user's roles are exactly these (in any order).
    UserRoles { user: UserId, roles: Vec<RoleName> },
    /// The role grants exactly these permissions (in any order).
    RolePermissions {
        role: RoleName,
        permissions: Vec<Permission>,
    },
}

/// What an administrative write carries besides its data.
#[derive(Debug, Clone)]
pub struct Change {
    /// Stored in the same transaction.
    pub audit: NewAuditEvent,
    pub preconditions: Vec<Precondition>,
}

/// Storage for administration. Each write checks its preconditions and
/// stores its audit event in one transaction; nothing is written when it fails.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Users whose username or e-mail contains `query` (case-insensitive), by id.
    async fn list_users(
        &self,
        query: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<UserSummary>, StoreError>;

    async fn user_profile(&self, id: UserId) -> Result<Option<UserProfile>, StoreError>;

    /// Creates a user (operators: command line, bootstrap) with its audit
    /// event, whose target the store sets to `user:<new id>`.
    /// `Conflict`, `UnknownRole`.
    async fn create_user_with_audit(
        &self,
        user: NewUser,
        audit: NewAuditEvent,
    ) -> Result<UserId, StoreError>;

    /// Replaces the user's roles. `NotFound`, `UnknownRole`, `LastAdmin`, `Stale`.
    async fn set_user_roles(
        &self,
        id: UserId,
        roles: &[RoleName],
        change: Change,
    ) -> Result<(), StoreError>;

    /// Disabling also revokes the user's refresh tokens.
    /// `NotFound`, `LastAdmin` (disabling the last active admin), `Stale`.
    async fn set_user_disabled(
        &self,
        id: UserId,
        disabled: bool,
        change: Change,
    ) -> Result<(), StoreError>;

    /// Deletes the user with its roles and sessions. `NotFound`, `LastAdmin`, `Stale`.
    async fn delete_user(&self, id: UserId, change: Change) -> Result<(), StoreError>;

    /// Every role with its permissions (sorted), by id.
    async fn list_roles(&self) -> Result<Vec<RoleInfo>, StoreError>;

    /// `Conflict(Role)`, `UnknownPermission`, `Stale`.
    async fn create_role(&self, role: &RoleInfo, change: Change) -> Result<(), StoreError>;

    /// Replaces a role's permissions (and description when given).
    /// `NotFound`, `UnknownPermission`, `Stale`.
    async fn update_role(
        &self,
        name: &RoleName,
        permissions: &[Permission],
        description: Option<&str>,
        change: Change,
    ) -> Result<(), StoreError>;

    /// Deletes a role; users holding it lose it. `NotFound`, `Stale`.
    async fn delete_role(&self, name: &RoleName, change: Change) -> Result<(), StoreError>;

    /// The catalogue, by name.
    async fn list_permissions(&self) -> Result<Vec<PermissionInfo>, StoreError>;

    /// Adds a permission and grants it to `grant_to` (existing roles).
    /// `Conflict(Permission)`, `Stale`.
    async fn create_permission(
        &self,
        permission: &PermissionInfo,
        grant_to: &[RoleName],
        change: Change,
    ) -> Result<(), StoreError>;

    /// Newest first.
    async fn list_audit(&self, page: PageRequest) -> Result<Page<AuditEvent>, StoreError>;

    /// Users that hold `admin` and are not disabled.
    async fn count_active_admins(&self) -> Result<u64, StoreError>;
}

/// What administration reports.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Validation(FieldErrors),
    #[error("User not found.")]
    UserNotFound,
    #[error("Role not found: {0}")]
    RoleNotFound(String),
    #[error("Failed! Role does not exist = {0}")]
    UnknownRole(String),
    #[error("Failed! Permission does not exist = {0}")]
    UnknownPermission(String),
    #[error("Failed! Role already exists = {0}")]
    RoleExists(String),
    #[error("Failed! Permission already exists = {0}")]
    PermissionExists(String),
    #[error("Failed! Username is already in use!")]
    UsernameTaken,
    #[error("Failed! Email is already in use!")]
    EmailTaken,
    #[error(
        "The last active admin cannot be removed, disabled or deleted: make another user admin first."
    )]
    LastAdmin,
    #[error("{0}")]
    BuiltInRole(String),
    /// The actor would grant, or act on, a permission they do not hold.
    #[error("{0}")]
    Escalation(String),
    /// What the change relied on was changed by someone else meanwhile.
    #[error("The user or role was changed by someone else meanwhile; read it again and retry.")]
    ConcurrentChange,
    /// The actor's current permissions (not their token's) do not allow it.
    #[error("Require permission {0}!")]
    NotAllowed(&'static str),
    /// The actor's account is disabled.
    #[error("This account is disabled.")]
    ActorDisabled,
    /// The actor's account no longer exists.
    #[error("Unauthorized!")]
    ActorGone,
    #[error("service temporarily unavailable: {0}")]
    Unavailable(String),
    #[error("Too many password hashes are being processed. Please retry shortly.")]
    Overloaded,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(UniqueField::Username) => Self::UsernameTaken,
            StoreError::Conflict(UniqueField::Email) => Self::EmailTaken,
            StoreError::Conflict(UniqueField::Role) => Self::RoleExists(String::new()),
            StoreError::Conflict(UniqueField::Permission) => Self::PermissionExists(String::new()),
            StoreError::UnknownRole(r) => Self::UnknownRole(r),
            StoreError::UnknownPermission(p) => Self::UnknownPermission(p),
            StoreError::NotFound => Self::UserNotFound,
            StoreError::LastAdmin => Self::LastAdmin,
            StoreError::Stale => Self::ConcurrentChange,
            StoreError::Unavailable(d) => Self::Unavailable(d),
            StoreError::Internal(d) => Self::Internal(d),
        }
    }
}

impl From<HashError> for AdminError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Overloaded => Self::Overloaded,
            HashError::Failed(d) => Self::Internal(d),
        }
    }
}

/// Who makes a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in user (the admin API).
    User(UserId),
    /// The command line, run by whoever can read the configuration.
    Cli,
    /// The bootstrap of the first admin at start-up.
    Bootstrap,
}

/// Who runs an operator-only use case (creating users, granting by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Cli,
    Bootstrap,
}

impl From<Operator> for Actor {
    fn from(o: Operator) -> Self {
        match o {
            Operator::Cli => Actor::Cli,
            Operator::Bootstrap => Actor::Bootstrap,
        }
    }
}

/// An actor whose current permissions were checked, and what the change
/// relies on (turned into preconditions).
#[derive(Debug, Clone)]
struct Checked {
    id: Option<UserId>,
    name: String,
    /// `None`: every permission (the command line and the bootstrap).
    permissions: Option<Vec<Permission>>,
    /// Permissions the actor was found to hold and the change relies on.
    relied_on: Vec<Permission>,
}

impl Checked {
    fn holds(&self, permission: &str) -> bool {
        self.permissions
            .as_ref()
            .is_none_or(|held| held.iter().any(|p| p.as_str() == permission))
    }

    /// Checks that the actor holds all of `needed`, remembering them; the
    /// first missing one is reported through `refuse`.
    fn require_all(
        &mut self,
        needed: &[Permission],
        refuse: impl FnOnce(&Permission) -> String,
    ) -> Result<(), AdminError> {
        if let Some(missing) = needed.iter().find(|p| !self.holds(p.as_str())) {
            return Err(AdminError::Escalation(refuse(missing)));
        }
        for p in needed {
            if !self.relied_on.contains(p) {
                self.relied_on.push(p.clone());
            }
        }
        Ok(())
    }

    fn change(
        &self,
        at: DateTime<Utc>,
        action: &str,
        target: String,
        detail: String,
        mut preconditions: Vec<Precondition>,
    ) -> Change {
        if let Some(actor) = self.id {
            preconditions.push(Precondition::ActorHolds {
                actor,
                permissions: self.relied_on.clone(),
            });
        }
        Change {
            audit: NewAuditEvent {
                at,
                actor_id: self.id,
                actor: self.name.clone(),
                action: action.to_owned(),
                target,
                detail,
            },
            preconditions,
        }
    }
}

/// What the first-admin bootstrap did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    Created(UserId),
    /// An active admin exists: nothing to do.
    AdminExists,
    /// No admin exists, but the username or e-mail belongs to an account
    /// (perhaps created a moment ago by another instance): no one is
    /// promoted (someone else may have registered it).
    Taken,
}

/// A new role.
#[derive(Debug, Clone)]
pub struct NewRole {
    pub name: RoleName,
    pub description: String,
    pub permissions: Vec<Permission>,
}

/// A user created by an operator (command line).
#[derive(Debug, Clone)]
pub struct CreateUser {
    pub username: Username,
    pub email: Email,
    pub password: Password,
    pub roles: Vec<RoleName>,
}

/// What administration depends on.
#[derive(Clone)]
pub struct AdminDeps {
    pub admin: Arc<dyn AdminStore>,
    pub users: Arc<dyn UserStore>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub clock: Arc<dyn Clock>,
}

/// The administration use cases.
#[derive(Clone)]
pub struct AdminService {
    deps: AdminDeps,
}

fn dedup<T: PartialEq + Clone>(items: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

fn names<T: std::fmt::Display>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

/// The roles a user holds, as preconditions: their roles and what each grants.
fn target_state(target: &UserProfile, catalogue: &[RoleInfo]) -> Vec<Precondition> {
    let mut pre = vec![Precondition::UserRoles {
        user: target.user.id,
        roles: target.user.roles.clone(),
    }];
    pre.extend(
        catalogue
            .iter()
            .filter(|r| target.user.roles.contains(&r.name))
            .map(|r| Precondition::RolePermissions {
                role: r.name.clone(),
                permissions: r.permissions.clone(),
            }),
    );
    pre
}

impl AdminService {
    pub fn new(deps: AdminDeps) -> Self {
        Self { deps }
    }

    /// Loads the actor and checks that their current permissions include `needed`.
    async fn check(&self, actor: Actor, needed: &'static str) -> Result<Checked, AdminError> {
        let system = |name: &str| Checked {
            id: None,
            name: name.into(),
            permissions: None,
            relied_on: Vec::new(),
        };
        let id = match actor {
            Actor::Cli => return Ok(system("cli")),
            Actor::Bootstrap => return Ok(system("bootstrap")),
            Actor::User(id) => id,
        };
        let profile = self
            .deps
            .admin
            .user_profile(id)
            .await?
            .ok_or(AdminError::ActorGone)?;
        if profile.user.disabled {
            return Err(AdminError::ActorDisabled);
        }
        let mut checked = Checked {
            id: Some(id),
            name: profile.user.username,
            permissions: Some(profile.permissions),
            relied_on: Vec::new(),
        };
        let Some(needed_permission) = checked
            .permissions
            .as_ref()
            .and_then(|held| held.iter().find(|p| p.as_str() == needed).cloned())
        else {
            return Err(AdminError::NotAllowed(needed));
        };
        checked.relied_on.push(needed_permission);
        Ok(checked)
    }

    fn now(&self) -> DateTime<Utc> {
        self.deps.clock.now()
    }

    async fn user(&self, id: UserId) -> Result<UserProfile, AdminError> {
        self.deps
            .admin
            .user_profile(id)
            .await?
            .ok_or(AdminError::UserNotFound)
    }

    async fn role(&self, name: &RoleName) -> Result<RoleInfo, AdminError> {
        self.deps
            .admin
            .list_roles()
            .await?
            .into_iter()
            .find(|r| &r.name == name)
            .ok_or_else(|| AdminError::RoleNotFound(name.to_string()))
    }

    /// A user and the role catalogue, read so that they agree: the user's
    /// permissions are exactly what the catalogue says their roles grant.
    /// (Otherwise a role changed between the two reads, and a check made on
    /// one could be recorded as preconditions from the other.)
    async fn target(&self, id: UserId) -> Result<(UserProfile, Vec<RoleInfo>), AdminError> {
        let target = self.user(id).await?;
        let catalogue = self.deps.admin.list_roles().await?;
        let mut granted: Vec<&Permission> = Vec::new();
        for role in &target.user.roles {
            let info = catalogue
                .iter()
                .find(|c| &c.name == role)
                .ok_or(AdminError::ConcurrentChange)?;
            granted.extend(info.permissions.iter());
        }
        let granted: std::collections::BTreeSet<&Permission> = granted.into_iter().collect();
        let held: std::collections::BTreeSet<&Permission> = target.permissions.iter().collect();
        if granted != held {
            return Err(AdminError::ConcurrentChange);
        }
        Ok((target, catalogue))
    }

    /// Nobody acts on an account that holds a permission they do not hold.
    fn require_outranks(actor: &mut Checked, target: &UserProfile) -> Result<(), AdminError> {
        let username = target.user.username.clone();
        actor.require_all(&target.permissions, |p| {
            format!("You cannot change {username}: they hold {p}, which you do not hold yourself.")
        })
    }

    /// The signed-in user's own profile: `ActorGone` when the account no
    /// longer exists, `ActorDisabled` when it is disabled.
    pub async fn me(&self, id: UserId) -> Result<UserProfile, AdminError> {
        match self.deps.admin.user_profile(id).await? {
            None => Err(AdminError::ActorGone),
            Some(p) if p.user.disabled => Err(AdminError::ActorDisabled),
            Some(p) => Ok(p),
        }
    }

    pub async fn list_users(
        &self,
        actor: Actor,
        query: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<UserSummary>, AdminError> {
        self.check(actor, perms::USERS_READ).await?;
        let query = query.map(str::trim).filter(|q| !q.is_empty());
        if query.is_some_and(|q| q.chars().count() > 64) {
            let mut errors = FieldErrors::default();
            errors.add("q", "must be at most 64 characters long");
            return Err(AdminError::Validation(errors));
        }
        let lowered = query.map(str::to_lowercase);
        Ok(self.deps.admin.list_users(lowered.as_deref(), page).await?)
    }

    pub async fn get_user(&self, actor: Actor, id: UserId) -> Result<UserProfile, AdminError> {
        self.check(actor, perms::USERS_READ).await?;
        self.user(id).await
    }

    /// Replaces a user's roles. The actor must hold every permission the
    /// user holds now, and every permission of each role being added.
    pub async fn set_user_roles(
        &self,
        actor: Actor,
        id: UserId,
        roles: &[RoleName],
    ) -> Result<UserProfile, AdminError> {
        let actor = self.check(actor, perms::USERS_WRITE).await?;
        let (target, catalogue) = self.target(id).await?;
        self.apply_roles(actor, target, &catalogue, roles).await
    }

    /// Sets `roles` on `target` as read with `catalogue` (one read feeds
    /// both the decision and its preconditions).
    async fn apply_roles(
        &self,
        mut actor: Checked,
        target: UserProfile,
        catalogue: &[RoleInfo],
        roles: &[RoleName],
    ) -> Result<UserProfile, AdminError> {
        let id = target.user.id;
        let roles = dedup(roles);
        if let Some(unknown) = roles
            .iter()
            .find(|r| !catalogue.iter().any(|c| &c.name == *r))
        {
            return Err(AdminError::UnknownRole(unknown.to_string()));
        }
        Self::require_outranks(&mut actor, &target)?;
        let mut pre = target_state(&target, catalogue);
        for info in catalogue
            .iter()
            .filter(|c| roles.contains(&c.name) && !target.user.roles.contains(&c.name))
        {
            let role = &info.name;
            actor.require_all(&info.permissions, |p| {
                format!(
                    "You cannot grant the role {role}: it grants {p}, which you do not hold yourself."
                )
            })?;
            pre.push(Precondition::RolePermissions {
                role: role.clone(),
                permissions: info.permissions.clone(),
            });
        }
        let before = names(&target.user.roles);
        let after = names(&roles);
        let change = actor.change(
            self.now(),
            "user.roles.set",
            format!("user:{id}"),
            json!({"username": target.user.username, "before": before, "after": after}).to_string(),
            pre,
        );
        self.deps.admin.set_user_roles(id, &roles, change).await?;
        tracing::info!(actor = %actor.name, user_id = %id, ?before, ?after, "audit: user roles set");
        self.user(id).await
    }

    /// Disables or enables a user. Disabling also ends their sessions.
    pub async fn set_user_disabled(
        &self,
        actor: Actor,
        id: UserId,
        disabled: bool,
    ) -> Result<UserProfile, AdminError> {
        let mut actor = self.check(actor, perms::USERS_WRITE).await?;
        let (target, catalogue) = self.target(id).await?;
        Self::require_outranks(&mut actor, &target)?;
        let action = if disabled {
            "user.disable"
        } else {
            "user.enable"
        };
        let change = actor.change(
            self.now(),
            action,
            format!("user:{id}"),
            json!({"username": target.user.username, "disabled": disabled}).to_string(),
            target_state(&target, &catalogue),
        );
        self.deps
            .admin
            .set_user_disabled(id, disabled, change)
            .await?;
        tracing::info!(actor = %actor.name, user_id = %id, disabled, "audit: user status set");
        self.user(id).await
    }

    pub async fn delete_user(&self, actor: Actor, id: UserId) -> Result<(), AdminError> {
        let mut actor = self.check(actor, perms::USERS_WRITE).await?;
        let (target, catalogue) = self.target(id).await?;
        Self::require_outranks(&mut actor, &target)?;
        let change = actor.change(
            self.now(),
            "user.delete",
            format!("user:{id}"),
            json!({"username": target.user.username, "roles": names(&target.user.roles)})
                .to_string(),
            target_state(&target, &catalogue),
        );
        self.deps.admin.delete_user(id, change).await?;
        tracing::info!(actor = %actor.name, user_id = %id, "audit: user deleted");
        Ok(())
    }

    pub async fn list_roles(&self, actor: Actor) -> Result<Vec<RoleInfo>, AdminError> {
        self.check(actor, perms::ROLES_READ).await?;
        Ok(self.deps.admin.list_roles().await?)
    }

    /// Unknown permissions are a 400, reported before any other check.
    async fn require_known(&self, permissions: &[Permission]) -> Result<(), AdminError> {
        if permissions.is_empty() {
            return Ok(());
        }
        let known = self.deps.admin.list_permissions().await?;
        match permissions
            .iter()
            .find(|p| !known.iter().any(|k| &k.name == *p))
        {
            Some(p) => Err(AdminError::UnknownPermission(p.to_string())),
            None => Ok(()),
        }
    }

    /// The `user` role goes to every new account: it never grants what
    /// administers users, roles or the audit log.
    fn check_user_role(name: &RoleName, permissions: &[Permission]) -> Result<(), AdminError> {
        match permissions
            .iter()
            .find(|p| perms::ADMIN_REQUIRED.contains(&p.as_str()))
        {
            Some(p) if name.as_str() == RoleName::USER => Err(AdminError::BuiltInRole(format!(
                "The user role is given to every new account: it cannot grant {p}."
            ))),
            _ => Ok(()),
        }
    }

    pub async fn create_role(&self, actor: Actor, role: NewRole) -> Result<RoleInfo, AdminError> {
        let mut actor = self.check(actor, perms::ROLES_WRITE).await?;
        let mut permissions = dedup(&role.permissions);
        permissions.sort();
        self.require_known(&permissions).await?;
        actor.require_all(&permissions, |p| {
            format!("You cannot grant the permission {p}: you do not hold it yourself.")
        })?;
        let info = RoleInfo {
            name: role.name.clone(),
            description: role.description,
            built_in: false,
            permissions,
        };
        let change = actor.change(
            self.now(),
            "role.create",
            format!("role:{}", info.name),
            json!({"permissions": names(&info.permissions)}).to_string(),
            Vec::new(),
        );
        self.deps
            .admin
            .create_role(&info, change)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AdminError::RoleExists(info.name.to_string()),
                other => other.into(),
            })?;
        tracing::info!(actor = %actor.name, role = %info.name, "audit: role created");
        Ok(info)
    }

    /// Replaces a role's permissions. The actor must hold every permission
    /// the role grants before and after the change (so nobody strips a
    /// powerful role to take it); `admin` keeps what it needs to
    /// administer, and `user` never gets that.
    pub async fn update_role(
        &self,
        actor: Actor,
        name: &RoleName,
        permissions: &[Permission],
        description: Option<&str>,
    ) -> Result<RoleInfo, AdminError> {
        let mut actor = self.check(actor, perms::ROLES_WRITE).await?;
        let permissions = dedup(permissions);
        let current = self.role(name).await?;
        self.require_known(&permissions).await?;
        if name.as_str() == RoleName::ADMIN
            && let Some(kept) = perms::ADMIN_REQUIRED
                .iter()
                .find(|p| !permissions.iter().any(|q| q.as_str() == **p))
        {
            return Err(AdminError::BuiltInRole(format!(
                "The admin role always keeps {kept} (and every other permission needed to administer)."
            )));
        }
        Self::check_user_role(name, &permissions)?;
        actor.require_all(&current.permissions, |p| {
            format!(
                "You cannot change the role {name}: it grants {p}, which you do not hold yourself."
            )
        })?;
        actor.require_all(&permissions, |p| {
            format!("You cannot grant the permission {p}: you do not hold it yourself.")
        })?;
        let change = actor.change(
            self.now(),
            "role.update",
            format!("role:{name}"),
            json!({"before": names(&current.permissions), "after": names(&permissions)})
                .to_string(),
            vec![Precondition::RolePermissions {
                role: name.clone(),
                permissions: current.permissions.clone(),
            }],
        );
        self.deps
            .admin
            .update_role(name, &permissions, description, change)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => AdminError::RoleNotFound(name.to_string()),
                other => other.into(),
            })?;
        tracing::info!(actor = %actor.name, role = %name, "audit: role updated");
        self.role(name).await
    }

    /// Deletes a custom role. The actor must hold every permission it grants.
    pub async fn delete_role(&self, actor: Actor, name: &RoleName) -> Result<(), AdminError> {
        let mut actor = self.check(actor, perms::ROLES_WRITE).await?;
        if name.is_built_in() {
            return Err(AdminError::BuiltInRole(format!(
                "The built-in role {name} cannot be deleted."
            )));
        }
        let current = self.role(name).await?;
        actor.require_all(&current.permissions, |p| {
            format!(
                "You cannot delete the role {name}: it grants {p}, which you do not hold yourself."
            )
        })?;
        let change = actor.change(
            self.now(),
            "role.delete",
            format!("role:{name}"),
            json!({"permissions": names(&current.permissions)}).to_string(),
            vec![Precondition::RolePermissions {
                role: name.clone(),
                permissions: current.permissions.clone(),
            }],
        );
        self.deps
            .admin
            .delete_role(name, change)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => AdminError::RoleNotFound(name.to_string()),
                other => other.into(),
            })?;
        tracing::info!(actor = %actor.name, role = %name, "audit: role deleted");
        Ok(())
    }

    pub async fn list_permissions(&self, actor: Actor) -> Result<Vec<PermissionInfo>, AdminError> {
        self.check(actor, perms::ROLES_READ).await?;
        Ok(self.deps.admin.list_permissions().await?)
    }

    /// Adds a permission to the catalogue (for other services' routes). The
    /// `admin` role gets it too: admins hold every permission, so they can
    /// grant it.
    pub async fn create_permission(
        &self,
        actor: Actor,
        name: Permission,
        description: String,
    ) -> Result<PermissionInfo, AdminError> {
        let actor = self.check(actor, perms::ROLES_WRITE).await?;
        // Built-in names exist from the start: creating one is a conflict.
        let info = PermissionInfo {
            built_in: false,
            name,
            description,
        };
        let change = actor.change(
            self.now(),
            "permission.create",
            format!("permission:{}", info.name),
            "{}".into(),
            Vec::new(),
        );
        self.deps
            .admin
            .create_permission(&info, &[RoleName::admin()], change)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AdminError::PermissionExists(info.name.to_string()),
                other => other.into(),
            })?;
        tracing::info!(actor = %actor.name, permission = %info.name, "audit: permission created");
        Ok(info)
    }

    pub async fn audit(
        &self,
        actor: Actor,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, AdminError> {
        self.check(actor, perms::AUDIT_READ).await?;
        Ok(self.deps.admin.list_audit(page).await?)
    }

    /// Creates a user with the given roles (command line, bootstrap: the
    /// operator can grant anything, so this is not offered to signed-in
    /// users). The password must not be weak. The audit event is stored
    /// with the user.
    pub async fn create_user(
        &self,
        operator: Operator,
        user: CreateUser,
    ) -> Result<UserId, AdminError> {
        let actor = self.check(operator.into(), perms::USERS_WRITE).await?;
        if let Err(e) = user.password.check_strength(&user.username, &user.email) {
            let mut errors = FieldErrors::default();
            errors.add("password", e);
            return Err(AdminError::Validation(errors));
        }
        let roles = dedup(&user.roles);
        if let Some(missing) = self
            .deps
            .users
            .missing_roles(&roles)
            .await?
            .into_iter()
            .next()
        {
            return Err(AdminError::UnknownRole(missing.to_string()));
        }
        match self
            .deps
            .users
            .find_conflict(&user.username, &user.email)
            .await?
        {
            Some(UniqueField::Email) => return Err(AdminError::EmailTaken),
            Some(_) => return Err(AdminError::UsernameTaken),
            None => {}
        }
        let password_hash = self.deps.hasher.hash(&user.password).await?;
        let username = user.username.as_str().to_owned();
        let change = actor.change(
            self.now(),
            "user.create",
            // The store sets `user:<new id>`.
            String::new(),
            json!({"username": username, "roles": names(&roles)}).to_string(),
            Vec::new(),
        );
        let id = self
            .deps
            .admin
            .create_user_with_audit(
                NewUser {
                    username: user.username,
                    email: user.email,
                    password_hash,
                    roles: roles.clone(),
                },
                change.audit,
            )
            .await?;
        tracing::info!(actor = %actor.name, user_id = %id, roles = ?names(&roles), "audit: user created");
        Ok(id)
    }

    /// Adds one role to a user's roles (command line).
    pub async fn grant(
        &self,
        operator: Operator,
        username: &Username,
        role: RoleName,
    ) -> Result<UserProfile, AdminError> {
        let actor = self.check(operator.into(), perms::USERS_WRITE).await?;
        let id = self
            .deps
            .users
            .find_login(username)
            .await?
            .ok_or(AdminError::UserNotFound)?
            .id;
        let (target, catalogue) = self.target(id).await?;
        let mut roles = target.user.roles.clone();
        if !roles.contains(&role) {
            roles.push(role);
        }
        self.apply_roles(actor, target, &catalogue, &roles).await
    }

    /// Whether some user holds `admin` and is not disabled.
    pub async fn has_active_admin(&self) -> Result<bool, AdminError> {
        Ok(self.deps.admin.count_active_admins().await? > 0)
    }

    /// Creates the first admin when no active admin exists; does nothing
    /// otherwise (so it can run at every start, on several instances at once).
    pub async fn bootstrap_admin(
        &self,
        username: Username,
        email: Email,
        password: Password,
    ) -> Result<Bootstrap, AdminError> {
        if self.deps.admin.count_active_admins().await? > 0 {
            return Ok(Bootstrap::AdminExists);
        }
        let created = self
            .create_user(
                Operator::Bootstrap,
                CreateUser {
                    username,
                    email,
                    password,
                    roles: vec![RoleName::admin()],
                },
            )
            .await;
        match created {
            Ok(id) => Ok(Bootstrap::Created(id)),
            // Someone holds the name or address: perhaps another instance
            // bootstrapping at the same moment, perhaps a stranger.
            Err(AdminError::UsernameTaken | AdminError::EmailTaken) => {
                if self.deps.admin.count_active_admins().await? > 0 {
                    Ok(Bootstrap::AdminExists)
                } else {
                    Ok(Bootstrap::Taken)
                }
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Mutex;

    use crate::ports::{SystemClock, UserCredentials};
    use crate::types::PasswordHash;

    fn p(names: &[&str]) -> Vec<Permission> {
        names
            .iter()
            .map(|n| Permission::parse(n).unwrap())
            .collect()
    }

    fn profile(id: i64, name: &str, roles: &[&str], permissions: &[&str]) -> UserProfile {
        UserProfile {
            user: UserSummary {
                id: UserId(id),
                username: name.into(),
                email: format!("{name}@example.com"),
                roles: roles.iter().map(|r| RoleName::parse(r).unwrap()).collect(),
                disabled: false,
                created_at: Utc::now(),
            },
            permissions: p(permissions),
        }
    }

    fn role(name: &str, permissions: &[&str]) -> RoleInfo {
        RoleInfo {
            name: RoleName::parse(name).unwrap(),
            description: String::new(),
            built_in: false,
            permissions: p(permissions),
        }
    }

    /// Serves fixed profiles and a role list that may disagree with them (a
    /// role changed between the two reads); counts the writes it is asked for.
    struct Stub {
        profiles: Vec<UserProfile>,
        roles: Vec<RoleInfo>,
        writes: Mutex<Vec<Change>>,
    }

    impl Stub {
        fn preconditions(&self, write: usize) -> Vec<Precondition> {
            self.writes.lock().unwrap()[write].preconditions.clone()
        }
    }

    #[async_trait]
    impl AdminStore for Stub {
        async fn list_users(
            &self,
            _: Option<&str>,
            _: PageRequest,
        ) -> Result<Page<UserSummary>, StoreError> {
            Err(StoreError::Internal("not in this test".into()))
        }
        async fn user_profile(&self, id: UserId) -> Result<Option<UserProfile>, StoreError> {
            Ok(self.profiles.iter().find(|p| p.user.id == id).cloned())
        }
        async fn create_user_with_audit(
            &self,
            _: NewUser,
            _: NewAuditEvent,
        ) -> Result<UserId, StoreError> {
            Err(StoreError::Internal("not in this test".into()))
        }
        async fn set_user_roles(
            &self,
            _: UserId,
            _: &[RoleName],
            c: Change,
        ) -> Result<(), StoreError> {
            self.writes.lock().unwrap().push(c);
            Ok(())
        }
        async fn set_user_disabled(&self, _: UserId, _: bool, c: Change) -> Result<(), StoreError> {
            self.writes.lock().unwrap().push(c);
            Ok(())
        }
        async fn delete_user(&self, _: UserId, c: Change) -> Result<(), StoreError> {
            self.writes.lock().unwrap().push(c);
            Ok(())
        }
        async fn list_roles(&self) -> Result<Vec<RoleInfo>, StoreError> {
            Ok(self.roles.clone())
        }
        async fn create_role(&self, _: &RoleInfo, c: Change) -> Result<(), StoreError> {
            self.writes.lock().unwrap().push(c);
            Ok(())
        }
        async fn update_role(
            &self,
            _: &RoleName,
            _: &[Permission],
            _: Option<&str>,
            c: Change,
        ) -> Result<(), StoreError> {
            self.writes.lock().unwrap().push(c);
            Ok(())
        }
        async fn delete_role(&self, _: &RoleName, c: Change) -> Result<(), StoreError> {
            self.writes.lock().unwrap().push(c);
            Ok(())
        }
        async fn list_permissions(&self) -> Result<Vec<PermissionInfo>, StoreError> {
            Ok(Vec::new())
        }
        async fn create_permission(
            &self,
            _: &PermissionInfo,
            _: &[RoleName],
            c: Change,
        ) -> Result<(), StoreError> {
            self.writes.lock().unwrap().push(c);
            Ok(())
        }
        async fn list_audit(&self, _: PageRequest) -> Result<Page<AuditEvent>, StoreError> {
            Err(StoreError::Internal("not in this test".into()))
        }
        async fn count_active_admins(&self) -> Result<u64, StoreError> {
            Ok(1)
        }
    }

    struct NoUsers;
    #[async_trait]
    impl UserStore for NoUsers {
        async fn create_user(&self, _: NewUser) -> Result<UserId, StoreError> {
            Err(StoreError::Internal("not in this test".into()))
        }
        async fn find_conflict(
            &self,
            _: &Username,
            _: &Email,
        ) -> Result<Option<UniqueField>, StoreError> {
            Ok(None)
        }
        async fn find_login(
            &self,
            _: &Username,
        ) -> Result<Option<crate::ports::LoginRecord>, StoreError> {
            Ok(None)
        }
        async fn grants_of(
            &self,
            _: UserId,
        ) -> Result<(Vec<RoleName>, Vec<Permission>), StoreError> {
            Ok((Vec::new(), Vec::new()))
        }
        async fn find_by_id(&self, _: UserId) -> Result<Option<UserCredentials>, StoreError> {
            Ok(None)
        }
        async fn missing_roles(&self, _: &[RoleName]) -> Result<Vec<RoleName>, StoreError> {
            Ok(Vec::new())
        }
    }

    struct NoHasher;
    #[async_trait]
    impl PasswordHasher for NoHasher {
        async fn hash(&self, _: &Password) -> Result<PasswordHash, HashError> {
            Err(HashError::Failed("not in this test".into()))
        }
        async fn verify(&self, _: &Password, _: Option<&PasswordHash>) -> Result<bool, HashError> {
            Ok(false)
        }
    }

    fn service(store: Arc<Stub>) -> AdminService {
        AdminService::new(AdminDeps {
            admin: store,
            users: Arc::new(NoUsers),
            hasher: Arc::new(NoHasher),
            clock: Arc::new(SystemClock),
        })
    }

    fn helpdesk_and_bob(bob_role_now: &[&str]) -> Arc<Stub> {
        Arc::new(Stub {
            profiles: vec![
                profile(
                    1,
                    "carol",
                    &["helpdesk"],
                    &["content:read", "users:read", "users:write"],
                ),
                // bob's profile was read while "staff" granted only content:read
                profile(2, "bob", &["staff"], &["content:read"]),
            ],
            roles: vec![
                role("helpdesk", &["content:read", "users:read", "users:write"]),
                role("staff", bob_role_now),
            ],
            writes: Mutex::new(Vec::new()),
        })
    }

    #[tokio::test]
    async fn a_role_changed_between_reads_is_a_concurrent_change_not_a_stale_check() {
        // "staff" gained audit:read after bob's profile was read: carol (who
        // lacks audit:read) must not act on bob on the strength of the old read.
        let store = helpdesk_and_bob(&["audit:read", "content:read"]);
        let admin = service(store.clone());
        let carol = Actor::User(UserId(1));
        assert!(matches!(
            admin.set_user_disabled(carol, UserId(2), true).await,
            Err(AdminError::ConcurrentChange)
        ));
        assert!(matches!(
            admin.delete_user(carol, UserId(2)).await,
            Err(AdminError::ConcurrentChange)
        ));
        assert!(matches!(
            admin.set_user_roles(carol, UserId(2), &[]).await,
            Err(AdminError::ConcurrentChange)
        ));
        assert!(
            store.writes.lock().unwrap().is_empty(),
            "nothing was written"
        );
    }

    #[tokio::test]
    async fn a_change_carries_the_facts_it_was_decided_on() {
        let store = helpdesk_and_bob(&["content:read"]);
        let admin = service(store.clone());
        let carol = Actor::User(UserId(1));
        admin
            .set_user_disabled(carol, UserId(2), true)
            .await
            .unwrap();
        let pre = &store.preconditions(0);
        assert!(pre.contains(&Precondition::UserRoles {
            user: UserId(2),
            roles: vec![RoleName::parse("staff").unwrap()],
        }));
        assert!(pre.contains(&Precondition::RolePermissions {
            role: RoleName::parse("staff").unwrap(),
            permissions: p(&["content:read"]),
        }));
        // the actor must still hold what the decision relied on: users:write
        // (the gate) and content:read (bob's) — not necessarily all she holds
        let actor_pre = pre
            .iter()
            .find_map(|c| match c {
                Precondition::ActorHolds { actor, permissions } if *actor == UserId(1) => {
                    Some(permissions.clone())
                }
                _ => None,
            })
            .unwrap();
        let mut relied: Vec<&str> = actor_pre.iter().map(Permission::as_str).collect();
        relied.sort_unstable();
        assert_eq!(relied, ["content:read", "users:write"]);

        // a role being added is recorded as it was read, and its
        // permissions join what the actor must still hold
        admin
            .set_user_roles(
                carol,
                UserId(2),
                &[
                    RoleName::parse("staff").unwrap(),
                    RoleName::parse("helpdesk").unwrap(),
                ],
            )
            .await
            .unwrap();
        let pre = &store.preconditions(1);
        assert!(pre.contains(&Precondition::RolePermissions {
            role: RoleName::parse("helpdesk").unwrap(),
            permissions: p(&["content:read", "users:read", "users:write"]),
        }));
        assert!(pre.iter().any(|c| matches!(
            c,
            Precondition::ActorHolds { permissions, .. }
                if permissions.iter().any(|x| x.as_str() == "users:read")
        )));
    }

    #[test]
    fn built_in_permission_names_are_valid() {
        for p in perms::BUILT_IN {
            assert_eq!(Permission::parse(p).unwrap().as_str(), p);
        }
        for p in perms::ADMIN_REQUIRED {
            assert!(perms::BUILT_IN.contains(&p));
        }
    }

    #[test]
    fn page_bounds() {
        assert_eq!(
            PageRequest::parse(None, None).unwrap(),
            PageRequest {
                page: 1,
                per_page: PageRequest::DEFAULT_PER_PAGE
            }
        );
        assert_eq!(PageRequest::parse(Some(3), Some(10)).unwrap().offset(), 20);
        let e = PageRequest::parse(Some(0), Some(101)).unwrap_err();
        assert!(e.0.contains_key("page") && e.0.contains_key("per_page"));
        assert!(PageRequest::parse(Some(1), Some(0)).is_err());
        assert!(PageRequest::parse(Some(PageRequest::MAX_PAGE + 1), None).is_err());
    }
}
