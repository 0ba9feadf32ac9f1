use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    FamilyId,
    UserId,
    TokenHash,
    Generation,
    CreatedAt,
    ExpiresAt,
    RotatedAt,
    SuccessorSealed,
    GraceUsed,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .if_not_exists()
                    .col(big_pk_auto(RefreshTokens::Id))
                    .col(string_len(RefreshTokens::FamilyId, 32))
                    .col(big_integer(RefreshTokens::UserId))
                    // SHA-256 hex of the token; the token itself is never stored.
                    .col(string_len(RefreshTokens::TokenHash, 64))
                    .col(integer(RefreshTokens::Generation))
                    .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RotatedAt))
                    .col(string_len_null(RefreshTokens::SuccessorSealed, 64))
                    .col(boolean(RefreshTokens::GraceUsed).default(false))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_refresh_tokens_user")
                            .from(RefreshTokens::Table, RefreshTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        let indexes: [(&str, RefreshTokens, bool); 4] = [
            ("ux_refresh_tokens_hash", RefreshTokens::TokenHash, true),
            ("ix_refresh_tokens_family", RefreshTokens::FamilyId, false),
            ("ix_refresh_tokens_user", RefreshTokens::UserId, false),
            ("ix_refresh_tokens_expires", RefreshTokens::ExpiresAt, false),
        ];
        for (name, col, unique) in indexes {
            let mut index = Index::create();
            index.name(name).table(RefreshTokens::Table).col(col);
            if unique {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(RefreshTokens::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
