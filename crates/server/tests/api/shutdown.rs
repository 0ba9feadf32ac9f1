//! Graceful shutdown of the real binary under load: SIGTERM while 16
//! clients sign up and sign in. `/readyz` turns 503 at once, requests are
//! still served during the drain, every request the server took gets its
//! normal answer, the process exits 0, and every acknowledged sign-up exists.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, Statement};

use crate::helpers::{TestDb, config_dir};

const DRAIN: Duration = Duration::from_secs(2);
const TIMEOUT_SECS: u64 = 15;
const CLIENTS: usize = 16;

#[derive(Debug)]
enum Outcome {
    Status(u16),
    /// No connection: the listener is closed.
    Refused,
    /// Anything else: a cut connection, a timeout (shown when a check fails).
    Failed(#[allow(dead_code)] String),
}

#[derive(Debug)]
struct Call {
    what: &'static str,
    username: String,
    started: Instant,
    outcome: Outcome,
}

fn outcome(result: reqwest::Result<reqwest::Response>) -> Outcome {
    match result {
        Ok(res) => Outcome::Status(res.status().as_u16()),
        Err(e) if e.is_connect() => Outcome::Refused,
        Err(e) => Outcome::Failed(format!("{e:?}")),
    }
}

/// Sign-ups and sign-ins on fresh connections until the server is gone.
async fn client(base: String, id: usize, done: Arc<AtomicBool>) -> Vec<Call> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(TIMEOUT_SECS + 10))
        .build()
        .unwrap();
    let mut calls = Vec::new();
    for n in 0.. {
        if done.load(Ordering::Relaxed) {
            break;
        }
        let username = format!("drain_{id}_{n}");
        let body = serde_json::json!({
            "username": username,
            "email": format!("{username}@example.com"),
            "password": "correct horse battery",
        });
        let started = Instant::now();
        let res = http
            .post(format!("{base}/api/auth/signup"))
            .json(&body)
            .send()
            .await;
        let signed_up = outcome(res);
        let refused = matches!(signed_up, Outcome::Refused);
        let created = matches!(signed_up, Outcome::Status(201));
        calls.push(Call {
            what: "signup",
            username: username.clone(),
            started,
            outcome: signed_up,
        });
        if refused {
            break;
        }
        if created {
            let started = Instant::now();
            let res = http
                .post(format!("{base}/api/auth/signin"))
                .json(
                    &serde_json::json!({"username": username, "password": "correct horse battery"}),
                )
                .send()
                .await;
            let signed_in = outcome(res);
            let refused = matches!(signed_in, Outcome::Refused);
            calls.push(Call {
                what: "signin",
                username,
                started,
                outcome: signed_in,
            });
            if refused {
                break;
            }
        }
    }
    calls
}

