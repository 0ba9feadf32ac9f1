//! The store over a real database: what HTTP cannot easily reach.

use rolegate_domain::{Email, NewUser, PasswordHash, RoleName, StoreError, UserStore, Username};
use rolegate_persistence::Database;

use crate::helpers::{TestDb, test_settings};

async fn open() -> (TestDb, Database) {
    let db = TestDb::create().await;
    let settings = test_settings(&db.url);
    let conn = rolegate::startup::open_database(&settings).await.unwrap();
    (db, conn)
}

fn new_user(name: &str, roles: Vec<RoleName>) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        email: Email::parse(&format!("{name}@example.com")).unwrap(),
        password_hash: PasswordHash::new(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        ),
        roles,
        created_at: chrono::Utc::now(),
        email_verified: false,
        welcome: None,
    }
}

#[tokio::test]
async fn a_failed_signup_leaves_nothing_half_written() {
    let (_guard, db) = open().await;
    // Make the second write of the sign-up (the role links) fail: the
    // transaction must take the user row back with it.
    db.execute_raw("DROP TABLE user_roles").await.unwrap();
    let err = db
        .create_user(new_user("halfway", vec![RoleName::user()]), None)
        .await;
    assert!(err.is_err(), "writing the role links must fail");
    let conflict = db
        .find_conflict(
            &Username::parse("halfway").unwrap(),
            &Email::parse("halfway@example.com").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(conflict, None, "the user row was rolled back");
}

#[tokio::test]
async fn unknown_roles_and_duplicates_are_domain_errors() {
    let (_guard, db) = open().await;
    let err = db
        .create_user(
            new_user("rolecheck", vec![RoleName::parse("ghost").unwrap()]),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownRole(ref r) if r == "ghost"),
        "{err:?}"
    );
    db.create_user(new_user("dupe", vec![RoleName::user()]), None)
        .await
        .unwrap();
    let err = db
        .create_user(new_user("DUPE", vec![RoleName::user()]), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict(rolegate_domain::UniqueField::Username)
        ),
        "{err:?}"
    );
    let mut other = new_user("dupe2", vec![RoleName::user()]);
    other.email = Email::parse("dupe@example.com").unwrap();
    let err = db.create_user(other, None).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict(rolegate_domain::UniqueField::Email)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn built_in_roles_and_permissions_are_seeded() {
    let (_guard, db) = open().await;
    let missing = db
        .missing_roles(&[
            RoleName::user(),
            RoleName::moderator(),
            RoleName::admin(),
            RoleName::parse("editor").unwrap(),
        ])
        .await
        .unwrap();
    assert_eq!(missing, vec![RoleName::parse("editor").unwrap()]);
    db.create_user(
        new_user(
            "ordered",
            vec![RoleName::admin(), RoleName::user(), RoleName::moderator()],
        ),
        None,
    )
    .await
    .unwrap();
    let login = db
        .find_login(&Username::parse("ordered").unwrap())
        .await
        .unwrap()
        .unwrap();
    let profile = db.profile(login.id).await.unwrap().unwrap();
    assert_eq!(
        profile.user.roles,
        vec![RoleName::user(), RoleName::moderator(), RoleName::admin()]
    );
}

#[tokio::test]
async fn expired_refresh_tokens_are_purged() {
    use chrono::{Duration, Utc};
    use rolegate_domain::{NewRefreshToken, SessionStore, UserId};
    let (_guard, db) = open().await;
    let id = db
        .create_user(new_user("purgee", vec![RoleName::user()]), None)
        .await
        .unwrap();
    let now = Utc::now();
    for (hash, expires) in [
        ("old", now - Duration::seconds(1)),
        ("live", now + Duration::days(1)),
    ] {
        db.insert_refresh(NewRefreshToken {
            family: format!("fam-{hash}"),
            user_id: UserId(id.0),
            token_hash: hash.into(),
            generation: 0,
            created_at: now - Duration::days(8),
            expires_at: expires,
            session_started_at: now - Duration::days(8),
            client: Default::default(),
            amr: vec![rolegate_domain::AuthMethod::Pwd],
        })
        .await
        .unwrap();
    }
    assert_eq!(db.purge_expired(now).await.unwrap(), 1);
    assert!(db.find_refresh("old").await.unwrap().is_none());
    assert!(db.find_refresh("live").await.unwrap().is_some());
}

mod admin_store {
    use rolegate_domain::{
        AdminStore, Change, NewAuditEvent, PageRequest, Permission, Precondition, RoleName,
        StoreError, UserId, UserStore,
    };

    use super::{new_user, open};

    fn change(preconditions: Vec<Precondition>) -> Change {
        Change {
            audit: NewAuditEvent {
                at: chrono::Utc::now(),
                actor_id: None,
                actor: "test".into(),
                action: "test.change".into(),
                target: "user:0".into(),
                detail: "{}".into(),
            },
            preconditions,
        }
    }

    fn perm(p: &str) -> Permission {
        Permission::parse(p).unwrap()
    }

