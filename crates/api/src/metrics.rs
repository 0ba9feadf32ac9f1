//! HTTP metrics: requests and their latency by route template (never the
//! raw path: the label set stays bounded), and what sign-ins and sign-ups
//! came to. Registered in a registry of the server's (no global recorder).

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use rolegate_domain::Error;

/// Upper bounds of the latency buckets, in seconds: from a cached token
/// check (~10 µs) to a sign-in queued behind a full hashing pool.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    /// The route template (`/api/admin/users/{id}`), or `unmatched`.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

type HistogramFamily = Family<RequestLabels, Histogram, fn() -> Histogram>;

/// The metrics the HTTP layer records.
#[derive(Debug)]
pub struct ApiMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: HistogramFamily,
    signins: Family<OutcomeLabels, Counter>,
    signups: Family<OutcomeLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl ApiMetrics {
    /// Registers the HTTP metrics in `registry`.
    pub fn register(registry: &mut Registry) -> Arc<Self> {
        let metrics = Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            signins: Family::default(),
            signups: Family::default(),
        };
        registry.register(
            "rolegate_http_requests",
            "HTTP requests answered, by method, route template and status",
            metrics.requests.clone(),
        );
        registry.register_with_unit(
            "rolegate_http_request_duration",
            "Time from the request's head to its response, by method, route template and status",
            Unit::Seconds,
            metrics.duration.clone(),
        );
        registry.register(
            "rolegate_signin_attempts",
            "Sign-ins by outcome: success, wrong_password (unknown users too), throttled (429), \
             shed (hashing at capacity, 503), disabled, unverified, invalid (malformed), error",
            metrics.signins.clone(),
        );
        registry.register(
            "rolegate_signup_attempts",
            "Sign-ups by outcome: created, taken, throttled (429), shed (hashing at capacity, \
             503), invalid, refused (role not allowed), error",
            metrics.signups.clone(),
        );
        for outcome in ["success", "wrong_password", "throttled", "shed", "disabled"] {
            let _ = metrics.signins.get_or_create(&OutcomeLabels { outcome });
        }
        for outcome in ["created", "throttled", "shed"] {
            let _ = metrics.signups.get_or_create(&OutcomeLabels { outcome });
        }
        Arc::new(metrics)
    }

    pub(crate) fn sign_in<T>(&self, result: &Result<T, Error>) {
        let outcome = match result {
            Ok(_) => "success",
            Err(Error::InvalidCredentials) => "wrong_password",
            Err(Error::InvalidMfaCode) => "wrong_code",
            Err(Error::InvalidMfaToken) => "invalid_mfa_token",
            Err(Error::PasskeyRefused(_)) => "wrong_passkey",
            Err(Error::RateLimited(_)) => "throttled",
            Err(Error::RateLimitUnavailable(_)) => "limits_unavailable",
            Err(Error::Overloaded) => "shed",
            Err(Error::AccountDisabled) => "disabled",
            Err(Error::EmailNotVerified) => "unverified",
            Err(Error::Validation(_)) => "invalid",
            Err(_) => "error",
        };
        self.signins.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    pub(crate) fn sign_in_malformed(&self) {
        self.signins
            .get_or_create(&OutcomeLabels { outcome: "invalid" })
            .inc();
    }

    pub(crate) fn sign_up<T>(&self, result: &Result<T, Error>) {
        let outcome = match result {
            Ok(_) => "created",
            Err(Error::UsernameTaken | Error::EmailTaken) => "taken",
            Err(Error::RateLimited(_)) => "throttled",
            Err(Error::Overloaded) => "shed",
            Err(Error::Validation(_) | Error::UnknownRole(_)) => "invalid",
            Err(Error::RoleNotAllowed(_)) => "refused",
            Err(_) => "error",
        };
        self.signups.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    fn request(&self, labels: RequestLabels, seconds: f64) {
        self.requests.get_or_create(&labels).inc();
        self.duration.get_or_create(&labels).observe(seconds);
    }
}

/// The metrics of the app, when the server collects them.
#[derive(Debug, Clone, Default)]
pub struct MetricsHandle(pub Option<Arc<ApiMetrics>>);

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts and times every request, by route template.
pub(crate) async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(metrics) = req
        .app_data::<web::Data<MetricsHandle>>()
        .and_then(|m| m.0.clone())
    else {
        return next.call(req).await;
    };
    let started = std::time::Instant::now();
    let method = method_label(req.method());
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let result = next.call(req).await;
    let status = match &result {
        Ok(res) => res.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    metrics.request(
        RequestLabels {
            method,
            route,
            status: status.as_u16(),
        },
        started.elapsed().as_secs_f64(),
    );
    result
}
