use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuthAttempts {
    Table,
    Key,
    Count,
    LastAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuthAttempts::Table)
                    .if_not_exists()
                    // e.g. "signin:acct:alice", "signup:ip:203.0.113.9"
                    .col(string_len(AuthAttempts::Key, 191).primary_key())
                    .col(integer(AuthAttempts::Count))
                    .col(timestamp_with_time_zone(AuthAttempts::LastAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_auth_attempts_last_at")
                    .table(AuthAttempts::Table)
                    .col(AuthAttempts::LastAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(AuthAttempts::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
