//! Decisions that meet concurrent changes.

use crate::admin::{AdminDeps, AdminService, AdminStore, Change, Precondition};
use crate::audit::NewAuditEvent;
use crate::clock::SystemClock;
use crate::error::{Error, Escalation, StoreError};
use crate::page::PageRequest;
use crate::roles::{Description, Permission, RoleName};
use crate::testing::{InMemory, PlainHasher};
use crate::users::{Email, NewUser, PasswordHash, UserId, UserProfile, UserStore, Username};
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{escalation, p, r, roles, token};

#[tokio::test]
async fn a_change_whose_preconditions_no_longer_hold_writes_nothing() {
    let store = InMemory::seeded();
    let root = store.add_user("root", &["admin"]);
    let bob = store.add_user("bob", &["user"]);
    let change = |pre: Precondition| Change {
        audit: NewAuditEvent {
            at: chrono::Utc::now(),
            actor_id: Some(root),
            actor: "root".into(),
            action: "user.roles.set".into(),
            target: format!("user:{bob}"),
            detail: "{}".into(),
        },
        preconditions: vec![pre],
    };
    for stale in [
        Precondition::UserRoles {
            user: bob,
            roles: roles(&["moderator"]),
        },
        Precondition::RolePermissions {
            role: r("user"),
            permissions: vec![p("users:write")],
        },
        Precondition::ActorHolds {
            actor: bob,
            permissions: vec![p("users:write")],
        },
    ] {
        assert!(matches!(
            store
                .set_user_roles(bob, &roles(&["moderator"]), change(stale))
                .await,
            Err(StoreError::Stale)
        ));
    }
    assert_eq!(store.roles_of(bob), ["user"]);
    assert!(store.audit_actions().is_empty());
}

/// Serves the store, but changes the `staff` role right after the first
/// profile read of `target`: the catalogue then disagrees with the profile.
struct RoleChangesAfterProfile {
    store: InMemory,
    target: UserId,
    done: AtomicBool,
}

#[async_trait]
impl UserStore for RoleChangesAfterProfile {
    async fn login_by_id(
        &self,
        id: UserId,
    ) -> Result<Option<crate::users::LoginRecord>, StoreError> {
        self.store.login_by_id(id).await
    }
    async fn create_user(
        &self,
        u: NewUser,
        a: Option<NewAuditEvent>,
    ) -> Result<UserId, StoreError> {
        self.store.create_user(u, a).await
    }
    async fn replace_password_hash(
        &self,
        id: UserId,
        expected: &PasswordHash,
        new: PasswordHash,
    ) -> Result<bool, StoreError> {
        self.store.replace_password_hash(id, expected, new).await
    }
    async fn find_conflict(
        &self,
        u: &Username,
        e: &Email,
    ) -> Result<Option<crate::error::UniqueField>, StoreError> {
        self.store.find_conflict(u, e).await
    }
    async fn find_login(
        &self,
        u: &Username,
    ) -> Result<Option<crate::users::LoginRecord>, StoreError> {
        self.store.find_login(u).await
    }
    async fn grants_of(&self, id: UserId) -> Result<(Vec<RoleName>, Vec<Permission>), StoreError> {
        self.store.grants_of(id).await
    }
    async fn profile(&self, id: UserId) -> Result<Option<UserProfile>, StoreError> {
        let profile = self.store.profile(id).await;
        if id == self.target && !self.done.swap(true, Ordering::SeqCst) {
            self.store
                .set_role_permissions("staff", &["audit:read", "content:read"]);
        }
        profile
    }
    async fn missing_roles(&self, n: &[RoleName]) -> Result<Vec<RoleName>, StoreError> {
        self.store.missing_roles(n).await
    }
}

#[tokio::test]
async fn a_role_changed_between_reads_is_a_concurrent_change() {
    let store = InMemory::seeded();
    store.add_role("helpdesk", &["content:read", "users:read", "users:write"]);
    store.add_role("staff", &["content:read"]);
    let carol = store.add_user("carol", &["helpdesk"]);
    let bob = store.add_user("bob", &["staff"]);
    let admin = AdminService::new(AdminDeps {
        admin: Arc::new(store.clone()),
        users: Arc::new(RoleChangesAfterProfile {
            store: store.clone(),
            target: bob,
            done: AtomicBool::new(false),
        }),
        hasher: Arc::new(PlainHasher::default()),
        clock: Arc::new(SystemClock),
        attempts: store.attempts(),
    });
    // staff gained audit:read after bob was read: carol (who lacks it) must
    // not act on bob on the strength of the old read
    assert!(matches!(
        admin.set_user_disabled(token(carol), bob, true).await,
        Err(Error::ConcurrentChange)
    ));
    assert_eq!(store.is_disabled(bob), Some(false));
    // read again: now the escalation is visible
    assert_eq!(
        escalation(admin.set_user_disabled(token(carol), bob, true).await),
        Escalation::ActOnUser {
            username: "bob".into(),
            missing: p("audit:read")
        }
    );
}

