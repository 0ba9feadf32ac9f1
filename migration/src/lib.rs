//! rolegate's schema migrations. Seed data (built-in roles and permissions)
//! is written as plain inserts, never through today's ORM entities, so old
//! migrations keep working as the entities change. No user is ever seeded.

pub use sea_orm_migration;
pub use sea_orm_migration::prelude::*;

mod m20261127_000001_users_roles_permissions;
mod m20261127_000002_refresh_tokens;
mod m20261127_000003_auth_attempts;
mod m20261127_000004_audit_events;
mod m20261201_000005_refresh_seal_aead;
mod m20261202_000006_account_lifecycle;
mod m20261210_000007_passkeys;
mod m20261210_000008_mfa;
mod m20261211_000009_audit_retention;
mod m20261212_000010_revocations;
mod m20261212_000011_user_search;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_users_roles_permissions::Migration),
            Box::new(m20261127_000002_refresh_tokens::Migration),
            Box::new(m20261127_000003_auth_attempts::Migration),
            Box::new(m20261127_000004_audit_events::Migration),
            Box::new(m20261201_000005_refresh_seal_aead::Migration),
            Box::new(m20261202_000006_account_lifecycle::Migration),
            Box::new(m20261210_000007_passkeys::Migration),
            Box::new(m20261210_000008_mfa::Migration),
            Box::new(m20261211_000009_audit_retention::Migration),
            Box::new(m20261212_000010_revocations::Migration),
            Box::new(m20261212_000011_user_search::Migration),
        ]
    }
}
