//! `spawn_app`: a fresh database (SQLite file, or a uniquely named MySQL /
//! PostgreSQL database, dropped afterwards), migrations, the real app on
//! port 0, and a client. Logs are captured so tests can search them; set
//! `TEST_LOG=1` to also print them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rolegate::settings::{Profile, Settings};
use rolegate::startup::Application;
use sea_orm::{ConnectionTrait, Database};
use secrecy::SecretString;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
    Postgres,
}

pub fn backend() -> Backend {
    match std::env::var("ROLEGATE_TEST_DB")
        .unwrap_or_default()
        .as_str()
    {
        "" | "sqlite" => Backend::Sqlite,
        "mysql" | "mariadb" => Backend::MySql,
        "postgres" | "postgresql" => Backend::Postgres,
        other => panic!("ROLEGATE_TEST_DB={other:?}: use sqlite, mysql or postgres"),
    }
}

fn admin_url(backend: Backend) -> String {
    let var = match backend {
        Backend::Sqlite => unreachable!(),
        Backend::MySql => "ROLEGATE_TEST_MYSQL_URL",
        Backend::Postgres => "ROLEGATE_TEST_POSTGRES_URL",
    };
    std::env::var(var)
        .unwrap_or_else(|_| panic!("ROLEGATE_TEST_DB selects {backend:?}, but {var} is not set"))
}

/// `scheme://auth@host:port/<db>?query` from a server URL.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").expect("URL with scheme") + 3;
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| i + authority_start);
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    format!("{}/{db}{query}", &base[..path_start])
}

/// The `host:port` of a server URL.
pub fn host_port(url: &str) -> (String, u16, String) {
    let authority_start = url.find("://").unwrap() + 3;
    let rest = &url[authority_start..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let hostport = authority.rsplit('@').next().unwrap();
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, ""));
    let default_port = if url.starts_with("mysql") { 3306 } else { 5432 };
    (
        host.to_owned(),
        port.parse().unwrap_or(default_port),
        hostport.to_owned(),
    )
}

/// A database that exists for one test and is dropped after it.
pub struct TestDb {
    pub backend: Backend,
    /// The URL the app uses.
    pub url: String,
    name: String,
    dir: Option<PathBuf>,
}

impl TestDb {
    pub async fn create() -> Self {
        let backend = backend();
        let id = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("rolegate-test-{id}"));
                std::fs::create_dir_all(&dir).unwrap();
                let url = format!("sqlite://{}?mode=rwc", dir.join("rolegate.db").display());
                Self {
                    backend,
                    url,
                    name: id,
                    dir: Some(dir),
                }
            }
            Backend::MySql | Backend::Postgres => {
                let admin = admin_url(backend);
                let name = format!("rg_test_{}", &id[..20]);
                let conn = Database::connect(admin.as_str())
                    .await
                    .expect("connect to the test database server");
                let sql = if backend == Backend::MySql {
                    format!(
                        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                    )
                } else {
                    format!("CREATE DATABASE \"{name}\"")
                };
                conn.execute_unprepared(&sql)
                    .await
                    .expect("create the test database");
                let _ = conn.close().await;
                Self {
                    backend,
                    url: with_database(&admin, &name),
                    name,
                    dir: None,
                }
            }
        }
    }

    /// The app's URL with host:port replaced (to route it through a proxy).
    pub fn url_via(&self, port: u16) -> String {
        let (_, _, hostport) = host_port(&self.url);
        self.url
            .replacen(&hostport, &format!("127.0.0.1:{port}"), 1)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        let backend = self.backend;
        let name = self.name.clone();
        // Drop runs outside async: use a runtime of our own on a thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let Ok(conn) = Database::connect(admin_url(backend).as_str()).await else {
                    return;
                };
                let sql = if backend == Backend::MySql {
                    // Never wait forever on a lock a leaked transaction holds.
                    let _ = conn
                        .execute_unprepared("SET SESSION lock_wait_timeout = 20")
                        .await;
                    format!("DROP DATABASE IF EXISTS `{name}`")
                } else {
                    format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")
                };
                if let Err(e) = conn.execute_unprepared(&sql).await {
                    eprintln!("could not drop test database {name}: {e}");
                }
                let _ = conn.close().await;
            });
        })
        .join();
    }
}

