//! Operators: the command line and the bootstrap.

use crate::access::Operator;
use crate::admin::{Bootstrap, CreateUser};
use crate::error::Error;
use crate::testing::InMemory;
use crate::users::{Email, Password, Username};

use super::{r, roles};

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
async fn revoke_keeps_the_last_admin_and_names_unknown_roles() {
    let store = InMemory::seeded();
    let root = store.add_user("root", &["admin"]);
    let ops = store.add_user("ops", &["user", "moderator"]);
    let admin = store.admin_service();
    let name = |n: &str| Username::parse(n).unwrap();
    assert!(matches!(
        admin
            .revoke(Operator::Cli, &name("root"), &r("admin"))
            .await,
        Err(Error::LastAdmin)
    ));
    assert!(matches!(
        admin.set_disabled(Operator::Cli, &name("root"), true).await,
        Err(Error::LastAdmin)
    ));
    assert!(matches!(
        admin.delete(Operator::Cli, &name("root")).await,
        Err(Error::LastAdmin)
    ));
    assert!(matches!(
        admin.revoke(Operator::Cli, &name("ops"), &r("wizard")).await,
        Err(Error::RoleNotFound(role)) if role == "wizard"
    ));
    assert!(matches!(
        admin
            .revoke(Operator::Cli, &name("nobody"), &r("user"))
            .await,
        Err(Error::UserNotFound)
    ));
    let profile = admin
        .revoke(Operator::Cli, &name("ops"), &r("moderator"))
        .await
        .unwrap();
    assert_eq!(profile.user.roles, roles(&["user"]));
    assert_eq!(store.roles_of(root), ["admin"]);
    assert_eq!(store.roles_of(ops), ["user"]);
}

mod import {
    use crate::access::Operator;
    use crate::admin::{ImportOptions, ImportOutcome, LegacyUser};
    use crate::error::UniqueField;
    use crate::testing::InMemory;

    const HASH: &str = "$2a$08$abcdefghijklmnopqrstuu0123456789abcdefghijklmnopqrstu";

    fn legacy(id: i64, name: &str, email: &str, roles: &[&str]) -> LegacyUser {
        LegacyUser {
            source_id: id,
            username: Some(name.into()),
            email: Some(email.into()),
            password_hash: Some(HASH.into()),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            created_at: None,
        }
    }

    #[tokio::test]
    async fn duplicates_and_invalid_rows_are_skipped_and_a_rerun_imports_nothing() {
        assert_eq!(HASH.len(), 60);
        let store = InMemory::seeded();
        let admin = store.admin_service();
        let source = vec![
            legacy(1, "alice", "alice@example.com", &["user", "moderator"]),
            legacy(2, "bob", "bob@example.com", &["user"]),
            legacy(3, "BOB", "bob2@example.com", &["user"]),
            legacy(4, "carol", "c@example.com", &["superuser"]),
            legacy(5, "carl", "C@example.com", &["user"]),
            legacy(6, "a b", "ab@example.com", &["user"]),
            LegacyUser {
                password_hash: Some("plain text".into()),
                ..legacy(7, "dave", "dave@example.com", &["user"])
            },
            legacy(8, "erin", "erin@example.com", &["superuser"]),
        ];
        let dry = admin
            .import_users(
                Operator::Import,
                source.clone(),
                ImportOptions {
                    dry_run: true,
                    ..ImportOptions::default()
                },
            )
            .await
            .unwrap();
        assert_eq!((dry.imported(), dry.duplicates(), dry.invalid()), (2, 4, 2));
        assert!(store.audit_actions().is_empty(), "a dry run writes nothing");

        let report = admin
            .import_users(Operator::Import, source.clone(), ImportOptions::default())
            .await
            .unwrap();
        let outcome = |id: i64| {
            report
                .lines
                .iter()
                .find(|l| l.source_id == id)
                .unwrap()
                .outcome
                .clone()
        };
        assert!(matches!(
            outcome(1),
            ImportOutcome::Imported { id: Some(_), .. }
        ));
        assert_eq!(
            outcome(2),
            ImportOutcome::Duplicate {
                field: UniqueField::Username,
                others: vec![3]
            }
        );
        assert_eq!(
            outcome(5),
            ImportOutcome::Duplicate {
                field: UniqueField::Email,
                others: vec![4]
            }
        );
        assert!(matches!(
            outcome(6),
            ImportOutcome::Invalid {
                field: "username",
                ..
            }
        ));
        assert!(matches!(
            outcome(7),
            ImportOutcome::Invalid {
                field: "password",
                ..
            }
        ));
        // only an unknown role: the account gets `user`, and the name is reported
        match outcome(8) {
            ImportOutcome::Imported { roles, .. } => {
                assert_eq!(roles, super::roles(&["user"]));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(report.unknown_roles(), ["superuser"]);
        assert_eq!(store.audit_actions(), ["user.import", "user.import"]);

        let again = admin
            .import_users(Operator::Import, source, ImportOptions::default())
            .await
            .unwrap();
        assert_eq!((again.imported(), again.already_present()), (0, 2));
    }
}
