//! A small service of its own that trusts rolegate's access tokens.
//!
//! It depends on `rolegate-guard` alone (no database, no signing key, no
//! rolegate server code): a [`TokenVerifier`] that fetches rolegate's JWKS
//! (`/.well-known/jwks.json`) and keeps it fresh is installed with
//! [`rolegate_guard::actix::configure`], and each handler states what it
//! requires in its argument types:
//!
//! - [`AuthUser`]: any valid access token;
//! - [`RequirePermission<ArticlesWrite>`]: a token granting `articles:write`;
//! - [`RequireAnyRole<(Editor, Admin)>`]: a token with the role `editor` or `admin`.
//!
//! A handler cannot run without its check, and a missing or invalid token is
//! answered with rolegate's JSON errors (401 / 403).

use std::sync::Mutex;

use actix_web::{HttpResponse, delete, get, post, web};
use rolegate_guard::{
    Admin, AuthUser, KeyError, RemoteJwks, RequireAnyRole, RequirePermission, TokenVerifier,
    VerifierConfig,
};
use serde::{Deserialize, Serialize};

// The permission and the role this service cares about. An admin creates
// them in rolegate (`POST /api/admin/permissions`, `POST /api/admin/roles`).
rolegate_guard::permission!(
    /// `articles:write`: create articles.
    ArticlesWrite,
    "articles:write"
);
rolegate_guard::role!(
    /// The `editor` role.
    Editor,
    "editor"
);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Article {
    pub id: u64,
    pub title: String,
    pub author: String,
}

#[derive(Debug, Deserialize)]
pub struct NewArticle {
    pub title: String,
}

/// The service's own state (in memory: this is an example).
#[derive(Debug, Default)]
pub struct Articles(Mutex<Vec<Article>>);

/// Anyone signed in can read.
#[get("/articles")]
async fn list(_user: AuthUser, articles: web::Data<Articles>) -> HttpResponse {
    let all = articles.0.lock().map(|a| a.clone()).unwrap_or_default();
    HttpResponse::Ok().json(all)
}

/// Writing needs the `articles:write` permission.
#[post("/articles")]
async fn create(
    who: RequirePermission<ArticlesWrite>,
    articles: web::Data<Articles>,
    body: web::Json<NewArticle>,
) -> HttpResponse {
    let title = body.into_inner().title.trim().to_owned();
    if title.is_empty() || title.chars().count() > 200 {
        return HttpResponse::BadRequest().json(serde_json::json!({
            "error": "validation_failed",
            "message": "title must be 1-200 characters",
        }));
    }
    let Ok(mut all) = articles.0.lock() else {
        return HttpResponse::InternalServerError().json(serde_json::json!({
            "error": "internal", "message": "Internal server error.",
        }));
    };
    let article = Article {
        id: all.len() as u64 + 1,
        title,
        author: who.user.claims.name.clone(),
    };
    all.push(article.clone());
    HttpResponse::Created().json(article)
}

/// Removing needs the role `editor` or `admin`.
#[delete("/articles")]
async fn clear(
    _who: RequireAnyRole<(Editor, Admin)>,
    articles: web::Data<Articles>,
) -> HttpResponse {
    if let Ok(mut all) = articles.0.lock() {
        all.clear();
    }
    HttpResponse::NoContent().finish()
}

/// Registers the routes; the caller installs the verifier
/// (`rolegate_guard::actix::configure`) and `web::Data<Articles>`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(create).service(clear);
}

/// Where rolegate is and what its tokens say.
#[derive(Debug, Clone)]
pub struct RolegateSettings {
    /// e.g. `http://127.0.0.1:8080`
    pub url: String,
    pub issuer: String,
    pub audience: String,
    /// How often the JWKS is read again at most (unknown `kid`s ask sooner,
    /// at most once per `min_refresh`).
    pub max_refresh: std::time::Duration,
    pub min_refresh: std::time::Duration,
}

impl RolegateSettings {
    /// From `ROLEGATE_URL`, `ROLEGATE_ISSUER`, `ROLEGATE_AUDIENCE` (defaults
    /// match rolegate's defaults).
    pub fn from_env() -> Self {
        let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
        Self {
            url: var("ROLEGATE_URL", "http://127.0.0.1:8080"),
            issuer: var("ROLEGATE_ISSUER", "rolegate"),
            audience: var("ROLEGATE_AUDIENCE", "rolegate"),
            max_refresh: std::time::Duration::from_secs(300),
            min_refresh: std::time::Duration::from_secs(10),
        }
    }

    fn verifier_config(&self) -> VerifierConfig {
        VerifierConfig {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            ..VerifierConfig::default()
        }
    }
}

/// A verifier that follows rolegate's published keys: it starts even when
/// rolegate is down (tokens are refused until the first fetch succeeds,
/// retried with backoff), re-reads the JWKS when a token names a key it does
/// not know (a rotation) and at least every `max_refresh`, so keys rolegate
/// dropped stop verifying. Call inside the actix/tokio runtime.
/// (An HS256 rolegate publishes no keys: share the secret and use
/// [`verifier_from_secret`] instead — asymmetric keys are the better choice.)
pub fn verifier_from_jwks(settings: &RolegateSettings) -> Result<TokenVerifier, KeyError> {
    let url = format!(
        "{}/.well-known/jwks.json",
        settings.url.trim_end_matches('/')
    );
    TokenVerifier::remote(
        &settings.verifier_config(),
        RemoteJwks::new(url)
            .min_refresh_interval(settings.min_refresh)
            .max_refresh_interval(settings.max_refresh),
    )
}

/// A verifier for an HS256 rolegate that shares its secret with this service.
pub fn verifier_from_secret(
    settings: &RolegateSettings,
    secret: &str,
) -> Result<TokenVerifier, KeyError> {
    TokenVerifier::hs256(&settings.verifier_config(), secret.as_bytes())
}
