//! `refresh_tokens.successor_sealed` grows from 64 to 128 characters: the
//! successor is now sealed with ChaCha20-Poly1305 (`v2.` + base64url of
//! nonce, ciphertext and tag: 98 characters) instead of an unauthenticated
//! XOR of the same length as the token. SQLite does not enforce lengths, so
//! nothing changes there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    SuccessorSealed,
}

async fn resize(manager: &SchemaManager<'_>, len: u32) -> Result<(), DbErr> {
    if manager.get_database_backend() == DatabaseBackend::Sqlite {
        return Ok(());
    }
    manager
        .alter_table(
            Table::alter()
                .table(RefreshTokens::Table)
                .modify_column(
                    ColumnDef::new(RefreshTokens::SuccessorSealed)
                        .string_len(len)
                        .null(),
                )
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        resize(manager, 128).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The new seals do not fit, and the old code could not open them:
        // forget them (only refreshes inside a grace window notice).
        manager
            .exec_stmt(
                Query::update()
                    .table(RefreshTokens::Table)
                    .value(RefreshTokens::SuccessorSealed, Option::<String>::None)
                    .to_owned(),
            )
            .await?;
        resize(manager, 64).await
    }
}
