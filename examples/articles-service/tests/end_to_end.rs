//! The README's walkthrough, end to end: a real rolegate (EdDSA keys, SQLite,
//! first admin from the bootstrap) and this service verifying its tokens with
//! the JWKS alone. The admin creates a permission and a role over the admin
//! API, grants the role, and this service's routes let exactly the right
//! callers through. This service starts before rolegate is up, and follows
//! rolegate's key rotation without a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use articles_service::{Articles, RolegateSettings, routes, verifier_from_jwks};
use rolegate::settings::{Profile, Settings};
use rolegate::startup::{Application, open_database};
use serde_json::{Value, json};

const ADMIN_PASSWORD: &str = "correct horse battery staple";
const PASSWORD: &str = "a good long password";

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("articles-e2e-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn new_key(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    let pem = rolegate_auth::generate_private_pem(rolegate_auth::KeyKind::Ed25519).unwrap();
    rolegate::settings::write_private(&key, pem.as_bytes()).unwrap();
    key
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A rolegate on `port` with its database and signing keys in `dir` (the
/// first key signs), the first admin bootstrapped.
async fn start_rolegate(dir: &Path, port: u16, keys: &[PathBuf]) -> (String, ServerHandle) {
    let password_file = dir.join("admin-password");
    std::fs::write(&password_file, format!("{ADMIN_PASSWORD}\n")).unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let mut s = Settings::load_from(&config, Profile::Test, false).unwrap();
    s.server.port = port;
    s.database.url = format!("sqlite://{}?mode=rwc", dir.join("rolegate.db").display());
    s.data.dir = dir.to_path_buf();
    s.auth.key_files = keys.to_vec();
    s.auth.open_role_signup = false;
    s.bootstrap.admin_username = "root".into();
    s.bootstrap.admin_email = "root@example.com".into();
    s.bootstrap.admin_password_file = password_file.display().to_string();
    let db = open_database(&s).await.unwrap();
    let app = Application::build_with_database(s, db).await.unwrap();
    let url = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    (url, handle)
}

async fn start_articles(rolegate_url: &str) -> String {
    let verifier = verifier_from_jwks(&RolegateSettings {
        url: rolegate_url.to_owned(),
        issuer: "rolegate".into(),
        audience: "rolegate".into(),
        min_refresh: Duration::from_millis(200),
        max_refresh: Duration::from_secs(1),
    })
    .unwrap();
    let articles = web::Data::new(Articles::default());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new()
            .configure(rolegate_guard::actix::configure(verifier.clone()))
            .app_data(articles.clone())
            .configure(routes)
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}")
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn token(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                "/api/auth/signin",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["accessToken"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn a_custom_role_from_rolegate_guards_this_services_routes() {
    use reqwest::Method;
    let dir = temp("keys");
    let dir = dir.parent().unwrap().to_path_buf();
    let key_a = new_key(&dir, "a.pem");
    let port = free_port();
    // this service starts first, while rolegate is down: it keeps trying
    let articles = Client {
        http: reqwest::Client::new(),
        base: start_articles(&format!("http://127.0.0.1:{port}")).await,
    };
    let (url, handle) = start_rolegate(&dir, port, std::slice::from_ref(&key_a)).await;
    let rolegate = Client {
        http: reqwest::Client::new(),
        base: url,
    };

    // 1. the first admin (bootstrapped) signs in
    let admin = rolegate.token("root", ADMIN_PASSWORD).await;
    // 2. a permission and a custom role that grants it
    let (status, body) = rolegate
        .send(
            Method::POST,
            "/api/admin/permissions",
            Some(&admin),
            Some(json!({"name": "articles:write", "description": "Write articles"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = rolegate
        .send(
            Method::POST,
            "/api/admin/roles",
            Some(&admin),
            Some(json!({"name": "editor", "permissions": ["articles:write", "content:read"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // 3. two users sign up; one is made an editor
    for name in ["alice", "bob"] {
        let (status, body) = rolegate
            .send(Method::POST, "/api/auth/signup", None, Some(json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD})))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (_, users) = rolegate
        .send(Method::GET, "/api/admin/users?q=alice", Some(&admin), None)
        .await;
    let alice_id = users["items"][0]["id"].as_i64().unwrap();
    let (status, body) = rolegate
        .send(
            Method::PUT,
            &format!("/api/admin/users/{alice_id}/roles"),
            Some(&admin),
            Some(json!({"roles": ["user", "editor"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let alice = rolegate.token("alice", PASSWORD).await;
    let bob = rolegate.token("bob", PASSWORD).await;

    // 4. this service trusts rolegate's JWKS and guards its routes
    let (status, body) = articles.send(Method::GET, "/articles", None, None).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("no_token")));
    let (status, body) = articles
        .send(Method::GET, "/articles", Some("a.b.c"), None)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );

    let (status, body) = articles
        .send(
            Method::POST,
            "/articles",
            Some(&bob),
            Some(json!({"title": "Hi"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "missing_permission");
    assert_eq!(body["message"], "Require permission articles:write!");

    let (status, body) = articles
        .send(
            Method::POST,
            "/articles",
            Some(&alice),
            Some(json!({"title": "Hello"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body, json!({"id": 1, "title": "Hello", "author": "alice"}));

    let (status, body) = articles
        .send(Method::GET, "/articles", Some(&bob), None)
        .await;
    assert_eq!((status, body.as_array().map(Vec::len)), (200, Some(1)));

    let (status, body) = articles
        .send(Method::DELETE, "/articles", Some(&bob), None)
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["message"], "Require Editor or Admin Role!");
    let (status, _) = articles
        .send(Method::DELETE, "/articles", Some(&alice), None)
        .await;
    assert_eq!(status, 204);

    // admins get every new permission: after signing in again, root can write too
    let (status, _) = articles
        .send(
            Method::POST,
            "/articles",
            Some(&admin),
            Some(json!({"title": "x"})),
        )
        .await;
    assert_eq!(status, 403, "the old token predates the permission");
    let admin = rolegate.token("root", ADMIN_PASSWORD).await;
    let (status, _) = articles
        .send(
            Method::POST,
            "/articles",
            Some(&admin),
            Some(json!({"title": "From root"})),
        )
        .await;
    assert_eq!(status, 201);

    // a token from another rolegate (other keys) is refused
    let other_dir = temp("other").parent().unwrap().to_path_buf();
    let other_key = new_key(&other_dir, "other.pem");
    let (other_url, other_handle) = start_rolegate(&other_dir, 0, &[other_key]).await;
    let other = Client {
        http: reqwest::Client::new(),
        base: other_url,
    };
    let stranger = other.token("root", ADMIN_PASSWORD).await;
    let (status, _) = articles
        .send(Method::GET, "/articles", Some(&stranger), None)
        .await;
    assert_eq!(status, 401);
    other_handle.stop(true).await;

    // 5. rolegate rotates its keys: restarted with [B, A], B signs, A still
    // verifies; this service accepts B's tokens without a restart
    let alice_a = alice;
    let key_b = new_key(&dir, "b.pem");
    handle.stop(true).await;
    let (_, handle) = start_rolegate(&dir, port, &[key_b.clone(), key_a]).await;
    let alice_b = rolegate.token("alice", PASSWORD).await;
    assert_ne!(kid(&alice_b), kid(&alice_a), "the new key signs");
    // unknown kids make the service re-read the JWKS at most once per
    // `min_refresh` (200 ms here): the stranger's token above just did
    tokio::time::sleep(Duration::from_millis(300)).await;
    for token in [&alice_b, &alice_a] {
        let (status, body) = articles
            .send(
                Method::POST,
                "/articles",
                Some(token),
                Some(json!({"title": "Rotated"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    // 6. the old key is dropped: within the refresh interval its tokens stop working here
    handle.stop(true).await;
    let (_, handle) = start_rolegate(&dir, port, &[key_b]).await;
    let mut refused = false;
    for _ in 0..50 {
        let (status, _) = articles
            .send(Method::GET, "/articles", Some(&alice_a), None)
            .await;
        if status == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        refused,
        "a token of the dropped key is refused after a refresh"
    );
    let (status, _) = articles
        .send(Method::GET, "/articles", Some(&alice_b), None)
        .await;
    assert_eq!(status, 200);
    handle.stop(true).await;
}

fn kid(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}
