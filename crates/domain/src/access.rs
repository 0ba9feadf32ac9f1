//! Permissions as types, and the proof that a caller holds one.
//!
//! Each permission is named once, by its marker type ([`PermissionName`]).
//! A guard that checked a verified token hands the use case a
//! [`Granted<P>`]; the administrative use cases take that proof as an
//! argument, so code that skips the guard does not compile:
//!
//! ```compile_fail
//! use rolegate_domain::access::{Granted, permissions::UsersRead};
//! use rolegate_domain::{AdminService, UserId};
//!
//! // Deleting a user needs `Granted<UsersWrite>`: a read permission is refused
//! // by the compiler, not at run time.
//! async fn delete(admin: &AdminService, read: Granted<UsersRead>) {
//!     let _ = admin.delete_user(read, UserId(2)).await;
//! }
//! ```
//!
//! The use case still re-reads the caller's current permissions from the
//! store (a token may be stale); the proof says which permission the action
//! needs and that the caller's token granted it.

use std::marker::PhantomData;

use crate::users::UserId;

/// A permission a route or use case can require (`resource:action`).
///
/// Declare one with [`permission!`](crate::permission); the built-in ones are
/// in [`permissions`].
pub trait PermissionName {
    /// The permission as it appears in tokens and the store.
    const NAME: &'static str;
}

/// Declares a permission marker type:
/// `rolegate_domain::permission!(ReportsRead, "reports:read");`
#[macro_export]
macro_rules! permission {
    ($(#[$meta:meta])* $name:ident, $permission:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name;
        impl $crate::access::PermissionName for $name {
            const NAME: &'static str = $permission;
        }
    };
}

/// The built-in permissions, one marker type each.
pub mod permissions {
    use super::PermissionName;

    crate::permission!(
        /// `content:read`: the user content of `/api/test/user`.
        ContentRead,
        "content:read"
    );
    crate::permission!(
        /// `content:moderate`: the moderator content of `/api/test/mod`.
        ContentModerate,
        "content:moderate"
    );
    crate::permission!(
        /// `users:read`: list and read users.
        UsersRead,
        "users:read"
    );
    crate::permission!(
        /// `users:write`: change users' roles and status, delete users.
        UsersWrite,
        "users:write"
    );
    crate::permission!(
        /// `roles:read`: list roles and permissions.
        RolesRead,
        "roles:read"
    );
    crate::permission!(
        /// `roles:write`: create, change and delete roles and permissions.
        RolesWrite,
        "roles:write"
    );
    crate::permission!(
        /// `audit:read`: read the audit log.
        AuditRead,
        "audit:read"
    );
    crate::permission!(
        /// `tokens:introspect`: ask `POST /api/auth/introspect` whether an
        /// access token is active (RFC 7662), for services that verify
        /// rolegate's tokens.
        TokensIntrospect,
        "tokens:introspect"
    );

    /// Every built-in permission.
    pub const BUILT_IN: [&str; 8] = [
        ContentRead::NAME,
        ContentModerate::NAME,
        UsersRead::NAME,
        UsersWrite::NAME,
        RolesRead::NAME,
        RolesWrite::NAME,
        AuditRead::NAME,
        TokensIntrospect::NAME,
    ];

    /// What the `admin` role always keeps: enough to administer.
    pub const ADMIN_REQUIRED: [&str; 5] = [
        UsersRead::NAME,
        UsersWrite::NAME,
        RolesRead::NAME,
        RolesWrite::NAME,
        AuditRead::NAME,
    ];
}

/// Who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in user (the admin API), checked against their current permissions.
    User(UserId),
    /// An operator: whoever runs the command line or the bootstrap holds
    /// every permission.
    Operator(Operator),
}

/// The kinds of operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// The command line, run by whoever can read the configuration.
    Cli,
    /// The bootstrap of the first admin at start-up.
    Bootstrap,
    /// `rolegate import`: accounts brought from another system.
    Import,
}

impl Operator {
    /// How audit records name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cli => "cli",
            Self::Bootstrap => "bootstrap",
            Self::Import => "import",
        }
    }
}

/// Proof that `actor`'s credentials granted permission `P`: made by a guard
/// from a verified token, or by an operator.
#[derive(Debug)]
pub struct Granted<P: PermissionName> {
    actor: Actor,
    _permission: PhantomData<fn() -> P>,
}

impl<P: PermissionName> Clone for Granted<P> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P: PermissionName> Copy for Granted<P> {}

impl<P: PermissionName> Granted<P> {
    /// For guards: `user`'s verified token lists `permissions`; `Some` when
    /// they include `P`.
    pub fn from_token<'a>(
        user: UserId,
        mut permissions: impl Iterator<Item = &'a str>,
    ) -> Option<Self> {
        permissions.any(|p| p == P::NAME).then_some(Self {
            actor: Actor::User(user),
            _permission: PhantomData,
        })
    }

    /// Operators hold every permission.
    pub fn operator(operator: Operator) -> Self {
        Self {
            actor: Actor::Operator(operator),
            _permission: PhantomData,
        }
    }

    /// Who holds the proof.
    pub fn actor(&self) -> Actor {
        self.actor
    }

    /// The permission proven.
    pub fn permission(&self) -> &'static str {
        P::NAME
    }
}

#[cfg(test)]
mod tests {
    use super::permissions::*;
    use super::*;

    #[test]
    fn a_token_grants_only_what_it_lists() {
        let granted =
            Granted::<UsersWrite>::from_token(UserId(7), ["users:read", "users:write"].into_iter());
        assert_eq!(granted.map(|g| g.actor()), Some(Actor::User(UserId(7))));
        assert!(Granted::<UsersWrite>::from_token(UserId(7), ["users:read"].into_iter()).is_none());
        assert!(Granted::<AuditRead>::from_token(UserId(7), std::iter::empty()).is_none());
    }

    #[test]
    fn built_in_names_are_valid_permissions() {
        for p in BUILT_IN {
            assert_eq!(
                crate::roles::Permission::parse(p).map(|x| x.as_str().to_owned()),
                Ok(p.to_owned())
            );
        }
        for p in ADMIN_REQUIRED {
            assert!(BUILT_IN.contains(&p));
        }
    }
}
