//! Indexes for the admin user search (a prefix of the username key or the
//! e-mail) on PostgreSQL.
//!
//! The search is a range under the "C" collation (`col COLLATE "C" >= q AND
//! col COLLATE "C" < q⊕1`): under the database's own collation (e.g.
//! `en_US.UTF-8` or `C.UTF-8` from `initdb`) a range is not a prefix test
//! and `LIKE 'q%'` cannot use an ordinary btree index, so the unique
//! indexes of migration 1 do not serve it. These two do; they carry the id
//! (`INCLUDE`), so the capped count of matches is an index-only scan.
//!
//! MariaDB/MySQL answer `LIKE 'q%'` from the unique indexes under the
//! column's collation, and SQLite the binary range from them: nothing to add
//! there. Keyset pages of users and of the audit log run on the primary keys.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str); 2] = [
    ("ix_users_username_key_c", "username_key"),
    ("ix_users_email_c", "email"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (name, column) in INDEXES {
            db.execute_unprepared(&format!(
                r#"CREATE INDEX IF NOT EXISTS "{name}" ON "users" ("{column}" COLLATE "C") INCLUDE ("id")"#
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (name, _) in INDEXES {
            db.execute_unprepared(&format!(r#"DROP INDEX IF EXISTS "{name}""#))
                .await?;
        }
        Ok(())
    }
}
