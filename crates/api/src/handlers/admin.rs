//! `/api/admin`: users, roles, permissions and the audit log.
//!
//! Each route takes a `RequirePermission<…>` guard (the token must grant the
//! permission), and the use case checks the caller's *current* permissions in
//! the database again, so a demoted admin's unexpired token cannot change
//! anything.

use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use rolegate_domain::{
    AuditEvent, Description, Error, FieldErrors, NewRole, Permission, PermissionInfo,
    PermissionName, RoleInfo, RoleName, User, UserId, UserProfile,
};

use crate::AppState;
use crate::cursor::{self, List};
use crate::dto::{
    AdminUser, AuditEventResponse, AuditPage, CreatePermissionRequest, CreateRoleRequest,
    PageParams, PermissionResponse, RoleResponse, SetRolesRequest, UpdateRoleRequest,
    UpdateUserRequest, UserListParams, UserPage,
};
use crate::error::{ApiError, ErrorBody};
use crate::permissions::{AuditRead, RolesRead, RolesWrite, UsersRead, UsersWrite};
use rolegate_guard::RequirePermission;

/// Longest name echoed back in an error message.
const MAX_ECHO: usize = 64;

fn admin_user(u: User, permissions: Option<Vec<Permission>>) -> AdminUser {
    AdminUser {
        id: u.id.0,
        username: u.username,
        email: u.email,
        roles: u.roles.iter().map(ToString::to_string).collect(),
        disabled: u.disabled,
        created_at: u.created_at,
        email_verified: u.email_verified,
        permissions: permissions.map(|p| p.iter().map(ToString::to_string).collect()),
    }
}

fn profile(p: UserProfile) -> AdminUser {
    admin_user(p.user, Some(p.permissions))
}

fn role(r: RoleInfo) -> RoleResponse {
    RoleResponse {
        name: r.name.to_string(),
        description: r.description.to_string(),
        built_in: r.built_in,
        permissions: r.permissions.iter().map(ToString::to_string).collect(),
    }
}

fn permission_response(p: PermissionInfo) -> PermissionResponse {
    PermissionResponse {
        name: p.name.to_string(),
        description: p.description.to_string(),
        built_in: p.built_in,
    }
}

fn audit_event(e: AuditEvent) -> AuditEventResponse {
    let detail =
        serde_json::from_str(&e.event.detail).unwrap_or(serde_json::Value::String(e.event.detail));
    AuditEventResponse {
        id: e.id,
        at: e.event.at,
        actor_id: e.event.actor_id.map(|id| id.0),
        actor: e.event.actor,
        action: e.event.action,
        target: e.event.target,
        detail,
    }
}

fn echo(raw: &str) -> String {
    raw.chars().take(MAX_ECHO).collect()
}

/// Role names from a request body; an invalid name cannot exist: 400 `unknown_role`.
fn role_names(raw: &[String]) -> Result<Vec<RoleName>, ApiError> {
    raw.iter()
        .map(|r| RoleName::parse(r).map_err(|_| Error::UnknownRole(echo(r)).into()))
        .collect()
}

/// Permission names from a request body; an invalid name cannot exist: 400 `unknown_permission`.
fn permission_names(raw: &[String]) -> Result<Vec<Permission>, ApiError> {
    raw.iter()
        .map(|p| Permission::parse(p).map_err(|_| Error::UnknownPermission(echo(p)).into()))
        .collect()
}

fn description(raw: Option<String>, errors: &mut FieldErrors) -> Option<Description> {
    errors.check("description", Description::parse(&raw?))
}

/// A role name from the path: one that cannot be valid cannot be found.
fn path_role(raw: &str) -> Result<RoleName, ApiError> {
    RoleName::parse(raw).map_err(|_| Error::RoleNotFound(echo(raw)).into())
}

