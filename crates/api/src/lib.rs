//! rolegate's HTTP layer (actix-web): routes, thin handlers, extractors and
//! guards, the one error → HTTP mapping, OpenAPI and Swagger UI, middleware.
//!
//! The token guards come from `rolegate-guard` (re-exported here); other
//! services depend on that crate alone, not on this one.

pub mod body_timeout;
pub mod client_addr;
pub mod cursor;
pub mod dto;
pub mod error;
pub mod extract;
mod handlers;
pub mod metrics;
mod middleware;
pub mod openapi;
pub mod readiness;
mod schemas;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpRequest, HttpResponse, web};
use rolegate_auth::TokenVerifier;
use rolegate_domain::{AccountService, AdminService, AuthService, HealthCheck, PasskeyService};
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_swagger_ui::SwaggerUi;

pub use error::{ApiError, ErrorBody};
pub use handlers::introspect::IntrospectionSecret;
pub use metrics::{ApiMetrics, MetricsHandle};
pub use readiness::Readiness;
pub use rolegate_domain::permission;
pub use rolegate_guard::actix::configure as configure_guards;
pub use rolegate_guard::{
    Admin, AuthUser, Moderator, PermissionName, RequireAllPermissions, RequireAnyPermission,
    RequireAnyRole, RequirePermission, RequireRole, Role, Roles, permissions, role,
};

/// Largest JSON body accepted on the API, in bytes.
pub const JSON_BODY_LIMIT: usize = 16 * 1024;

/// HTTP-level settings.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Origins allowed by CORS. An entry may end in `:*` to allow any port
    /// (`http://localhost:*`); `*` alone allows any origin.
    pub cors_allowed_origins: Vec<String>,
    /// Send `Strict-Transport-Security` (only behind TLS).
    pub hsts: bool,
    /// Answer exactly as the Node tutorial where that costs no security
    /// (the `compat` profile): sign-up 200, a duplicate 400, a missing
    /// token 403, a failed sign-in `Invalid Password!`.
    pub tutorial_answers: bool,
    /// Serve Swagger UI at `/swagger-ui/` and the document at `/api-docs/openapi.json`.
    pub swagger_ui: bool,
    /// Peers whose `X-Forwarded-For` is trusted; otherwise the TCP peer is the
    /// client (see [`client_addr`]).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How long a request body may take to arrive after its head (see
    /// [`body_timeout`]); past it, 408 and the connection is closed.
    pub body_timeout: std::time::Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            cors_allowed_origins: vec!["http://localhost:*".into(), "http://127.0.0.1:*".into()],
            hsts: false,
            tutorial_answers: false,
            swagger_ui: true,
            trusted_proxies: Vec::new(),
            body_timeout: std::time::Duration::from_secs(15),
        }
    }
}

/// Everything the handlers need, built by the server.
#[derive(Clone)]
pub struct AppState {
    pub auth: AuthService,
    pub admin: AdminService,
    pub accounts: AccountService,
    pub passkeys: PasskeyService,
    /// TOTP enrolment and recovery codes.
    pub mfa: rolegate_domain::MfaService,
    /// Refuse `/api/admin` to tokens without a second factor (`auth.admin_requires_mfa`).
    pub admin_requires_mfa: bool,
    pub verifier: TokenVerifier,
    /// The public verification keys, served at `/.well-known/jwks.json`.
    pub jwks: Arc<rolegate_auth::JwkSet>,
    /// The OpenID discovery document, when `auth.openid_discovery` is on.
    pub discovery: Option<Arc<serde_json::Value>>,
    pub health: Arc<dyn HealthCheck>,
    pub throttle: rolegate_domain::Throttle,
    pub http: HttpSettings,
    /// Set when the server starts draining: `/readyz` answers 503.
    pub readiness: Readiness,
    /// Request, sign-in and sign-up metrics, when collected.
    pub metrics: MetricsHandle,
    /// The secret introspection callers may present (`auth.introspection_secret`).
    pub introspection_secret: Option<handlers::introspect::IntrospectionSecret>,
}