/// Every log line of this test binary, for "nothing secret is logged" checks.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| Arc::new(Mutex::new(Vec::new())))
}

#[derive(Clone)]
struct CaptureWriter;

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        log_buffer().lock().unwrap().extend_from_slice(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stdout().write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,h2=info,hyper=info,reqwest=info,sqlx=info")
            .fmt_fields(rolegate::telemetry::EscapedFields)
            .with_writer(|| CaptureWriter)
            .with_ansi(false)
            .try_init();
    });
}

pub fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

/// The test profile with a fresh secret, port 0 and a data folder per test.
pub fn test_settings(db_url: &str) -> Settings {
    let mut s = Settings::load_from(&config_dir(), Profile::Test, false).unwrap();
    s.server.port = 0;
    s.database.url = db_url.to_owned();
    s.auth.jwt_secret =
        SecretString::from(format!("test-secret-{}", uuid::Uuid::new_v4().simple()));
    s.data.dir =
        std::env::temp_dir().join(format!("rolegate-data-{}", uuid::Uuid::new_v4().simple()));
    // Used with rate_limit.store = "redis": the shared Redis, under a prefix
    // of this test's own.
    s.rate_limit.redis_url = Some(SecretString::from(test_redis_url()));
    s.rate_limit.redis_prefix = format!("rolegate-test:{}:", uuid::Uuid::new_v4().simple());
    s
}

