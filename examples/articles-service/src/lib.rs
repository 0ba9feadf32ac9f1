//! A small service of its own that trusts rolegate's access tokens.
//!
//! It needs no database and no signing key: a [`TokenVerifier`] built from
//! rolegate's JWKS (`/.well-known/jwks.json`) is registered as app data, and
//! each handler states what it requires in its argument types:
//!
//! - [`AuthUser`]: any valid access token;
//! - [`RequirePermission<ArticlesWrite>`]: a token granting `articles:write`;
//! - [`RequireAnyRole<(Editor, Admin)>`]: a token with the role `editor` or `admin`.
//!
//! A handler cannot run without its check, and a missing or invalid token is
//! answered with rolegate's JSON errors (401 / 403).

use std::sync::Mutex;

use actix_web::{HttpResponse, delete, get, post, web};
use rolegate_api::{Admin, AuthUser, RequireAnyRole, RequirePermission};
use rolegate_auth::{JwkSet, JwtConfig, TokenVerifier};
use serde::{Deserialize, Serialize};

// The permission and the role this service cares about. An admin creates
// them in rolegate (`POST /api/admin/permissions`, `POST /api/admin/roles`).
rolegate_api::permission!(
    /// `articles:write`: create articles.
    ArticlesWrite,
    "articles:write"
);
rolegate_api::role!(
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

/// Registers the routes; the caller registers `web::Data<TokenVerifier>` and
/// `web::Data<Articles>`.
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
        }
    }
}

/// A verifier from rolegate's published public keys, read once: after a key
/// rotation in rolegate, restart this service (or build a new verifier when
/// a token names an unknown `kid`). (With an HS256
/// rolegate the JWKS is empty: share the secret and use
/// `TokenVerifier::hs256` instead — asymmetric keys are the better choice.)
pub async fn verifier_from_jwks(settings: &RolegateSettings) -> anyhow::Result<TokenVerifier> {
    let url = format!(
        "{}/.well-known/jwks.json",
        settings.url.trim_end_matches('/')
    );
    let jwks: JwkSet = reqwest::get(&url).await?.error_for_status()?.json().await?;
    if jwks.keys.is_empty() {
        anyhow::bail!(
            "{url} lists no keys: rolegate signs with HS256. Configure auth.key_files there \
             (`rolegate keys generate`) or set ROLEGATE_JWT_SECRET here"
        );
    }
    let config = JwtConfig {
        issuer: settings.issuer.clone(),
        audience: settings.audience.clone(),
        access_ttl_secs: 0, // unused for verifying
        leeway_secs: 30,
    };
    Ok(TokenVerifier::from_jwks(&config, &jwks)?)
}

/// A verifier for an HS256 rolegate that shares its secret with this service.
pub fn verifier_from_secret(
    settings: &RolegateSettings,
    secret: &secrecy::SecretString,
) -> anyhow::Result<TokenVerifier> {
    let config = JwtConfig {
        issuer: settings.issuer.clone(),
        audience: settings.audience.clone(),
        access_ttl_secs: 0,
        leeway_secs: 30,
    };
    Ok(TokenVerifier::hs256(&config, secret)?)
}
