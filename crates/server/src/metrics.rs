//! Prometheus metrics: one registry per application (no global recorder),
//! served in the OpenMetrics text format at `/metrics` on a listener of its
//! own (`metrics.bind`). Request and sign-in metrics are recorded by the HTTP
//! layer; the hashing pool reports through [`HashObserver`]; the rest is read
//! at each scrape from counters the other crates keep (the verified-token
//! cache, the pool, refresh rotations) or asked for (the outbox depth).

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use rolegate_api::{ApiMetrics, Readiness};
use rolegate_auth::{Argon2Hasher, HashObserver, TokenVerifier};
use rolegate_domain::{AuthService, Postman};
use rolegate_persistence::Database;

/// The content type of the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the hash-wait buckets, in seconds (a hash takes ~20 ms).
const WAIT_BUCKETS: [f64; 12] = [
    0.0001, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    git_sha: &'static str,
}

/// The registry and the metrics the server records itself.
pub struct Metrics {
    registry: Registry,
    api: Arc<ApiMetrics>,
    hashing: Arc<HashTimes>,
    mail: Family<ResultLabels, Counter>,
    outbox_pending: Arc<AtomicI64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// What is read at each scrape.
pub struct Sources {
    pub verifier: TokenVerifier,
    pub hasher: Argon2Hasher,
    pub db: Database,
    pub auth: AuthService,
    pub readiness: Readiness,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let api = ApiMetrics::register(&mut registry);
        let hashing = Arc::new(HashTimes {
            wait: Histogram::new(WAIT_BUCKETS),
            shed: Counter::default(),
        });
        registry.register_with_unit(
            "rolegate_password_hash_wait",
            "Time sign-ins, sign-ups and password changes waited for a hashing slot",
            Unit::Seconds,
            hashing.wait.clone(),
        );
        registry.register(
            "rolegate_password_hashes_shed",
            "Hashes refused at once (every slot busy, the line full): answered 503",
            hashing.shed.clone(),
        );
        let mail = Family::<ResultLabels, Counter>::default();
        for result in ["sent", "retried", "given_up"] {
            let _ = mail.get_or_create(&ResultLabels { result });
        }
        registry.register(
            "rolegate_mail_deliveries",
            "Mail delivery attempts by result: sent, retried (failed, will retry), given_up",
            mail.clone(),
        );
        registry.register(
            "rolegate_build",
            "The running build",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                git_sha: option_env!("ROLEGATE_GIT_SHA").unwrap_or("unknown"),
            }),
        );
        Self {
            registry,
            api,
            hashing,
            mail,
            outbox_pending: Arc::new(AtomicI64::new(-1)),
        }
    }

    /// The HTTP layer's metrics (for `AppState`).
    pub fn api(&self) -> Arc<ApiMetrics> {
        self.api.clone()
    }

    /// The hashing pool's observer (for `Argon2Hasher::with_observer`).
    pub fn hash_observer(&self) -> Arc<dyn HashObserver> {
        self.hashing.clone()
    }

    /// Counts a delivery round of the postman.
    pub fn mail_round(&self, round: &rolegate_domain::mail::Round) {
        for (result, n) in [
            ("sent", round.sent),
            ("retried", round.retried),
            ("given_up", round.given_up),
        ] {
            if n > 0 {
                self.mail
                    .get_or_create(&ResultLabels { result })
                    .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
            }
        }
    }

    /// Adds the values read at each scrape.
    pub fn read_at_scrape(&mut self, sources: Sources) {
        self.registry.register_collector(Box::new(Readings {
            sources,
            outbox_pending: self.outbox_pending.clone(),
        }));
    }

    /// The exposition: asks the outbox for its depth (bounded by a timeout),
    /// then encodes every metric.
    pub async fn render(&self, postman: Option<&Postman>) -> Result<String, std::fmt::Error> {
        if let Some(postman) = postman {
            let depth = match tokio::time::timeout(Duration::from_secs(2), postman.pending()).await
            {
                Ok(Ok(n)) => i64::try_from(n).unwrap_or(i64::MAX),
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "metrics: the outbox depth is unavailable");
                    -1
                }
                Err(_) => -1,
            };
            self.outbox_pending.store(depth, Ordering::Relaxed);
        }
        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The hashing pool's waits and refusals.
