//! `audit.retention_days`: events older than the retention go, a batch at a
//! time; recent ones stay. Driven by a clock the test controls.

use std::sync::Arc;
use std::time::Duration;

use rolegate_domain::{ManualClock, retention_cutoff};

use crate::helpers::{TestApp, spawn_app_with_clock, unique_name};

async fn create_role(app: &TestApp, token: &str) {
    let res = app
        .client
        .post(app.url("/api/admin/roles"))
        .bearer_auth(token)
        .json(&serde_json::json!({"name": unique_name("r").to_lowercase(), "permissions": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
}

/// The `role.create` events recorded.
async fn audit_count(app: &TestApp) -> u64 {
    app.scalar("SELECT CAST(COUNT(*) AS CHAR(20)) FROM audit_events WHERE action = 'role.create'")
        .await
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn audit_events_past_their_retention_are_purged_in_batches_and_recent_ones_stay() {
    // Starts now (tokens must verify against the real time too) and moves
    // forward: 25 events now, 3 in 300 days, the purge in 400 days.
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = spawn_app_with_clock(clock.clone(), |s| {
        s.audit.retention_days = 365;
        // The loop's own round is not awaited here: this test calls the purge.
        s.auth.purge_interval_secs = 3600;
    })
    .await;
    let old_admin = app.user_token(&unique_name("old"), &["admin"]).await;
    for _ in 0..25 {
        create_role(&app, &old_admin).await;
    }
    clock.advance(chrono::Duration::days(300));
    let recent_admin = app.user_token(&unique_name("new"), &["admin"]).await;
    for _ in 0..3 {
        create_role(&app, &recent_admin).await;
    }
    clock.advance(chrono::Duration::days(100));
    assert_eq!(audit_count(&app).await, 28);

    let db = rolegate::startup::open_database(&app.settings)
        .await
        .unwrap();
    let before = retention_cutoff(clock_now(&clock), app.settings.audit.retention_days).unwrap();
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let deleted = rolegate::purge::purge_audit(&db, before, 10, Duration::from_millis(1), &stopped)
        .await
        .unwrap();
    assert!(
        deleted >= 25,
        "the 25 old events at least (and other old ones): {deleted}"
    );
    assert_eq!(audit_count(&app).await, 3, "the recent events stay");
    // Nothing more to do.
    let again = rolegate::purge::purge_audit(&db, before, 10, Duration::ZERO, &stopped)
        .await
        .unwrap();
    assert_eq!(again, 0);
    // 0 keeps everything.
    assert_eq!(retention_cutoff(clock_now(&clock), 0), None);
}

fn clock_now(clock: &ManualClock) -> chrono::DateTime<chrono::Utc> {
    rolegate_domain::Clock::now(clock)
}

/// The server's purge loop applies `audit.retention_days`; 0 keeps everything.
#[tokio::test]
async fn the_purge_loop_applies_the_retention_and_zero_keeps_everything() {
    let mut apps = Vec::new();
    for days in [30, 0] {
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let app = spawn_app_with_clock(clock.clone(), move |s| {
            s.audit.retention_days = days;
            s.auth.purge_interval_secs = 1;
        })
        .await;
        let admin = app.user_token(&unique_name("admin"), &["admin"]).await;
        create_role(&app, &admin).await;
        create_role(&app, &admin).await;
        clock.advance(chrono::Duration::days(3650));
        apps.push((days, app));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (_, purged) = &apps[0];
    while audit_count(purged).await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "not purged within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Meanwhile (several rounds) the other kept its events.
    let (days, kept) = &apps[1];
    assert_eq!(*days, 0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(audit_count(kept).await, 2);
}
