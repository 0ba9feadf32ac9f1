//! OpenAPI schemas of request fields, built from the same constants the
//! domain's newtypes enforce, so the document says exactly what is checked
//! (lengths, patterns, enums). Used with `#[schema(schema_with = …)]`.

use rolegate_domain::admin::MAX_QUERY_LEN;
use rolegate_domain::{Description, Email, PageRequest, Password, Permission, RoleName, Username};
use utoipa::openapi::schema::{ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{Array, Object};

fn text(min: Option<usize>, max: usize, pattern: Option<&str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(min)
        .max_length(Some(max))
        .pattern(pattern)
}

/// A new username ([`Username`]).
pub fn username() -> Object {
    text(
        Some(Username::MIN_LEN),
        Username::MAX_LEN,
        Some(Username::PATTERN),
    )
    .description(Some(
        "3–32 characters: letters a-z, digits, `_`, `.`, `-` (unique, case-insensitive; \
             full-width letters are folded to ASCII first).",
    ))
    .build()
}

/// An e-mail address ([`Email`]).
pub fn email() -> Object {
    text(None, Email::MAX_LEN, Some(Email::PATTERN))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .description(Some("An e-mail address (unique, stored lower-cased)."))
        .build()
}

/// A new password ([`Password`]).
pub fn new_password() -> Object {
    text(
        Some(Password::MIN_LEN),
        Password::MAX_LEN,
        Some(Password::PATTERN),
    )
    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
    .description(Some(
        "8–128 characters, no NUL. Unless the server screens no passwords (the compat \
         profile): not one of the 20 000 most common passwords, and not containing the \
         username or the e-mail's local part.",
    ))
    .build()
}

/// A role name ([`RoleName`]).
pub fn role_name() -> Object {
    text(
        Some(RoleName::MIN_LEN),
        RoleName::MAX_LEN,
        Some(RoleName::PATTERN),
    )
    .description(Some(
        "A role: a letter, then letters, digits, `_` or `-` (2–32 characters).",
    ))
    .build()
}

/// The roles a sign-up asks for: the built-in ones (others are refused
/// unless `auth.open_role_signup` is on and the role exists).
pub fn signup_roles() -> Array {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(RoleName::BUILT_IN)),
        )
        .description(Some(
            "Roles to grant. Without it the user gets `user`. Roles other than `user` are \
             granted only when `auth.open_role_signup` is on.",
        ))
        .build()
}

/// A list of role names.
pub fn role_names() -> Array {
    ArrayBuilder::new().items(role_name()).build()
}

/// A list of permission names ([`Permission`]).
pub fn permission_names() -> Array {
    ArrayBuilder::new()
        .items(permission_name())
        .description(Some("Names from `GET /api/admin/permissions`."))
        .build()
}

/// A permission name ([`Permission`]).
pub fn permission_name() -> Object {
    text(Some(3), Permission::MAX_LEN, Some(Permission::PATTERN))
        .description(Some(
            "`resource:action`, each part a letter then letters, digits, `_` or `-`; at most 64 characters.",
        ))
        .build()
}

/// A description ([`Description`]).
pub fn description() -> Object {
    text(None, Description::MAX_LEN, Some(Description::PATTERN))
        .description(Some("At most 255 characters, no control characters."))
        .build()
}

/// The user search text.
pub fn search() -> Object {
    text(None, MAX_QUERY_LEN, Some(Description::PATTERN))
        .description(Some(
            "Finds users whose username or e-mail starts with this text (case-insensitive; \
             `%` and `_` are literal). A prefix, not a substring: `ali` finds `alice` and \
             `alice@example.com`, `example.com` finds nobody.",
        ))
        .build()
}

/// A password presented at sign-in: only the upper bound applies.
pub fn presented_password() -> Object {
    text(Some(1), Password::MAX_LEN, None)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
        .build()
}

/// A page number.
pub fn page() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(PageRequest::MAX_PAGE))
        .description(Some(
            "Page number, from 1. A numbered page skips at most 10 000 items \
             ((page - 1) × per_page ≤ 10 000); deeper pages are reached with `cursor`.",
        ))
        .build()
}

/// A keyset cursor.
pub fn cursor() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(64))
        .pattern(Some("^[A-Za-z0-9_-]+$"))
        .description(Some(
            "The `next` value of the page before (opaque): the page that follows it. \
             Not combined with `page`; a value this list did not give out is a 400.",
        ))
        .build()
}

/// Items per page.
pub fn per_page() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(PageRequest::MAX_PER_PAGE))
        .description(Some("Items per page (default 20)."))
        .build()
}

/// A username presented at sign-in: any text without control characters
/// (an unknown or malformed name is a 401 like a wrong password).
pub fn presented_username() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .pattern(Some(Username::PRESENTED_PATTERN))
        .build()
}

/// The token of a link in a mail (URL-safe base64).
pub fn link_token() -> Object {
    text(Some(1), 256, Some("^[A-Za-z0-9_-]+$"))
        .description(Some(
            "The `token` query parameter of the link in the mail (URL-safe base64).",
        ))
        .build()
}