#[derive(Debug)]
struct HashTimes {
    wait: Histogram,
    shed: Counter,
}

impl HashObserver for HashTimes {
    fn admitted(&self, waited: Duration) {
        self.wait.observe(waited.as_secs_f64());
    }

    fn shed(&self) {
        self.shed.inc();
    }
}

struct Readings {
    sources: Sources,
    /// The outbox depth read by the last scrape; -1: unknown (left out).
    outbox_pending: Arc<AtomicI64>,
}

impl std::fmt::Debug for Readings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readings").finish_non_exhaustive()
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Collector for Readings {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.sources;
        let e = &mut encoder;

        let hashing = s.hasher.stats();
        gauge(
            e,
            "rolegate_password_hashes_running",
            "Hashes holding a slot of the hashing threads",
            int(hashing.running),
        )?;
        gauge(
            e,
            "rolegate_password_hashes_waiting",
            "Hashes waiting for a slot",
            int(hashing.waiting),
        )?;
        gauge(
            e,
            "rolegate_password_hash_slots",
            "Hashes that may run at once (auth.hashing.max_concurrent)",
            int(hashing.max_running),
        )?;
        gauge(
            e,
            "rolegate_password_hash_queue_limit",
            "Hashes that may wait; beyond, requests are shed (auth.hashing.max_queue)",
            int(hashing.max_waiting),
        )?;

        if let Some(cache) = s.verifier.cache_stats() {
            let mut family = e.encode_descriptor(
                "rolegate_token_cache_lookups",
                "Access tokens looked up in the verified-token cache, by result: hit (no \
                 signature check) or miss",
                None,
                MetricType::Counter,
            )?;
            for (result, n) in [("hit", cache.hits), ("miss", cache.misses)] {
                ConstCounter::new(n).encode(family.encode_family(&ResultLabels { result })?)?;
            }
        }

        let pool = s.db.pool_stats();
        {
            let mut family = e.encode_descriptor(
                "rolegate_db_pool_connections",
                "Open database connections by state: in_use or idle",
                None,
                MetricType::Gauge,
            )?;
            for (state, n) in [
                ("in_use", pool.open.saturating_sub(pool.idle)),
                ("idle", pool.idle),
            ] {
                ConstGauge::new(i64::from(n)).encode(family.encode_family(&[("state", state)])?)?;
            }
        }
        gauge(
            e,
            "rolegate_db_pool_max_connections",
            "Connections the pool may open (database.max_connections)",
            i64::from(pool.max),
        )?;
        counter(
            e,
            "rolegate_db_pool_acquire_timeouts",
            "Waits for a pooled connection that timed out (database.acquire_timeout_ms): \
             answered 503",
            rolegate_persistence::acquire_timeouts(),
        )?;

        let sessions = s.auth.session_counts();
        counter(
            e,
            "rolegate_refresh_rotations",
            "Refresh tokens rotated (a new successor issued)",
            sessions.rotations,
        )?;
        counter(
            e,
            "rolegate_refresh_reuse_detected",
            "Rotated refresh tokens presented again past the grace window: the session was revoked",
            sessions.reuse_detected,
        )?;

        let pending = self.outbox_pending.load(Ordering::Relaxed);
        if pending >= 0 {
            gauge(
                e,
                "rolegate_mail_outbox_pending",
                "Mails waiting in the outbox (not sent, not given up), every instance's",
                pending,
            )?;
        }
        gauge(
            e,
            "rolegate_draining",
            "1 while the server shuts down (/readyz answers 503)",
            i64::from(s.readiness.is_draining()),
        )?;
        Ok(())
    }
}

/// The metrics listener: `GET /metrics` only, on one worker.
pub fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    postman: Postman,
) -> anyhow::Result<Server> {
    let data = web::Data::new((metrics, postman));
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).route(
            "/metrics",
            web::get().to(|data: web::Data<(Arc<Metrics>, Postman)>| async move {
                match data.0.render(Some(&data.1)).await {
                    Ok(body) => HttpResponse::Ok().content_type(CONTENT_TYPE).body(body),
                    Err(_) => HttpResponse::InternalServerError().finish(),
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)
    .context("serving metrics")?
    .run();
    Ok(server)
}
