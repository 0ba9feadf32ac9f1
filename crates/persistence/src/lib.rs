//! rolegate's storage: SeaORM over SQLite, MySQL/MariaDB or PostgreSQL,
//! chosen by the database URL. Implements the domain's store ports; SeaORM
//! types never leave this crate.

mod accounts;
mod admin;
mod attempts;
mod audit;
mod entities;
mod error;
mod like;
mod mfa;
mod outbox;
mod passkeys;
mod redis_attempts;
mod revocations;
mod seed;
mod sessions;
mod tutorial;
mod users;

use std::sync::Arc;
use std::time::Duration;

use rolegate_domain::StoreError;
use rolegate_migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection};

pub use error::{acquire_timeouts, map_db_err};
pub use redis_attempts::{RedisAttempts, RedisConfig};
pub use seed::{SESSION_EVERY, SeedPlan, Seeded};
pub use tutorial::read_tutorial;

/// Connection settings.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `sqlite://path?mode=rwc`, `mysql://user:pass@host/db`, `postgres://user@host/db`.
    pub url: String,
    /// Pool size on MySQL/MariaDB and PostgreSQL; SQLite always uses one
    /// connection (see [`Database::connect`]).
    pub max_connections: u32,
    pub min_connections: u32,
    /// How long a request waits for a pooled connection before it fails with
    /// "unavailable" (it bounds how long requests take while the database is down).
    pub acquire_timeout: Duration,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    /// SQLite only: how long a writer waits for the lock.
    pub sqlite_busy_timeout: Duration,
}

impl Default for DbConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://data/rolegate.db?mode=rwc".into(),
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(600),
            sqlite_busy_timeout: Duration::from_secs(5),
        }
    }
}

/// Which database the URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split_once(':')?.0;
        match scheme {
            "sqlite" => Some(Self::Sqlite),
            "mysql" | "mariadb" => Some(Self::MySql),
            "postgres" | "postgresql" => Some(Self::Postgres),
            _ => None,
        }
    }
}

/// Query parameters whose value is a secret (compared case-insensitively).
const SECRET_PARAMS: [&str; 6] = ["password", "pass", "pwd", "secret", "token", "sslpassword"];

/// A database URL as logs and error messages may show it: the password of
/// the user part and the values of password-like query parameters
/// (`password`, `pass`, `pwd`, `secret`, `token`, `sslpassword`, any case)
/// become `***`. A URL that does not parse keeps only its scheme.
pub fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        let scheme = raw
            .split_once(':')
            .map(|(s, _)| s)
            .filter(|s| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+'))
            .unwrap_or("");
        return format!("{scheme}:<unparsable URL, not shown>");
    };
    if url.password().is_some() {
        // Fails only for URLs that cannot have credentials, which have none.
        let _ = url.set_password(Some("***"));
    }
    let secret = |key: &str| SECRET_PARAMS.iter().any(|p| key.eq_ignore_ascii_case(p));
    if url.query_pairs().any(|(k, _)| secret(&k)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) {
                    "***".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// A reading of the connection pool ([`Database::pool_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open, in use or idle.
    pub open: u32,
    /// Open connections waiting in the pool.
    pub idle: u32,
    /// `database.max_connections`.
    pub max: u32,
}

/// The key of the PostgreSQL advisory lock that serialises migrations
/// (any constant shared by every instance; "rolegate" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x726f_6c65_6761_7465;

/// A lock held while migrations run, on a connection outside the pool.
enum MigrationLock {
    Postgres(sea_orm::sqlx::PgConnection),
    MySql(sea_orm::sqlx::MySqlConnection),
    None,
}

impl MigrationLock {
    /// Ends the lock's session, which releases it.
    async fn release(self) {
        use sea_orm::sqlx::Connection as _;
        let closed = match self {
            Self::Postgres(conn) => conn.close().await,
            Self::MySql(conn) => conn.close().await,
            Self::None => Ok(()),
        };
        if let Err(e) = closed {
            tracing::warn!(error = %e, "closing the migration lock's connection");
        }
    }
}

