use futures_util::future::join_all;

use crate::helpers::{spawn_app, unique_name};

#[tokio::test]
async fn fifty_concurrent_signups_of_one_name_give_one_201() {
    let app = spawn_app().await;
    let name = unique_name("race");
    let requests = (0..50).map(|i| {
        app.signup(
            &name,
            &format!("race{i}@example.com"),
            "correct horse battery",
            None,
        )
    });
    let statuses: Vec<u16> = join_all(requests)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let created = statuses.iter().filter(|s| **s == 201).count();
    let conflicts = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((created, conflicts), (1, 49), "statuses: {statuses:?}");
}

#[tokio::test]
async fn fifty_concurrent_distinct_signups_all_succeed() {
    let app = spawn_app().await;
    let names: Vec<String> = (0..50).map(|_| unique_name("many")).collect();
    let requests = names.iter().map(|n| {
        app.signup(
            n,
            &format!("{n}@example.com"),
            "correct horse battery",
            None,
        )
    });
    let statuses: Vec<u16> = join_all(requests)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(statuses.iter().all(|s| *s == 201), "statuses: {statuses:?}");
    // and each can sign in
    for n in names.iter().take(5) {
        assert_eq!(app.signin(n, "correct horse battery").await.status(), 200);
    }
}
