//! The store port of administration: each write checks its preconditions
//! and stores its audit event in one transaction; nothing is written when
//! it fails.

use async_trait::async_trait;

use crate::audit::{AuditEvent, NewAuditEvent};
use crate::error::StoreError;
use crate::page::{Page, PageRequest};
use crate::roles::{Description, Permission, PermissionInfo, RoleInfo, RoleName};
use crate::users::{User, UserId};

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
    /// Stored in the same transaction; its `at` is the change's time.
    pub audit: NewAuditEvent,
    pub preconditions: Vec<Precondition>,
}

/// Storage for administration (users themselves are read through
/// [`UserStore`](crate::users::UserStore)).
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Users whose username key or e-mail starts with `query` (lower-cased;
    /// `%`, `_` and other pattern characters in it are literal), by id; a
    /// keyset page holds the users with ids above `page.after`.
    async fn list_users(
        &self,
        query: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<User>, StoreError>;

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

    /// Deletes the user's second factors (TOTP, recovery codes, passkeys)
    /// and pending second steps; sessions stay. `NotFound`, `Stale`.
    async fn reset_second_factors(&self, id: UserId, change: Change) -> Result<(), StoreError>;

    /// A change whose effect is outside this store (clearing a user's
    /// rate-limit counters): checks its preconditions and stores its audit
    /// event, in one transaction. `Stale`.
    async fn record_change(&self, change: Change) -> Result<(), StoreError>;

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
        description: Option<&Description>,
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

    /// Newest first (by id, descending); a keyset page holds the events
    /// with ids below `page.after`.
    async fn list_audit(&self, page: PageRequest) -> Result<Page<AuditEvent>, StoreError>;

    /// Users that hold `admin` and are not disabled.
    async fn count_active_admins(&self) -> Result<u64, StoreError>;
}
