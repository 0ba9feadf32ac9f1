//! The administration rules against in-memory ports: escalation chains,
//! built-in roles, the last admin, stale decisions, the audit trail.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use crate::access::permissions::{AuditRead, RolesRead, RolesWrite, UsersRead, UsersWrite};
use crate::access::{Granted, Operator, PermissionName};
use crate::admin::{
    AdminDeps, AdminService, AdminStore, Bootstrap, Change, CreateUser, Precondition,
};
use crate::audit::NewAuditEvent;
use crate::clock::SystemClock;
use crate::error::{BuiltInRule, Error, Escalation, StoreError};
use crate::page::PageRequest;
use crate::roles::{Description, NewRole, Permission, RoleName};
use crate::testing::{InMemory, PlainHasher};
use crate::users::{Email, NewUser, Password, UserId, UserProfile, UserStore, Username};

fn p(name: &str) -> Permission {
    Permission::parse(name).unwrap()
}
fn r(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}
fn roles(names: &[&str]) -> Vec<RoleName> {
    names.iter().map(|n| r(n)).collect()
}

/// The proof a guard makes from a token that lists `P` (the use case still
/// checks the user's current permissions).
fn token<P: PermissionName>(user: UserId) -> Granted<P> {
    Granted::from_token(user, std::iter::once(P::NAME)).unwrap()
}

fn escalation(result: Result<impl std::fmt::Debug, Error>) -> Escalation {
    match result {
        Err(Error::Escalation(e)) => e,
        other => panic!("expected an escalation, got {other:?}"),
    }
}

#[tokio::test]
async fn the_callers_current_permissions_decide_not_their_token() {
    let store = InMemory::seeded();
    let root = store.add_user("root", &["admin"]);
    let demoted = store.add_user("demoted", &["user"]);
    let admin = store.admin_service();
    // a token that still says users:write, from before the demotion
    assert!(matches!(
        admin.set_user_disabled(token(demoted), root, true).await,
        Err(Error::NotAllowed(name)) if name == UsersWrite::NAME
    ));
    assert!(matches!(
        admin
            .list_users(
                token(UserId(99)),
                None,
                PageRequest::parse(None, None).unwrap()
            )
            .await,
        Err(Error::ActorGone)
    ));
    admin
        .set_user_disabled(token(root), demoted, true)
        .await
        .unwrap();
    store.set_role_permissions("user", &["content:read", "users:read"]);
    assert!(matches!(
        admin.get_user(token::<UsersRead>(demoted), root).await,
        Err(Error::AccountDisabled)
    ));
    assert_eq!(store.audit_actions(), ["user.disable"]);
}

#[tokio::test]
async fn nobody_gives_a_role_granting_what_they_do_not_hold() {
    let store = InMemory::seeded();
    store.add_role("helpdesk", &["content:read", "users:read", "users:write"]);
    let carol = store.add_user("carol", &["helpdesk"]);
    let bob = store.add_user("bob", &["user"]);
    let admin = store.admin_service();

    // an unknown role is reported before any permission check
    assert!(matches!(
        admin.set_user_roles(token(carol), bob, &roles(&["user", "ghost"])).await,
        Err(Error::UnknownRole(name)) if name == "ghost"
    ));
    // moderator grants content:moderate, which carol lacks
    assert_eq!(
        escalation(
            admin
                .set_user_roles(token(carol), bob, &roles(&["moderator"]))
                .await
        ),
        Escalation::GrantRole {
            role: r("moderator"),
            missing: p("content:moderate")
        }
    );
    // helpdesk itself she may give: she holds all it grants
    let bob_now = admin
        .set_user_roles(token(carol), bob, &roles(&["user", "helpdesk", "user"]))
        .await
        .unwrap();
    assert_eq!(bob_now.user.roles, roles(&["user", "helpdesk"]));
    assert_eq!(store.roles_of(bob), ["user", "helpdesk"]);
    assert_eq!(store.audit_actions(), ["user.roles.set"]);
}

