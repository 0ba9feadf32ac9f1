//! Liveness and readiness probes.

use actix_web::{HttpResponse, get, web};

use crate::AppState;
use crate::dto::HealthResponse;
use crate::error::ErrorBody;

/// Alive: the process answers.
#[utoipa::path(tag = "health", responses((status = 200, description = "Alive", body = HealthResponse)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthResponse {
        status: "ok".into(),
    })
}

/// Ready: the database answers.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = HealthResponse, example = json!({"status": "ready"})),
        (status = 503, description = "Database unreachable", body = ErrorBody,
            example = json!({"error": "unavailable", "message": "database unreachable"})),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    // Shutting down: not ready, so load balancers stop sending.
    if state.readiness.is_draining() {
        return HttpResponse::ServiceUnavailable().json(ErrorBody {
            error: "unavailable".into(),
            message: "shutting down".into(),
            fields: None,
        });
    }
    match state.health.ping().await {
        Ok(()) => HttpResponse::Ok().json(HealthResponse {
            status: "ready".into(),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(ErrorBody {
                error: "unavailable".into(),
                message: "database unreachable".into(),
                fields: None,
            })
        }
    }
}