/// List users.
///
/// By id. `q` finds users whose username or e-mail *starts with* it (an
/// indexed prefix search; `%` and `_` are literal). Numbered pages skip at
/// most 10 000 users; `next` is the cursor of the page that follows (pass it
/// as `cursor`), which reaches any depth at the same cost. `total` is
/// counted up to 10 000 (`totalCapped`).
#[utoipa::path(
    tag = "admin",
    params(UserListParams),
    security(("bearer" = []), ("x-access-token" = [])),
    extensions(("x-required-permission" = json!(UsersRead::NAME))),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 400, description = "page, per_page or q out of bounds, a page beyond 10 000 items, page with cursor, or a cursor this list did not give out (validation_failed); a query string that does not parse (invalid_query)", body = ErrorBody,
            example = json!({"error": "validation_failed", "message": "Invalid input: cursor is not a cursor of this list: pass the `next` value of a page as it was given, or leave cursor out to start from the first page", "fields": {"cursor": "is not a cursor of this list: pass the `next` value of a page as it was given, or leave cursor out to start from the first page"}})),
        (status = 401, description = "No token or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks the required permission", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    who: RequirePermission<UsersRead>,
    query: web::Query<UserListParams>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let paging = cursor::page_request(List::Users, q.page, q.per_page, q.cursor.as_deref())?;
    let found = state
        .admin
        .list_users(who.granted, q.q.as_deref(), paging)
        .await?;
    Ok(HttpResponse::Ok().json(UserPage {
        items: found
            .items
            .into_iter()
            .map(|u| admin_user(u, None))
            .collect(),
        page: found.page,
        per_page: found.per_page,
        total: found.total,
        total_capped: found.total_capped,
        next: found.next.map(|id| cursor::encode(List::Users, id)),
    }))
}

