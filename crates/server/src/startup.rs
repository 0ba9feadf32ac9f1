//! Wiring: the concrete graph (database, hasher, tokens, use cases) and the
//! HTTP server. `Application::build` binds the port (0 for a free one) and
//! exposes it, so tests start the real app.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::HttpServer;
use actix_web::dev::{Server, ServerHandle};
use anyhow::Context;
use rolegate_api::{AppState, HttpSettings, build_app};
use rolegate_auth::{Argon2Hasher, JwtConfig, TokenService};
use rolegate_domain::{AuthService, SignupPolicy, SystemClock};
use rolegate_persistence::{Database, redact_url};

use crate::settings::Settings;

pub struct Application {
    port: u16,
    server: Server,
    db: Database,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Opens the database and applies pending migrations when configured.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    let db = Database::connect(&settings.db_config())
        .await
        .with_context(|| format!("connecting to {}", redact_url(&settings.database.url)))?;
    if settings.database.run_migrations {
        db.migrate_up().await.context("applying migrations")?;
    }
    Ok(db)
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.validate()?;
        let db = open_database(&settings).await?;
        Self::build_with_database(settings, db).await
    }

    /// Builds the app on an open database (migrations already applied).
    pub async fn build_with_database(settings: Settings, db: Database) -> anyhow::Result<Self> {
        let secret = settings.resolve_jwt_secret()?;
        let tokens = TokenService::hs256(
            JwtConfig {
                issuer: settings.auth.issuer.clone(),
                audience: settings.auth.audience.clone(),
                access_ttl_secs: settings.auth.access_token_ttl,
                leeway_secs: settings.auth.leeway_secs,
            },
            &secret,
            Arc::new(SystemClock),
        )
        .context("configuring JWT signing")?;
        let hasher = Argon2Hasher::new(settings.auth.hashing).context("configuring argon2id")?;
        let store = Arc::new(db.clone());
        let auth = AuthService::new(
            store.clone(),
            Arc::new(hasher),
            Arc::new(tokens.clone()),
            SignupPolicy {
                open_role_signup: settings.auth.open_role_signup,
            },
        );
        let state = AppState {
            auth,
            verifier: tokens.verifier(),
            health: store,
            http: HttpSettings {
                cors_allowed_origins: settings.cors.allowed_origins.clone(),
                hsts: settings.http.hsts,
            },
        };

        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))
            .with_context(|| {
                format!("binding {}:{}", settings.server.host, settings.server.port)
            })?;
        let port = listener.local_addr()?.port();
        let workers = match settings.server.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let server = HttpServer::new(move || build_app(state.clone()))
            .workers(workers)
            .shutdown_timeout(10)
            .listen(listener)?
            .run();
        tracing::info!(
            address = %format!("{}:{port}", settings.server.host),
            database = %redact_url(&settings.database.url),
            profile = settings.profile.as_str(),
            "rolegate listening; Swagger UI at /swagger-ui/"
        );
        Ok(Self { port, server, db })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (SIGINT/SIGTERM or the handle), then closes the pool.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.db.close().await;
        result
    }
}