#[tokio::test]
async fn nobody_acts_on_an_account_holding_more_than_they_do() {
    let store = InMemory::seeded();
    store.add_role("helpdesk", &["content:read", "users:read", "users:write"]);
    let carol = store.add_user("carol", &["helpdesk"]);
    let mod_ = store.add_user("mod", &["moderator"]);
    let root = store.add_user("root", &["admin"]);
    let plain = store.add_user("plain", &["user"]);
    let admin = store.admin_service();

    for target in [mod_, root] {
        let username = if target == mod_ { "mod" } else { "root" };
        let missing = if target == mod_ {
            "content:moderate"
        } else {
            "audit:read"
        };
        let expected = Escalation::ActOnUser {
            username: username.into(),
            missing: p(missing),
        };
        assert_eq!(
            escalation(admin.set_user_disabled(token(carol), target, true).await),
            expected
        );
        assert_eq!(
            escalation(admin.delete_user(token(carol), target).await),
            expected
        );
        assert_eq!(
            escalation(
                admin
                    .set_user_roles(token(carol), target, &roles(&["user"]))
                    .await
            ),
            expected
        );
    }
    // a plain user she may disable, enable and delete
    admin
        .set_user_disabled(token(carol), plain, true)
        .await
        .unwrap();
    admin
        .set_user_disabled(token(carol), plain, false)
        .await
        .unwrap();
    admin.delete_user(token(carol), plain).await.unwrap();
    assert!(matches!(
        admin.get_user(token(carol), plain).await,
        Err(Error::UserNotFound)
    ));
    assert_eq!(
        store.audit_actions(),
        ["user.disable", "user.enable", "user.delete"]
    );
    assert_eq!(store.is_disabled(mod_), Some(false));
}

#[tokio::test]
async fn stripping_a_role_to_take_it_is_refused() {
    let store = InMemory::seeded();
    store.add_role(
        "rolemgr",
        &["roles:read", "roles:write", "users:write", "users:read"],
    );
    store.add_role("auditor", &["audit:read"]);
    let eve = store.add_user("eve", &["rolemgr"]);
    let admin = store.admin_service();

    // changing a role needs everything it grants before...
    assert_eq!(
        escalation(
            admin
                .update_role(token(eve), &r("auditor"), &[], None)
                .await
        ),
        Escalation::ChangeRole {
            role: r("auditor"),
            missing: p("audit:read")
        }
    );
    // ...and after
    assert_eq!(
        escalation(
            admin
                .update_role(
                    token(eve),
                    &r("rolemgr"),
                    &[p("roles:write"), p("audit:read")],
                    None
                )
                .await
        ),
        Escalation::GrantPermission {
            missing: p("audit:read")
        }
    );
    assert_eq!(
        escalation(admin.delete_role(token(eve), &r("auditor")).await),
        Escalation::DeleteRole {
            role: r("auditor"),
            missing: p("audit:read")
        }
    );
    assert_eq!(
        escalation(
            admin
                .create_role(
                    token(eve),
                    NewRole {
                        name: r("sneaky"),
                        description: Description::default(),
                        permissions: vec![p("audit:read")],
                    },
                )
                .await
        ),
        Escalation::GrantPermission {
            missing: p("audit:read")
        }
    );
    // the admin role is checked for what it must keep before anything else
    assert!(matches!(
        admin
            .update_role(token(eve), &r("admin"), &[p("roles:write")], None)
            .await,
        Err(Error::BuiltInRole(BuiltInRule::AdminKeeps(_)))
    ));
    assert_eq!(
        store.permissions_of_role("auditor").unwrap(),
        ["audit:read"]
    );
    assert!(store.audit_actions().is_empty(), "nothing was changed");
}