/// The database: a connection pool plus the store implementations.
#[derive(Clone)]
pub struct Database {
    conn: DatabaseConnection,
    backend: Backend,
    /// SQLite only: write transactions take turns here, first come first
    /// served. SQLite has one writer at a time, and a transaction that waits
    /// for the lock inside SQLite sleeps in its busy handler (1, 2, 5 … up to
    /// 100 ms between tries, in no order): under 8 concurrent refreshes the
    /// p99 was 400 ms against a 4 ms p50 (strace: hundreds of 25–100 ms
    /// sleeps). Reads still run in parallel on the pool's other connections
    /// (WAL); a pool of one connection cured the tail too, but queued every
    /// read behind it and timed out under a sign-in flood.
    write_gate: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Opens the pool. For SQLite the file's folder is created when missing,
    /// and every connection gets WAL mode, a busy timeout and foreign keys.
    pub async fn connect(config: &DbConfig) -> Result<Self, StoreError> {
        let backend = Backend::from_url(&config.url).ok_or_else(|| {
            StoreError::internal(format!(
                "unsupported database URL {:?}: use sqlite://, mysql:// or postgres://",
                redact_url(&config.url)
            ))
        })?;
        if backend == Backend::Sqlite {
            ensure_sqlite_dir(&config.url)?;
        }
        let mut opts = ConnectOptions::new(config.url.clone());
        opts.max_connections(config.max_connections)
            .min_connections(config.min_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect_timeout(config.connect_timeout)
            .idle_timeout(config.idle_timeout)
            .test_before_acquire(true)
            .sqlx_logging(false);
        let busy = config.sqlite_busy_timeout;
        opts.map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(busy)
                .foreign_keys(true)
        });
        let conn = sea_orm::Database::connect(opts).await.map_err(map_db_err)?;
        let write_gate =
            (backend == Backend::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(())));
        Ok(Self {
            conn,
            backend,
            write_gate,
        })
    }

    /// Applies pending migrations. Instances started together on one
    /// database take turns: on PostgreSQL and MySQL/MariaDB each first takes
    /// a lock held by a connection of its own (`pg_advisory_lock`,
    /// `GET_LOCK`), so the second finds the migrations applied instead of
    /// racing the first to create the same tables. Closing that connection
    /// releases the lock, also when the process dies.
    pub async fn migrate_up(&self) -> Result<(), StoreError> {
        let lock = self.migration_lock().await?;
        let applied = Migrator::up(&self.conn, None).await.map_err(map_db_err);
        lock.release().await;
        applied
    }

    async fn migration_lock(&self) -> Result<MigrationLock, StoreError> {
        use sea_orm::sqlx::ConnectOptions as _;
        let sqlx_err = |e: sea_orm::sqlx::Error| {
            map_db_err(sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(
                std::sync::Arc::new(e),
            )))
        };
        match self.backend {
            Backend::Postgres => {
                let pool = self.conn.get_postgres_connection_pool();
                let mut conn = pool.connect_options().connect().await.map_err(sqlx_err)?;
                sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(MIGRATION_LOCK_KEY)
                    .execute(&mut conn)
                    .await
                    .map_err(sqlx_err)?;
                Ok(MigrationLock::Postgres(conn))
            }
            Backend::MySql => {
                let pool = self.conn.get_mysql_connection_pool();
                let mut conn = pool.connect_options().connect().await.map_err(sqlx_err)?;
                let (got,): (Option<i64>,) =
                    sea_orm::sqlx::query_as("SELECT GET_LOCK('rolegate.migrations', 600)")
                        .fetch_one(&mut conn)
                        .await
                        .map_err(sqlx_err)?;
                if got != Some(1) {
                    return Err(StoreError::internal(
                        "another instance has held the migration lock for 10 minutes",
                    ));
                }
                Ok(MigrationLock::MySql(conn))
            }
            // One process writes a SQLite file (several are not supported).
            Backend::Sqlite => Ok(MigrationLock::None),
        }
    }

    /// Rolls back `steps` migrations (all when `None`).
    pub async fn migrate_down(&self, steps: Option<u32>) -> Result<(), StoreError> {
        Migrator::down(&self.conn, steps).await.map_err(map_db_err)
    }

    /// Every known migration with whether it is applied.
    pub async fn migration_status(&self) -> Result<Vec<(String, bool)>, StoreError> {
        let all = Migrator::get_migration_with_status(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(all
            .iter()
            .map(|m| {
                (
                    m.name().to_owned(),
                    matches!(
                        m.status(),
                        rolegate_migration::sea_orm_migration::migrator::MigrationStatus::Applied
                    ),
                )
            })
            .collect())
    }

    /// The pool's connections now: open (in use or idle), idle, and the most
    /// it may open.
    pub fn pool_stats(&self) -> PoolStats {
        fn stats<DB: sea_orm::sqlx::Database>(pool: &sea_orm::sqlx::Pool<DB>) -> PoolStats {
            let size = pool.size();
            let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(size);
            PoolStats {
                open: size,
                idle,
                max: pool.options().get_max_connections(),
            }
        }
        match self.backend {
            Backend::Sqlite => stats(self.conn.get_sqlite_connection_pool()),
            Backend::MySql => stats(self.conn.get_mysql_connection_pool()),
            Backend::Postgres => stats(self.conn.get_postgres_connection_pool()),
        }
    }

    /// Closes the pool.
    pub async fn close(self) {
        let _ = self.conn.close().await;
    }

    /// Runs one raw statement (used by tools and tests for set-up).
    pub async fn execute_raw(&self, sql: &str) -> Result<(), StoreError> {
        self.conn
            .execute_unprepared(sql)
            .await
            .map(|_| ())
            .map_err(map_db_err)
    }
}

