//! The remote verifier against a JWKS server on loopback: start-up while
//! rolegate is down, key rotation, key removal, failed refreshes, the rate
//! limit of early refreshes, and the end of the refresh task.
#![cfg(feature = "remote")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{JwksServer, ed25519_pem, issuer, key_set, token, token_with_kid};
use rolegate_guard::{RemoteJwks, TokenVerifier, VerifierConfig, VerifyError};

fn remote(server: &JwksServer, min: u64, max: u64) -> TokenVerifier {
    TokenVerifier::remote(
        &VerifierConfig::default(),
        RemoteJwks::new(server.url())
            .min_refresh_interval(Duration::from_secs(min))
            .max_refresh_interval(Duration::from_secs(max))
            .fetch_timeout(Duration::from_secs(2)),
    )
    .unwrap()
}

/// Polls `check` every 50 ms until it holds; panics after `within`.
async fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < within, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_while_rolegate_is_down_and_accepts_once_it_is_up() {
    let pem = ed25519_pem();
    let keys = key_set(&[pem]);
    let t = token(&issuer(keys.clone()), &["user"], &[]);
    let mut server = JwksServer::reserve().await;
    server.publish(&keys);

    let verifier = remote(&server, 10, 300);
    assert_eq!(verifier.verify(&t), Err(VerifyError::KeysUnavailable));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(verifier.verify(&t), Err(VerifyError::KeysUnavailable));
    // an early refresh is tried, fails, and the token is still refused
    assert_eq!(
        verifier.verify_fresh(&t).await.err(),
        Some(VerifyError::KeysUnavailable)
    );

    server.start().await;
    // retries at 1 s, 3 s, 7 s … after start: up within the next backoff step
    let took = eventually(
        Duration::from_secs(8),
        "keys fetched after start-up",
        || verifier.verify(&t).is_ok(),
    )
    .await;
    assert!(took < Duration::from_secs(8));
    assert_eq!(verifier.verify(&t).unwrap().user_id(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_key_is_fetched_on_demand_without_a_new_verifier() {
    let (a, b) = (ed25519_pem(), ed25519_pem());
    let keys_a = key_set(std::slice::from_ref(&a));
    let keys_ba = key_set(&[b.clone(), a.clone()]);
    let server = JwksServer::serving(&keys_a).await;
    let verifier = remote(&server, 10, 300).with_cache(64);
    let token_a = token(&issuer(keys_a), &["user"], &[]);
    eventually(Duration::from_secs(3), "first fetch", || {
        verifier.verify(&token_a).is_ok()
    })
    .await;

    // rolegate rotates: B signs, A still verifies
    server.publish(&keys_ba);
    let token_b = token(&issuer(keys_ba), &["user"], &[]);
    let before = server.fetches();
    assert_eq!(verifier.verify(&token_b), Err(VerifyError::UnknownKey));
    assert_eq!(server.fetches(), before, "verify never does I/O");
    let claims = verifier.verify_fresh(&token_b).await.unwrap();
    assert_eq!(claims.user_id(), 7);
    assert_eq!(server.fetches(), before + 1, "one refresh");
    assert!(verifier.verify(&token_b).is_ok() && verifier.verify(&token_a).is_ok());
    // a known kid never causes a fetch
    assert!(verifier.verify_fresh(&token_a).await.is_ok());
    assert_eq!(server.fetches(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rolegate_dropped_stops_verifying_after_the_next_refresh() {
    let (a, b) = (ed25519_pem(), ed25519_pem());
    let keys_ba = key_set(&[b.clone(), a.clone()]);
    let server = JwksServer::serving(&keys_ba).await;
    // rolegate says "cache for an hour"; our max interval (1 s) wins
    server.set_max_age(Some(3600));
    let verifier = remote(&server, 1, 1).with_cache(64);
    let token_a = token(&issuer(key_set(&[a])), &["user"], &[]);
    let token_b = token(&issuer(keys_ba), &["user"], &[]);
    eventually(Duration::from_secs(3), "first fetch", || {
        verifier.verify(&token_a).is_ok() && verifier.verify(&token_b).is_ok()
    })
    .await;

    server.publish(&key_set(&[b]));
    eventually(Duration::from_secs(4), "A refused after a refresh", || {
        verifier.verify(&token_a) == Err(VerifyError::UnknownKey)
    })
    .await;
    assert!(verifier.verify(&token_b).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_refresh_keeps_the_last_good_keys() {
    let (a, b) = (ed25519_pem(), ed25519_pem());
    let keys_a = key_set(&[a]);
    let mut server = JwksServer::serving(&keys_a).await;
    let verifier = remote(&server, 1, 1);
    let token_a = token(&issuer(keys_a), &["user"], &[]);
    eventually(Duration::from_secs(3), "first fetch", || {
        verifier.verify(&token_a).is_ok()
    })
    .await;

    server.stop().await;
    let fetched = server.fetches();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(verifier.verify(&token_a).is_ok(), "still the last good set");
    assert_eq!(server.fetches(), fetched);

    // back with another key: A goes, B comes
    let keys_b = key_set(&[b]);
    server.publish(&keys_b);
    server.start().await;
    let token_b = token(&issuer(keys_b), &["user"], &[]);
    eventually(
        Duration::from_secs(8),
        "B accepted after the outage",
        || verifier.verify(&token_b).is_ok(),
    )
    .await;
    assert_eq!(verifier.verify(&token_a), Err(VerifyError::UnknownKey));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kids_refresh_at_most_once_per_min_interval() {
    let keys = key_set(&[ed25519_pem()]);
    let server = JwksServer::serving(&keys).await;
    let verifier = remote(&server, 1, 300);
    let good = token(&issuer(keys), &["user"], &[]);
    eventually(Duration::from_secs(3), "first fetch", || {
        verifier.verify(&good).is_ok()
    })
    .await;
    let before = server.fetches();

    // 32 clients sending tokens with random kids for 2.5 s
    let start = Instant::now();
    let mut clients = Vec::new();
    for c in 0..32 {
        let verifier = verifier.clone();
        clients.push(tokio::spawn(async move {
            let mut n = 0u64;
            while start.elapsed() < Duration::from_millis(2500) {
                let kid = format!("kid-{c}-{n}-{:?}", Instant::now());
                assert_eq!(
                    verifier.verify_fresh(&token_with_kid(&kid)).await.err(),
                    Some(VerifyError::UnknownKey)
                );
                n += 1;
                tokio::task::yield_now().await;
            }
            n
        }));
    }
    let mut attempts = 0;
    for c in clients {
        attempts += c.await.unwrap();
    }
    let refreshes = server.fetches() - before;
    assert!(attempts > 1000, "a flood: {attempts}");
    // at t = 0, ≥ 1 s and ≥ 2 s: at most 3 in 2.5 s, and at least one
    assert!(
        (1..=3).contains(&refreshes),
        "{refreshes} fetches for {attempts} unknown kids"
    );
    assert!(verifier.verify_fresh(&good).await.is_ok());
}

#[tokio::test(flavor = "current_thread")]
async fn the_refresh_task_ends_with_the_last_verifier() {
    let keys = key_set(&[ed25519_pem()]);
    let server = JwksServer::serving(&keys).await;
    let metrics = tokio::runtime::Handle::current().metrics();
    let alive = metrics.num_alive_tasks();
    let verifier = remote(&server, 1, 1);
    let clone = verifier.clone().with_cache(8);
    assert_eq!(metrics.num_alive_tasks(), alive + 1);
    let t = token(&issuer(keys), &["user"], &[]);
    eventually(Duration::from_secs(3), "first fetch", || {
        clone.verify(&t).is_ok()
    })
    .await;
    drop(verifier);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(server.fetches() >= 2, "clones keep the task alive");
    drop(clone);
    eventually(Duration::from_secs(3), "the task ended", || {
        metrics.num_alive_tasks() == alive
    })
    .await;
    let fetched = server.fetches();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(server.fetches(), fetched, "no more fetches");
}
