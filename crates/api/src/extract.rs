//! Request extractors' error handlers (JSON bodies, paths and query strings
//! in rolegate's error format) and the client's address for rate limits.
//!
//! The token guards ([`AuthUser`](rolegate_guard::AuthUser),
//! [`RequireRole`](rolegate_guard::RequireRole),
//! [`RequirePermission`](rolegate_guard::RequirePermission), …) live in
//! `rolegate-guard`, which other services embed; this crate re-exports them.

use actix_web::HttpRequest;
use actix_web::error::JsonPayloadError;

use crate::error::ApiError;

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
        JsonPayloadError::Payload(e) if crate::body_timeout::is_body_timeout(e) => {
            ApiError::RequestTimeout
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

/// The client's address for rate limits; see [`crate::client_addr`].
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[std::net::IpAddr]) -> String {
    let forwarded = req.headers().get_all("x-forwarded-for");
    crate::client_addr::client_address(req.peer_addr().map(|a| a.ip()), forwarded, trusted_proxies)
}

/// The client's address (as [`client_ip`] finds it) and its user agent:
/// what a session records of where it was opened.
pub fn client_info(req: &HttpRequest, trusted: &[std::net::IpAddr]) -> rolegate_domain::ClientInfo {
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    rolegate_domain::ClientInfo::new(client_ip(req, trusted), user_agent)
}
