//! Several stateless instances on one database: three `rolegate serve`
//! processes started at once on a fresh database (their migrations race),
//! behind HAProxy (Debian's `haproxy`; `.ci/run` installs it) or called one
//! by one. Sign-ups and sign-ins spread over the instances; a per-account
//! limit reached through different instances holds (database and Redis
//! stores); killing one instance under load loses no acknowledged sign-up
//! and the others keep serving; a refresh token rotates and its reuse is
//! caught on an instance other than the one that issued it.
//!
//! Runs on MariaDB/MySQL and PostgreSQL. On SQLite it is skipped: one
//! SQLite file under several processes is not a deployment rolegate
//! supports (docs/operations.md, "Several instances").

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestDb, backend, expect_error, test_redis_url, unique_name};
use crate::processes::{HaProxy, Served, find_haproxy};

const PW: &str = "a good long password";
const NODES: usize = 3;

/// Whether the backend is a database server (not SQLite), said when not.
fn on_a_server(test: &str) -> bool {
    let server = backend() != Backend::Sqlite;
    if !server {
        eprintln!("{test}: several instances need a database server; skipped on SQLite");
    }
    server
}

/// HAProxy's path, or `None` (and a loud line) when the test cannot run.
fn prerequisites(test: &str) -> Option<PathBuf> {
    if !on_a_server(test) {
        return None;
    }
    let found = find_haproxy();
    if found.is_none() {
        eprintln!(
            "\n!!! SKIPPED {test}: haproxy is not installed (apt-get install -y haproxy) !!!\n"
        );
    }
    found
}

/// Three instances on one fresh database, sharing a signing secret; `env`
/// on top of the test profile.
struct Cluster {
    db: TestDb,
    nodes: Vec<Served>,
}

impl Cluster {
    async fn start(env: &[(&str, &str)]) -> Self {
        let db = TestDb::create().await;
        let secret = format!("cluster-secret-{}", uuid::Uuid::new_v4().simple());
        let mut all = vec![
            ("ROLEGATE__DATABASE__URL", db.url.as_str()),
            ("ROLEGATE__AUTH__JWT_SECRET", secret.as_str()),
            ("ROLEGATE__SERVER__WORKERS", "2"),
            ("ROLEGATE__LOG__LEVEL", "warn,rolegate::startup=info"),
        ];
        all.extend_from_slice(env);
        // All at once, as a rollout would: each applies the migrations.
        let (a, b, c) = tokio::join!(
            Served::start(&all),
            Served::start(&all),
            Served::start(&all)
        );
        Self {
            db,
            nodes: vec![a, b, c],
        }
    }

    /// HAProxy over the nodes: round robin, `/readyz` health checks every
    /// 200 ms, connection failures retried on another node, and the node
    /// that answered named in `x-served-by`.
    fn proxy(&self, bin: &std::path::Path) -> HaProxy {
        let servers: String = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                format!(
                    "    server n{i} 127.0.0.1:{} check inter 200ms fall 1 rise 2\n",
                    n.port()
                )
            })
            .collect();
        HaProxy::start_with(
            bin,
            &servers,
            "    balance roundrobin\n    option httpchk GET /readyz\n    \
             retry-on conn-failure\n    retries 3\n    option redispatch 1\n    \
             http-response set-header x-served-by %s\n",
        )
    }
}

fn signup_body(name: &str) -> Value {
    json!({"username": name, "email": format!("{name}@example.com"), "password": PW})
}

fn served_by(res: &reqwest::Response) -> String {
    res.headers()
        .get("x-served-by")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_owned()
}

