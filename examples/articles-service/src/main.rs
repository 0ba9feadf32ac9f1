//! `cargo run -p articles-service` beside a running rolegate.
//!
//! Env: `ROLEGATE_URL` (http://127.0.0.1:8080), `ROLEGATE_ISSUER`,
//! `ROLEGATE_AUDIENCE`, `ROLEGATE_JWT_SECRET` (only for an HS256 rolegate),
//! `ARTICLES_PORT` (8081).

use actix_web::{App, HttpServer, web};
use articles_service::{
    Articles, RolegateSettings, routes, verifier_from_jwks, verifier_from_secret,
};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = RolegateSettings::from_env();
    let verifier = match std::env::var("ROLEGATE_JWT_SECRET") {
        Ok(secret) => verifier_from_secret(&settings, &secret)?,
        Err(_) => verifier_from_jwks(&settings)?,
    }
    .with_cache(1024);
    let port: u16 = std::env::var("ARTICLES_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8081);
    let articles = web::Data::new(Articles::default());
    eprintln!(
        "articles-service on http://127.0.0.1:{port}, trusting {}",
        settings.url
    );
    HttpServer::new(move || {
        App::new()
            .configure(rolegate_guard::actix::configure(verifier.clone()))
            .app_data(articles.clone())
            .configure(routes)
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await?;
    Ok(())
}
