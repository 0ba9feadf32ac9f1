//! The guards, framework-free: what a request must carry, and the one
//! decision (headers → caller or rejection) the actix-web and axum
//! extractors share.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use rolegate_domain::UserId;
use rolegate_domain::access::{Granted, PermissionName};
use serde::Serialize;

use crate::claims::AccessClaims;
use crate::verifier::{TokenVerifier, VerifyError};

/// The longest token accepted; anything longer is refused unparsed (401).
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The token of a request, from the values of its `Authorization` header
/// (`Bearer <token>`, scheme case-insensitive) or, failing that, its
/// `x-access-token` header (the tutorial's clients).
///
/// ```
/// use rolegate_guard::token_from_headers;
///
/// assert_eq!(token_from_headers(Some(b"bearer abc"), None), Some("abc"));
/// assert_eq!(token_from_headers(Some(b"Basic eDp5"), Some(b" t ")), Some("t"));
/// assert_eq!(token_from_headers(Some(b"Bearer "), None), None);
/// ```
pub fn token_from_headers<'a>(
    authorization: Option<&'a [u8]>,
    x_access_token: Option<&'a [u8]>,
) -> Option<&'a str> {
    let bearer = authorization
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty());
    bearer.or_else(|| {
        x_access_token
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
            .filter(|t| !t.is_empty())
    })
}

/// Why a guard refused a request. With the `actix` or `axum` feature it is
/// the extractors' rejection and answers with rolegate's JSON errors:
///
/// | variant | status | body | header |
/// |---|---|---|---|
/// | `NoToken` | 401 | `{"error":"no_token","message":"No token provided!"}` | `WWW-Authenticate: Bearer` |
/// | `InvalidToken` | 401 | `{"error":"invalid_token","message":"Unauthorized!"}` | `WWW-Authenticate: Bearer error="invalid_token"` |
/// | `Forbidden` | 403 | `{"error":"missing_role","message":"Require Admin Role!"}` | |
/// | `MissingVerifier` | 500 | `{"error":"internal","message":"Internal server error."}` | |
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// The request carries no token.
    #[error("No token provided!")]
    NoToken,
    /// The token was refused; the reason is for logs, never sent.
    #[error("Unauthorized!")]
    InvalidToken(VerifyError),
    /// A valid token without the role or permission the route requires.
    #[error("{message}")]
    Forbidden {
        /// `missing_role` or `missing_permission`.
        code: &'static str,
        /// e.g. `Require Moderator Role!`.
        message: String,
    },
    /// The app has no [`TokenVerifier`] installed (a set-up mistake).
    #[error("no TokenVerifier is installed")]
    MissingVerifier,
}

/// The JSON body of a rejection: `{"error": …, "message": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody<'a> {
    /// Stable, machine-readable code.
    pub error: &'static str,
    /// For people.
    pub message: Cow<'a, str>,
}

impl GuardError {
    /// The HTTP status: 401, 403 or 500.
    pub fn status(&self) -> u16 {
        match self {
            Self::NoToken | Self::InvalidToken(_) => 401,
            Self::Forbidden { .. } => 403,
            Self::MissingVerifier => 500,
        }
    }

    /// The stable code of the body's `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoToken => "no_token",
            Self::InvalidToken(_) => "invalid_token",
            Self::Forbidden { code, .. } => code,
            Self::MissingVerifier => "internal",
        }
    }

    /// The `WWW-Authenticate` header of a 401.
    pub fn www_authenticate(&self) -> Option<&'static str> {
        match self {
            Self::NoToken => Some("Bearer"),
            Self::InvalidToken(_) => Some("Bearer error=\"invalid_token\""),
            _ => None,
        }
    }

    /// The response body.
    pub fn body(&self) -> ErrorBody<'_> {
        let message = match self {
            Self::Forbidden { message, .. } => Cow::Borrowed(message.as_str()),
            Self::MissingVerifier => Cow::Borrowed("Internal server error."),
            other => Cow::Owned(other.to_string()),
        };
        ErrorBody {
            error: self.code(),
            message,
        }
    }

    /// The response body as JSON text.
    pub fn body_json(&self) -> String {
        serde_json::to_string(&self.body()).unwrap_or_else(|_| {
            r#"{"error":"internal","message":"Internal server error."}"#.to_owned()
        })
    }
}

/// A caller with a valid access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    /// Shared with the verifier's cache: cloning an `AuthUser` is cheap.
    pub claims: Arc<AccessClaims>,
}