/// The whole application: routes, OpenAPI/Swagger UI, middleware.
pub fn build_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let verifier = web::Data::new(state.verifier.clone());
    let http = state.http.clone();
    let readiness = web::Data::new(state.readiness.clone());
    let metrics = web::Data::new(state.metrics.clone());
    let (app, api) = App::new()
        .into_utoipa_app()
        .openapi(openapi::base())
        .app_data(web::Data::new(state))
        .app_data(verifier)
        .app_data(
            web::JsonConfig::default()
                .limit(JSON_BODY_LIMIT)
                .error_handler(extract::json_error),
        )
        .app_data(web::PathConfig::default().error_handler(extract::path_error))
        .app_data(web::QueryConfig::default().error_handler(extract::query_error))
        .configure(routes)
        .split_for_parts();
    let api = openapi::finish(api);
    let swagger_ui = http.swagger_ui;
    app.configure(move |cfg| {
        if swagger_ui {
            cfg.service(SwaggerUi::new("/swagger-ui/{_:.*}").url("/api-docs/openapi.json", api))
                .route(
                    "/swagger-ui",
                    web::get().to(|| async {
                        HttpResponse::PermanentRedirect()
                            .insert_header(("Location", "/swagger-ui/"))
                            .finish()
                    }),
                );
        }
    })
    .default_service(web::to(not_found))
    .app_data(body_timeout::BodyTimeout(http.body_timeout))
    .wrap(actix_web::middleware::from_fn(body_timeout::body_deadline))
    .wrap(middleware::cors(&http))
    .wrap(actix_web::middleware::from_fn(middleware::security_headers))
    .app_data(web::Data::new(middleware::HeaderPolicy {
        hsts: http.hsts,
        tutorial_answers: http.tutorial_answers,
    }))
    .wrap(TracingLogger::<middleware::RootSpan>::new())
    .app_data(readiness)
    .wrap(actix_web::middleware::from_fn(
        readiness::close_when_draining,
    ))
    .app_data(metrics)
    .wrap(actix_web::middleware::from_fn(metrics::track))
}

/// Registers every documented route.
fn routes(cfg: &mut ServiceConfig<'_>) {
    cfg.service(handlers::health::healthz)
        .service(handlers::keys::jwks)
        .service(handlers::keys::openid_configuration)
        .service(handlers::health::readyz)
        .service(
            utoipa_actix_web::scope("/api/auth")
                .service(handlers::auth::signup)
                .service(handlers::auth::signin)
                .service(handlers::auth::refresh_token)
                .service(handlers::auth::signout)
                .service(handlers::auth::signout_all)
                .service(handlers::auth::me)
                .service(handlers::introspect::introspect)
                .service(handlers::account::delete_me)
                .service(handlers::account::change_password)
                .service(handlers::account::forgot_password)
                .service(handlers::account::reset_password)
                .service(handlers::account::verify_email)
                .service(handlers::account::resend_verification)
                .service(handlers::account::change_email)
                .service(handlers::account::confirm_email)
                .service(handlers::account::list_sessions)
                .service(handlers::account::end_session)
                .service(handlers::passkeys::start_registration)
                .service(handlers::passkeys::finish_registration)
                .service(handlers::passkeys::list)
                .service(handlers::passkeys::delete)
                .service(handlers::passkeys::start_signin)
                .service(handlers::passkeys::finish_signin)
                .service(handlers::mfa::signin_mfa)
                .service(handlers::mfa::start_passkey_step)
                .service(handlers::mfa::finish_passkey_step)
                .service(handlers::mfa::methods)
                .service(handlers::mfa::enrol_totp)
                .service(handlers::mfa::confirm_totp)
                .service(handlers::mfa::remove_totp)
                .service(handlers::mfa::regenerate_recovery_codes),
        )
        .service(
            utoipa_actix_web::scope("/api/admin")
                .wrap(actix_web::middleware::from_fn(
                    handlers::mfa::admin_requires_mfa,
                ))
                .service(handlers::admin::list_users)
                .service(handlers::admin::get_user)
                .service(handlers::admin::set_user_roles)
                .service(handlers::admin::update_user)
                .service(handlers::admin::unlock_user)
                .service(handlers::admin::reset_user_mfa)
                .service(handlers::admin::delete_user)
                .service(handlers::admin::list_roles)
                .service(handlers::admin::create_role)
                .service(handlers::admin::update_role)
                .service(handlers::admin::delete_role)
                .service(handlers::admin::list_permissions)
                .service(handlers::admin::create_permission)
                .service(handlers::admin::audit),
        )
        .service(
            utoipa_actix_web::scope("/api/test")
                .service(handlers::content::all)
                .service(handlers::content::user)
                .service(handlers::content::moderator)
                .service(handlers::content::admin),
        );
}

/// The OpenAPI document of every route, as served at `/api-docs/openapi.json`.
pub fn openapi_spec() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(openapi::base())
        .configure(routes)
        .split_for_parts();
    openapi::finish(api)
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    tracing::debug!(path = %req.path(), "no route");
    Err(ApiError::NotFound)
}