#[tokio::test]
async fn built_in_roles_keep_their_rules() {
    let store = InMemory::seeded();
    let root = store.add_user("root", &["admin"]);
    let admin = store.admin_service();
    for name in RoleName::BUILT_IN {
        assert!(matches!(
            admin.delete_role(token(root), &r(name)).await,
            Err(Error::BuiltInRole(BuiltInRule::CannotDelete(role))) if role.as_str() == name
        ));
    }
    assert!(matches!(
        admin
            .update_role(token(root), &r("user"), &[p("content:read"), p("users:write")], None)
            .await,
        Err(Error::BuiltInRole(BuiltInRule::UserRoleCannotGrant(perm))) if perm.as_str() == "users:write"
    ));
    let without_audit: Vec<Permission> = crate::access::permissions::BUILT_IN
        .iter()
        .filter(|n| **n != AuditRead::NAME)
        .map(|n| p(n))
        .collect();
    assert!(matches!(
        admin
            .update_role(token(root), &r("admin"), &without_audit, None)
            .await,
        Err(Error::BuiltInRole(BuiltInRule::AdminKeeps("audit:read")))
    ));
    // what may change, changes
    let moderator = admin
        .update_role(
            token(root),
            &r("moderator"),
            &[p("content:read")],
            Some(&Description::parse("Reads").unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(moderator.permissions, vec![p("content:read")]);
    assert_eq!(moderator.description.as_str(), "Reads");
    assert!(matches!(
        admin.update_role(token(root), &r("ghost"), &[], None).await,
        Err(Error::RoleNotFound(name)) if name == "ghost"
    ));
}

#[tokio::test]
async fn the_last_active_admin_stays() {
    let store = InMemory::seeded();
    let root = store.add_user("root", &["admin"]);
    let admin = store.admin_service();
    assert!(matches!(
        admin
            .set_user_roles(token(root), root, &roles(&["user"]))
            .await,
        Err(Error::LastAdmin)
    ));
    assert!(matches!(
        admin.set_user_disabled(token(root), root, true).await,
        Err(Error::LastAdmin)
    ));
    assert!(matches!(
        admin.delete_user(token(root), root).await,
        Err(Error::LastAdmin)
    ));
    assert_eq!(store.roles_of(root), ["admin"]);
    assert!(store.audit_actions().is_empty());

    // with a second admin, one may go; then the other is the last
    let second = store.add_user("second", &["admin"]);
    admin
        .set_user_roles(token(second), root, &roles(&["user"]))
        .await
        .unwrap();
    assert!(matches!(
        admin.delete_user(token(second), second).await,
        Err(Error::LastAdmin)
    ));
    // a disabled admin does not count
    let third = store.add_user("third", &["admin"]);
    admin
        .set_user_disabled(token(second), third, true)
        .await
        .unwrap();
    assert!(matches!(
        admin
            .set_user_roles(token(second), second, &roles(&["user"]))
            .await,
        Err(Error::LastAdmin)
    ));
    assert!(admin.has_active_admin().await.unwrap());
}

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
    async fn create_user(
        &self,
        u: NewUser,
        a: Option<NewAuditEvent>,
    ) -> Result<UserId, StoreError> {
        self.store.create_user(u, a).await
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
async fn permissions_and_roles_are_catalogued_and_audited() {
    let store = InMemory::seeded();
    let root = store.add_user("root", &["admin"]);
    let admin = store.admin_service();
    let created = admin
        .create_permission(
            token(root),
            p("articles:write"),
            Description::parse("Write").unwrap(),
        )
        .await
        .unwrap();
    assert!(!created.built_in);
    assert!(matches!(
        admin.create_permission(token(root), p("articles:write"), Description::default()).await,
        Err(Error::PermissionExists(name)) if name == "articles:write"
    ));
    assert!(
        matches!(
            admin
                .create_permission(token(root), p("users:read"), Description::default())
                .await,
            Err(Error::PermissionExists(_))
        ),
        "built-in names exist from the start"
    );
    // admins get every new permission, so they can grant it
    assert!(
        store
            .permissions_of_role("admin")
            .unwrap()
            .contains(&"articles:write".to_owned())
    );
    let editor = admin
        .create_role(
            token(root),
            NewRole {
                name: r("editor"),
                description: Description::default(),
                permissions: vec![p("content:read"), p("articles:write"), p("content:read")],
            },
        )
        .await
        .unwrap();
    assert_eq!(
        editor.permissions,
        vec![p("articles:write"), p("content:read")]
    );
    assert!(matches!(
        admin
            .create_role(
                token(root),
                NewRole { name: r("editor"), description: Description::default(), permissions: vec![] }
            )
            .await,
        Err(Error::RoleExists(name)) if name == "editor"
    ));
    assert!(matches!(
        admin
            .create_role(
                token(root),
                NewRole { name: r("reviewer"), description: Description::default(), permissions: vec![p("articles:review")] }
            )
            .await,
        Err(Error::UnknownPermission(name)) if name == "articles:review"
    ));
    let listed: Vec<String> = admin
        .list_roles(token::<RolesRead>(root))
        .await
        .unwrap()
        .iter()
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(listed, ["user", "moderator", "admin", "editor"]);
    admin
        .delete_role(token::<RolesWrite>(root), &r("editor"))
        .await
        .unwrap();
    let audit = admin
        .audit(token(root), PageRequest::parse(None, None).unwrap())
        .await
        .unwrap();
    let actions: Vec<&str> = audit
        .items
        .iter()
        .map(|e| e.event.action.as_str())
        .collect();
    assert_eq!(
        actions,
        ["role.delete", "role.create", "permission.create"],
        "newest first"
    );
    assert!(
        audit
            .items
            .iter()
            .all(|e| e.event.actor == "root" && e.event.actor_id == Some(root))
    );
}

#[tokio::test]
async fn operators_create_users_with_strong_passwords_and_grant_roles() {
    let store = InMemory::seeded();
    let admin = store.admin_service();
    let account = |name: &str, password: &str, roles_: &[&str]| CreateUser {
        username: Username::parse(name).unwrap(),
        email: Email::parse(&format!("{name}@example.com")).unwrap(),
        password: Password::parse(password).unwrap(),
        roles: roles(roles_),
    };
    assert!(matches!(
        admin.create_user(Operator::Cli, account("ops", "password1234", &["admin"])).await,
        Err(Error::Validation(f)) if f.0.contains_key("password")
    ));
    assert!(matches!(
        admin.create_user(Operator::Cli, account("ops", "correct horse battery", &["ghost"])).await,
        Err(Error::UnknownRole(name)) if name == "ghost"
    ));
    let ops = admin
        .create_user(
            Operator::Cli,
            account("ops", "correct horse battery", &["user", "user"]),
        )
        .await
        .unwrap();
    assert_eq!(store.roles_of(ops), ["user"]);
    assert!(matches!(
        admin
            .create_user(
                Operator::Cli,
                account("OPS", "correct horse battery", &["user"])
            )
            .await,
        Err(Error::UsernameTaken)
    ));
    let profile = admin
        .grant(
            Operator::Cli,
            &Username::parse("ops").unwrap(),
            r("moderator"),
        )
        .await
        .unwrap();
    assert_eq!(profile.user.roles, roles(&["user", "moderator"]));
    assert!(matches!(
        admin
            .grant(
                Operator::Cli,
                &Username::parse("nobody").unwrap(),
                r("user")
            )
            .await,
        Err(Error::UserNotFound)
    ));
    assert_eq!(store.audit_actions(), ["user.create", "user.roles.set"]);
}

#[tokio::test]
async fn the_bootstrap_creates_one_admin_and_never_promotes() {
    let store = InMemory::seeded();
    let admin = store.admin_service();
    let pw = || Password::parse("correct horse battery").unwrap();
    // someone else registered the name first: nobody is promoted
    store.add_user("boss", &["user"]);
    let boss = Username::parse("boss").unwrap();
    let outcome = admin
        .bootstrap_admin(
            boss.clone(),
            Email::parse("boss@corp.example").unwrap(),
            pw(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, Bootstrap::Taken);
    assert!(!admin.has_active_admin().await.unwrap());
    let chief = Username::parse("chief").unwrap();
    let email = Email::parse("chief@corp.example").unwrap();
    let Bootstrap::Created(id) = admin
        .bootstrap_admin(chief.clone(), email.clone(), pw())
        .await
        .unwrap()
    else {
        panic!("expected the admin to be created");
    };
    assert_eq!(store.roles_of(id), ["admin"]);
    assert_eq!(
        admin.bootstrap_admin(chief, email, pw()).await.unwrap(),
        Bootstrap::AdminExists
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

#[tokio::test]
async fn user_search_is_bounded() {
    let store = InMemory::seeded();
    let root = store.add_user("root", &["admin"]);
    store.add_user("alice", &["user"]);
    let admin = store.admin_service();
    let page = PageRequest::parse(None, None).unwrap();
    assert!(matches!(
        admin.list_users(token(root), Some(&"a".repeat(65)), page).await,
        Err(Error::Validation(f)) if f.0.contains_key("q")
    ));
    let found = admin
        .list_users(token(root), Some("  ALI "), page)
        .await
        .unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.items[0].username, "alice");
    assert_eq!(
        admin
            .list_users(token(root), Some(" "), page)
            .await
            .unwrap()
            .total,
        2
    );
}
