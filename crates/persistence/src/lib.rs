//! rolegate's storage: SeaORM over SQLite, MySQL/MariaDB or PostgreSQL,
//! chosen by the database URL. Implements the domain's store ports; SeaORM
//! types never leave this crate.

mod admin;
mod attempts;
mod entities;
mod error;
mod sessions;
mod users;

use std::time::Duration;

use rolegate_domain::StoreError;
use rolegate_migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection};

pub use error::map_db_err;

/// Connection settings.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `sqlite://path?mode=rwc`, `mysql://user:pass@host/db`, `postgres://user@host/db`.
    pub url: String,
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

/// A URL with any password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(at)) if at > scheme.len() => {
            let creds = &rest[..at - scheme.len() - 3];
            let user = creds.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{}", &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// The database: a connection pool plus the store implementations.
#[derive(Clone)]
pub struct Database {
    conn: DatabaseConnection,
    backend: Backend,
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
        Ok(Self { conn, backend })
    }

    /// Applies pending migrations.
    pub async fn migrate_up(&self) -> Result<(), StoreError> {
        Migrator::up(&self.conn, None).await.map_err(map_db_err)
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
}
