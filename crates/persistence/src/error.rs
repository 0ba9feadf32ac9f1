//! Translating SeaORM/sqlx errors into the domain's `StoreError`.

use std::sync::atomic::{AtomicU64, Ordering};

use rolegate_domain::StoreError;
use sea_orm::sqlx;
use sea_orm::{DbErr, RuntimeErr};

/// Maps a database error: lost or unreachable connections become
/// `Unavailable` (503), everything else `Internal` (500, detail logged).
/// Unique violations are recognised by the callers that can name the field.
pub fn map_db_err(err: DbErr) -> StoreError {
    if is_acquire_timeout(&err) {
        ACQUIRE_TIMEOUTS.fetch_add(1, Ordering::Relaxed);
    }
    if is_unavailable(&err) {
        StoreError::Unavailable(Box::new(err))
    } else {
        StoreError::Internal(Box::new(err))
    }
}

/// Waits for a pooled connection that timed out (`database.acquire_timeout_ms`),
/// counted over the process: the pool was too small for the load, or the
/// database too slow.
static ACQUIRE_TIMEOUTS: AtomicU64 = AtomicU64::new(0);

/// Waits for a pooled connection that timed out since start (every pool of
/// the process together).
pub fn acquire_timeouts() -> u64 {
    ACQUIRE_TIMEOUTS.load(Ordering::Relaxed)
}

fn is_acquire_timeout(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(e.as_ref(), sqlx::Error::PoolTimedOut)
        }
        _ => false,
    }
}

fn is_unavailable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                // Transient contention, worth a retry (503), on each backend.
                sqlx::Error::Database(db) => is_transient(db.as_ref()),
                _ => false,
            }
        }
        _ => false,
    }
}

/// Whether the error is a unique-constraint violation, on any backend.
pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// Deadlocks, lock timeouts and serialization failures: the request may
/// succeed if retried, so they are "unavailable" (503), not internal errors.
fn is_transient(db: &dyn sqlx::error::DatabaseError) -> bool {
    if let Some(e) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        // 1205 lock wait timeout, 1213 deadlock
        return matches!(e.number(), 1205 | 1213);
    }
    if db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        // serialization_failure, deadlock_detected, lock_not_available
        return db
            .code()
            .is_some_and(|c| matches!(c.as_ref(), "40001" | "40P01" | "55P03"));
    }
    // SQLite: SQLITE_BUSY / SQLITE_LOCKED and their extended codes.
    db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
        && db
            .code()
            .is_some_and(|c| matches!(c.as_ref(), "5" | "6" | "261" | "262" | "517"))
}