async fn signin(
    http: &reqwest::Client,
    url: String,
    name: &str,
    password: &str,
) -> reqwest::Response {
    http.post(url)
        .json(&json!({"username": name, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn three_instances_behind_haproxy_share_the_load_and_survive_losing_one() {
    let Some(bin) =
        prerequisites("three_instances_behind_haproxy_share_the_load_and_survive_losing_one")
    else {
        return;
    };
    let mut cluster = Cluster::start(&[]).await;
    let proxy = cluster.proxy(&bin);
    let http = reqwest::Client::new();

    // Sign-ups through the proxy land on every node; each account signs in
    // on every node and its token opens a guarded route on every node.
    let mut signup_nodes = BTreeSet::new();
    let names: Vec<String> = (0..6).map(|i| format!("spread{i}")).collect();
    for name in &names {
        let res = http
            .post(proxy.url("/api/auth/signup"))
            .json(&signup_body(name))
            .send()
            .await
            .unwrap();
        signup_nodes.insert(served_by(&res));
        assert_eq!(res.status(), 201, "sign-up of {name}");
    }
    assert_eq!(
        signup_nodes.len(),
        NODES,
        "sign-ups served by {signup_nodes:?}"
    );
    for name in &names {
        for (i, node) in cluster.nodes.iter().enumerate() {
            let res = signin(&http, node.url("/api/auth/signin"), name, PW).await;
            assert_eq!(res.status(), 200, "sign-in of {name} on node {i}");
            let body: Value = res.json().await.unwrap();
            let token = body["accessToken"].as_str().unwrap();
            let other = &cluster.nodes[(i + 1) % NODES];
            let res = http
                .get(other.url("/api/test/user"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "node {i}'s token on the next node");
        }
    }

    // Load: 8 clients sign up through the proxy; node 1 is killed (SIGKILL,
    // no drain) a second in.
    const CLIENTS: usize = 8;
    /// A status and the node that answered, or the transport error.
    type Answer = Result<(u16, String), String>;
    struct Call {
        name: String,
        started: Instant,
        ended: Instant,
        answer: Answer,
    }
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (http, url, stop) = (http.clone(), proxy.url("/api/auth/signup"), stop.clone());
            tokio::spawn(async move {
                let mut calls = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let name = format!("load{id}x{n}");
                    n += 1;
                    let started = Instant::now();
                    let answer = match http.post(&url).json(&signup_body(&name)).send().await {
                        Ok(res) => Ok((res.status().as_u16(), served_by(&res))),
                        Err(e) => Err(e.to_string()),
                    };
                    calls.push(Call {
                        name,
                        started,
                        ended: Instant::now(),
                        answer,
                    });
                }
                calls
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed_at = Instant::now();
    cluster.nodes[1].kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let mut calls = Vec::new();
    for c in clients {
        calls.extend(c.await.unwrap());
    }

    let acknowledged: HashSet<&str> = calls
        .iter()
        .filter(|c| matches!(c.answer, Ok((201, _))))
        .map(|c| c.name.as_str())
        .collect();
    let before: Vec<&Call> = calls.iter().filter(|c| c.ended < killed_at).collect();
    assert!(
        before.len() >= CLIENTS,
        "load before the kill: {}",
        before.len()
    );
    for c in &before {
        assert!(
            matches!(c.answer, Ok((201, _))),
            "{} before the kill: {:?}",
            c.name,
            c.answer
        );
    }
    // Only requests in flight on the killed node may fail (one per client
    // at most): HAProxy retries refused connections on another node and its
    // health check takes node 1 out within a few hundred milliseconds.
    let failed: Vec<(&str, &Answer)> = calls
        .iter()
        .filter(|c| !matches!(c.answer, Ok((201, _))))
        .map(|c| (c.name.as_str(), &c.answer))
        .collect();
    assert!(
        failed.len() <= CLIENTS,
        "failed around the kill: {failed:?}"
    );
    for (name, answer) in &failed {
        assert!(
            matches!(answer, Ok((502 | 503, _)) | Err(_)),
            "{name}: {answer:?} (only a cut request may fail, never a wrong answer)"
        );
    }
    // The others keep serving: after the kill, only nodes 0 and 2 answer.
    let after: Vec<&Call> = calls
        .iter()
        .filter(|c| c.started > killed_at + Duration::from_secs(1))
        .collect();
    assert!(
        after.len() >= CLIENTS,
        "served after the kill: {}",
        after.len()
    );
    for c in &after {
        match &c.answer {
            Ok((201, node)) => assert_ne!(node, "n1", "{} served by the killed node", c.name),
            other => panic!("{} after the kill: {other:?}", c.name),
        }
    }

    // Every acknowledged sign-up is in the database.
    let conn = Database::connect(cluster.db.url.as_str()).await.unwrap();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT username FROM users WHERE username LIKE 'load%'",
        ))
        .await
        .unwrap();
    let stored: HashSet<String> = rows
        .iter()
        .map(|r| r.try_get::<String>("", "username").unwrap())
        .collect();
    let lost: Vec<&&str> = acknowledged
        .iter()
        .filter(|n| !stored.contains(**n))
        .collect();
    assert!(lost.is_empty(), "acknowledged but missing: {lost:?}");
    eprintln!(
        "cluster: {} sign-ups acknowledged, {} failed around the kill",
        acknowledged.len(),
        failed.len()
    );
}

/// Wrong passwords spread over the three nodes count toward one limit.
async fn account_limit_holds_across_instances(store: &str) {
    let prefix = format!("rolegate-test:{}:", unique_name("cluster"));
    let redis = test_redis_url();
    let cluster = Cluster::start(&[
        ("ROLEGATE__RATE_LIMIT__STORE", store),
        ("ROLEGATE__RATE_LIMIT__REDIS_URL", redis.as_str()),
        ("ROLEGATE__RATE_LIMIT__REDIS_PREFIX", prefix.as_str()),
        ("ROLEGATE__RATE_LIMIT__SIGNIN_ACCOUNT_MAX_FAILURES", "3"),
    ])
    .await;
    let http = reqwest::Client::new();
    let res = http
        .post(cluster.nodes[0].url("/api/auth/signup"))
        .json(&signup_body("victim"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // One failure on each node: three in all, the limit.
    for (i, node) in cluster.nodes.iter().enumerate() {
        let res = signin(
            &http,
            node.url("/api/auth/signin"),
            "victim",
            "wrong password!",
        )
        .await;
        assert_eq!(res.status(), 401, "failure {} on node {i}", i + 1);
    }
    // Every node now refuses, even the right password.
    for node in &cluster.nodes {
        let res = signin(&http, node.url("/api/auth/signin"), "victim", PW).await;
        expect_error(res, 429, "too_many_requests").await;
    }
}

#[tokio::test]
async fn a_per_account_limit_holds_across_instances_with_the_database_store() {
    if on_a_server("a_per_account_limit_holds_across_instances_with_the_database_store") {
        account_limit_holds_across_instances("database").await;
    }
}

#[tokio::test]
async fn a_per_account_limit_holds_across_instances_with_the_redis_store() {
    if on_a_server("a_per_account_limit_holds_across_instances_with_the_redis_store") {
        account_limit_holds_across_instances("redis").await;
    }
}

async fn refresh(http: &reqwest::Client, node: &Served, token: &str) -> reqwest::Response {
    http.post(node.url("/api/auth/refreshtoken"))
        .json(&json!({"refreshToken": token}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_refresh_rotates_and_its_reuse_is_caught_on_another_instance() {
    if !on_a_server("a_refresh_rotates_and_its_reuse_is_caught_on_another_instance") {
        return;
    }
    let cluster = Cluster::start(&[("ROLEGATE__AUTH__REFRESH_GRACE_SECS", "0")]).await;
    let [a, b, c] = [&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]];
    let http = reqwest::Client::new();
    let res = http
        .post(a.url("/api/auth/signup"))
        .json(&signup_body("roamer"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = signin(&http, a.url("/api/auth/signin"), "roamer", PW)
        .await
        .json()
        .await
        .unwrap();
    let first = body["refreshToken"].as_str().unwrap().to_owned();

    // Issued by A, rotated by B; B's access token opens C's guarded route.
    let res = refresh(&http, b, &first).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let second = body["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let res = http
        .get(c.url("/api/test/user"))
        .bearer_auth(body["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // The rotated token replayed on C, past a zero-second grace: reuse, and
    // the whole family is revoked, so A refuses the newest token too.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    expect_error(refresh(&http, c, &first).await, 401, "refresh_token_reused").await;
    expect_error(
        refresh(&http, a, &second).await,
        401,
        "refresh_token_revoked",
    )
    .await;
}