#[tokio::test]
async fn sigterm_under_load_drains_and_loses_nothing() {
    let db = TestDb::create().await;
    let data =
        std::env::temp_dir().join(format!("rolegate-drain-{}", uuid::Uuid::new_v4().simple()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_rolegate"))
        .arg("serve")
        .env("ROLEGATE_ENV", "test")
        .env("ROLEGATE_CONFIG_DIR", config_dir())
        .env("ROLEGATE__DATABASE__URL", &db.url)
        .env("ROLEGATE__DATA__DIR", &data)
        .env(
            "ROLEGATE__AUTH__JWT_SECRET",
            format!("test-secret-{}", uuid::Uuid::new_v4().simple()),
        )
        .env("ROLEGATE__SERVER__PORT", "0")
        .env("ROLEGATE__SERVER__WORKERS", "2")
        .env(
            "ROLEGATE__SERVER__SHUTDOWN_DRAIN_SECS",
            DRAIN.as_secs().to_string(),
        )
        .env(
            "ROLEGATE__SERVER__SHUTDOWN_TIMEOUT_SECS",
            TIMEOUT_SECS.to_string(),
        )
        .env("ROLEGATE__DATABASE__MAX_CONNECTIONS", "8")
        .env("ROLEGATE__LOG__LEVEL", "warn,rolegate::startup=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // The log, kept; the port from the "listening" line.
    let log = Arc::new(Mutex::new(String::new()));
    let (port_tx, port_rx) = std::sync::mpsc::channel::<u16>();
    let stderr = child.stderr.take().unwrap();
    let log_writer = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains("rolegate listening")
                && let Some(rest) = line.split("127.0.0.1:").nth(1)
            {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let _ = port_tx.send(digits.parse().unwrap());
            }
            let mut log = log_writer.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let port = tokio::task::spawn_blocking(move || port_rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap()
        .unwrap_or_else(|_| panic!("no listening line in the log:\n{}", log.lock().unwrap()));
    let base = format!("http://127.0.0.1:{port}");

    let done = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| tokio::spawn(client(base.clone(), id, done.clone())))
        .collect();
    // /readyz, every 100 ms, on fresh connections.
    let probe = {
        let base = base.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            let mut seen = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let started = Instant::now();
                let o = outcome(http.get(format!("{base}/readyz")).send().await);
                let refused = matches!(o, Outcome::Refused);
                seen.push((started, o));
                if refused {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            seen
        })
    };

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let signalled = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    // The process must end within drain + timeout (+ slack for the workers).
    let limit = DRAIN + Duration::from_secs(TIMEOUT_SECS) + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed() > limit {
            let _ = child.kill();
            panic!(
                "still running {limit:?} after SIGTERM:\n{}",
                log.lock().unwrap()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let exited = signalled.elapsed();
    done.store(true, Ordering::Relaxed);
    let mut calls = Vec::new();
    for c in clients {
        calls.extend(c.await.unwrap());
    }
    let probes = probe.await.unwrap();
    let log = log.lock().unwrap().clone();
    assert!(status.success(), "exit status {status:?}:\n{log}");
    assert!(
        exited >= DRAIN,
        "exited after {exited:?}, before the drain ended"
    );

    // Every answer is the normal one; nothing was cut. A request started
    // before the listener closed (signal + drain) must have been answered.
    let listener_closed = signalled + DRAIN;
    let mut answered = 0;
    for call in &calls {
        match (&call.outcome, call.what) {
            (Outcome::Status(201), "signup") | (Outcome::Status(200), "signin") => answered += 1,
            (Outcome::Status(code), what) => {
                panic!("{what} of {} answered {code}:\n{log}", call.username)
            }
            (Outcome::Refused | Outcome::Failed(_), what) => assert!(
                call.started + Duration::from_millis(100) >= listener_closed,
                "{what} of {} started {:?} before the listener closed, yet {:?}",
                call.username,
                listener_closed.saturating_duration_since(call.started),
                call.outcome
            ),
        }
    }
    let before = calls.iter().filter(|c| c.started < signalled).count();
    let during = calls
        .iter()
        .filter(|c| c.started >= signalled && c.started < listener_closed)
        .count();
    assert!(before >= CLIENTS, "load before the signal: {before}");
    assert!(
        during >= CLIENTS,
        "requests served during the drain: {during}"
    );
    let cut: Vec<&Call> = calls
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Failed(_)))
        .collect();
    assert!(
        cut.iter()
            .all(|c| c.started + Duration::from_millis(100) >= listener_closed),
        "{cut:?}"
    );

    // /readyz: 200 before the signal, 503 during the drain.
    assert!(
        probes
            .iter()
            .any(|(at, o)| *at < signalled && matches!(o, Outcome::Status(200)))
    );
    let drained: Vec<u16> = probes
        .iter()
        .filter(|(at, _)| *at > signalled + Duration::from_millis(200) && *at < listener_closed)
        .filter_map(|(_, o)| match o {
            Outcome::Status(code) => Some(*code),
            _ => None,
        })
        .collect();
    assert!(!drained.is_empty(), "probed during the drain");
    assert!(drained.iter().all(|c| *c == 503), "{drained:?}");

    assert!(log.contains("shutting down"), "{log}");
    assert!(log.contains("stopped"), "{log}");

    // Every acknowledged sign-up is in the database.
    let conn = Database::connect(db.url.as_str()).await.unwrap();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT username FROM users WHERE username LIKE 'drain%'",
        ))
        .await
        .unwrap();
    let stored: std::collections::HashSet<String> = rows
        .iter()
        .map(|r| r.try_get::<String>("", "username").unwrap())
        .collect();
    let _ = conn.close().await;
    let acknowledged: Vec<&Call> = calls
        .iter()
        .filter(|c| c.what == "signup" && matches!(c.outcome, Outcome::Status(201)))
        .collect();
    assert!(acknowledged.len() >= CLIENTS);
    for c in &acknowledged {
        assert!(
            stored.contains(&c.username),
            "{} acknowledged, not stored",
            c.username
        );
    }
    eprintln!(
        "shutdown under load: {answered} answered ({before} started before SIGTERM, {during} during the {DRAIN:?} drain), {} refused after, exit after {exited:?}",
        calls
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Refused))
            .count()
    );
    let _ = std::fs::remove_dir_all(data);
}