/// One user, with the permissions their roles grant.
#[utoipa::path(
    tag = "admin",
    params(("id" = i64, Path, description = "The user's id", example = 1)),
    security(("bearer" = []), ("x-access-token" = [])),
    extensions(("x-required-permission" = json!(UsersRead::NAME))),
    responses(
        (status = 200, description = "The user", body = AdminUser),
        (status = 400, description = "The id is not an integer", body = ErrorBody),
        (status = 401, description = "No token or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks the required permission", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[get("/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    who: RequirePermission<UsersRead>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let user = state
        .admin
        .get_user(who.granted, UserId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(profile(user)))
}

/// Replace a user's roles.
///
/// The caller must hold every permission the user holds now, and every
/// permission of each role being added (403 `escalation`). Removing `admin` from the
/// last active admin is refused (409 `last_admin`). Takes effect at the
/// user's next sign-in or refresh; access tokens already issued keep their
/// roles until they expire.
#[utoipa::path(
    tag = "admin",
    params(("id" = i64, Path, description = "The user's id", example = 1)),
    request_body = SetRolesRequest,
    security(("bearer" = []), ("x-access-token" = [])),
    extensions(("x-required-permission" = json!(UsersWrite::NAME))),
    responses(
        (status = 200, description = "The user after the change", body = AdminUser),
        (status = 400, description = "Unknown role, malformed body, or a non-integer id (invalid_path)", body = ErrorBody,
            example = json!({"error": "unknown_role", "message": "Failed! Role does not exist = editor"})),
        (status = 401, description = "No token or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks the required permission, or would grant what the caller does not hold", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "Would leave no active admin (last_admin), or the user or a role changed meanwhile (concurrent_change)", body = ErrorBody,
            example = json!({"error": "last_admin", "message": "The last active admin cannot be removed, disabled or deleted: make another user admin first."})),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[put("/users/{id}/roles")]
pub async fn set_user_roles(
    state: web::Data<AppState>,
    who: RequirePermission<UsersWrite>,
    id: web::Path<i64>,
    body: web::Json<SetRolesRequest>,
) -> Result<HttpResponse, ApiError> {
    let roles = role_names(&body.roles)?;
    let user = state
        .admin
        .set_user_roles(who.granted, UserId(id.into_inner()), &roles)
        .await?;
    Ok(HttpResponse::Ok().json(profile(user)))
}

/// Disable or enable a user.
///
/// The caller must hold every permission the user holds (403 `escalation`).
/// A disabled user cannot sign in or refresh, and their sessions end.
/// Disabling the last active admin is refused (409 `last_admin`).
#[utoipa::path(
    tag = "admin",
    params(("id" = i64, Path, description = "The user's id", example = 1)),
    request_body = UpdateUserRequest,
    security(("bearer" = []), ("x-access-token" = [])),
    extensions(("x-required-permission" = json!(UsersWrite::NAME))),
    responses(
        (status = 200, description = "The user after the change", body = AdminUser),
        (status = 400, description = "Malformed body, or a non-integer id (invalid_path)", body = ErrorBody),
        (status = 401, description = "No token or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks the required permission, and every permission the user holds", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "Would leave no active admin (last_admin), or the user changed meanwhile (concurrent_change)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[patch("/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    who: RequirePermission<UsersWrite>,
    id: web::Path<i64>,
    body: web::Json<UpdateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = state
        .admin
        .set_user_disabled(who.granted, UserId(id.into_inner()), body.disabled)
        .await?;
    Ok(HttpResponse::Ok().json(profile(user)))
}

/// Clear a user's failed sign-in counters.
///
/// Sign-in limits count failures per account and client address, and per
/// account from all addresses; this clears every one of the user's counters
/// (from every address), so the user — and anyone else — may try again at
/// once. The caller must hold every permission the user holds (403
/// `escalation`). Audited as `user.unlock`. With the in-memory counter store
/// (`rate_limit.store = "memory"`), only this instance's counters are cleared.
#[utoipa::path(
    tag = "admin",
    params(("id" = i64, Path, description = "The user's id")),
    security(("bearer" = []), ("x-access-token" = [])),
    extensions(("x-required-permission" = json!(UsersWrite::NAME))),
    responses(
        (status = 200, description = "Unlocked: the user", body = AdminUser),
        (status = 400, description = "The id is not an integer", body = ErrorBody),
        (status = 401, description = "No token or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks the required permission, and every permission the user holds", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "The user or the caller's permissions changed meanwhile (concurrent_change)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/users/{id}/unlock")]
pub async fn unlock_user(
    state: web::Data<AppState>,
    who: RequirePermission<UsersWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let user = state
        .admin
        .unlock_user(who.granted, UserId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(profile(user)))
}

/// Reset a user's second factors.
///
/// For a user who lost their device: the authenticator app, the recovery
/// codes and passkeys go; the user signs in with the password alone until
/// they enrol again. Sessions stay. Audited as `user.mfa.reset`. The caller
/// must hold every permission the user holds (403 `escalation`).
#[utoipa::path(
    tag = "admin",
    params(("id" = i64, Path, description = "The user's id")),
    security(("bearer" = []), ("x-access-token" = [])),
    extensions(("x-required-permission" = json!(UsersWrite::NAME))),
    responses(
        (status = 200, description = "Reset: the user", body = AdminUser),
        (status = 400, description = "The id is not an integer", body = ErrorBody),
        (status = 401, description = "No token or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks the required permission, and every permission the user holds; or `mfa_required` (`auth.admin_requires_mfa`)", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "The user or the caller's permissions changed meanwhile (concurrent_change)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[delete("/users/{id}/mfa")]
pub async fn reset_user_mfa(
    state: web::Data<AppState>,
    who: RequirePermission<UsersWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let user = state
        .admin
        .reset_user_mfa(who.granted, UserId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(profile(user)))
}

/// Delete a user with their roles and sessions.
///
/// The caller must hold every permission the user holds (403 `escalation`).
/// Deleting the last active admin is refused (409 `last_admin`).
#[utoipa::path(
    tag = "admin",
    params(("id" = i64, Path, description = "The user's id", example = 1)),
    security(("bearer" = []), ("x-access-token" = [])),
    extensions(("x-required-permission" = json!(UsersWrite::NAME))),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not an integer", body = ErrorBody),
        (status = 401, description = "No token or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks the required permission, and every permission the user holds", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "Would leave no active admin (last_admin), or the user changed meanwhile (concurrent_change)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[delete("/users/{id}")]
pub async fn delete_user(
    state: web::Data<AppState>,
    who: RequirePermission<UsersWrite>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state
        .admin
        .delete_user(who.granted, UserId(id.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List roles with their permissions.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = []), ("x-access-token" = [])),
    extensions(("x-required-permission" = json!(RolesRead::NAME))),
    responses(
        (status = 200, description = "Every role, built-in ones first", body = Vec<RoleResponse>),
        (status = 401, description = "No token or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks the required permission", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[get("/roles")]
pub async fn list_roles(
    state: web::Data<AppState>,
    who: RequirePermission<RolesRead>,
) -> Result<HttpResponse, ApiError> {
    let roles = state.admin.list_roles(who.granted).await?;
    Ok(HttpResponse::Ok().json(roles.into_iter().map(role).collect::<Vec<_>>()))
}

/// Create a role.
///
/// Only permissions the caller holds can be given (403 `escalation`).
#[utoipa::path(
    tag = "admin",
    request_body = CreateRoleRequest,
    security(("bearer" = []), ("x-access-token" = [])),
    extensions(("x-required-permission" = json!(RolesWrite::NAME))),
    responses(
        (status = 201, description = "The new role", body = RoleResponse),
        (status = 400, description = "Invalid name, unknown permission or malformed body", body = ErrorBody),
        (status = 401, description = "No token or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks the required permission, or would grant what the caller does not hold", body = ErrorBody),
        (status = 409, description = "The role exists (role_exists), or the caller's permissions changed meanwhile (concurrent_change)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/roles")]
pub async fn create_role(
    state: web::Data<AppState>,
    who: RequirePermission<RolesWrite>,
    body: web::Json<CreateRoleRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut errors = FieldErrors::default();
    let name = errors.check("name", RoleName::parse(&body.name));
    let description = description(body.description, &mut errors);
    let Some(name) = name.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let permissions = permission_names(&body.permissions)?;
    let created = state
        .admin
        .create_role(
            who.granted,
            NewRole {
                name,
                description: description.unwrap_or_default(),
                permissions,
            },
        )
        .await?;
    Ok(HttpResponse::Created().json(role(created)))
}

/// Replace a role's permissions.
///
/// The caller must hold every permission the role grants before and after
/// the change (403 `escalation`). `admin` always keeps the permissions
/// needed to administer, and `user` (every new account's role) never gets
/// them (409 `built_in_role`). Takes effect at its users' next sign-in or refresh.
#[utoipa::path(
    tag = "admin",
    params(("name" = String, Path, description = "The role's name")),
    request_body = UpdateRoleRequest,
    security(("bearer" = []), ("x-access-token" = [])),
    extensions(("x-required-permission" = json!(RolesWrite::NAME))),
    responses(
        (status = 200, description = "The role after the change", body = RoleResponse),
        (status = 400, description = "Unknown permission or malformed body", body = ErrorBody),
        (status = 401, description = "No token or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks the required permission, or would grant what the caller does not hold", body = ErrorBody),
        (status = 404, description = "No such role", body = ErrorBody),
        (status = 409, description = "Would take from admin what it needs to administer, or give user an administrative permission (built_in_role); or the role changed meanwhile (concurrent_change)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[put("/roles/{name}")]
pub async fn update_role(
    state: web::Data<AppState>,
    who: RequirePermission<RolesWrite>,
    name: web::Path<String>,
    body: web::Json<UpdateRoleRequest>,
) -> Result<HttpResponse, ApiError> {
    let name = path_role(&name)?;
    let body = body.into_inner();
    let mut errors = FieldErrors::default();
    let description = description(body.description, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let permissions = permission_names(&body.permissions)?;
    let updated = state
        .admin
        .update_role(who.granted, &name, &permissions, description.as_ref())
        .await?;
    Ok(HttpResponse::Ok().json(role(updated)))
}

/// Delete a custom role; its users lose it.
///
/// The caller must hold every permission the role grants (403 `escalation`).
/// Built-in roles cannot be deleted (409 `built_in_role`).
#[utoipa::path(
    tag = "admin",
    params(("name" = String, Path, description = "The role's name")),
    security(("bearer" = []), ("x-access-token" = [])),
    extensions(("x-required-permission" = json!(RolesWrite::NAME))),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No token or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks the required permission, and every permission the role grants", body = ErrorBody),
        (status = 404, description = "No such role", body = ErrorBody),
        (status = 409, description = "A built-in role (built_in_role), or the role changed meanwhile (concurrent_change)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[delete("/roles/{name}")]
pub async fn delete_role(
    state: web::Data<AppState>,
    who: RequirePermission<RolesWrite>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = path_role(&name)?;
    state.admin.delete_role(who.granted, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The permission catalogue.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = []), ("x-access-token" = [])),
    extensions(("x-required-permission" = json!(RolesRead::NAME))),
    responses(
        (status = 200, description = "Every permission, by name", body = Vec<PermissionResponse>),
        (status = 401, description = "No token or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks the required permission", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[get("/permissions")]
pub async fn list_permissions(
    state: web::Data<AppState>,
    who: RequirePermission<RolesRead>,
) -> Result<HttpResponse, ApiError> {
    let all = state.admin.list_permissions(who.granted).await?;
    Ok(HttpResponse::Ok().json(all.into_iter().map(permission_response).collect::<Vec<_>>()))
}

/// Add a permission to the catalogue, e.g. for
/// the routes of another service that verifies rolegate's tokens.
#[utoipa::path(
    tag = "admin",
    request_body = CreatePermissionRequest,
    security(("bearer" = []), ("x-access-token" = [])),
    extensions(("x-required-permission" = json!(RolesWrite::NAME))),
    responses(
        (status = 201, description = "The new permission", body = PermissionResponse),
        (status = 400, description = "Invalid name or malformed body", body = ErrorBody),
        (status = 401, description = "No token or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks the required permission", body = ErrorBody),
        (status = 409, description = "The permission exists (permission_exists), or the caller's permissions changed meanwhile (concurrent_change)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/permissions")]
pub async fn create_permission(
    state: web::Data<AppState>,
    who: RequirePermission<RolesWrite>,
    body: web::Json<CreatePermissionRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut errors = FieldErrors::default();
    let name = errors.check("name", Permission::parse(&body.name));
    let description = description(body.description, &mut errors);
    let Some(name) = name.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let created = state
        .admin
        .create_permission(who.granted, name, description.unwrap_or_default())
        .await?;
    Ok(HttpResponse::Created().json(permission_response(created)))
}

/// The audit log, newest first.
///
/// Numbered pages skip at most 10 000 events; `next` is the cursor of the
/// page that follows (pass it as `cursor`). `total` is counted up to 10 000.
#[utoipa::path(
    tag = "admin",
    params(PageParams),
    security(("bearer" = []), ("x-access-token" = [])),
    extensions(("x-required-permission" = json!(AuditRead::NAME))),
    responses(
        (status = 200, description = "A page of audit events", body = AuditPage),
        (status = 400, description = "page or per_page out of bounds, a page beyond 10 000 items, page with cursor, or a cursor this list did not give out (validation_failed); a query string that does not parse (invalid_query)", body = ErrorBody),
        (status = 401, description = "No token or invalid token", body = ErrorBody),
        (status = 403, description = "Lacks the required permission", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[get("/audit")]
pub async fn audit(
    state: web::Data<AppState>,
    who: RequirePermission<AuditRead>,
    query: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let paging = cursor::page_request(
        List::Audit,
        query.page,
        query.per_page,
        query.cursor.as_deref(),
    )?;
    let found = state.admin.audit(who.granted, paging).await?;
    Ok(HttpResponse::Ok().json(AuditPage {
        items: found.items.into_iter().map(audit_event).collect(),
        page: found.page,
        per_page: found.per_page,
        total: found.total,
        total_capped: found.total_capped,
        next: found.next.map(|id| cursor::encode(List::Audit, id)),
    }))
}
