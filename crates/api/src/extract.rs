//! Extractors: the verified caller, role guards, and JSON bodies whose
//! errors are reported in rolegate's error format.
//!
//! These work in any actix-web app: register a
//! `web::Data<rolegate_auth::TokenVerifier>` and take `AuthUser` (any valid
//! token) or `RequireRole<Admin>` (a valid token with the role) as a handler
//! argument. A handler that takes the guard cannot run without the check.

use std::future::{Ready, ready};
use std::marker::PhantomData;

use actix_web::error::JsonPayloadError;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use rolegate_auth::{AccessClaims, TokenVerifier};
use rolegate_domain::{Granted, UserId};

use crate::error::ApiError;

/// The longest token accepted; anything longer is refused unparsed.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The token of a request: `Authorization: Bearer <t>`, or the tutorial's
/// `x-access-token: <t>` header.
pub fn token_from_request(req: &HttpRequest) -> Option<&str> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty());
    bearer.or_else(|| {
        req.headers()
            .get("x-access-token")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty())
    })
}

/// A caller with a valid access token.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// Shared with the verifier's cache: cloning an `AuthUser` is cheap.
    pub claims: std::sync::Arc<AccessClaims>,
}

impl AuthUser {
    pub fn user_id(&self) -> Option<i64> {
        self.claims.user_id()
    }
    pub fn has_role(&self, role: &str) -> bool {
        self.claims.has_role(role)
    }
}

fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let token = token_from_request(req).ok_or(ApiError::NoToken)?;
    if token.len() > MAX_TOKEN_LEN {
        return Err(ApiError::InvalidToken);
    }
    let verifier = req
        .app_data::<web::Data<TokenVerifier>>()
        .ok_or_else(|| ApiError::Internal("no TokenVerifier registered as app data".into()))?;
    match verifier.verify_shared(token) {
        Ok(claims) => Ok(AuthUser { claims }),
        Err(reason) => {
            tracing::debug!(%reason, "access token refused");
            Err(ApiError::InvalidToken)
        }
    }
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

/// A role that a route can require.
pub trait Role {
    /// The role name in the token's `roles` claim.
    const NAME: &'static str;
    /// How the tutorial's message names it: `Require <LABEL> Role!`.
    const LABEL: &'static str;
}

/// The `moderator` role.
#[derive(Debug)]
pub struct Moderator;
impl Role for Moderator {
    const NAME: &'static str = "moderator";
    const LABEL: &'static str = "Moderator";
}

/// The `admin` role.
#[derive(Debug)]
pub struct Admin;
impl Role for Admin {
    const NAME: &'static str = "admin";
    const LABEL: &'static str = "Admin";
}

/// A caller whose valid token carries role `R`. No token → 401, an invalid
/// token → 401, a valid token without the role → 403 `Require <R> Role!`.
/// The check reads the token's claims only: no database. (The one-role case
/// of [`RequireAnyRole`].)
pub type RequireRole<R> = RequireAnyRole<(R,)>;

/// Declares a role marker type for [`RequireRole`] / [`RequireAnyRole`]:
/// `rolegate_api::role!(Editor, "editor");` (the 403 message says
/// `Require Editor Role!`).
#[macro_export]
macro_rules! role {
    ($(#[$meta:meta])* $name:ident, $role:literal) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub struct $name;
        impl $crate::extract::Role for $name {
            const NAME: &'static str = $role;
            const LABEL: &'static str = stringify!($name);
        }
    };
}

/// A set of roles, as a tuple of [`Role`] markers: `(Moderator, Admin)`.
pub trait Roles {
    const NAMES: &'static [&'static str];
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

/// A caller whose valid token carries at least one of the roles `R`, a
/// tuple of markers: `RequireAnyRole<(Moderator, Admin)>`. Otherwise 401 (no
/// or bad token) or 403 `Require Moderator or Admin Role!`. Claims only.
#[derive(Debug)]
pub struct RequireAnyRole<R: Roles> {
    pub user: AuthUser,
    _roles: PhantomData<R>,
}

impl<R: Roles> FromRequest for RequireAnyRole<R> {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user = authorize(
            req,
            |c| R::NAMES.iter().any(|r| c.has_role(r)),
            "missing_role",
            || format!("Require {} Role!", R::LABELS.join(" or ")),
        );
        ready(user.map(|user| RequireAnyRole {
            user,
            _roles: PhantomData,
        }))
    }
}