/// The Redis the suite shares: `ROLEGATE_TEST_REDIS_URL`, else
/// `redis://127.0.0.1:6379`. Tests write under prefixes of their own and
/// never flush it.
pub fn test_redis_url() -> String {
    std::env::var("ROLEGATE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Trusts the loopback peer as a proxy, so that `X-Forwarded-For` names the
/// client (how tests sign in from several addresses).
pub fn trusting_the_test_proxy(s: &mut Settings) {
    s.rate_limit.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
}

pub struct TestApp {
    pub address: String,
    /// `http://127.0.0.1:PORT` of `/metrics`, when `metrics.bind` is set.
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
    pub settings: Settings,
    /// Dropped with the last app on it: the database goes with it.
    pub db: Arc<TestDb>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawns the app after `tweak` adjusted the test settings.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    init_logs();
    let db = TestDb::create().await;
    let mut settings = test_settings(&db.url);
    tweak(&mut settings);
    spawn_on(db, settings).await
}

/// Spawns the app with the given settings on an existing test database.
pub async fn spawn_on(db: TestDb, settings: Settings) -> TestApp {
    spawn_on_with_clock(db, settings, Arc::new(rolegate_domain::SystemClock)).await
}

/// Spawns the app on a fresh database with a clock the test controls.
pub async fn spawn_app_with_clock(
    clock: Arc<dyn rolegate_domain::Clock>,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    let db = TestDb::create().await;
    let mut settings = test_settings(&db.url);
    tweak(&mut settings);
    spawn_on_with_clock(db, settings, clock).await
}

async fn spawn_on_with_clock(
    db: impl Into<Arc<TestDb>>,
    settings: Settings,
    clock: Arc<dyn rolegate_domain::Clock>,
) -> TestApp {
    init_logs();
    let database = rolegate::startup::open_database(&settings)
        .await
        .expect("open the database");
    let app = Application::build_with_clock(settings.clone(), database, clock)
        .await
        .expect("build the app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        address,
        metrics_address,
        client,
        settings,
        db: db.into(),
    }
}

impl TestApp {
    /// Another instance on the same database (a restart, or a second
    /// instance behind a load balancer), with settings adjusted by `tweak`.
    pub async fn restart_with(&self, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = self.settings.clone();
        tweak(&mut settings);
        spawn_on_with_clock(
            self.db.clone(),
            settings,
            Arc::new(rolegate_domain::SystemClock),
        )
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Signs up; the returned future owns its request, so many can run at once.
    pub fn signup(
        &self,
        username: &str,
        email: &str,
        password: &str,
        roles: Option<&[&str]>,
    ) -> impl std::future::Future<Output = reqwest::Response> + use<> {
        let mut body = json!({"username": username, "email": email, "password": password});
        if let Some(roles) = roles {
            body["roles"] = json!(roles);
        }
        let request = self.client.post(self.url("/api/auth/signup")).json(&body);
        async move { request.send().await.unwrap() }
    }

    pub async fn signin(&self, username: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/auth/signin",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    /// Signs in as the client `address`, forwarded by a proxy (the app must
    /// trust 127.0.0.1: see [`trusting_the_test_proxy`]); the future owns its
    /// request, so many can run at once.
    pub fn signin_from(
        &self,
        address: &str,
        username: &str,
        password: &str,
    ) -> impl std::future::Future<Output = reqwest::Response> + use<> {
        let request = self
            .client
            .post(self.url("/api/auth/signin"))
            .header("x-forwarded-for", address)
            .json(&json!({"username": username, "password": password}));
        async move { request.send().await.unwrap() }
    }

    /// Signs up a user with the given roles and returns its access token.
    pub async fn user_token(&self, username: &str, roles: &[&str]) -> String {
        let password = "a good long password";
        let res = self
            .signup(
                username,
                &format!("{username}@example.com"),
                password,
                Some(roles),
            )
            .await;
        assert_eq!(
            res.status(),
            201,
            "signup of {username}: {}",
            res.text().await.unwrap()
        );
        let res = self.signin(username, password).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        body["accessToken"].as_str().unwrap().to_owned()
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Signs in and returns (access token, refresh token).
    pub async fn session(&self, username: &str, password: &str) -> (String, String) {
        let res = self.signin(username, password).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        (
            body["accessToken"].as_str().unwrap().to_owned(),
            body["refreshToken"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.post_json(
            "/api/auth/refreshtoken",
            &json!({"refreshToken": refresh_token}),
        )
        .await
    }

    /// Runs SQL on the app's database, as an operator would.
    pub async fn sql(&self, sql: &str) {
        let conn = Database::connect(self.db.url.as_str()).await.unwrap();
        conn.execute_unprepared(sql).await.unwrap();
        let _ = conn.close().await;
    }

    /// The first column of the first row of a query, as text.
    pub async fn scalar(&self, sql: &str) -> String {
        let conn = Database::connect(self.db.url.as_str()).await.unwrap();
        let row = conn
            .query_one_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .unwrap()
            .expect("a row");
        let _ = conn.close().await;
        row.try_get_by_index::<String>(0).unwrap()
    }

    pub fn secret(&self) -> SecretString {
        self.settings.auth.jwt_secret.clone()
    }
}

/// Asserts status and JSON error body; returns the body.
pub async fn expect_error(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        ct.as_deref(),
        Some("application/json"),
        "error bodies are JSON"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], code, "error code in {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message in {body}"
    );
    body
}

/// Runs the `rolegate` binary on `db_url` with the test profile, feeding
/// `stdin` when given; returns (success, stdout + stderr).
pub fn run_cli(db_url: &str, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    run_cli_with(db_url, &[], args, stdin)
}

/// `run_cli` with more `ROLEGATE__…` variables (or another `ROLEGATE_ENV`).
pub fn run_cli_with(
    db_url: &str,
    vars: &[(String, String)],
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, String) {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_rolegate"))
        .args(args)
        .env("ROLEGATE_ENV", "test")
        .env("ROLEGATE_CONFIG_DIR", config_dir())
        .env("ROLEGATE__DATABASE__URL", db_url)
        .env("ROLEGATE__LOG__LEVEL", "error")
        // after the defaults: a caller may name another profile (ROLEGATE_ENV)
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `run_cli` off the async runtime's threads.
pub async fn cli(url: &str, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let url = url.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cli(&url, &args, stdin.as_deref())
    })
    .await
    .unwrap()
}

/// The claims of a JWT, decoded without verification (to look at them).
pub fn claims_of(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A unique, valid username.
pub fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// The Python that runs the suite's helper scripts (SMTP server, PyJWT,
/// metrics parser): `ROLEGATE_TEST_PYTHON`, else the `.venv` that `make
/// test-deps` fills.
pub fn python() -> PathBuf {
    std::env::var_os("ROLEGATE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"))
}
