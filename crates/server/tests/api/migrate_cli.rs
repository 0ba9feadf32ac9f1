use crate::helpers::{TestDb, run_cli};

fn rolegate(db_url: &str, args: &[&str]) -> (bool, String) {
    run_cli(db_url, args, None)
}

#[tokio::test]
async fn migrate_up_down_status() {
    let db = TestDb::create().await;
    let url = db.url.clone();
    let run = move |args: &'static [&'static str]| {
        let url = url.clone();
        async move {
            tokio::task::spawn_blocking(move || rolegate(&url, args))
                .await
                .unwrap()
        }
    };
    let (ok, out) = run(&["migrate", "status"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("pending m20261127_000001_users_roles_permissions"),
        "{out}"
    );
    assert!(!out.contains("applied "), "{out}");

    let (ok, out) = run(&["migrate", "up"]).await;
    assert!(ok, "{out}");
    let (_, out) = run(&["migrate", "status"]).await;
    assert!(
        out.contains("applied m20261127_000001_users_roles_permissions"),
        "{out}"
    );
    assert!(
        out.contains("applied m20261127_000002_refresh_tokens"),
        "{out}"
    );
    assert!(!out.contains("pending "), "{out}");
    let (ok, out) = run(&["migrate", "up"]).await;
    assert!(ok, "up is idempotent: {out}");

    let (ok, out) = run(&["migrate", "down", "-n", "2"]).await;
    assert!(ok, "{out}");
    let (_, out) = run(&["migrate", "status"]).await;
    assert!(
        out.contains("applied m20261127_000002_refresh_tokens"),
        "{out}"
    );
    assert!(
        out.contains("pending m20261127_000003_auth_attempts"),
        "{out}"
    );
    assert!(
        out.contains("pending m20261127_000004_audit_events"),
        "{out}"
    );

    let (ok, out) = run(&["migrate", "down", "-n", "5"]).await;
    assert!(ok, "{out}");
    let (_, out) = run(&["migrate", "status"]).await;
    assert!(!out.contains("applied "), "everything rolled back: {out}");
    let (ok, out) = run(&["migrate", "up"]).await;
    assert!(ok, "up again after down: {out}");
}

#[tokio::test]
async fn bad_database_url_is_a_clear_error() {
    let (ok, out) =
        tokio::task::spawn_blocking(|| rolegate("mongodb://localhost/x", &["migrate", "status"]))
            .await
            .unwrap();
    assert!(!ok);
    assert!(out.contains("unsupported database URL"), "{out}");
}
