//! Translating SeaORM/sqlx errors into the domain's `StoreError`.

use rolegate_domain::StoreError;
use sea_orm::sqlx;
use sea_orm::sqlx::error::DatabaseError as _;
use sea_orm::{DbErr, RuntimeErr};

/// Maps a database error: lost or unreachable connections become
/// `Unavailable` (503), everything else `Internal` (500, detail logged).
/// Unique violations are recognised by the callers that can name the field.
pub fn map_db_err(err: DbErr) -> StoreError {
    if is_unavailable(&err) {
        StoreError::Unavailable(err.to_string())
    } else {
        StoreError::Internal(err.to_string())
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
                // SQLite: SQLITE_BUSY / SQLITE_LOCKED after the busy timeout.
                sqlx::Error::Database(db) => db
                    .try_downcast_ref::<sqlx::sqlite::SqliteError>()
                    .and_then(|e| e.code())
                    .is_some_and(|code| matches!(code.as_ref(), "5" | "6" | "261" | "517")),
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
