//! Role markers and tuples of role or permission markers.

use rolegate_domain::UserId;
use rolegate_domain::access::{Granted, PermissionName};

/// A role that a route can require. Declare one with [`role!`](crate::role).
pub trait Role {
    /// The role name in the token's `roles` claim.
    const NAME: &'static str;
    /// How the 403 message names it: `Require <LABEL> Role!`.
    const LABEL: &'static str;
}

/// Declares a role marker type for [`RequireRole`] / [`RequireAnyRole`]; the
/// type's name is the label of the 403 message:
///
/// ```
/// rolegate_guard::role!(
///     /// The `editor` role.
///     Editor,
///     "editor"
/// );
/// use rolegate_guard::Role;
/// assert_eq!((Editor::NAME, Editor::LABEL), ("editor", "Editor"));
/// ```
#[macro_export]
macro_rules! role {
    ($(#[$meta:meta])* $name:ident, $role:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name;
        impl $crate::Role for $name {
            const NAME: &'static str = $role;
            const LABEL: &'static str = stringify!($name);
        }
    };
}

role!(
    /// The built-in `moderator` role.
    Moderator,
    "moderator"
);
role!(
    /// The built-in `admin` role.
    Admin,
    "admin"
);

/// A set of roles, as a tuple of 1 to 4 [`Role`] markers: `(Moderator, Admin)`.
pub trait Roles {
    /// The role names.
    const NAMES: &'static [&'static str];
    /// Their labels, for the 403 message.
    const LABELS: &'static [&'static str];
}

macro_rules! roles_tuple {
    ($($r:ident),+) => {
        impl<$($r: Role),+> Roles for ($($r,)+) {
            const NAMES: &'static [&'static str] = &[$($r::NAME),+];
            const LABELS: &'static [&'static str] = &[$($r::LABEL),+];
        }
    };
}
roles_tuple!(A);
roles_tuple!(A, B);
roles_tuple!(A, B, C);
roles_tuple!(A, B, C, D);

/// A set of permissions, as a tuple of 1 to 4
/// [`PermissionName`] markers: `(UsersRead, AuditRead)`.
pub trait Permissions {
    /// The permission names.
    const NAMES: &'static [&'static str];
    /// One [`Granted`] proof per permission, as a tuple.
    type Granted: Copy + Send + Sync;
    /// The proofs, if `perms` (a token's) include every permission.
    fn grant_all(user: UserId, perms: &[String]) -> Option<Self::Granted>;
}

macro_rules! permissions_tuple {
    ($($p:ident),+) => {
        impl<$($p: PermissionName),+> Permissions for ($($p,)+) {
            const NAMES: &'static [&'static str] = &[$($p::NAME),+];
            type Granted = ($(Granted<$p>,)+);
            fn grant_all(user: UserId, perms: &[String]) -> Option<Self::Granted> {
                Some(($(Granted::<$p>::from_token(user, perms.iter().map(String::as_str))?,)+))
            }
        }
    };
}
permissions_tuple!(A);
permissions_tuple!(A, B);
permissions_tuple!(A, B, C);
permissions_tuple!(A, B, C, D);
