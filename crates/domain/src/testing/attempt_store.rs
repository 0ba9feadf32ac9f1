//! One behavioural suite for every [`AttemptStore`]: the memory store here,
//! the database and Redis stores in `rolegate-persistence`. A store that
//! passes it reserves, refunds, reads and clears exactly as the others do.
//!
//! Every key the suite writes starts with the namespace it is given, so
//! stores shared with other tests (one Redis) stay untouched outside it.
//! The suite panics on the first difference (it is test code).
#![allow(clippy::panic)]

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use chrono::{DateTime, Duration, DurationRound as _, Utc};

use crate::throttle::{AttemptStore, Attempts, Limit, Reservation};

/// What a store does with [`AttemptStore::purge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purge {
    /// Deletes the counters last used before the given time.
    Deletes,
    /// Keys expire by themselves (Redis TTLs): `purge` deletes nothing.
    Expires,
}

/// Runs every case against `store`, with keys under `ns`.
pub async fn check_attempt_store(store: &dyn AttemptStore, ns: &str, purge: Purge) {
    admits_up_to_the_limit_then_backs_off(store, ns).await;
    window_boundaries_are_the_rules(store, ns).await;
    refunds_never_go_below_zero_nor_create(store, ns).await;
    clear_and_clear_prefix(store, ns).await;
    purges(store, ns, purge).await;
    concurrent_reservations_admit_exactly_the_limit(store, ns, 40).await;
}

/// A time every store keeps exactly (whole seconds: some SQL column types
/// drop fractions).
pub fn base_time() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(Duration::seconds(1))
        .unwrap_or_else(|_| Utc::now())
}

fn strict() -> Limit {
    Limit {
        max: 3,
        window_secs: 900,
        backoff_base_secs: 10,
        backoff_max_secs: 60,
    }
}

async fn reserve(store: &dyn AttemptStore, key: &str, at: DateTime<Utc>, l: &Limit) -> Reservation {
    match store.reserve(key, at, l).await {
        Ok(r) => r,
        Err(e) => panic!("reserve {key}: {e:?}"),
    }
}

async fn get(store: &dyn AttemptStore, key: &str) -> Option<Attempts> {
    match store.get(key).await {
        Ok(a) => a,
        Err(e) => panic!("get {key}: {e:?}"),
    }
}

fn secs(t: DateTime<Utc>, s: i64) -> DateTime<Utc> {
    t + Duration::seconds(s)
}

/// `max` attempts pass; then one per back-off, doubling up to its bound.
pub async fn admits_up_to_the_limit_then_backs_off(store: &dyn AttemptStore, ns: &str) {
    let key = format!("{ns}backoff");
    let (l, t0) = (strict(), base_time());
    for _ in 0..3 {
        assert_eq!(reserve(store, &key, t0, &l).await, Reservation::Reserved);
    }
    assert_eq!(reserve(store, &key, t0, &l).await, Reservation::Blocked(10));
    assert_eq!(
        get(store, &key).await,
        Some(Attempts { count: 3, last: t0 }),
        "a refusal counts nothing"
    );
    assert_eq!(
        reserve(store, &key, secs(t0, 9), &l).await,
        Reservation::Blocked(1)
    );
    assert_eq!(
        reserve(store, &key, secs(t0, 10), &l).await,
        Reservation::Reserved
    );
    assert_eq!(
        reserve(store, &key, secs(t0, 10), &l).await,
        Reservation::Blocked(20)
    );
    assert_eq!(
        reserve(store, &key, secs(t0, 30), &l).await,
        Reservation::Reserved
    );
    assert_eq!(
        reserve(store, &key, secs(t0, 30), &l).await,
        Reservation::Blocked(40)
    );
    assert_eq!(
        reserve(store, &key, secs(t0, 70), &l).await,
        Reservation::Reserved
    );
    assert_eq!(
        reserve(store, &key, secs(t0, 70), &l).await,
        Reservation::Blocked(60),
        "bounded by backoff_max_secs"
    );
    assert_eq!(
        get(store, &key).await,
        Some(Attempts {
            count: 6,
            last: secs(t0, 70)
        })
    );
    // Keys are independent.
    let other = format!("{ns}backoff-other");
    assert_eq!(reserve(store, &other, t0, &l).await, Reservation::Reserved);
    assert_eq!(get(store, &other).await.map(|a| a.count), Some(1));
}

/// A back-off ends exactly at its length; a window passes only after it
/// (`now - last > window`), and then the count starts over at one.
pub async fn window_boundaries_are_the_rules(store: &dyn AttemptStore, ns: &str) {
    let key = format!("{ns}window");
    let l = Limit {
        max: 1,
        window_secs: 60,
        backoff_base_secs: 60,
        backoff_max_secs: 60,
    };
    let t0 = base_time();
    assert_eq!(reserve(store, &key, t0, &l).await, Reservation::Reserved);
    assert_eq!(
        reserve(store, &key, secs(t0, 59), &l).await,
        Reservation::Blocked(1)
    );
    assert_eq!(
        reserve(store, &key, secs(t0, 60), &l).await,
        Reservation::Reserved
    );
    assert_eq!(
        get(store, &key).await.map(|a| a.count),
        Some(2),
        "at exactly the window's end the count goes on"
    );
    let t1 = secs(t0, 60 + 61);
    assert_eq!(reserve(store, &key, t1, &l).await, Reservation::Reserved);
    assert_eq!(
        get(store, &key).await,
        Some(Attempts { count: 1, last: t1 }),
        "past the window the count starts over"
    );
}