impl AuthUser {
    /// The user's numeric id.
    pub fn user_id(&self) -> i64 {
        self.claims.user_id()
    }

    /// Whether the token carries the role `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.claims.has_role(role)
    }

    /// Whether the token grants `permission`.
    pub fn has_permission(&self, permission: &str) -> bool {
        self.claims.has_permission(permission)
    }
}

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

/// A caller whose valid token carries at least one of the roles `R`, a
/// tuple of markers: `RequireAnyRole<(Editor, Moderator)>`. Otherwise 401
/// (no or bad token) or 403 `Require Editor or Moderator Role!`
/// (`missing_role`). Claims only, no database.
pub struct RequireAnyRole<R: Roles> {
    /// The caller.
    pub user: AuthUser,
    _roles: PhantomData<fn() -> R>,
}

/// A caller whose valid token carries the role `R`: `RequireRole<Admin>`;
/// otherwise 401 or 403 `Require Admin Role!`. (The one-role case of
/// [`RequireAnyRole`].)
pub type RequireRole<R> = RequireAnyRole<(R,)>;

/// A caller whose valid token grants permission `P`, with the proof a use
/// case can demand (`Granted<P>`). Otherwise 401 or 403
/// `Require permission users:write!` (`missing_permission`).
pub struct RequirePermission<P: PermissionName> {
    /// The caller.
    pub user: AuthUser,
    /// Proof that the caller's token grants `P`.
    pub granted: Granted<P>,
}

/// A caller whose valid token grants at least one of the permissions `P`, a
/// tuple of markers. Otherwise 401 or 403
/// `Require permission content:read or content:moderate!`.
pub struct RequireAnyPermission<P: Permissions> {
    /// The caller.
    pub user: AuthUser,
    _permissions: PhantomData<fn() -> P>,
}

/// A caller whose valid token grants every permission `P`, a tuple of
/// markers, with one proof per permission. Otherwise 401 or 403
/// `Require permissions users:read and audit:read!`.
pub struct RequireAllPermissions<P: Permissions> {
    /// The caller.
    pub user: AuthUser,
    /// The proofs, in the order of the tuple.
    pub granted: P::Granted,
}

impl<R: Roles> fmt::Debug for RequireAnyRole<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireAnyRole")
            .field("roles", &R::NAMES)
            .field("user", &self.user)
            .finish()
    }
}

impl<P: PermissionName> fmt::Debug for RequirePermission<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequirePermission")
            .field("permission", &P::NAME)
            .field("user", &self.user)
            .finish()
    }
}

impl<P: Permissions> fmt::Debug for RequireAnyPermission<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireAnyPermission")
            .field("permissions", &P::NAMES)
            .field("user", &self.user)
            .finish()
    }
}

impl<P: Permissions> fmt::Debug for RequireAllPermissions<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireAllPermissions")
            .field("permissions", &P::NAMES)
            .field("user", &self.user)
            .finish()
    }
}

/// What a guard requires of a caller whose token verified: implemented by
/// [`AuthUser`] and the `Require*` types. With [`authorize`], the way to use
/// the guards in a framework this crate has no feature for.
pub trait Guard: Sized {
    /// The guard for `user`, or a 403.
    fn admit(user: AuthUser) -> Result<Self, GuardError>;
}

impl Guard for AuthUser {
    fn admit(user: AuthUser) -> Result<Self, GuardError> {
        Ok(user)
    }
}

fn forbidden(code: &'static str, message: String) -> GuardError {
    GuardError::Forbidden { code, message }
}

impl<R: Roles> Guard for RequireAnyRole<R> {
    fn admit(user: AuthUser) -> Result<Self, GuardError> {
        if R::NAMES.iter().any(|r| user.has_role(r)) {
            Ok(Self {
                user,
                _roles: PhantomData,
            })
        } else {
            Err(forbidden(
                "missing_role",
                format!("Require {} Role!", R::LABELS.join(" or ")),
            ))
        }
    }
}

impl<P: PermissionName> Guard for RequirePermission<P> {
    fn admit(user: AuthUser) -> Result<Self, GuardError> {
        let id = UserId(user.user_id());
        match Granted::<P>::from_token(id, user.claims.perms.iter().map(String::as_str)) {
            Some(granted) => Ok(Self { user, granted }),
            None => Err(forbidden(
                "missing_permission",
                format!("Require permission {}!", P::NAME),
            )),
        }
    }
}

