//! Acting on users: current permissions, escalation, search.

use crate::access::PermissionName;
use crate::access::permissions::{UsersRead, UsersWrite};
use crate::error::{Error, Escalation};
use crate::page::PageRequest;
use crate::testing::InMemory;
use crate::users::UserId;

use super::{escalation, p, r, roles, token};

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
    for q in ["a\0b", "\0", "ali\n", "\u{1b}[31m", "x\u{7f}"] {
        assert!(
            matches!(
                admin.list_users(token(root), Some(q), page).await,
                Err(Error::Validation(f)) if f.0.contains_key("q")
            ),
            "{q:?}"
        );
    }
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

#[tokio::test]
async fn an_unlock_clears_the_accounts_counters_from_every_address_and_is_audited() {
    use crate::throttle::{AttemptStore, Limit, Reservation};
    let store = InMemory::seeded();
    store.add_role("helpdesk", &["content:read", "users:read", "users:write"]);
    let carol = store.add_user("carol", &["helpdesk"]);
    let root = store.add_user("root", &["admin"]);
    let bob = store.add_user("Bob", &["user"]);
    let admin = store.admin_service();
    let attempts = store.attempts();
    let limit = Limit {
        max: 1,
        window_secs: 900,
        backoff_base_secs: 60,
        backoff_max_secs: 60,
    };
    let now = chrono::Utc::now();
    let keys = [
        "signin:pair:bob|6.6.6.6",
        "signin:pair:bob|1.2.3.4",
        "signin:acct:bob",
        "signin:total:acct:bob",
        "signin:pair:bobby|6.6.6.6",
        "signin:ip:6.6.6.6",
    ];
    for key in keys {
        assert_eq!(
            attempts.reserve(key, now, &limit).await.unwrap(),
            Reservation::Reserved
        );
    }
    // carol may not act on root (who holds more than she does)
    escalation(admin.unlock_user(token(carol), root).await);
    let profile = admin.unlock_user(token(carol), bob).await.unwrap();
    assert_eq!(profile.user.username, "Bob");
    for key in &keys[..4] {
        assert_eq!(attempts.get(key).await.unwrap(), None, "{key} cleared");
    }
    for key in &keys[4..] {
        assert!(attempts.get(key).await.unwrap().is_some(), "{key} kept");
    }
    assert_eq!(store.audit_actions(), ["user.unlock"]);
    assert!(matches!(
        admin.unlock_user(token(carol), UserId(99)).await,
        Err(Error::UserNotFound)
    ));
    assert!(matches!(
        admin
            .unlock(
                crate::access::Operator::Cli,
                &crate::users::Username::parse("bob").unwrap()
            )
            .await,
        Ok(p) if p.user.id == bob
    ));
    assert_eq!(store.audit_actions(), ["user.unlock", "user.unlock"]);
}
