//! Passkeys (WebAuthn credentials) and the server-side state of their
//! ceremonies (registration, sign-in): short-lived, single-use, so any
//! instance can finish what another started.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Passkeys {
    Table,
    Id,
    UserId,
    Name,
    UserHandle,
    CredentialId,
    CredentialIdHash,
    Credential,
    SignCount,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum WebauthnChallenges {
    Table,
    Id,
    IdHash,
    UserId,
    Kind,
    State,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Passkeys::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Passkeys::Id))
                    .col(big_integer(Passkeys::UserId))
                    .col(string_len(Passkeys::Name, 64))
                    // The WebAuthn user handle (a UUID), one per user.
                    .col(string_len(Passkeys::UserHandle, 64))
                    // Base64url, up to 1023 bytes decoded: too long for a
                    // unique index on MySQL; its SHA-256 is unique instead.
                    .col(text(Passkeys::CredentialId))
                    .col(string_len(Passkeys::CredentialIdHash, 64).unique_key())
                    // The serialized webauthn-rs Passkey (public key, counter).
                    .col(text(Passkeys::Credential))
                    .col(big_integer(Passkeys::SignCount).default(0))
                    .col(timestamp_with_time_zone(Passkeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(Passkeys::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_passkeys_user")
                            .from(Passkeys::Table, Passkeys::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_passkeys_user")
                    .table(Passkeys::Table)
                    .col(Passkeys::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WebauthnChallenges::Table)
                    .if_not_exists()
                    .col(big_pk_auto(WebauthnChallenges::Id))
                    // SHA-256 of the ceremony id the client holds.
                    .col(string_len(WebauthnChallenges::IdHash, 64).unique_key())
                    .col(big_integer_null(WebauthnChallenges::UserId))
                    // register | authenticate | authenticate_user
                    .col(string_len(WebauthnChallenges::Kind, 32))
                    .col(text(WebauthnChallenges::State))
                    .col(timestamp_with_time_zone(WebauthnChallenges::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webauthn_challenges_user")
                            .from(WebauthnChallenges::Table, WebauthnChallenges::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webauthn_challenges_expires_at")
                    .table(WebauthnChallenges::Table)
                    .col(WebauthnChallenges::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(WebauthnChallenges::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Passkeys::Table).if_exists().to_owned())
            .await
    }
}
