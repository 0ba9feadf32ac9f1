//! Wiring: the concrete graph (database, hasher, tokens, use cases) and the
//! HTTP server. `Application::build` binds the port (0 for a free one) and
//! exposes it, so tests start the real app.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::HttpServer;
use actix_web::dev::{Server, ServerHandle};
use anyhow::Context;
use rolegate_api::{
    AppState, HttpSettings, IntrospectionSecret, MetricsHandle, Readiness, build_app,
};
use rolegate_auth::{Argon2Hasher, JwtConfig, OpaqueRefreshTokens, TokenService};
use rolegate_domain::{
    AccountDeps, AccountPolicy, AccountService, AdminDeps, AdminService, AttemptStore, AuthDeps,
    AuthPolicy, AuthService, Clock, DeliveryPolicy, MemoryAttempts, PasskeyDeps, PasskeyService,
    PasswordHasher, Postman, RevocationPoller, RevocationSet, SystemClock, Throttle,
};
use rolegate_persistence::{Database, RedisAttempts, redact_url};

use crate::metrics::{Metrics, Sources};
use crate::settings::Settings;

pub struct Application {
    port: u16,
    server: Server,
    /// The `/metrics` listener, when `metrics.bind` is set.
    metrics: Option<(u16, Server)>,
    db: Database,
    readiness: Readiness,
    /// Tells the background workers to stop after what they are doing.
    stop: tokio::sync::watch::Sender<bool>,
    purger: tokio::task::JoinHandle<()>,
    postman: tokio::task::JoinHandle<()>,
    revoker: tokio::task::JoinHandle<()>,
    drain: std::time::Duration,
    timeout: std::time::Duration,
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

/// The administration use cases over the database, clearing sign-in
/// counters in `attempts` (the throttle's store).
pub fn admin_service(
    db: &Database,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    attempts: Arc<dyn AttemptStore>,
) -> AdminService {
    let store = Arc::new(db.clone());
    AdminService::new(AdminDeps {
        admin: store.clone(),
        users: store,
        hasher,
        clock,
        attempts,
    })
}

/// The Redis rate-limit store the settings describe (connected at its
/// first command).
pub fn redis_attempts(settings: &Settings) -> anyhow::Result<RedisAttempts> {
    let config = settings.rate_limit.redis_config()?;
    let redis = RedisAttempts::connect(&config).map_err(|e| anyhow::anyhow!(chain(&e)))?;
    tracing::info!(
        redis = %redact_url(&config.url),
        prefix = %config.prefix,
        "rate-limit counters in Redis"
    );
    Ok(redis)
}

/// Says at start whether Redis answers. It need not: until it does,
/// requests meet `rate_limit.on_store_error`, and the connection is made
/// again by itself.
async fn check_redis(redis: &RedisAttempts) {
    if let Err(e) = redis.get("").await {
        tracing::warn!(
            error = %chain(&e),
            "Redis (rate_limit.redis_url) does not answer: rate-limited requests meet \
             rate_limit.on_store_error until it does"
        );
    }
}

/// An error and its causes, `: `-separated.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.validate()?;
        if settings.profile == crate::settings::Profile::Production
            && settings.cors.allowed_origins.is_empty()
        {
            tracing::warn!(
                "cors.allowed_origins is empty: every browser origin is refused (fine for an API used only by servers; otherwise set ROLEGATE__CORS__ALLOWED_ORIGINS)"
            );
        }
        if settings.profile == crate::settings::Profile::Production
            && settings.webauthn.rp_id == "localhost"
        {
            tracing::warn!(
                "webauthn.rp_id is \"localhost\": passkeys work only on this machine (set ROLEGATE__WEBAUTHN__RP_ID and ROLEGATE__WEBAUTHN__ORIGINS to the site's domain and origins)"
            );
        }
        let db = open_database(&settings).await?;
        Self::build_with_database(settings, db).await
    }

    /// Builds the app on an open database (migrations already applied).
    pub async fn build_with_database(settings: Settings, db: Database) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, db, Arc::new(SystemClock)).await
    }

    /// Builds the app with a clock of the caller's (tests drive expiry with it).
    pub async fn build_with_clock(
        settings: Settings,
        db: Database,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let keys = settings.key_set().context("configuring JWT signing keys")?;
        tracing::info!(algorithm = ?keys.algorithm(), kid = keys.signing_kid(), "signing access tokens");
        let tokens = TokenService::new(
            JwtConfig {
                issuer: settings.auth.issuer.clone(),
                audience: settings.auth.audience.clone(),
                access_ttl_secs: settings.auth.access_token_ttl,
                leeway_secs: settings.auth.leeway_secs,
            },
            keys,
            clock.clone(),
        )
        .context("configuring JWT verification keys")?;
        let mut metrics = settings.metrics.enabled().then(Metrics::new);
        let mut argon2 =
            Argon2Hasher::new(settings.auth.hashing).context("configuring argon2id")?;
        if let Some(m) = &metrics {
            argon2 = argon2.with_observer(m.hash_observer());
        }
        let hasher: Arc<dyn PasswordHasher> = Arc::new(argon2.clone());
        let store = Arc::new(db.clone());
        let attempts: Arc<dyn AttemptStore> = match settings.rate_limit.store {
            crate::settings::AttemptStoreKind::Memory => Arc::new(MemoryAttempts::default()),
            crate::settings::AttemptStoreKind::Database => store.clone(),
            crate::settings::AttemptStoreKind::Redis => {
                let redis = redis_attempts(&settings)?;
                check_redis(&redis).await;
                Arc::new(redis)
            }
        };
        let admin = admin_service(&db, hasher.clone(), clock.clone(), attempts.clone());
        let mfa_key = settings.mfa_key()?;
        if mfa_key.is_none() && rolegate_domain::MfaStore::any_enrolled(&db).await? {
            anyhow::bail!(
                "production: users have second factors but no auth.mfa_encryption_key is \
                 configured (set ROLEGATE__AUTH__MFA_ENCRYPTION_KEY or _FILE to the key their \
                 secrets were sealed with)"
            );
        }
        if settings.bootstrap.enabled() {
            crate::bootstrap::bootstrap_admin(&settings, &admin).await?;
        }
        let auth = AuthService::new(
            AuthDeps {
                users: store.clone(),
                sessions: store.clone(),
                hasher: hasher.clone(),
                tokens: Arc::new(tokens.clone()),
                refresh: Arc::new(OpaqueRefreshTokens),
                clock: clock.clone(),
                mfa: store.clone(),
                factors: Arc::new(rolegate_auth::TotpFactors::new(
                    mfa_key.as_ref(),
                    &settings.auth.mfa_issuer,
                )),
            },
            AuthPolicy {
                open_role_signup: settings.auth.open_role_signup,
                refresh_ttl_secs: i64::try_from(settings.auth.refresh_token_ttl)?,
                refresh_grace_secs: i64::try_from(settings.auth.refresh_grace_secs)?,
                max_sessions_per_user: settings.auth.max_sessions_per_user,
                require_verified_email: settings.auth.require_verified_email,
                screen_passwords: settings.auth.screen_passwords,
            },
        );
        let throttle = Throttle::new(attempts, clock.clone(), settings.rate_limit.limits())
            .on_store_error(settings.rate_limit.on_store_error.policy());
        let mfa = rolegate_domain::MfaService::new(auth.clone(), throttle.clone());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (composer, sender) = crate::mail::mail_adapters(&settings)?;
        let policy = DeliveryPolicy {
            backoff_secs: settings.mail.backoff_secs,
            max_backoff_secs: settings.mail.max_backoff_secs,
            max_attempts: settings.mail.max_attempts,
            ..DeliveryPolicy::default()
        };
        // Names this instance's leases on outbox rows.
        let owner = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let postman = Postman::new(
            store.clone(),
            sender,
            clock.clone(),
            policy,
            owner.chars().take(64).collect(),
        );

        let accounts = AccountService::new(
            AccountDeps {
                accounts: store.clone(),
                admin: store.clone(),
                hasher: hasher.clone(),
                secrets: Arc::new(OpaqueRefreshTokens),
                composer,
                clock: clock.clone(),
            },
            AccountPolicy {
                reset_ttl_secs: i64::try_from(settings.auth.reset_token_ttl)?,
                email_ttl_secs: i64::try_from(settings.auth.email_token_ttl)?,
                screen_passwords: settings.auth.screen_passwords,
            },
            auth.clone(),
            throttle.clone(),
        );
        let passkeys = PasskeyService::new(
            PasskeyDeps {
                store: store.clone(),
                verifier: Arc::new(
                    settings
                        .webauthn
                        .verifier()
                        .map_err(|e| anyhow::anyhow!(e))
                        .context("configuring [webauthn]")?,
                ),
                secrets: Arc::new(OpaqueRefreshTokens),
                clock: clock.clone(),
            },
            auth.clone(),
            throttle.clone(),
        );
        // Revocations: refused here within auth.revocation_poll_secs; an
        // entry lives as long as an access token can be accepted.
        let lifetime = chrono::Duration::seconds(i64::try_from(
            settings.auth.access_token_ttl + settings.auth.leeway_secs,
        )?);
        let revocations = Arc::new(RevocationSet::new(lifetime));
        let mut poller = RevocationPoller::new(store.clone(), revocations.clone(), clock.clone());
        if let Err(e) = poller.poll().await {
            tracing::warn!(error = %e, "reading revocations at start failed: retried every auth.revocation_poll_secs");
        }
        let verifier = tokens
            .verifier()
            .with_cache(settings.auth.verify_cache_size)
            .with_revocation(revocations.clone());
        let introspection_secret = settings
            .introspection_secret()?
            .map(|s| IntrospectionSecret::new(secrecy::ExposeSecret::expose_secret(&s)));
        let readiness = Readiness::default();
        let metrics = metrics.take().map(|mut m| {
            m.read_at_scrape(Sources {
                verifier: verifier.clone(),
                hasher: argon2,
                db: db.clone(),
                auth: auth.clone(),
                readiness: readiness.clone(),
            });
            Arc::new(m)
        });
        let metrics_postman = postman.clone();
        let postman = tokio::spawn(crate::mail::deliver_mail(
            postman,
            std::time::Duration::from_millis(settings.mail.poll_interval_ms.max(1)),
            policy.batch as usize,
            stopped.clone(),
            metrics.clone(),
        ));
        let revoker = tokio::spawn(crate::purge::poll_revocations(
            poller,
            std::time::Duration::from_secs(settings.auth.revocation_poll_secs.max(1)),
            stopped.clone(),
        ));
        let purger = tokio::spawn(crate::purge::purge_expired(
            crate::purge::Purges {
                auth: auth.clone(),
                throttle: throttle.clone(),
                accounts: accounts.clone(),
                passkeys: passkeys.clone(),
                mfa: mfa.clone(),
                outbox: store.clone(),
                audit: store.clone(),
                revocations: store.clone(),
                revocation_set: revocations,
                audit_retention_days: settings.audit.retention_days,
                clock: clock.clone(),
            },
            std::time::Duration::from_secs(settings.auth.purge_interval_secs.max(1)),
            stopped,
        ));
        let state = AppState {
            auth,
            admin,
            accounts,
            passkeys,
            mfa,
            admin_requires_mfa: settings.auth.admin_requires_mfa,
            verifier,
            jwks: Arc::new(tokens.keys().jwks().clone()),
            discovery: settings.auth.openid_discovery.then(|| {
                let issuer = settings.auth.issuer.trim_end_matches('/');
                Arc::new(serde_json::json!({
                    "issuer": settings.auth.issuer,
                    "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
                    "id_token_signing_alg_values_supported": [format!("{:?}", tokens.keys().algorithm())],
                    "subject_types_supported": ["public"],
                    "claims_supported": ["iss", "aud", "sub", "exp", "iat", "jti", "name", "roles", "perms", "sid", "amr"],
                }))
            }),
            health: store,
            throttle,
            http: HttpSettings {
                cors_allowed_origins: settings.cors.allowed_origins.clone(),
                hsts: settings.http.hsts,
                tutorial_answers: settings.http.tutorial_answers,
                swagger_ui: settings.http.swagger_ui,
                trusted_proxies: settings.rate_limit.trusted_proxies.clone(),
                body_timeout: std::time::Duration::from_secs(
                    settings.server.body_timeout_secs.max(1),
                ),
            },
            readiness: readiness.clone(),
            metrics: MetricsHandle(metrics.as_ref().map(|m| m.api())),
            introspection_secret,
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
        // Signals are ours (`run_until_stopped`): readiness flips first.
        let server = HttpServer::new(move || build_app(state.clone()))
            .workers(workers)
            .disable_signals()
            .shutdown_timeout(settings.server.shutdown_timeout_secs.max(1))
            .listen(listener)?
            .run();
        let metrics = match metrics {
            Some(metrics) => {
                let bind = settings.metrics.bind.trim();
                let listener = TcpListener::bind(bind)
                    .with_context(|| format!("binding metrics.bind {bind}"))?;
                let metrics_port = listener.local_addr()?.port();
                tracing::info!(address = %bind, port = metrics_port, "serving metrics at /metrics");
                Some((
                    metrics_port,
                    crate::metrics::serve(listener, metrics, metrics_postman)?,
                ))
            }
            None => None,
        };
        tracing::info!(
            address = %format!("{}:{port}", settings.server.host),
            database = %redact_url(&settings.database.url),
            profile = settings.profile.as_str(),
            "rolegate listening; Swagger UI at /swagger-ui/"
        );
        Ok(Self {
            port,
            server,
            metrics,
            db,
            readiness,
            stop,
            purger,
            postman,
            revoker,
            drain: std::time::Duration::from_secs(settings.server.shutdown_drain_secs),
            timeout: std::time::Duration::from_secs(settings.server.shutdown_timeout_secs.max(1)),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the `/metrics` listener, when `metrics.bind` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// A handle to stop the server gracefully (tests restart rolegate with
    /// rotated keys this way).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then stops the workers and closes the pool.
    ///
    /// Stopped through [`handle`](Self::handle): at once. At SIGTERM or
    /// SIGINT, gracefully: `/readyz` answers 503 at once while requests are
    /// still served for `server.shutdown_drain_secs` (a second signal cuts
    /// that short); then the listener closes and requests in flight get
    /// `server.shutdown_timeout_secs` to finish; then the background workers
    /// finish what they are doing (the postman its round) and the pool closes.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let mut signals = Signals::new()?;
        let Self {
            server,
            metrics,
            db,
            readiness,
            stop,
            purger,
            postman,
            revoker,
            drain,
            timeout,
            ..
        } = self;
        let handle = server.handle();
        let mut server = Box::pin(server);
        // An actix `Server` starts when first polled.
        let metrics = metrics.map(|(_, server)| (server.handle(), tokio::spawn(server)));
        let result = tokio::select! {
            result = &mut server => result,
            signal = signals.next() => {
                tracing::info!(
                    signal,
                    drain_secs = drain.as_secs(),
                    timeout_secs = timeout.as_secs(),
                    "shutting down: /readyz answers 503; still serving while load balancers notice"
                );
                readiness.drain();
                let stopped_meanwhile = tokio::select! {
                    () = tokio::time::sleep(drain) => None,
                    signal = signals.next() => {
                        tracing::info!(signal, "second signal: the drain is cut short");
                        None
                    }
                    result = &mut server => Some(result),
                };
                match stopped_meanwhile {
                    Some(result) => result,
                    None => {
                        tracing::info!(
                            "shutting down: the listener is closed; waiting for requests in flight"
                        );
                        // The command is sent at once; the server future
                        // carries it out, so it is polled meanwhile.
                        let stopping = handle.stop(true);
                        let result = server.await;
                        stopping.await;
                        result
                    }
                }
            }
        };
        if let Some((handle, running)) = metrics {
            handle.stop(true).await;
            let _ = running.await;
        }
        // The workers finish what they are doing (the postman its round).
        let _ = stop.send(true);
        for (name, mut worker) in [
            ("purge", purger),
            ("mail delivery", postman),
            ("revocation poll", revoker),
        ] {
            if tokio::time::timeout(timeout, &mut worker).await.is_err() {
                tracing::warn!(
                    worker = name,
                    "a background worker did not stop in time: aborted"
                );
                worker.abort();
            }
        }
        db.close().await;
        tracing::info!("stopped");
        result
    }
}

/// SIGTERM and SIGINT (Ctrl-C elsewhere than on Unix).
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// The next signal's name.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
