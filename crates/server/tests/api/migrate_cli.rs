use crate::helpers::{TestDb, cli};

#[tokio::test]
async fn migrate_up_down_status() {
    let db = TestDb::create().await;
    let url = db.url.clone();
    let run = |args: &'static [&'static str]| cli(&url, args, None);
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

    let (ok, out) = run(&["migrate", "down", "-n", "9"]).await;
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
    assert!(
        out.contains("pending m20261201_000005_refresh_seal_aead"),
        "{out}"
    );
    assert!(
        out.contains("pending m20261202_000006_account_lifecycle"),
        "{out}"
    );
    assert!(out.contains("pending m20261210_000007_passkeys"), "{out}");
    assert!(out.contains("pending m20261210_000008_mfa"), "{out}");
    assert!(
        out.contains("pending m20261211_000009_audit_retention"),
        "{out}"
    );
    assert!(
        out.contains("pending m20261212_000010_revocations"),
        "{out}"
    );
    assert!(
        out.contains("pending m20261212_000011_user_search"),
        "{out}"
    );

    let (ok, out) = run(&["migrate", "down", "-n", "8"]).await;
    assert!(ok, "{out}");
    let (_, out) = run(&["migrate", "status"]).await;
    assert!(!out.contains("applied "), "everything rolled back: {out}");
    let (ok, out) = run(&["migrate", "up"]).await;
    assert!(ok, "up again after down: {out}");
}

#[tokio::test]
async fn bad_database_url_is_a_clear_error() {
    let (ok, out) = cli("mongodb://localhost/x", &["migrate", "status"], None).await;
    assert!(!ok);
    assert!(out.contains("unsupported database URL"), "{out}");
}
