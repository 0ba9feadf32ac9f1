//! In-memory implementations of the ports, for tests that check the rules
//! in milliseconds (feature `testing`; always on in this crate's tests).
//!
//! [`InMemory`] keeps users, roles, permissions, the audit log and refresh
//! tokens under one lock, so each write is atomic like a database
//! transaction: it checks the change's preconditions and the last-admin
//! rule, applies the change and records the audit event, or writes nothing.
//! It starts with the built-in roles and permissions that the migrations seed.
//!
//! ```
//! use rolegate_domain::testing::InMemory;
//!
//! # tokio_test_block_on(async {
//! let store = InMemory::seeded();
//! let admin = store.add_user("root", &["admin"]);
//! let service = store.admin_service();
//! assert_eq!(service.me(admin).await.map(|p| p.user.username).ok(), Some("root".to_owned()));
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().map(|rt| rt.block_on(f)).unwrap()
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::access::permissions::{ADMIN_REQUIRED, BUILT_IN};
use crate::admin::{AdminDeps, AdminService, AdminStore, Change, Precondition};
use crate::audit::{AuditEvent, NewAuditEvent};
use crate::clock::{Clock, SystemClock};
use crate::error::{StoreError, UniqueField};
use crate::page::{Page, PageRequest};
use crate::roles::{Description, Permission, PermissionInfo, RoleInfo, RoleName};
use crate::sessions::{NewRefreshToken, RefreshRecord, SessionStore};
use crate::users::{
    Email, HashError, LoginRecord, NewUser, Password, PasswordHash, PasswordHasher, User, UserId,
    UserProfile, UserStore, Username,
};

#[derive(Debug, Clone)]
struct UserRow {
    username: String,
    email: String,
    hash: PasswordHash,
    disabled: bool,
    created_at: DateTime<Utc>,
    roles: Vec<RoleName>,
}

#[derive(Debug, Default)]
struct State {
    users: BTreeMap<i64, UserRow>,
    /// In creation order, like role ids.
    roles: Vec<RoleInfo>,
    permissions: Vec<PermissionInfo>,
    audit: Vec<AuditEvent>,
    refresh: Vec<RefreshRecord>,
    next_user: i64,
}

impl State {
    fn role(&self, name: &RoleName) -> Option<&RoleInfo> {
        self.roles.iter().find(|r| &r.name == name)
    }

    fn permissions_of(&self, row: &UserRow) -> Vec<Permission> {
        let set: BTreeSet<Permission> = row
            .roles
            .iter()
            .filter_map(|r| self.role(r))
            .flat_map(|r| r.permissions.iter().cloned())
            .collect();
        set.into_iter().collect()
    }

    /// Roles in role-id order, as the database reads them.
    fn ordered(&self, roles: &[RoleName]) -> Vec<RoleName> {
        self.roles
            .iter()
            .filter(|r| roles.contains(&r.name))
            .map(|r| r.name.clone())
            .collect()
    }

    fn user(&self, id: i64, row: &UserRow) -> User {
        User {
            id: UserId(id),
            username: row.username.clone(),
            email: row.email.clone(),
            roles: self.ordered(&row.roles),
            disabled: row.disabled,
            created_at: row.created_at,
        }
    }

    fn active_admins(&self) -> u64 {
        let admin = RoleName::admin();
        self.users
            .values()
            .filter(|u| !u.disabled && u.roles.contains(&admin))
            .count() as u64
    }

    fn holds(&self, pre: &Precondition) -> Result<bool, StoreError> {
        let same = |a: &[String], b: &[String]| {
            a.iter().collect::<BTreeSet<_>>() == b.iter().collect::<BTreeSet<_>>()
        };
        let strings = |v: &[Permission]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
        Ok(match pre {
            Precondition::ActorHolds { actor, permissions } => match self.users.get(&actor.0) {
                Some(row) if !row.disabled => {
                    let held = self.permissions_of(row);
                    permissions.iter().all(|p| held.contains(p))
                }
                _ => false,
            },
            Precondition::UserRoles { user, roles } => {
                let row = self.users.get(&user.0).ok_or(StoreError::NotFound)?;
                let now: Vec<String> = row.roles.iter().map(ToString::to_string).collect();
                same(
                    &now,
                    &roles.iter().map(ToString::to_string).collect::<Vec<_>>(),
                )
            }
            Precondition::RolePermissions { role, permissions } => match self.role(role) {
                Some(info) => same(&strings(&info.permissions), &strings(permissions)),
                None => false,
            },
        })
    }
}

