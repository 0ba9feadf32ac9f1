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
