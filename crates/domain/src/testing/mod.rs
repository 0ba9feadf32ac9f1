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

pub mod attempt_store;
mod fakes;
mod mfa;
mod stores;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use crate::access::permissions::{ADMIN_REQUIRED, BUILT_IN};
use crate::admin::{AdminDeps, AdminService, Change, Precondition};
use crate::audit::AuditEvent;
use crate::clock::{Clock, SystemClock};
use crate::error::StoreError;
use crate::page::{Page, PageRequest};
use crate::roles::{Description, Permission, PermissionInfo, RoleInfo, RoleName};
use crate::sessions::RefreshRecord;
use crate::throttle::MemoryAttempts;
use crate::users::{PasswordHash, PasswordHasher, User, UserId};

#[derive(Debug, Clone)]
pub(crate) struct UserRow {
    pub(crate) username: String,
    pub(crate) email: String,
    pub(crate) hash: PasswordHash,
    pub(crate) disabled: bool,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) roles: Vec<RoleName>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) users: BTreeMap<i64, UserRow>,
    /// In creation order, like role ids.
    pub(crate) roles: Vec<RoleInfo>,
    pub(crate) permissions: Vec<PermissionInfo>,
    pub(crate) audit: Vec<AuditEvent>,
    pub(crate) refresh: Vec<RefreshRecord>,
    pub(crate) next_user: i64,
}

impl State {
    pub(crate) fn role(&self, name: &RoleName) -> Option<&RoleInfo> {
        self.roles.iter().find(|r| &r.name == name)
    }

    pub(crate) fn permissions_of(&self, row: &UserRow) -> Vec<Permission> {
        let set: BTreeSet<Permission> = row
            .roles
            .iter()
            .filter_map(|r| self.role(r))
            .flat_map(|r| r.permissions.iter().cloned())
            .collect();
        set.into_iter().collect()
    }

    /// Roles in role-id order, as the database reads them.
    pub(crate) fn ordered(&self, roles: &[RoleName]) -> Vec<RoleName> {
        self.roles
            .iter()
            .filter(|r| roles.contains(&r.name))
            .map(|r| r.name.clone())
            .collect()
    }

    pub(crate) fn user(&self, id: i64, row: &UserRow) -> User {
        User {
            id: UserId(id),
            username: row.username.clone(),
            email: row.email.clone(),
            roles: self.ordered(&row.roles),
            disabled: row.disabled,
            created_at: row.created_at,
            email_verified: true,
        }
    }

    pub(crate) fn active_admins(&self) -> u64 {
        let admin = RoleName::admin();
        self.users
            .values()
            .filter(|u| !u.disabled && u.roles.contains(&admin))
            .count() as u64
    }

    pub(crate) fn holds(&self, pre: &Precondition) -> Result<bool, StoreError> {
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
    /// The rate-limit counters the admin's unlock clears.
    attempts: Arc<MemoryAttempts>,
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

    /// The rate-limit counters (shared by clones; hand them to a `Throttle`).
    pub fn attempts(&self) -> Arc<MemoryAttempts> {
        self.attempts.clone()
    }

    pub(crate) fn lock_state(&self) -> MutexGuard<'_, State> {
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

    /// Disables or enables a user directly (no rules, no revocations).
    pub fn set_disabled(&self, id: UserId, disabled: bool) {
        if let Some(u) = self.lock_state().users.get_mut(&id.0) {
            u.disabled = disabled;
        }
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
            attempts: self.attempts.clone(),
        })
    }

    /// Runs an administrative write atomically: preconditions, the admin
    /// count before and after, the audit event; nothing is kept on error.
    pub(crate) fn admin_write(
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

/// One page of `items` (in the list's order), by offset or after a keyset
/// position (`id` gives an item's position; `descending` lists run high to low).
pub(crate) fn page_of<T: Clone>(
    items: &[T],
    page: PageRequest,
    id: impl Fn(&T) -> i64,
    descending: bool,
) -> Page<T> {
    let after: Vec<T> = items
        .iter()
        .filter(|item| {
            page.after.is_none_or(|after| {
                if descending {
                    id(item) < after
                } else {
                    id(item) > after
                }
            })
        })
        .cloned()
        .collect();
    let start = usize::try_from(page.offset()).unwrap_or(usize::MAX);
    let rows = after
        .iter()
        .skip(start)
        .take(page.per_page as usize + 1)
        .cloned()
        .collect();
    Page::assemble(rows, page, after.len() as u64, id)
}

pub use fakes::{FakeSecrets, FakeTokens, PlainHasher};
pub use mfa::{FakeFactors, MemoryMfa};