/// Every store port in memory, atomic per write. Cheap to clone (shared state).
#[derive(Debug, Clone, Default)]
pub struct InMemory {
    state: Arc<Mutex<State>>,
}

impl InMemory {
    /// The built-in roles and permissions, as the migrations seed them.
    pub fn seeded() -> Self {
        let store = Self::default();
        {
            let mut s = store.lock_state();
            for p in BUILT_IN {
                s.permissions.push(PermissionInfo {
                    name: perm(p),
                    description: Description::default(),
                    built_in: true,
                });
            }
            let grants: [(&str, &[&str]); 3] = [
                ("user", &["content:read"]),
                (
                    "moderator",
                    &["content:read", "content:moderate", "users:read"],
                ),
                ("admin", &BUILT_IN),
            ];
            for (role, granted) in grants {
                let mut permissions: Vec<Permission> = granted.iter().map(|p| perm(p)).collect();
                permissions.sort();
                s.roles.push(RoleInfo {
                    name: role_name(role),
                    description: Description::default(),
                    built_in: true,
                    permissions,
                });
            }
            debug_assert!(ADMIN_REQUIRED.iter().all(|p| BUILT_IN.contains(p)));
        }
        store
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a user with these roles (the password is `password`); returns its id.
    pub fn add_user(&self, name: &str, roles: &[&str]) -> UserId {
        let mut s = self.lock_state();
        s.next_user += 1;
        let id = s.next_user;
        s.users.insert(
            id,
            UserRow {
                username: name.to_owned(),
                email: format!("{name}@example.com"),
                hash: PasswordHash::new("plain:password".into()),
                disabled: false,
                created_at: Utc::now(),
                roles: roles.iter().map(|r| role_name(r)).collect(),
            },
        );
        UserId(id)
    }

    /// Adds a custom role granting `permissions` (adding unknown permissions
    /// to the catalogue).
    pub fn add_role(&self, name: &str, permissions: &[&str]) {
        let mut s = self.lock_state();
        for p in permissions {
            if !s.permissions.iter().any(|k| k.name.as_str() == *p) {
                s.permissions.push(PermissionInfo {
                    name: perm(p),
                    description: Description::default(),
                    built_in: false,
                });
            }
        }
        let mut permissions: Vec<Permission> = permissions.iter().map(|p| perm(p)).collect();
        permissions.sort();
        s.roles.push(RoleInfo {
            name: role_name(name),
            description: Description::default(),
            built_in: false,
            permissions,
        });
    }

    /// Changes a role's permissions behind the use cases' back (a concurrent change).
    pub fn set_role_permissions(&self, name: &str, permissions: &[&str]) {
        let mut s = self.lock_state();
        let name = role_name(name);
        if let Some(role) = s.roles.iter_mut().find(|r| r.name == name) {
            role.permissions = permissions.iter().map(|p| perm(p)).collect();
        }
    }

    /// A user's role names, in role order (empty for an unknown user).
    pub fn roles_of(&self, id: UserId) -> Vec<String> {
        let s = self.lock_state();
        s.users
            .get(&id.0)
            .map(|u| {
                s.ordered(&u.roles)
                    .iter()
                    .map(ToString::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the user exists and is disabled.
    pub fn is_disabled(&self, id: UserId) -> Option<bool> {
        self.lock_state().users.get(&id.0).map(|u| u.disabled)
    }

    /// A role's permissions, if the role exists.
    pub fn permissions_of_role(&self, name: &str) -> Option<Vec<String>> {
        let s = self.lock_state();
        s.role(&role_name(name))
            .map(|r| r.permissions.iter().map(ToString::to_string).collect())
    }

    /// The audit log's actions, oldest first.
    pub fn audit_actions(&self) -> Vec<String> {
        self.lock_state()
            .audit
            .iter()
            .map(|e| e.event.action.clone())
            .collect()
    }

    /// How many refresh tokens are live (not revoked) for a user.
    pub fn live_sessions(&self, id: UserId) -> usize {
        self.lock_state()
            .refresh
            .iter()
            .filter(|t| t.user_id == id && !t.revoked)
            .count()
    }

    /// The administration use cases over this store, with [`PlainHasher`]
    /// and the system clock.
    pub fn admin_service(&self) -> AdminService {
        self.admin_service_with(Arc::new(PlainHasher::default()), Arc::new(SystemClock))
    }

    /// The administration use cases with this hasher and clock.
    pub fn admin_service_with(
        &self,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
    ) -> AdminService {
        AdminService::new(AdminDeps {
            admin: Arc::new(self.clone()),
            users: Arc::new(self.clone()),
            hasher,
            clock,
        })
    }

    /// Runs an administrative write atomically: preconditions, the admin
    /// count before and after, the audit event; nothing is kept on error.
    fn admin_write(
        &self,
        change: Change,
        body: impl FnOnce(&mut State) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut guard = self.lock_state();
        for pre in &change.preconditions {
            if !guard.holds(pre)? {
                return Err(StoreError::Stale);
            }
        }
        let before = guard.active_admins();
        let mut draft = State {
            users: guard.users.clone(),
            roles: guard.roles.clone(),
            permissions: guard.permissions.clone(),
            audit: Vec::new(),
            refresh: guard.refresh.clone(),
            next_user: guard.next_user,
        };
        body(&mut draft)?;
        if before > 0 && draft.active_admins() == 0 {
            return Err(StoreError::LastAdmin);
        }
        let id = guard.audit.len() as i64 + 1;
        draft.audit = std::mem::take(&mut guard.audit);
        draft.audit.push(AuditEvent {
            id,
            event: change.audit,
        });
        *guard = draft;
        Ok(())
    }
}

fn perm(p: &str) -> Permission {
    Permission::parse(p).unwrap_or_else(|e| unreachable_name(p, &e))
}

fn role_name(r: &str) -> RoleName {
    RoleName::parse(r).unwrap_or_else(|e| unreachable_name(r, &e))
}

/// Test set-up with an invalid name is a bug in the test.
#[allow(clippy::panic)]
fn unreachable_name<T>(name: &str, e: &str) -> T {
    panic!("invalid name {name:?} in test set-up: {e}")
}

fn page_of<T: Clone>(items: &[T], page: PageRequest) -> Page<T> {
    let start = usize::try_from(page.offset()).unwrap_or(usize::MAX);
    Page {
        items: items
            .iter()
            .skip(start)
            .take(page.per_page as usize)
            .cloned()
            .collect(),
        page: page.page,
        per_page: page.per_page,
        total: items.len() as u64,
    }
}

#[async_trait]
impl UserStore for InMemory {
    async fn create_user(
        &self,
        user: NewUser,
        audit: Option<NewAuditEvent>,
    ) -> Result<UserId, StoreError> {
        let mut s = self.lock_state();
        if let Some(missing) = user.roles.iter().find(|r| s.role(r).is_none()) {
            return Err(StoreError::UnknownRole(missing.to_string()));
        }
        let key = user.username.key();
        if s.users.values().any(|u| u.username.to_lowercase() == key) {
            return Err(StoreError::Conflict(UniqueField::Username));
        }
        if s.users.values().any(|u| u.email == user.email.as_str()) {
            return Err(StoreError::Conflict(UniqueField::Email));
        }
        s.next_user += 1;
        let id = s.next_user;
        s.users.insert(
            id,
            UserRow {
                username: user.username.as_str().to_owned(),
                email: user.email.as_str().to_owned(),
                hash: user.password_hash,
                disabled: false,
                created_at: user.created_at,
                roles: user.roles,
            },
        );
        if let Some(mut event) = audit {
            event.target = format!("user:{id}");
            let audit_id = s.audit.len() as i64 + 1;
            s.audit.push(AuditEvent {
                id: audit_id,
                event,
            });
        }
        Ok(UserId(id))
    }

    async fn find_conflict(
        &self,
        username: &Username,
        email: &Email,
    ) -> Result<Option<UniqueField>, StoreError> {
        let s = self.lock_state();
        let key = username.key();
        if s.users.values().any(|u| u.username.to_lowercase() == key) {
            Ok(Some(UniqueField::Username))
        } else if s.users.values().any(|u| u.email == email.as_str()) {
            Ok(Some(UniqueField::Email))
        } else {
            Ok(None)
        }
    }

    async fn find_login(&self, username: &Username) -> Result<Option<LoginRecord>, StoreError> {
        let s = self.lock_state();
        let key = username.key();
        Ok(s.users
            .iter()
            .find(|(_, u)| u.username.to_lowercase() == key)
            .map(|(id, u)| LoginRecord {
                id: UserId(*id),
                username: u.username.clone(),
                email: u.email.clone(),
                password_hash: u.hash.clone(),
                disabled: u.disabled,
            }))
    }

    async fn grants_of(&self, id: UserId) -> Result<(Vec<RoleName>, Vec<Permission>), StoreError> {
        let s = self.lock_state();
        Ok(s.users
            .get(&id.0)
            .map(|u| (s.ordered(&u.roles), s.permissions_of(u)))
            .unwrap_or_default())
    }

    async fn profile(&self, id: UserId) -> Result<Option<UserProfile>, StoreError> {
        let s = self.lock_state();
        Ok(s.users.get(&id.0).map(|row| UserProfile {
            user: s.user(id.0, row),
            permissions: s.permissions_of(row),
        }))
    }

    async fn missing_roles(&self, names: &[RoleName]) -> Result<Vec<RoleName>, StoreError> {
        let s = self.lock_state();
        Ok(names
            .iter()
            .filter(|n| s.role(n).is_none())
            .cloned()
            .collect())
    }
}

#[async_trait]
impl AdminStore for InMemory {
    async fn list_users(
        &self,
        query: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<User>, StoreError> {
        let s = self.lock_state();
        let all: Vec<User> = s
            .users
            .iter()
            .filter(|(_, u)| {
                query.is_none_or(|q| u.username.to_lowercase().contains(q) || u.email.contains(q))
            })
            .map(|(id, u)| s.user(*id, u))
            .collect();
        Ok(page_of(&all, page))
    }

    async fn set_user_roles(
        &self,
        id: UserId,
        roles: &[RoleName],
        change: Change,
    ) -> Result<(), StoreError> {
        self.admin_write(change, |s| {
            if let Some(missing) = roles.iter().find(|r| s.role(r).is_none()) {
                return Err(StoreError::UnknownRole(missing.to_string()));
            }
            let row = s.users.get_mut(&id.0).ok_or(StoreError::NotFound)?;
            row.roles = roles.to_vec();
            Ok(())
        })
    }

    async fn set_user_disabled(
        &self,
        id: UserId,
        disabled: bool,
        change: Change,
    ) -> Result<(), StoreError> {
        let at = change.audit.at;
        self.admin_write(change, |s| {
            let row = s.users.get_mut(&id.0).ok_or(StoreError::NotFound)?;
            row.disabled = disabled;
            if disabled {
                for t in s.refresh.iter_mut().filter(|t| t.user_id == id) {
                    t.revoked = true;
                    t.rotated_at.get_or_insert(at);
                }
            }
            Ok(())
        })
    }

    async fn delete_user(&self, id: UserId, change: Change) -> Result<(), StoreError> {
        self.admin_write(change, |s| {
            s.users.remove(&id.0).ok_or(StoreError::NotFound)?;
            s.refresh.retain(|t| t.user_id != id);
            Ok(())
        })
    }

    async fn list_roles(&self) -> Result<Vec<RoleInfo>, StoreError> {
        Ok(self.lock_state().roles.clone())
    }

    async fn create_role(&self, role: &RoleInfo, change: Change) -> Result<(), StoreError> {
        self.admin_write(change, |s| {
            if s.role(&role.name).is_some() {
                return Err(StoreError::Conflict(UniqueField::Role));
            }
            if let Some(p) = role
                .permissions
                .iter()
                .find(|p| !s.permissions.iter().any(|k| &k.name == *p))
            {
                return Err(StoreError::UnknownPermission(p.to_string()));
            }
            s.roles.push(role.clone());
            Ok(())
        })
    }

    async fn update_role(
        &self,
        name: &RoleName,
        permissions: &[Permission],
        description: Option<&Description>,
        change: Change,
    ) -> Result<(), StoreError> {
        self.admin_write(change, |s| {
            if let Some(p) = permissions
                .iter()
                .find(|p| !s.permissions.iter().any(|k| &k.name == *p))
            {
                return Err(StoreError::UnknownPermission(p.to_string()));
            }
            let role = s
                .roles
                .iter_mut()
                .find(|r| &r.name == name)
                .ok_or(StoreError::NotFound)?;
            let mut sorted = permissions.to_vec();
            sorted.sort();
            role.permissions = sorted;
            if let Some(d) = description {
                role.description = d.clone();
            }
            Ok(())
        })
    }

    async fn delete_role(&self, name: &RoleName, change: Change) -> Result<(), StoreError> {
        self.admin_write(change, |s| {
            let before = s.roles.len();
            s.roles.retain(|r| &r.name != name);
            if s.roles.len() == before {
                return Err(StoreError::NotFound);
            }
            for u in s.users.values_mut() {
                u.roles.retain(|r| r != name);
            }
            Ok(())
        })
    }

    async fn list_permissions(&self) -> Result<Vec<PermissionInfo>, StoreError> {
        let mut all = self.lock_state().permissions.clone();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    async fn create_permission(
        &self,
        permission: &PermissionInfo,
        grant_to: &[RoleName],
        change: Change,
    ) -> Result<(), StoreError> {
        self.admin_write(change, |s| {
            if s.permissions.iter().any(|k| k.name == permission.name) {
                return Err(StoreError::Conflict(UniqueField::Permission));
            }
            s.permissions.push(permission.clone());
            for role in s.roles.iter_mut().filter(|r| grant_to.contains(&r.name)) {
                role.permissions.push(permission.name.clone());
                role.permissions.sort();
            }
            Ok(())
        })
    }

    async fn list_audit(&self, page: PageRequest) -> Result<Page<AuditEvent>, StoreError> {
        let newest_first: Vec<AuditEvent> = self.lock_state().audit.iter().rev().cloned().collect();
        Ok(page_of(&newest_first, page))
    }

    async fn count_active_admins(&self) -> Result<u64, StoreError> {
        Ok(self.lock_state().active_admins())
    }
}

#[async_trait]
impl SessionStore for InMemory {
    async fn insert_refresh(&self, token: NewRefreshToken) -> Result<(), StoreError> {
        let mut s = self.lock_state();
        let id = s.refresh.len() as i64 + 1;
        s.refresh.push(RefreshRecord {
            id,
            family: token.family,
            user_id: token.user_id,
            token_hash: token.token_hash,
            generation: token.generation,
            expires_at: token.expires_at,
            rotated_at: None,
            successor_sealed: None,
            grace_used: false,
            revoked: false,
        });
        Ok(())
    }

    async fn find_refresh(&self, token_hash: &str) -> Result<Option<RefreshRecord>, StoreError> {
        let s = self.lock_state();
        Ok(s.refresh
            .iter()
            .find(|t| t.token_hash == token_hash)
            .cloned())
    }

    async fn rotate_refresh(
        &self,
        id: i64,
        rotated_at: DateTime<Utc>,
        successor_sealed: String,
        successor: NewRefreshToken,
    ) -> Result<bool, StoreError> {
        {
            let mut s = self.lock_state();
            let Some(t) = s.refresh.iter_mut().find(|t| t.id == id) else {
                return Ok(false);
            };
            if t.rotated_at.is_some() {
                return Ok(false);
            }
            t.rotated_at = Some(rotated_at);
            t.successor_sealed = Some(successor_sealed);
        }
        self.insert_refresh(successor).await?;
        Ok(true)
    }

    async fn find_generation(
        &self,
        family: &str,
        generation: i32,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        let s = self.lock_state();
        Ok(s.refresh
            .iter()
            .find(|t| t.family == family && t.generation == generation)
            .cloned())
    }

    async fn claim_grace(&self, id: i64) -> Result<bool, StoreError> {
        let mut s = self.lock_state();
        match s.refresh.iter_mut().find(|t| t.id == id) {
            Some(t) if !t.grace_used => {
                t.grace_used = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn revoke_family(&self, family: &str, _at: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut s = self.lock_state();
        let mut n = 0;
        for t in s
            .refresh
            .iter_mut()
            .filter(|t| t.family == family && !t.revoked)
        {
            t.revoked = true;
            n += 1;
        }
        Ok(n)
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        _at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut s = self.lock_state();
        let mut n = 0;
        for t in s
            .refresh
            .iter_mut()
            .filter(|t| t.user_id == user && !t.revoked)
        {
            t.revoked = true;
            n += 1;
        }
        Ok(n)
    }

    async fn purge_expired(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut s = self.lock_state();
        let n = s.refresh.len();
        s.refresh.retain(|t| t.expires_at >= before);
        Ok((n - s.refresh.len()) as u64)
    }
}

/// A "hasher" that stores `plain:<password>` and counts its work: for tests
/// of what is hashed and verified, and how often.
#[derive(Debug, Default)]
pub struct PlainHasher {
    hashes: AtomicUsize,
    verifications: AtomicUsize,
}

impl PlainHasher {
    /// How many passwords were hashed.
    pub fn hashes(&self) -> usize {
        self.hashes.load(Ordering::SeqCst)
    }
    /// How many passwords were checked (the dummy check included).
    pub fn verifications(&self) -> usize {
        self.verifications.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl PasswordHasher for PlainHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        self.hashes.fetch_add(1, Ordering::SeqCst);
        Ok(PasswordHash::new(format!("plain:{}", password.expose())))
    }

    async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, HashError> {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        Ok(hash.is_some_and(|h| h.as_str() == format!("plain:{}", password.expose())))
    }
}

/// Access tokens that name their subject: `token:<id>:<perm,perm>`.
#[derive(Debug, Default)]
pub struct FakeTokens;

impl crate::tokens::TokenIssuer for FakeTokens {
    fn issue_access(
        &self,
        subject: &crate::tokens::AccessSubject,
    ) -> Result<crate::tokens::IssuedToken, crate::tokens::TokenError> {
        let perms: Vec<&str> = subject.permissions.iter().map(Permission::as_str).collect();
        Ok(crate::tokens::IssuedToken {
            token: format!("token:{}:{}", subject.user_id, perms.join(",")),
            expires_in: 900,
        })
    }
}

/// Refresh tokens `r<n>`, hashed as `h:<token>`; a successor is "sealed"
/// together with its predecessor and opens only with it.
#[derive(Debug, Default)]
pub struct FakeSecrets(AtomicUsize);

impl crate::sessions::RefreshSecrets for FakeSecrets {
    fn generate(&self) -> String {
        format!("r{}", self.0.fetch_add(1, Ordering::SeqCst))
    }
    fn new_family_id(&self) -> String {
        format!("f{}", self.0.fetch_add(1, Ordering::SeqCst))
    }
    fn hash(&self, token: &str) -> String {
        format!("h:{token}")
    }
    fn seal(&self, successor: &str, presented: &str) -> String {
        format!("{presented}|{successor}")
    }
    fn open(&self, sealed: &str, presented: &str) -> Option<String> {
        let (key, successor) = sealed.split_once('|')?;
        (key == presented).then(|| successor.to_owned())
    }
}

impl InMemory {
    /// The authentication use cases over this store with fake tokens and secrets.
    pub fn auth_service(
        &self,
        policy: crate::authentication::AuthPolicy,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
    ) -> crate::authentication::AuthService {
        crate::authentication::AuthService::new(
            crate::authentication::AuthDeps {
                users: Arc::new(self.clone()),
                sessions: Arc::new(self.clone()),
                hasher,
                tokens: Arc::new(FakeTokens),
                refresh: Arc::new(FakeSecrets::default()),
                clock,
            },
            policy,
        )
    }
}
