//! Fault injection: a TCP proxy (on loopback, inside the test) between the app
//! and MySQL/PostgreSQL, cut while requests are in flight, then restored.
//! SQLite is an embedded file with no connection to cut: these tests run on
//! the networked backends and say so when skipped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use rolegate::settings::{AttemptStoreKind, StoreErrorPolicy};

use crate::helpers::{
    Backend, TestDb, backend, expect_error, host_port, spawn_on, test_settings, unique_name,
};

const PW: &str = "correct horse battery";

/// A loopback TCP proxy that can be cut (every connection closed, new ones
/// refused) and restored.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    cut_tx: watch::Sender<u64>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let (cut_tx, cut_rx) = watch::channel(0u64);
        let accept_up = up.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !accept_up.load(Ordering::SeqCst) {
                    drop(inbound); // refused while down
                    continue;
                }
                let target = target.clone();
                let mut cut = cut_rx.clone();
                cut.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self { port, up, cut_tx }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut_tx.send_modify(|n| *n += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// A fresh database with its host and port, on a networked backend; `None`
/// (and a note) on SQLite, an embedded file with no connection to cut.
async fn networked_db() -> Option<(TestDb, String, u16)> {
    if backend() == Backend::Sqlite {
        eprintln!(
            "SKIPPED fault injection on SQLite: an embedded file has no connection to cut (runs on MySQL and PostgreSQL)"
        );
        return None;
    }
    let db = TestDb::create().await;
    let (host, port, _) = host_port(&db.url);
    Some((db, host, port))
}

#[tokio::test]
async fn database_outage_gives_fast_503s_and_recovers_without_restart() {
    let Some((db, host, port)) = networked_db().await else {
        return;
    };
    let proxy = Proxy::start(format!("{host}:{port}")).await;
    let mut settings = test_settings(&db.url_via(proxy.port));
    settings.database.acquire_timeout_ms = 1000;
    settings.database.connect_timeout_ms = 1000;
    let app = spawn_on(db, settings).await;
    let token = app.user_token(&unique_name("before"), &["admin"]).await;

    // Signups in flight while the connection is cut.
    let names: Vec<String> = (0..20).map(|_| unique_name("flight")).collect();
    let in_flight = join_all(names.iter().map(|n| {
        app.signup(
            n,
            &format!("{n}@example.com"),
            "correct horse battery",
            None,
        )
    }));
    let cutter = async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        proxy.cut();
    };
    let (responses, ()) = tokio::join!(in_flight, cutter);
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 503),
        "only 201 or 503 while cut: {statuses:?}"
    );

    // While down: DB routes answer 503 quickly, token-only routes keep working.
    let started = Instant::now();
    let res = app
        .signup(
            &unique_name("down"),
            "down@example.com",
            "correct horse battery",
            None,
        )
        .await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "unavailable");
    assert!(
        !body["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("sqlx"),
        "no internals: {body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the acquire timeout, took {:?}",
        started.elapsed()
    );
    assert_eq!(
        app.signin("whoever", "correct horse battery")
            .await
            .status(),
        503
    );
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    assert_eq!(
        app.get_with_token("/api/test/admin", &token).await.status(),
        200
    );
    assert_eq!(
        app.client
            .get(app.url("/api/test/all"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Restore: the service recovers by itself.
    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if app
            .client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "did not recover within 20 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = unique_name("after");
    assert_eq!(
        app.signup(
            &after,
            &format!("{after}@example.com"),
            "correct horse battery",
            None
        )
        .await
        .status(),
        201
    );

    // Every signup that got a 201 is in the database.
    for (name, status) in names.iter().zip(&statuses) {
        if *status == 201 {
            assert_eq!(
                app.signin(name, "correct horse battery").await.status(),
                200,
                "{name} got 201 but is missing"
            );
        }
    }
}

/// The database store meets `rate_limit.on_store_error` as Redis does:
/// "deny" refuses with `rate_limit_unavailable` before anything else is
/// tried; "allow" lets the request go on, where it then meets the database
/// itself (503 `unavailable`).
#[tokio::test]
async fn the_database_store_meets_on_store_error_too() {
    if backend() == Backend::Sqlite {
        eprintln!("SKIPPED fault injection on SQLite (runs on MySQL and PostgreSQL)");
        return;
    }
    let db = TestDb::create().await;
    let (host, port, _) = host_port(&db.url);
    let proxy = Proxy::start(format!("{host}:{port}")).await;
    let mut settings = test_settings(&db.url_via(proxy.port));
    settings.database.acquire_timeout_ms = 1000;
    settings.database.connect_timeout_ms = 1000;
    settings.rate_limit.store = AttemptStoreKind::Database;
    let deny = spawn_on(db, settings).await;
    let allow = deny
        .restart_with(|s| s.rate_limit.on_store_error = StoreErrorPolicy::Allow)
        .await;
    let name = unique_name("dbstore");
    assert_eq!(
        deny.signup(&name, &format!("{name}@example.com"), PW, None)
            .await
            .status(),
        201
    );

    proxy.cut();
    let res = deny.signin(&name, PW).await;
    assert_eq!(res.headers()["retry-after"], "5");
    expect_error(res, 503, "rate_limit_unavailable").await;
    expect_error(allow.signin(&name, PW).await, 503, "unavailable").await;

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    while deny.signin(&name, PW).await.status() != 200 {
        assert!(Instant::now() < deadline, "did not recover within 20 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A loopback proxy that, once armed, lets the next `COMMIT` through to the
/// database and then closes that connection before the answer comes back:
/// the transaction is committed, the app sees a broken connection.
struct CommitCutter {
    port: u16,
    armed: Arc<AtomicBool>,
    fired: Arc<AtomicBool>,
}

impl CommitCutter {
    async fn start(target: String) -> Self {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let armed = Arc::new(AtomicBool::new(false));
        let fired = Arc::new(AtomicBool::new(false));
        let (accept_armed, accept_fired) = (armed.clone(), fired.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = TcpStream::connect(&target).await else {
                    continue;
                };
                let (armed, fired) = (accept_armed.clone(), accept_fired.clone());
                tokio::spawn(async move {
                    let (mut from_app, mut to_app) = inbound.into_split();
                    let (mut from_db, mut to_db) = outbound.into_split();
                    // Set before the COMMIT leaves: its answer is never relayed.
                    let cutting = AtomicBool::new(false);
                    let upstream = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match from_app.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            let chunk = &buf[..n];
                            let commit =
                                chunk.windows(6).any(|w| w.eq_ignore_ascii_case(b"COMMIT"));
                            let cut = commit && armed.swap(false, Ordering::SeqCst);
                            if cut {
                                cutting.store(true, Ordering::SeqCst);
                            }
                            if to_db.write_all(chunk).await.is_err() {
                                return;
                            }
                            if cut {
                                // Let the server commit, then close without its answer.
                                tokio::time::sleep(Duration::from_millis(300)).await;
                                fired.store(true, Ordering::SeqCst);
                                return;
                            }
                        }
                    };
                    let downstream = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match from_db.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            if cutting.load(Ordering::SeqCst) {
                                // The COMMIT's answer: dropped; the cut follows.
                                std::future::pending::<()>().await;
                            }
                            if to_app.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    // Whichever ends first ends the connection (both halves drop).
                    tokio::select! {
                        () = upstream => {}
                        () = downstream => {}
                    }
                });
            }
        });
        Self { port, armed, fired }
    }
}

#[tokio::test]
async fn a_sign_up_whose_commit_answer_is_lost_is_still_201() {
    let Some((db, host, port)) = networked_db().await else {
        return;
    };
    let cutter = CommitCutter::start(format!("{host}:{port}")).await;
    let mut settings = test_settings(&db.url_via(cutter.port));
    settings.database.acquire_timeout_ms = 2000;
    let app = spawn_on(db, settings).await;
    // warm up: the pool has its connections and the roles are cached
    let warm = unique_name("warm");
    let res = app
        .signup(&warm, &format!("{warm}@example.com"), PW, None)
        .await;
    assert_eq!(res.status(), 201);

    let name = unique_name("lost");
    cutter.armed.store(true, Ordering::SeqCst);
    let res = app
        .signup(&name, &format!("{name}@example.com"), PW, None)
        .await;
    let status = res.status().as_u16();
    let body = res.text().await.unwrap();
    assert!(
        cutter.fired.load(Ordering::SeqCst),
        "the commit's answer was cut (armed still: {}; {status} {body})",
        cutter.armed.load(Ordering::SeqCst)
    );
    assert_eq!(status, 201, "our own account, not a conflict: {body}");
    // it exists, once, and signs in
    let res = app.signin(&name, PW).await;
    assert_eq!(res.status(), 200);
    let res = app
        .signup(&name, &format!("{name}@example.com"), PW, None)
        .await;
    expect_error(res, 409, "username_taken").await;
}
