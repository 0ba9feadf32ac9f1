//! The administration rules against in-memory ports: escalation chains,
//! built-in roles, the last admin, stale decisions, the audit trail. Each
//! runs in milliseconds; the HTTP suite keeps the end-to-end cases.

mod operators;
mod races;
mod roles;
mod users;

use crate::access::{Granted, PermissionName};
use crate::error::{Error, Escalation};
use crate::roles::{Permission, RoleName};
use crate::users::UserId;

pub(super) fn p(name: &str) -> Permission {
    Permission::parse(name).unwrap()
}
pub(super) fn r(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}
pub(super) fn roles(names: &[&str]) -> Vec<RoleName> {
    names.iter().map(|n| r(n)).collect()
}

/// The proof a guard makes from a token that lists `P` (the use case still
/// checks the user's current permissions).
pub(super) fn token<P: PermissionName>(user: UserId) -> Granted<P> {
    Granted::from_token(user, std::iter::once(P::NAME)).unwrap()
}

pub(super) fn escalation(result: Result<impl std::fmt::Debug, Error>) -> Escalation {
    match result {
        Err(Error::Escalation(e)) => e,
        other => panic!("expected an escalation, got {other:?}"),
    }
}