/// A refund gives one attempt back, never below zero, and never creates a counter.
pub async fn refunds_never_go_below_zero_nor_create(store: &dyn AttemptStore, ns: &str) {
    let key = format!("{ns}refund");
    let (l, t0) = (strict(), base_time());
    for _ in 0..3 {
        reserve(store, &key, t0, &l).await;
    }
    assert!(matches!(
        reserve(store, &key, t0, &l).await,
        Reservation::Blocked(_)
    ));
    store.refund(&key).await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        reserve(store, &key, t0, &l).await,
        Reservation::Reserved,
        "the refunded place is free again"
    );
    for _ in 0..5 {
        store.refund(&key).await.unwrap_or_else(|e| panic!("{e:?}"));
    }
    assert_eq!(get(store, &key).await.map(|a| a.count), Some(0));
    let missing = format!("{ns}refund-missing");
    store
        .refund(&missing)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(get(store, &missing).await, None);
}

/// `clear` deletes one counter; `clear_prefix` every counter under a
/// prefix, wildcard characters taken literally, and says how many.
pub async fn clear_and_clear_prefix(store: &dyn AttemptStore, ns: &str) {
    let (l, t0) = (strict(), base_time());
    assert_eq!(get(store, &format!("{ns}never")).await, None);
    let one = format!("{ns}clear-one");
    reserve(store, &one, t0, &l).await;
    store.clear(&one).await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(get(store, &one).await, None);
    store.clear(&one).await.unwrap_or_else(|e| panic!("{e:?}"));

    let account = "a_b%c*?[x]\\";
    let gone = [
        format!("{ns}signin:pair:{account}|1.2.3.4"),
        format!("{ns}signin:pair:{account}|::1"),
    ];
    let kept = [
        format!("{ns}signin:pair:aXbYc*?[x]\\|1.2.3.4"),
        format!("{ns}signin:pair:a_b%c*?[x]\\x|1.2.3.4"),
        format!("{ns}signin:acct:{account}"),
    ];
    for key in gone.iter().chain(&kept) {
        reserve(store, key, t0, &l).await;
    }
    let cleared = store
        .clear_prefix(&format!("{ns}signin:pair:{account}|"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(cleared, 2);
    for key in &gone {
        assert_eq!(get(store, key).await, None, "{key}");
    }
    for key in &kept {
        assert!(get(store, key).await.is_some(), "{key} is kept");
    }
    let none = store
        .clear_prefix(&format!("{ns}nothing-here:"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(none, 0);
}

/// `purge(before)` deletes the counters last used before `before` (or,
/// where keys expire by themselves, nothing).
pub async fn purges(store: &dyn AttemptStore, ns: &str, purge: Purge) {
    let (l, t0) = (strict(), base_time());
    let (old, recent) = (format!("{ns}purge-old"), format!("{ns}purge-recent"));
    reserve(store, &old, t0, &l).await;
    reserve(store, &recent, secs(t0, 100), &l).await;
    let purged = store
        .purge(secs(t0, 50))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    match purge {
        Purge::Deletes => {
            assert!(purged >= 1, "purged {purged}");
            assert_eq!(get(store, &old).await, None);
        }
        Purge::Expires => {
            assert_eq!(purged, 0);
            assert!(get(store, &old).await.is_some());
        }
    }
    assert!(get(store, &recent).await.is_some());
}

/// `n` reservations of one new key at once admit exactly the limit.
pub async fn concurrent_reservations_admit_exactly_the_limit(
    store: &dyn AttemptStore,
    ns: &str,
    n: usize,
) {
    let key = format!("{ns}concurrent");
    let l = Limit {
        max: 7,
        window_secs: 900,
        backoff_base_secs: 60,
        backoff_max_secs: 60,
    };
    let t0 = base_time();
    let outcomes = join_all((0..n).map(|_| store.reserve(&key, t0, &l)).collect()).await;
    let mut reserved = 0;
    for outcome in outcomes {
        match outcome {
            Ok(Reservation::Reserved) => reserved += 1,
            Ok(Reservation::Blocked(wait)) => assert_eq!(wait, 60),
            Err(e) => panic!("a concurrent reservation failed: {e:?}"),
        }
    }
    assert_eq!(reserved, 7, "exactly the limit of {n} at once");
    assert_eq!(get(store, &key).await.map(|a| a.count), Some(7));
}

/// Polls every future until all are done (the stores' own concurrency —
/// a pool, a multiplexed connection — does the rest); outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(v) => *output = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