impl<P: Permissions> Guard for RequireAnyPermission<P> {
    fn admit(user: AuthUser) -> Result<Self, GuardError> {
        if P::NAMES.iter().any(|p| user.has_permission(p)) {
            Ok(Self {
                user,
                _permissions: PhantomData,
            })
        } else {
            Err(forbidden(
                "missing_permission",
                format!("Require permission {}!", P::NAMES.join(" or ")),
            ))
        }
    }
}

impl<P: Permissions> Guard for RequireAllPermissions<P> {
    fn admit(user: AuthUser) -> Result<Self, GuardError> {
        match P::grant_all(UserId(user.user_id()), &user.claims.perms) {
            Some(granted) => Ok(Self { user, granted }),
            None => Err(forbidden(
                "missing_permission",
                if P::NAMES.len() == 1 {
                    format!("Require permission {}!", P::NAMES.join(""))
                } else {
                    format!("Require permissions {}!", P::NAMES.join(" and "))
                },
            )),
        }
    }
}

/// The outcome of the synchronous part of a guard's decision.
pub(crate) enum Decision<G> {
    Done(Result<G, GuardError>),
    /// A remote verifier may know the key after a refresh: finish with
    /// [`decide_after_refresh`].
    Refresh {
        verifier: TokenVerifier,
        token: String,
        error: VerifyError,
    },
}

/// The decision every extractor makes, without I/O: a verifier, a token of
/// at most [`MAX_TOKEN_LEN`] bytes that verifies, and claims that pass `G`.
pub(crate) fn decide<G: Guard>(
    verifier: Option<&TokenVerifier>,
    token: Option<&str>,
) -> Decision<G> {
    let Some(verifier) = verifier else {
        return Decision::Done(Err(GuardError::MissingVerifier));
    };
    let Some(token) = token else {
        return Decision::Done(Err(GuardError::NoToken));
    };
    if token.len() > MAX_TOKEN_LEN {
        return Decision::Done(Err(refused(VerifyError::Malformed)));
    }
    match verifier.verify_shared(token) {
        Ok(claims) => Decision::Done(G::admit(AuthUser { claims })),
        Err(error) if verifier.may_refresh(&error) => Decision::Refresh {
            verifier: verifier.clone(),
            token: token.to_owned(),
            error,
        },
        Err(error) => Decision::Done(Err(refused(error))),
    }
}

/// The decision every extractor makes, for any framework: `token` (see
/// [`token_from_headers`]) must be present, at most [`MAX_TOKEN_LEN`]
/// bytes, verify ([`TokenVerifier::verify_fresh`]: a remote verifier may
/// refresh its keys first) and pass guard `G`.
///
/// ```
/// use rolegate_guard::{AuthUser, GuardError, TokenVerifier, VerifierConfig, authorize};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), rolegate_guard::KeyError> {
/// let verifier = TokenVerifier::hs256(&VerifierConfig::default(), &[7; 32])?;
/// let refused = authorize::<AuthUser>(&verifier, None).await.unwrap_err();
/// assert_eq!(refused, GuardError::NoToken);
/// assert_eq!(refused.status(), 401);
/// assert_eq!(refused.body_json(), r#"{"error":"no_token","message":"No token provided!"}"#);
/// # Ok(()) }
/// ```
pub async fn authorize<G: Guard>(
    verifier: &TokenVerifier,
    token: Option<&str>,
) -> Result<G, GuardError> {
    match decide::<G>(Some(verifier), token) {
        Decision::Done(result) => result,
        Decision::Refresh {
            verifier,
            token,
            error,
        } => decide_after_refresh(verifier, token, error).await,
    }
}

/// The end of a decision that needed a key refresh.
pub(crate) async fn decide_after_refresh<G: Guard>(
    verifier: TokenVerifier,
    token: String,
    error: VerifyError,
) -> Result<G, GuardError> {
    match verifier.refresh_and_retry(&token, error).await {
        Ok(claims) => G::admit(AuthUser { claims }),
        Err(error) => Err(refused(error)),
    }
}

