//! Roles and permissions: stripping, built-in rules, the last admin, the catalogue.

use crate::access::PermissionName;
use crate::access::permissions::{AuditRead, RolesRead, RolesWrite};
use crate::error::{BuiltInRule, Error, Escalation};
use crate::page::PageRequest;
use crate::roles::{Description, NewRole, Permission, RoleName};
use crate::testing::InMemory;

use super::{escalation, p, r, roles, token};

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