#[tokio::test]
async fn a_change_carries_the_facts_it_was_decided_on() {
    /// Records the changes it is asked to write.
    struct Recording(InMemory, std::sync::Mutex<Vec<Change>>);
    #[async_trait]
    impl AdminStore for Recording {
        async fn list_users(
            &self,
            q: Option<&str>,
            page: PageRequest,
        ) -> Result<crate::page::Page<crate::users::User>, StoreError> {
            self.0.list_users(q, page).await
        }
        async fn set_user_roles(
            &self,
            id: UserId,
            roles: &[RoleName],
            c: Change,
        ) -> Result<(), StoreError> {
            self.1.lock().unwrap().push(c.clone());
            self.0.set_user_roles(id, roles, c).await
        }
        async fn set_user_disabled(
            &self,
            id: UserId,
            d: bool,
            c: Change,
        ) -> Result<(), StoreError> {
            self.1.lock().unwrap().push(c.clone());
            self.0.set_user_disabled(id, d, c).await
        }
        async fn delete_user(&self, id: UserId, c: Change) -> Result<(), StoreError> {
            self.0.delete_user(id, c).await
        }
        async fn reset_second_factors(&self, id: UserId, c: Change) -> Result<(), StoreError> {
            self.0.reset_second_factors(id, c).await
        }
        async fn record_change(&self, c: Change) -> Result<(), StoreError> {
            self.1.lock().unwrap().push(c.clone());
            self.0.record_change(c).await
        }
        async fn list_roles(&self) -> Result<Vec<crate::roles::RoleInfo>, StoreError> {
            self.0.list_roles().await
        }
        async fn create_role(
            &self,
            role: &crate::roles::RoleInfo,
            c: Change,
        ) -> Result<(), StoreError> {
            self.0.create_role(role, c).await
        }
        async fn update_role(
            &self,
            n: &RoleName,
            ps: &[Permission],
            d: Option<&Description>,
            c: Change,
        ) -> Result<(), StoreError> {
            self.0.update_role(n, ps, d, c).await
        }
        async fn delete_role(&self, n: &RoleName, c: Change) -> Result<(), StoreError> {
            self.0.delete_role(n, c).await
        }
        async fn list_permissions(&self) -> Result<Vec<crate::roles::PermissionInfo>, StoreError> {
            self.0.list_permissions().await
        }
        async fn create_permission(
            &self,
            perm: &crate::roles::PermissionInfo,
            to: &[RoleName],
            c: Change,
        ) -> Result<(), StoreError> {
            self.0.create_permission(perm, to, c).await
        }
        async fn list_audit(
            &self,
            page: PageRequest,
        ) -> Result<crate::page::Page<crate::audit::AuditEvent>, StoreError> {
            self.0.list_audit(page).await
        }
        async fn count_active_admins(&self) -> Result<u64, StoreError> {
            self.0.count_active_admins().await
        }
    }

    let store = InMemory::seeded();
    store.add_role("helpdesk", &["content:read", "users:read", "users:write"]);
    store.add_role("staff", &["content:read"]);
    let carol = store.add_user("carol", &["helpdesk"]);
    let bob = store.add_user("bob", &["staff"]);
    let recording = Arc::new(Recording(store.clone(), std::sync::Mutex::new(Vec::new())));
    let admin = AdminService::new(AdminDeps {
        admin: recording.clone(),
        users: Arc::new(store.clone()),
        hasher: Arc::new(PlainHasher::default()),
        clock: Arc::new(SystemClock),
        attempts: store.attempts(),
    });
    admin
        .set_user_disabled(token(carol), bob, true)
        .await
        .unwrap();
    let pre = recording.1.lock().unwrap()[0].preconditions.clone();
    assert!(pre.contains(&Precondition::UserRoles {
        user: bob,
        roles: roles(&["staff"])
    }));
    assert!(pre.contains(&Precondition::RolePermissions {
        role: r("staff"),
        permissions: vec![p("content:read")]
    }));
    // the actor must still hold what the decision relied on: users:write
    // (the gate) and content:read (bob's), not everything she holds
    let relied: Vec<&Permission> = pre
        .iter()
        .find_map(|c| match c {
            Precondition::ActorHolds { actor, permissions } if *actor == carol => {
                Some(permissions.iter().collect())
            }
            _ => None,
        })
        .unwrap();
    let mut relied: Vec<&str> = relied.iter().map(|p| p.as_str()).collect();
    relied.sort_unstable();
    assert_eq!(relied, ["content:read", "users:write"]);

    // a role being added is recorded as read, and its permissions join
    // what the actor must still hold
    admin
        .set_user_disabled(token(carol), bob, false)
        .await
        .unwrap();
    admin
        .set_user_roles(token(carol), bob, &roles(&["staff", "helpdesk"]))
        .await
        .unwrap();
    let pre = recording.1.lock().unwrap()[2].preconditions.clone();
    assert!(pre.contains(&Precondition::RolePermissions {
        role: r("helpdesk"),
        permissions: vec![p("content:read"), p("users:read"), p("users:write")],
    }));
    assert!(pre.iter().any(|c| matches!(c, Precondition::ActorHolds { permissions, .. } if permissions.contains(&p("users:read")))));
}