/// A valid token whose claims pass `allowed`; otherwise 401 (no or bad
/// token) or 403 with `code` and `message`.
fn authorize(
    req: &HttpRequest,
    allowed: impl FnOnce(&AccessClaims) -> bool,
    code: &'static str,
    message: impl FnOnce() -> String,
) -> Result<AuthUser, ApiError> {
    let user = authenticate(req)?;
    if allowed(&user.claims) {
        Ok(user)
    } else {
        Err(ApiError::Forbidden {
            code,
            message: message(),
        })
    }
}

pub use rolegate_domain::access::{PermissionName, permissions};
pub use rolegate_domain::permission;

/// A caller whose valid token grants permission `P`. No token or an invalid
/// one → 401; a valid token without the permission → 403. Claims only, no
/// database: works in any actix-web service with a `TokenVerifier`.
#[derive(Debug)]
pub struct RequirePermission<P: PermissionName> {
    pub user: AuthUser,
    /// The proof a permission-guarded use case takes.
    pub granted: Granted<P>,
}

impl<P: PermissionName> FromRequest for RequirePermission<P> {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let checked = authorize(
            req,
            |c| c.has_permission(P::NAME),
            "missing_permission",
            || format!("Require permission {}!", P::NAME),
        )
        .and_then(|user| {
            let id = user.user_id().ok_or(ApiError::InvalidToken)?;
            let granted =
                Granted::from_token(UserId(id), user.claims.perms.iter().map(String::as_str))
                    .ok_or(ApiError::InvalidToken)?;
            Ok(RequirePermission { user, granted })
        });
        ready(checked)
    }
}

/// A path parameter of the wrong type (`/api/admin/users/abc`): 400.
pub fn path_error(_err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request(
        "invalid_path",
        "Invalid path parameter: expected an integer id",
    )
    .into()
}

/// A query string that does not parse (`?page=x`): 400, without the value.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    let detail = match &err {
        actix_web::error::QueryPayloadError::Deserialize(e) => without_values(&e.to_string()),
        _ => "could not be read".to_owned(),
    };
    ApiError::bad_request("invalid_query", format!("Invalid query string: {detail}")).into()
}

/// Turns actix's JSON body errors into clear 400/413 JSON errors.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::ContentType => ApiError::bad_request(
            "unsupported_content_type",
            "Content-Type must be application/json",
        ),
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::PayloadTooLarge
        }
        JsonPayloadError::Deserialize(e) if e.is_eof() && e.line() == 1 && e.column() == 0 => {
            ApiError::bad_request(
                "empty_body",
                "Request body is empty; expected a JSON object",
            )
        }
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::bad_request(
            "invalid_field",
            format!(
                "Invalid request body: {}",
                without_values(&strip_position(e))
            ),
        ),
        JsonPayloadError::Deserialize(e) => ApiError::bad_request(
            "malformed_json",
            format!("Malformed JSON: {}", strip_position(e)),
        ),
        _ => ApiError::bad_request("invalid_body", "The request body could not be read"),
    };
    api.into()
}

/// serde's data errors quote the offending value (``invalid type: integer
/// `12345678`, expected a string``), which could be a password: keep only what
/// was expected. Messages that name a field (`missing field `email``) are kept.
fn without_values(message: &str) -> String {
    match message.split_once(", expected ") {
        Some((problem, expected)) => {
            let kind = problem.split(':').next().unwrap_or("invalid value");
            format!("{kind}, expected {expected}")
        }
        None => message.to_owned(),
    }
}

fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// The client's address for rate limits: the TCP peer, or — only when the
/// peer is a trusted proxy — the right-most `X-Forwarded-For` hop that is
/// not itself a trusted proxy (the left part of the header is client-made
/// and can say anything).
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[std::net::IpAddr]) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return "unknown".into();
    };
    if !trusted_proxies.contains(&peer) {
        return peer.to_string();
    }
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for hop in forwarded.rsplit(',') {
        match hop.trim().parse::<std::net::IpAddr>() {
            Ok(ip) if trusted_proxies.contains(&ip) => continue,
            Ok(ip) => return ip.to_string(),
            Err(_) => break,
        }
    }
    peer.to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use actix_web::{App, HttpResponse, get, test, web};
    use rolegate_auth::{JwtConfig, TokenService};
    use rolegate_domain::{AccessSubject, Permission, RoleName, SystemClock, TokenIssuer, UserId};
    use secrecy::SecretString;

    use super::permissions::UsersWrite;
    use super::*;

    #[get("/guarded")]
    async fn guarded(who: RequirePermission<UsersWrite>) -> HttpResponse {
        HttpResponse::Ok().body(who.user.claims.name.clone())
    }

    fn tokens() -> TokenService {
        TokenService::hs256(
            JwtConfig {
                issuer: "rolegate".into(),
                audience: "rolegate".into(),
                access_ttl_secs: 60,
                leeway_secs: 0,
            },
            &SecretString::from("s".repeat(40)),
            Arc::new(SystemClock),
        )
        .unwrap()
    }

    fn token(svc: &TokenService, perms: &[&str]) -> String {
        svc.issue_access(&AccessSubject {
            user_id: UserId(1),
            username: "ann".into(),
            roles: vec![RoleName::user()],
            permissions: perms
                .iter()
                .map(|p| Permission::parse(p).unwrap())
                .collect(),
        })
        .unwrap()
        .token
    }

    crate::role!(Editor, "editor");

    #[get("/staff")]
    async fn staff(who: RequireAnyRole<(Editor, Moderator)>) -> HttpResponse {
        HttpResponse::Ok().body(who.user.claims.name.clone())
    }

    fn token_with_roles(svc: &TokenService, roles: &[&str]) -> String {
        svc.issue_access(&AccessSubject {
            user_id: UserId(2),
            username: "bo".into(),
            roles: roles.iter().map(|r| RoleName::parse(r).unwrap()).collect(),
            permissions: vec![],
        })
        .unwrap()
        .token
    }

    #[actix_web::test]
    async fn require_any_role_takes_one_of_several() {
        let svc = tokens();
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(svc.verifier()))
                .service(staff),
        )
        .await;
        let call = |token: Option<String>| {
            let mut req = test::TestRequest::get().uri("/staff");
            if let Some(t) = token {
                req = req.insert_header(("x-access-token", t));
            }
            req.to_request()
        };
        assert_eq!(test::call_service(&app, call(None)).await.status(), 401);
        let res =
            test::call_service(&app, call(Some(token_with_roles(&svc, &["user", "admin"])))).await;
        assert_eq!(res.status(), 403);
        let body: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(body["error"], "missing_role");
        assert_eq!(body["message"], "Require Editor or Moderator Role!");
        for roles in [&["editor"][..], &["user", "moderator"][..]] {
            let res = test::call_service(&app, call(Some(token_with_roles(&svc, roles)))).await;
            assert_eq!(res.status(), 200, "{roles:?}");
        }
    }

    #[actix_web::test]
    async fn require_permission_in_any_actix_app() {
        let svc = tokens();
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(svc.verifier()))
                .service(guarded),
        )
        .await;
        let call = |token: Option<String>| {
            let mut req = test::TestRequest::get().uri("/guarded");
            if let Some(t) = token {
                req = req.insert_header(("Authorization", format!("Bearer {t}")));
            }
            req.to_request()
        };
        assert_eq!(test::call_service(&app, call(None)).await.status(), 401);
        let res = test::call_service(&app, call(Some(token(&svc, &["users:read"])))).await;
        assert_eq!(res.status(), 403);
        let body: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(body["error"], "missing_permission");
        assert_eq!(body["message"], "Require permission users:write!");
        let res = test::call_service(&app, call(Some(token(&svc, &["users:write"])))).await;
        assert_eq!(res.status(), 200);
        assert_eq!(test::read_body(res).await, "ann");
    }
}
