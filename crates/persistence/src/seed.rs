//! Bulk rows for benchmarks (`rolegate dev seed`): a million users in
//! seconds, with set-based SQL on each backend — PostgreSQL's
//! `generate_series`, MariaDB's Sequence engine (`seq_A_to_B`), SQLite's
//! recursive CTE — one transaction per batch. Never used by the service.
//!
//! Seeded user `k` has id `k`, username and username key `user<k>`, e-mail
//! `user<k>@example.com` (verified), the given password hash and the `user`
//! role: rows the service accepts as if they had signed up. Every tenth
//! user has one session (a refresh-token row whose hash no token has, so it
//! can only expire or be revoked), and every user one `user.create` audit
//! event by the actor `seed`. A second run continues after the highest
//! user id.

use chrono::{DateTime, Utc};
use rolegate_domain::{StoreError, UniqueField};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait, Value};

use crate::Database;
use crate::error::{is_unique_violation, map_db_err};

/// What to seed.
#[derive(Debug, Clone)]
pub struct SeedPlan {
    /// How many users to add.
    pub users: u64,
    /// The PHC string stored for every seeded user.
    pub password_hash: String,
    /// `created_at` of the last user and `at` of its audit event; the others
    /// one second earlier per id (not on SQLite).
    pub at: DateTime<Utc>,
    /// When the seeded sessions expire.
    pub sessions_expire_at: DateTime<Utc>,
    /// Users per statement and transaction.
    pub batch: u64,
}

/// What was seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeded {
    pub first_id: i64,
    pub last_id: i64,
    pub sessions: u64,
    pub audit_events: u64,
}

/// One user in this many gets a session.
pub const SESSION_EVERY: i64 = 10;

/// The SQL that yields `g` from `a` to `b` on one backend.
struct Series {
    backend: DatabaseBackend,
    with: String,
    from: String,
}

impl Series {
    fn new(backend: DatabaseBackend, a: i64, b: i64) -> Self {
        let (with, from) = match backend {
            DatabaseBackend::Postgres => (
                String::new(),
                format!("generate_series({a}::bigint, {b}::bigint) AS s(g)"),
            ),
            DatabaseBackend::MySql => (
                String::new(),
                format!("(SELECT seq AS g FROM seq_{a}_to_{b}) AS s"),
            ),
            _ => (
                format!(
                    "WITH RECURSIVE s(g) AS (SELECT {a} UNION ALL SELECT g + 1 FROM s WHERE g < {b}) "
                ),
                "s".to_owned(),
            ),
        };
        Self {
            backend,
            with,
            from,
        }
    }

    /// Text concatenation of SQL expressions.
    fn concat(&self, parts: &[&str]) -> String {
        match self.backend {
            DatabaseBackend::MySql => format!("CONCAT({})", parts.join(", ")),
            _ => format!("({})", parts.join(" || ")),
        }
    }

    /// Placeholder `n` (a time) moved back one second per id below `last`:
    /// user `k` was created `last - k` seconds before the plan's time, so
    /// times are distinct and follow the ids, like those of real sign-ups
    /// (the purge orders by time). SQLite keeps the one time (its stored
    /// text form is the driver's).
    fn time(&self, n: usize, last: i64) -> String {
        let p = self.param(n);
        match self.backend {
            DatabaseBackend::Postgres => format!("({p} - ({last} - g) * interval '1 second')"),
            DatabaseBackend::MySql => format!("({p} - INTERVAL ({last} - g) SECOND)"),
            _ => p,
        }
    }

    /// Placeholder `n` (1-based).
    fn param(&self, n: usize) -> String {
        match self.backend {
            DatabaseBackend::Postgres => format!("${n}"),
            _ => "?".to_owned(),
        }
    }

    /// `INSERT INTO table (columns) SELECT select FROM series [WHERE …]`.
    fn insert(&self, table: &str, columns: &str, select: &str, filter: &str) -> String {
        let g = match self.backend {
            DatabaseBackend::MySql => "CAST(g AS CHAR)",
            DatabaseBackend::Postgres => "g::text",
            _ => "g",
        };
        let select = select.replace("{g}", g);
        format!(
            "{}INSERT INTO {table} ({columns}) SELECT {select} FROM {}{filter}",
            self.with, self.from
        )
    }
}