fn refused(reason: VerifyError) -> GuardError {
    tracing::debug!(%reason, "access token refused");
    GuardError::InvalidToken(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    rolegate_domain::permission!(ARead, "a:read");
    rolegate_domain::permission!(BRead, "b:read");
    role!(Editor, "editor");

    fn user(roles: &[&str], perms: &[&str]) -> AuthUser {
        AuthUser {
            claims: Arc::new(AccessClaims {
                iss: "rolegate".into(),
                aud: "rolegate".into(),
                sub: 9,
                exp: 0,
                iat: 0,
                jti: "j".into(),
                name: "n".into(),
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                perms: perms.iter().map(|p| (*p).to_owned()).collect(),
            }),
        }
    }

    fn message<G: Guard>(u: AuthUser) -> Option<String> {
        G::admit(u).err().map(|e| e.body_json())
    }

    #[test]
    fn forbidden_messages() {
        assert_eq!(
            message::<RequireAnyRole<(Editor, Moderator)>>(user(&["user"], &[])).as_deref(),
            Some(r#"{"error":"missing_role","message":"Require Editor or Moderator Role!"}"#)
        );
        assert_eq!(
            message::<RequireRole<Moderator>>(user(&["admin"], &[])).as_deref(),
            Some(r#"{"error":"missing_role","message":"Require Moderator Role!"}"#)
        );
        assert_eq!(
            message::<RequireAnyPermission<(ARead, BRead)>>(user(&[], &["c:read"])).as_deref(),
            Some(
                r#"{"error":"missing_permission","message":"Require permission a:read or b:read!"}"#
            )
        );
        assert_eq!(
            message::<RequireAllPermissions<(ARead, BRead)>>(user(&[], &["a:read"])).as_deref(),
            Some(
                r#"{"error":"missing_permission","message":"Require permissions a:read and b:read!"}"#
            )
        );
        assert_eq!(
            message::<RequirePermission<ARead>>(user(&[], &["b:read"])).as_deref(),
            Some(r#"{"error":"missing_permission","message":"Require permission a:read!"}"#)
        );
    }

    #[test]
    fn grants_carry_proofs() {
        let all = RequireAllPermissions::<(ARead, BRead)>::admit(user(&[], &["b:read", "a:read"]))
            .unwrap();
        assert_eq!(
            (all.granted.0.permission(), all.granted.1.permission()),
            ("a:read", "b:read")
        );
        assert_eq!(
            all.granted.0.actor(),
            rolegate_domain::access::Actor::User(UserId(9))
        );
        let one = RequirePermission::<BRead>::admit(user(&[], &["b:read"])).unwrap();
        assert_eq!(one.granted.permission(), "b:read");
        assert!(RequireAnyPermission::<(ARead, BRead)>::admit(user(&[], &["b:read"])).is_ok());
        assert!(RequireAnyRole::<(Editor, Admin)>::admit(user(&["admin"], &[])).is_ok());
    }

    #[test]
    fn error_bodies_and_headers() {
        assert_eq!(
            GuardError::NoToken.body_json(),
            r#"{"error":"no_token","message":"No token provided!"}"#
        );
        assert_eq!(
            GuardError::InvalidToken(VerifyError::Expired).body_json(),
            r#"{"error":"invalid_token","message":"Unauthorized!"}"#
        );
        assert_eq!(
            GuardError::MissingVerifier.body_json(),
            r#"{"error":"internal","message":"Internal server error."}"#
        );
        assert_eq!(GuardError::NoToken.www_authenticate(), Some("Bearer"));
        assert_eq!(
            GuardError::InvalidToken(VerifyError::Malformed).www_authenticate(),
            Some("Bearer error=\"invalid_token\"")
        );
        assert_eq!(GuardError::MissingVerifier.status(), 500);
    }

    #[test]
    fn token_sources_and_length_limit() {
        assert_eq!(
            token_from_headers(Some(b"BEARER  t1 "), Some(b"t2")),
            Some("t1")
        );
        assert_eq!(token_from_headers(None, Some(b"t2")), Some("t2"));
        assert_eq!(token_from_headers(Some(b"Bearer"), None), None);
        assert_eq!(token_from_headers(None, Some(b"  ")), None);
        assert_eq!(token_from_headers(Some(&[0xff, 0x20, 0x41]), None), None);
        let verifier = TokenVerifier::hs256(&Default::default(), &[7; 32]).unwrap();
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert!(matches!(
            decide::<AuthUser>(Some(&verifier), Some(&long)),
            Decision::Done(Err(GuardError::InvalidToken(VerifyError::Malformed)))
        ));
        assert!(matches!(
            decide::<AuthUser>(Some(&verifier), None),
            Decision::Done(Err(GuardError::NoToken))
        ));
        assert!(matches!(
            decide::<AuthUser>(None, Some("x")),
            Decision::Done(Err(GuardError::MissingVerifier))
        ));
    }
}
