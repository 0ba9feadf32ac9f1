//! The account lifecycle: verified e-mail addresses, single-use account
//! tokens (password reset, e-mail verification and change; stored only
//! hashed), the mail outbox, and what a session shows its owner (user
//! agent, client address, when it started).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    EmailVerified,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    UserAgent,
    ClientAddr,
    SessionStartedAt,
}

#[derive(DeriveIden)]
enum AccountTokens {
    Table,
    Id,
    UserId,
    Purpose,
    TokenHash,
    Email,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    Id,
    Kind,
    Recipient,
    Subject,
    BodyText,
    BodyHtml,
    CarriesToken,
    CreatedAt,
    NextAttemptAt,
    Attempts,
    LeaseOwner,
    LeaseUntil,
    SentAt,
    FailedAt,
    LastError,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(boolean(Users::EmailVerified).default(false))
                    .to_owned(),
            )
            .await?;
        for col in [
            ColumnDef::new(RefreshTokens::UserAgent)
                .string_len(255)
                .null()
                .to_owned(),
            ColumnDef::new(RefreshTokens::ClientAddr)
                .string_len(64)
                .null()
                .to_owned(),
            ColumnDef::new(RefreshTokens::SessionStartedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(RefreshTokens::Table)
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(AccountTokens::Table)
                    .if_not_exists()
                    .col(big_pk_auto(AccountTokens::Id))
                    .col(big_integer(AccountTokens::UserId))
                    // reset | verify | email_change
                    .col(string_len(AccountTokens::Purpose, 16))
                    .col(string_len(AccountTokens::TokenHash, 64).unique_key())
                    // The address a verification or change is for.
                    .col(string_len_null(AccountTokens::Email, 254))
                    .col(timestamp_with_time_zone(AccountTokens::CreatedAt))
                    .col(timestamp_with_time_zone(AccountTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(AccountTokens::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_account_tokens_user")
                            .from(AccountTokens::Table, AccountTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_account_tokens_user_purpose")
                    .table(AccountTokens::Table)
                    .col(AccountTokens::UserId)
                    .col(AccountTokens::Purpose)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_account_tokens_expires_at")
                    .table(AccountTokens::Table)
                    .col(AccountTokens::ExpiresAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MailOutbox::Table)
                    .if_not_exists()
                    .col(big_pk_auto(MailOutbox::Id))
                    .col(string_len(MailOutbox::Kind, 32))
                    .col(string_len(MailOutbox::Recipient, 254))
                    .col(string_len(MailOutbox::Subject, 255))
                    // NULL once a mail that carried a token was sent or given up.
                    .col(text_null(MailOutbox::BodyText))
                    .col(text_null(MailOutbox::BodyHtml))
                    .col(boolean(MailOutbox::CarriesToken))
                    .col(timestamp_with_time_zone(MailOutbox::CreatedAt))
                    .col(timestamp_with_time_zone(MailOutbox::NextAttemptAt))
                    .col(integer(MailOutbox::Attempts).default(0))
                    .col(string_len_null(MailOutbox::LeaseOwner, 64))
                    .col(timestamp_with_time_zone_null(MailOutbox::LeaseUntil))
                    .col(timestamp_with_time_zone_null(MailOutbox::SentAt))
                    .col(timestamp_with_time_zone_null(MailOutbox::FailedAt))
                    .col(string_len_null(MailOutbox::LastError, 255))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_mail_outbox_due")
                    .table(MailOutbox::Table)
                    .col(MailOutbox::SentAt)
                    .col(MailOutbox::FailedAt)
                    .col(MailOutbox::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(MailOutbox::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(AccountTokens::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        for col in [
            RefreshTokens::SessionStartedAt,
            RefreshTokens::ClientAddr,
            RefreshTokens::UserAgent,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(RefreshTokens::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::EmailVerified)
                    .to_owned(),
            )
            .await
    }
}