impl Database {
    /// Runs `body` in a transaction that is committed on `Ok` and rolled back
    /// — awaited, before returning — on `Err`. (A transaction that is merely
    /// dropped is rolled back only when its pooled connection is next used;
    /// until then MySQL keeps its row and metadata locks.)
    pub(crate) async fn in_transaction<T, F>(&self, body: F) -> Result<T, StoreError>
    where
        T: Send,
        F: for<'c> FnOnce(
                &'c sea_orm::DatabaseTransaction,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'c>,
            > + Send,
    {
        use sea_orm::{TransactionError, TransactionTrait as _};
        let _turn = match &self.write_gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        self.conn
            .transaction::<F, T, StoreError>(body)
            .await
            .map_err(|e| match e {
                TransactionError::Connection(db) => map_db_err(db),
                TransactionError::Transaction(store) => store,
            })
    }
}

fn ensure_sqlite_dir(url: &str) -> Result<(), StoreError> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or("");
    if path.is_empty() || path.starts_with(":memory:") {
        return Ok(());
    }
    if let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::internal(format!(
                "cannot create the SQLite folder {}: {e}",
                dir.display()
            ))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_url() {
        assert_eq!(Backend::from_url("sqlite://x.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::from_url("mysql://root@h/db"), Some(Backend::MySql));
        assert_eq!(
            Backend::from_url("postgres://p@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::from_url("mongodb://h"), None);
    }

    #[test]
    fn redaction_hides_passwords() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/rg"),
            "postgres://app:***@db:5432/rg"
        );
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
        assert!(!redact_url("mysql://root:pw@127.0.0.1/x").contains("pw"));
    }

    #[test]
    fn redaction_hides_password_like_query_parameters() {
        assert_eq!(
            redact_url("postgres://app@db/rg?password=hunter2&sslmode=disable"),
            "postgres://app@db/rg?password=***&sslmode=disable"
        );
        for key in [
            "password",
            "PASSWORD",
            "Pass",
            "pwd",
            "secret",
            "token",
            "sslpassword",
            "pass%77ord",
        ] {
            let shown = redact_url(&format!(
                "mysql://root:pw1@h:3306/db?ssl-mode=DISABLED&{key}=hunter2"
            ));
            assert!(!shown.contains("hunter2"), "{key}: {shown}");
            assert!(!shown.contains("pw1"), "{key}: {shown}");
            assert!(shown.contains("ssl-mode=DISABLED"), "{shown}");
        }
        assert!(!redact_url("postgres://u:p%40ss@h/db").contains("ss@"));
        assert_eq!(
            redact_url("postgres://u@h/db?sslmode=disable"),
            "postgres://u@h/db?sslmode=disable",
            "nothing to hide: unchanged"
        );
        assert_eq!(
            redact_url("sqlite://data/x.db?mode=rwc"),
            "sqlite://data/x.db?mode=rwc"
        );
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn an_unparsable_url_shows_only_its_scheme() {
        let shown = redact_url("postgres://u:ab/cd@host:notaport/db");
        assert_eq!(shown, "postgres:<unparsable URL, not shown>");
        assert!(!redact_url("no scheme hunter2").contains("hunter2"));
    }
}