impl Database {
    /// Adds `plan.users` users after the highest user id (see the module
    /// documentation); `progress` is told the last id after each batch.
    pub async fn seed_users(
        &self,
        plan: &SeedPlan,
        mut progress: impl FnMut(i64),
    ) -> Result<Seeded, StoreError> {
        let backend = self.conn.get_database_backend();
        let one = |sql: &str| Statement::from_string(backend, sql.to_owned());
        let max = self
            .conn
            .query_one_raw(one("SELECT COALESCE(MAX(id), 0) AS n FROM users"))
            .await
            .map_err(map_db_err)?
            .map(|r| r.try_get::<i64>("", "n"))
            .transpose()
            .map_err(map_db_err)?
            .unwrap_or(0);
        let role = self
            .conn
            .query_one_raw(one("SELECT id FROM roles WHERE name = 'user'"))
            .await
            .map_err(map_db_err)?
            .ok_or_else(|| StoreError::UnknownRole("user".into()))?
            .try_get::<i64>("", "id")
            .map_err(map_db_err)?;
        let count = i64::try_from(plan.users).unwrap_or(i64::MAX - max);
        let first = max + 1;
        let last = max.saturating_add(count);
        let batch = i64::try_from(plan.batch.max(1)).unwrap_or(i64::MAX);
        let mut seeded = Seeded {
            first_id: first,
            last_id: max,
            sessions: 0,
            audit_events: 0,
        };
        let mut a = first;
        while a <= last {
            let b = a.saturating_add(batch - 1).min(last);
            let (sessions, events) = self.seed_batch(backend, (a, b), last, role, plan).await?;
            seeded.last_id = b;
            seeded.sessions += sessions;
            seeded.audit_events += events;
            progress(b);
            a = b + 1;
        }
        // Explicit ids leave PostgreSQL's sequence behind; statistics for the
        // planner now rather than at the next autovacuum.
        match backend {
            DatabaseBackend::Postgres => {
                for sql in [
                    "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT MAX(id) FROM users))",
                    "ANALYZE users",
                    "ANALYZE user_roles",
                    "ANALYZE refresh_tokens",
                    "ANALYZE audit_events",
                ] {
                    self.conn.execute_raw(one(sql)).await.map_err(map_db_err)?;
                }
            }
            DatabaseBackend::MySql => {
                self.conn
                    .execute_unprepared(
                        "ANALYZE TABLE users, user_roles, refresh_tokens, audit_events",
                    )
                    .await
                    .map_err(map_db_err)?;
            }
            _ => {}
        }
        Ok(seeded)
    }

    async fn seed_batch(
        &self,
        backend: DatabaseBackend,
        (a, b): (i64, i64),
        last: i64,
        role: i64,
        plan: &SeedPlan,
    ) -> Result<(u64, u64), StoreError> {
        let s = Series::new(backend, a, b);
        let name = s.concat(&["'user'", "{g}"]);
        let email = s.concat(&["'user'", "{g}", "'@example.com'"]);
        let users = s.insert(
            "users",
            "id, username, username_key, email, password_hash, disabled, email_verified, created_at, updated_at",
            &format!(
                "g, {name}, {name}, {email}, {}, FALSE, TRUE, {}, {}",
                s.param(1),
                s.time(2, last),
                s.time(3, last)
            ),
            "",
        );
        let roles = s.insert("user_roles", "user_id, role_id", &format!("g, {role}"), "");
        let sessions = s.insert(
            "refresh_tokens",
            "family_id, user_id, token_hash, generation, created_at, expires_at, grace_used",
            &format!(
                "{}, g, {}, 0, {}, {}, FALSE",
                s.concat(&["'seed'", "{g}"]),
                s.concat(&["'seeded-'", "{g}"]),
                s.time(1, last),
                s.param(2)
            ),
            &format!(" WHERE g % {SESSION_EVERY} = 0"),
        );
        let audit = s.insert(
            "audit_events",
            "at, actor_id, actor, action, target, detail",
            &format!(
                "{}, NULL, 'seed', 'user.create', {}, {}",
                s.time(1, last),
                s.concat(&["'user:'", "{g}"]),
                s.concat(&[
                    r#"'{"username":"user'"#,
                    "{g}",
                    r#"'","roles":["user"],"seeded":true}'"#
                ])
            ),
            "",
        );
        let at = Value::from(plan.at);
        let hash = Value::from(plan.password_hash.clone());
        let expires = Value::from(plan.sessions_expire_at);
        let txn = self.conn.begin().await.map_err(map_db_err)?;
        let run =
            |sql: String, values: Vec<Value>| Statement::from_sql_and_values(backend, sql, values);
        let result = async {
            txn.execute_raw(run(users, vec![hash, at.clone(), at.clone()]))
                .await?;
            txn.execute_raw(run(roles, vec![])).await?;
            let sessions = txn
                .execute_raw(run(sessions, vec![at.clone(), expires]))
                .await?
                .rows_affected();
            let events = txn.execute_raw(run(audit, vec![at])).await?.rows_affected();
            Ok::<_, sea_orm::DbErr>((sessions, events))
        }
        .await;
        match result {
            Ok(counts) => {
                txn.commit().await.map_err(map_db_err)?;
                Ok(counts)
            }
            Err(e) => {
                let _ = txn.rollback().await;
                // A user named `user<k>` exists already (not seeded).
                Err(if is_unique_violation(&e) {
                    StoreError::Conflict(UniqueField::Username)
                } else {
                    map_db_err(e)
                })
            }
        }
    }
}
