//! The Redis rate-limit store against a real Redis: `ROLEGATE_TEST_REDIS_URL`
//! (default `redis://127.0.0.1:6379`). Each test writes under a prefix of its
//! own and deletes it at the end; nothing else in that Redis is touched.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use rolegate_domain::testing::attempt_store::{Purge, base_time, check_attempt_store};
use rolegate_domain::{AttemptStore, Limit, Reservation, StoreError};
use rolegate_persistence::{RedisAttempts, RedisConfig};

fn redis_url() -> String {
    std::env::var("ROLEGATE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A store under a fresh prefix; `cleanup` deletes what it wrote.
fn store() -> (RedisAttempts, String) {
    let prefix = format!("rolegate-test:{}:", uuid::Uuid::new_v4().simple());
    (store_at(&redis_url(), &prefix), prefix)
}

fn store_at(url: &str, prefix: &str) -> RedisAttempts {
    RedisAttempts::connect(&RedisConfig {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
        timeout: Duration::from_millis(500),
        ca_file: None,
    })
    .unwrap()
}

async fn cleanup(store: &RedisAttempts) {
    store.clear_prefix("").await.unwrap();
}

#[tokio::test]
async fn the_redis_store_passes_the_store_suite() {
    let (store, _) = store();
    check_attempt_store(&store, "suite:", Purge::Expires).await;
    cleanup(&store).await;
}

#[tokio::test]
async fn counters_expire_by_themselves_a_while_after_their_window() {
    let (store, prefix) = store();
    let limit = Limit {
        max: 3,
        window_secs: 900,
        backoff_base_secs: 10,
        backoff_max_secs: 60,
    };
    store.reserve("k", base_time(), &limit).await.unwrap();
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}k"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        (1_800_000..=1_860_000).contains(&ttl),
        "twice the window plus a minute, got {ttl} ms"
    );
    // A refund keeps the TTL; a refused reservation changes nothing.
    store.refund("k").await.unwrap();
    let after: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}k"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(after > 0 && after <= ttl, "{after}");
    cleanup(&store).await;
}

#[tokio::test]
async fn prefixes_keep_deployments_apart() {
    let (a, _) = store();
    let (b, _) = store();
    let limit = Limit {
        max: 1,
        window_secs: 60,
        backoff_base_secs: 60,
        backoff_max_secs: 60,
    };
    let now = base_time();
    assert_eq!(
        a.reserve("k", now, &limit).await.unwrap(),
        Reservation::Reserved
    );
    assert_eq!(
        b.reserve("k", now, &limit).await.unwrap(),
        Reservation::Reserved
    );
    assert!(matches!(
        a.reserve("k", now, &limit).await.unwrap(),
        Reservation::Blocked(_)
    ));
    assert_eq!(a.clear_prefix("").await.unwrap(), 1);
    assert_eq!(b.get("k").await.unwrap().map(|c| c.count), Some(1));
    cleanup(&b).await;
}

/// Two instances (two connection managers), many tasks on a multi-threaded
/// runtime, one key: exactly the limit is admitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_from_two_instances_admit_exactly_the_limit() {
    let (first, prefix) = store();
    let second = store_at(&redis_url(), &prefix);
    let instances: [Arc<dyn AttemptStore>; 2] = [Arc::new(first.clone()), Arc::new(second)];
    let limit = Limit {
        max: 5,
        window_secs: 900,
        backoff_base_secs: 30,
        backoff_max_secs: 900,
    };
    let now = base_time();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let store = instances[i % 2].clone();
        tasks.spawn(async move { store.reserve("signin:acct:bob", now, &limit).await });
    }
    let mut reserved = 0;
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap().unwrap() {
            Reservation::Reserved => reserved += 1,
            Reservation::Blocked(wait) => assert_eq!(wait, 30),
        }
    }
    assert_eq!(reserved, 5);
    cleanup(&first).await;
}

#[tokio::test]
async fn an_unreachable_redis_fails_fast_as_unavailable() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = store_at(&format!("redis://127.0.0.1:{port}"), "x:");
    let limit = Limit {
        max: 1,
        window_secs: 60,
        backoff_base_secs: 60,
        backoff_max_secs: 60,
    };
    for _ in 0..3 {
        let started = Instant::now();
        let outcome = store.reserve("k", base_time(), &limit).await;
        assert!(
            matches!(outcome, Err(StoreError::Unavailable(_))),
            "{outcome:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn a_url_that_is_not_redis_is_refused_without_showing_its_password() {
    let err = RedisAttempts::connect(&RedisConfig {
        url: "http://user:hunter2@example.com/".into(),
        prefix: String::new(),
        timeout: Duration::from_secs(1),
        ca_file: None,
    })
    .unwrap_err();
    let shown = format!("{err:?} {err}");
    assert!(!shown.contains("hunter2"), "{shown}");
}
