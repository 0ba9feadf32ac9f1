//! `rate_limit.store = "redis"` end to end: the store passes the same suite
//! as the others, a per-account limit holds across instances, and Redis
//! outages — a private `redis-server` the test starts, kills and restarts on
//! the same port — meet `rate_limit.on_store_error` and heal without a
//! restart of rolegate.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rolegate::settings::{AttemptStoreKind, Settings, StoreErrorPolicy};
use rolegate_domain::testing::attempt_store::{Purge, check_attempt_store};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;

use crate::helpers::{
    TestApp, TestDb, captured_logs, expect_error, spawn_app_with, trusting_the_test_proxy,
    unique_name,
};

const PW: &str = "correct horse battery";
const ATTACKER: &str = "203.0.113.66";

/// A `redis-server` of the test's own on a free port, without persistence;
/// killed when dropped. `ROLEGATE_TEST_REDIS_SERVER` names the binary
/// (default `redis-server` on the PATH).
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { port, child: None };
        redis.restart().await;
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on its port and waits until it accepts connections.
    async fn restart(&mut self) {
        let bin =
            std::env::var("ROLEGATE_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{bin} (apt-get install redis-server): {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills it (as a crash would).
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Redis at `url` as the store, with a strict per-account limit (5 failures).
fn redis_store(s: &mut Settings, url: &str) {
    s.rate_limit.store = AttemptStoreKind::Redis;
    s.rate_limit.redis_url = Some(SecretString::from(url.to_owned()));
    s.rate_limit.redis_timeout_ms = 300;
    s.rate_limit.signin_account_max_failures = 5;
    s.rate_limit.signin_account_max_failures_all = 100;
    s.rate_limit.signin_client_max_failures = 30;
}

/// Deletes what the app wrote under its prefix in the shared Redis.
async fn forget_counters(app: &TestApp) {
    let config = app.settings.rate_limit.redis_config().unwrap();
    let store = rolegate_persistence::RedisAttempts::connect(&config).unwrap();
    let _ = rolegate_domain::AttemptStore::clear_prefix(&store, "").await;
}

async fn sign_up(app: &TestApp, name: &str) {
    let res = app
        .signup(name, &format!("{name}@example.com"), PW, None)
        .await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn the_redis_store_passes_the_store_suite_and_so_does_the_database() {
    let db = TestDb::create().await;
    let settings = crate::helpers::test_settings(&db.url);
    let database = rolegate::startup::open_database(&settings).await.unwrap();
    check_attempt_store(&database, "suite:", Purge::Deletes).await;

    let mut settings = settings;
    settings.rate_limit.store = AttemptStoreKind::Redis;
    let redis = rolegate::startup::redis_attempts(&settings).unwrap();
    check_attempt_store(&redis, "suite:", Purge::Expires).await;
    rolegate_domain::AttemptStore::clear_prefix(&redis, "")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_per_account_limit_holds_across_instances_sharing_redis() {
    let url = crate::helpers::test_redis_url();
    let a = spawn_app_with(|s| {
        redis_store(s, &url);
        trusting_the_test_proxy(s);
    })
    .await;
    let b = a.restart_with(|_| {}).await;
    let name = unique_name("shared");
    sign_up(&a, &name).await;
    for i in 0..5 {
        let app = if i % 2 == 0 { &a } else { &b };
        let res = app
            .signin_from(ATTACKER, &name, &format!("guess {i}"))
            .await;
        expect_error(res, 401, "invalid_credentials").await;
    }
    for app in [&a, &b] {
        expect_error(
            app.signin_from(ATTACKER, &name, PW).await,
            429,
            "too_many_requests",
        )
        .await;
    }
    assert_eq!(b.signin_from("198.51.100.7", &name, PW).await.status(), 200);
    forget_counters(&a).await;
}

/// Signs in until it works (the store is back), within `within`.
async fn until_signed_in(app: &TestApp, name: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let res = app.signin(name, PW).await;
        match res.status().as_u16() {
            200 => return,
            503 => {}
            other => panic!("unexpected {other}: {:?}", res.text().await),
        }
        assert!(
            Instant::now() < deadline,
            "Redis not used again within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_redis_outage_refuses_rate_limited_requests_by_default_and_heals_by_itself() {
    let mut redis = PrivateRedis::start().await;
    let app = spawn_app_with(|s| redis_store(s, &redis.url())).await;
    assert_eq!(
        app.settings.rate_limit.on_store_error,
        StoreErrorPolicy::Deny
    );
    let name = unique_name("outage");
    sign_up(&app, &name).await;
    let res = app.signin(&name, PW).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let token = body["accessToken"].as_str().unwrap().to_owned();
    let refresh = body["refreshToken"].as_str().unwrap().to_owned();

    redis.stop();
    let started = Instant::now();
    let res = app.signin(&name, PW).await;
    assert_eq!(res.headers()["retry-after"], "5");
    let body = expect_error(res, 503, "rate_limit_unavailable").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded by the Redis timeout, took {:?}",
        started.elapsed()
    );
    assert!(!body.to_string().to_lowercase().contains("redis"), "{body}");
    let other = unique_name("during");
    expect_error(
        app.signup(&other, &format!("{other}@example.com"), PW, None)
            .await,
        503,
        "rate_limit_unavailable",
    )
    .await;
    expect_error(app.refresh(&refresh).await, 503, "rate_limit_unavailable").await;
    // The instance stays ready (the policy answers for Redis), and routes
    // that need no counter keep working.
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        app.get_with_token("/api/test/user", &token).await.status(),
        200
    );
    assert!(
        captured_logs().contains("the rate-limit store failed: the request is refused"),
        "logged at WARN"
    );

    // Back on the same port: rolegate reconnects by itself.
    redis.restart().await;
    until_signed_in(&app, &name, Duration::from_secs(10)).await;
    for i in 0..5 {
        let res = app.signin(&name, &format!("guess {i}")).await;
        expect_error(res, 401, "invalid_credentials").await;
    }
    expect_error(app.signin(&name, PW).await, 429, "too_many_requests").await;
}

#[tokio::test]
async fn with_on_store_error_allow_a_redis_outage_lets_requests_through_uncounted() {
    let mut redis = PrivateRedis::start().await;
    let app = spawn_app_with(|s| {
        redis_store(s, &redis.url());
        s.rate_limit.on_store_error = StoreErrorPolicy::Allow;
    })
    .await;
    let name = unique_name("allow");
    sign_up(&app, &name).await;

    redis.stop();
    // More failures than the limit: every one is checked, none refused.
    for i in 0..8 {
        let res = app.signin(&name, &format!("guess {i}")).await;
        expect_error(res, 401, "invalid_credentials").await;
    }
    assert_eq!(app.signin(&name, PW).await.status(), 200);
    let other = unique_name("during");
    sign_up(&app, &other).await;

    redis.restart().await;
    // Counting resumes by itself: within a few guesses (the first after the
    // restart may still go uncounted while the connection is made again)
    // the limit refuses.
    let mut refused_after = None;
    for i in 0..20 {
        let res = app.signin(&name, &format!("again {i}")).await;
        match res.status().as_u16() {
            401 => {}
            429 => {
                refused_after = Some(i);
                break;
            }
            other => panic!("unexpected {other}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused_after = refused_after.expect("the limit applies again after the restart");
    assert!(
        refused_after >= 5,
        "five failures counted first: {refused_after}"
    );
    expect_error(app.signin(&name, PW).await, 429, "too_many_requests").await;
}

#[tokio::test]
async fn the_redis_url_is_never_logged_with_its_password() {
    let redis = PrivateRedis::start().await;
    // A password Redis does not ask for is ignored by an unauthenticated
    // server; what matters is what the log shows.
    let url = format!("redis://:s3cr3t-pw-{}@127.0.0.1:{}", redis.port, redis.port);
    let app = spawn_app_with(|s| redis_store(s, &url)).await;
    let name = unique_name("quiet");
    let _ = app
        .signup(&name, &format!("{name}@example.com"), PW, None)
        .await;
    assert_eq!(
        app.settings
            .rate_limit
            .redis_url
            .as_ref()
            .map(|u| u.expose_secret().contains("s3cr3t")),
        Some(true)
    );
    let logs = captured_logs();
    assert!(
        logs.contains(&format!("127.0.0.1:{}", redis.port)),
        "the store is named in the log"
    );
    assert!(
        !logs.contains(&format!("s3cr3t-pw-{}", redis.port)),
        "password leaked"
    );
}
