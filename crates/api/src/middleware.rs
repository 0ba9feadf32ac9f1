//! Middleware: CORS from config, security headers on every response.

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

use crate::HttpSettings;

/// CORS for browser front-ends (the tutorial's React/Angular/Vue clients).
pub fn cors(settings: &HttpSettings) -> Cors {
    let origins = settings.cors_allowed_origins.clone();
    let any = origins.iter().any(|o| o == "*");
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("x-access-token"),
        ])
        .max_age(3600);
    if any {
        cors = cors.allow_any_origin();
    } else {
        cors = cors.allowed_origin_fn(move |origin, _| {
            origin
                .to_str()
                .is_ok_and(|o| origins.iter().any(|allowed| origin_matches(allowed, o)))
        });
    }
    cors
}

/// `http://localhost:*` matches `http://localhost:3000` (any port, or none).
fn origin_matches(allowed: &str, origin: &str) -> bool {
    match allowed.strip_suffix(":*") {
        Some(prefix) => {
            origin == prefix
                || origin
                    .strip_prefix(prefix)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .is_some_and(|port| {
                        !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                    })
        }
        None => allowed == origin,
    }
}

#[derive(Debug, Clone, Copy)]
pub struct HeaderPolicy {
    pub hsts: bool,
    /// The tutorial's answer to a request without a token: 403, not 401.
    pub tutorial_answers: bool,
}

const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
const SWAGGER_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'";

/// Adds the security headers to every response (errors included).
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let policy = req
        .app_data::<web::Data<HeaderPolicy>>()
        .map(|p| *p.get_ref());
    let hsts = policy.is_some_and(|p| p.hsts);
    let tutorial = policy.is_some_and(|p| p.tutorial_answers);
    let swagger = req.path().starts_with("/swagger-ui");
    let mut res = next.call(req).await?;
    if tutorial
        && res
            .response()
            .extensions()
            .get::<rolegate_guard::GuardError>()
            == Some(&rolegate_guard::GuardError::NoToken)
    {
        // The tutorial's verifyToken: `403 {message: "No token provided!"}`.
        *res.response_mut().status_mut() = actix_web::http::StatusCode::FORBIDDEN;
        res.headers_mut().remove(header::WWW_AUTHENTICATE);
    }
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if swagger { SWAGGER_CSP } else { API_CSP }),
    );
    // no-store unless the handler chose a policy (the JWKS is cacheable).
    if !swagger && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::origin_matches;

    #[test]
    fn port_wildcards() {
        assert!(origin_matches(
            "http://localhost:*",
            "http://localhost:3000"
        ));
        assert!(origin_matches("http://localhost:*", "http://localhost"));
        assert!(!origin_matches(
            "http://localhost:*",
            "http://localhost.evil.com"
        ));
        assert!(!origin_matches(
            "http://localhost:*",
            "http://localhost:3000.evil.com"
        ));
        assert!(!origin_matches(
            "http://localhost:*",
            "https://localhost:3000"
        ));
        assert!(origin_matches(
            "https://app.example.com",
            "https://app.example.com"
        ));
        assert!(!origin_matches(
            "https://app.example.com",
            "https://app.example.com.evil"
        ));
    }
}

/// Request spans as tracing-actix-web builds them (request id, route,
/// status), with one end-of-request event at a level that fits what
/// happened. tracing-actix-web's own event is an ERROR for every 5xx and a
/// WARN for every 4xx: under a sign-in flood that is one ERROR per request
/// shed by design, and one WARN per wrong password.
///
/// - 500: ERROR (the detail is logged by `ApiError` as well);
/// - 503 (load shed, database unavailable): INFO — expected under load; a
///   lost database is also logged at WARN with its detail by `ApiError`;
/// - 401, 403, 429: INFO (refused requests, worth counting, not alarming);
/// - other 4xx: DEBUG.
#[derive(Debug)]
pub struct RootSpan;

impl tracing_actix_web::RootSpanBuilder for RootSpan {
    fn on_request_start(request: &ServiceRequest) -> tracing::Span {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_start(request)
    }

    fn on_request_end<B: MessageBody>(
        span: tracing::Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        let status = match outcome {
            Ok(res) => res.status(),
            Err(e) => e.as_response_error().status_code(),
        };
        if status.as_u16() < 400 {
            // The hot path: record the status on the span, nothing else.
            tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
            return;
        }
        let reason = match outcome {
            Ok(res) => res.response().error().map(ToString::to_string),
            Err(e) => Some(e.to_string()),
        }
        .unwrap_or_default();
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span.clone(), outcome);
        span.in_scope(|| match status.as_u16() {
            503 => tracing::info!(status = 503, %reason, "request refused: shed or unavailable"),
            code @ 500.. => tracing::error!(status = code, %reason, "request failed"),
            code @ (401 | 403 | 429) => tracing::info!(status = code, %reason, "request refused"),
            code => tracing::debug!(status = code, %reason, "bad request"),
        });
    }
}
