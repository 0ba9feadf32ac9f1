//! The guards, framework-free: what a request must carry, and the one
//! decision (headers → caller or rejection) the actix-web and axum
//! extractors share.

mod error;
mod markers;
#[cfg(test)]
mod tests;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

pub use error::{ErrorBody, GuardError};
pub use markers::{Admin, Moderator, Permissions, Role, Roles};
use rolegate_domain::UserId;
use rolegate_domain::access::{Granted, PermissionName};

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

/// A caller whose token shows a second factor (`amr` holds `otp`, `hwk` or
/// `mfa`: a one-time code or a passkey) and who passes guard `G`:
/// `RequireMfa` (any signed-in caller), `RequireMfa<RequirePermission<UsersWrite>>`.
/// Otherwise 401, `G`'s 403, or 403 `mfa_required`. Claims only, no database.
///
/// ```
/// use rolegate_guard::{AccessClaims, AuthUser, Guard, RequireMfa};
/// # fn claims(amr: &[&str]) -> AccessClaims {
/// #     serde_json::from_value(serde_json::json!({"iss":"i","aud":"a","sub":"1","exp":2,"iat":1,
/// #         "jti":"j","name":"ann","roles":[],"amr":amr})).unwrap()
/// # }
/// let with = AuthUser { claims: claims(&["pwd", "otp"]).into() };
/// assert!(RequireMfa::<AuthUser>::admit(with).is_ok());
/// let without = AuthUser { claims: claims(&["pwd"]).into() };
/// let refused = RequireMfa::<AuthUser>::admit(without).unwrap_err();
/// assert_eq!((refused.status(), refused.code()), (403, "mfa_required"));
/// ```
pub struct RequireMfa<G: Guard = AuthUser> {
    /// What `G` admitted.
    pub inner: G,
}

impl<G: Guard + fmt::Debug> fmt::Debug for RequireMfa<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireMfa")
            .field("inner", &self.inner)
            .finish()
    }
}

/// The 403 of a token without a second factor.
pub fn mfa_required() -> GuardError {
    forbidden(
        "mfa_required",
        "This requires signing in with a second factor (an authenticator code or a passkey)."
            .to_owned(),
    )
}

impl<G: Guard> Guard for RequireMfa<G> {
    fn admit(user: AuthUser) -> Result<Self, GuardError> {
        if !user.claims.is_multi_factor() {
            return Err(mfa_required());
        }
        Ok(Self {
            inner: G::admit(user)?,
        })
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
    match reason {
        VerifyError::Revoked => GuardError::Revoked,
        other => GuardError::InvalidToken(other),
    }
}