    #[tokio::test]
    async fn a_change_whose_preconditions_no_longer_hold_writes_nothing() {
        let (_guard, db) = open().await;
        let ann = db
            .create_user(new_user("ann", vec![RoleName::user()]), None)
            .await
            .unwrap();
        let bob = db
            .create_user(new_user("bob", vec![RoleName::user()]), None)
            .await
            .unwrap();
        let stale = [
            // bob's roles are not what the caller saw
            Precondition::UserRoles {
                user: bob,
                roles: vec![RoleName::moderator()],
            },
            // the user role grants more than the caller saw
            Precondition::RolePermissions {
                role: RoleName::user(),
                permissions: vec![],
            },
            // the caller (ann) does not hold users:write
            Precondition::ActorHolds {
                actor: ann,
                permissions: vec![perm("users:write")],
            },
            // the caller no longer exists
            Precondition::ActorHolds {
                actor: UserId(424242),
                permissions: vec![],
            },
            // a role that was deleted meanwhile
            Precondition::RolePermissions {
                role: RoleName::parse("gone").unwrap(),
                permissions: vec![],
            },
        ];
        for pre in stale {
            let err = db
                .set_user_roles(bob, &[RoleName::admin()], change(vec![pre.clone()]))
                .await
                .unwrap_err();
            assert!(matches!(err, StoreError::Stale), "{pre:?}: {err:?}");
        }
        let bob_now = db.profile(bob).await.unwrap().unwrap();
        assert_eq!(
            bob_now.user.roles,
            vec![RoleName::user()],
            "nothing written"
        );
        let audit = db
            .list_audit(PageRequest::parse(None, None).unwrap())
            .await
            .unwrap();
        assert_eq!(audit.total, 0, "no audit event for a refused change");

        // the same change with true preconditions goes through, with its audit event
        let fresh = vec![
            Precondition::UserRoles {
                user: bob,
                roles: vec![RoleName::user()],
            },
            Precondition::RolePermissions {
                role: RoleName::user(),
                permissions: vec![perm("content:read")],
            },
            Precondition::ActorHolds {
                actor: ann,
                permissions: vec![perm("content:read")],
            },
        ];
        db.set_user_roles(bob, &[RoleName::admin()], change(fresh))
            .await
            .unwrap();
        let bob_now = db.profile(bob).await.unwrap().unwrap();
        assert_eq!(bob_now.user.roles, vec![RoleName::admin()]);
        assert_eq!(
            db.list_audit(PageRequest::parse(None, None).unwrap())
                .await
                .unwrap()
                .total,
            1
        );
    }

    #[tokio::test]
    async fn disabling_revokes_refresh_tokens_in_the_same_change() {
        use rolegate_domain::{NewRefreshToken, SessionStore};
        let (_guard, db) = open().await;
        let id = db
            .create_user(new_user("cyd", vec![RoleName::user()]), None)
            .await
            .unwrap();
        let now = chrono::Utc::now();
        db.insert_refresh(NewRefreshToken {
            family: "fam".into(),
            user_id: id,
            token_hash: "h".repeat(64),
            generation: 0,
            created_at: now,
            expires_at: now + chrono::Duration::hours(1),
            session_started_at: now,
            client: Default::default(),
            amr: vec![rolegate_domain::AuthMethod::Pwd],
        })
        .await
        .unwrap();
        db.set_user_disabled(id, true, change(vec![]))
            .await
            .unwrap();
        let token = db.find_refresh(&"h".repeat(64)).await.unwrap().unwrap();
        assert!(token.revoked);
        // and a failed disable (unknown user) writes no audit event
        let err = db
            .set_user_disabled(UserId(99999), true, change(vec![]))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound));
        assert_eq!(
            db.list_audit(PageRequest::parse(None, None).unwrap())
                .await
                .unwrap()
                .total,
            1
        );
    }
}

/// What an administrator's reset of second factors calls: every passkey of
/// one user goes, nobody else's; a credential id is registered once.
#[tokio::test]
async fn passkeys_of_one_user_are_deleted_together() {
    use rolegate_domain::{NewPasskey, PasskeyStore, UniqueField, UserId};
    let (_guard, db) = open().await;
    let alice = db
        .create_user(new_user("pk_alice", vec![RoleName::user()]), None)
        .await
        .unwrap();
    let bob = db
        .create_user(new_user("pk_bob", vec![RoleName::user()]), None)
        .await
        .unwrap();
    let passkey = |user: UserId, credential_id: &str| NewPasskey {
        user_id: user,
        name: "Key".into(),
        user_handle: format!("handle-{}", user.0),
        credential_id: credential_id.into(),
        credential: "{}".into(),
        sign_count: 0,
        created_at: chrono::Utc::now(),
    };
    db.insert(passkey(alice, "a1")).await.unwrap();
    db.insert(passkey(alice, "a2")).await.unwrap();
    db.insert(passkey(bob, "b1")).await.unwrap();
    let taken = db.insert(passkey(bob, "a1")).await.unwrap_err();
    assert!(
        matches!(taken, StoreError::Conflict(UniqueField::Credential)),
        "{taken:?}"
    );
    assert_eq!(db.delete_all_for_user(alice).await.unwrap(), 2);
    assert!(db.list(alice).await.unwrap().is_empty());
    assert_eq!(db.list(bob).await.unwrap().len(), 1);
    assert!(db.find_by_credential_id("a1").await.unwrap().is_none());
    assert!(db.find_by_credential_id("b1").await.unwrap().is_some());
}
