//! Revocations of access tokens, and the built-in permission
//! `tokens:introspect`.
//!
//! `revocations` is append-only: every change that ends access (a session
//! revoked, a user disabled or deleted, a user enabled again) adds a row in
//! its own transaction; each instance polls the recent rows by `created_at`
//! (indexed) into its in-memory set, and the purge deletes rows older than an
//! access token's lifetime. No foreign key to `users`: a deleted user's row
//! must outlive it.
//!
//! `tokens:introspect` lets a service call `POST /api/auth/introspect` with an
//! access token of its own; `admin` gets it, so that admins can grant it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Revocations {
    Table,
    Id,
    UserId,
    Kind,
    SessionId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
    Name,
}

#[derive(DeriveIden)]
enum Permissions {
    Table,
    Id,
    Name,
    Description,
}

#[derive(DeriveIden)]
enum RolePermissions {
    Table,
    RoleId,
    PermissionId,
}

const INDEX: &str = "ix_revocations_created_at";
const PERMISSION: &str = "tokens:introspect";

fn seed_err(e: impl std::fmt::Display) -> DbErr {
    DbErr::Migration(format!("seed data: {e}"))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Revocations::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Revocations::Id))
                    .col(big_integer(Revocations::UserId))
                    // `session`, `user` or `user_restored`
                    .col(string_len(Revocations::Kind, 16))
                    // the refresh-token family (the `sid` claim) of `session`
                    .col(string_len_null(Revocations::SessionId, 32))
                    .col(timestamp_with_time_zone(Revocations::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Revocations::Table)
                    .col(Revocations::CreatedAt)
                    .to_owned(),
            )
            .await?;
        let insert = Query::insert()
            .into_table(Permissions::Table)
            .columns([Permissions::Name, Permissions::Description])
            .values([
                PERMISSION.into(),
                "Introspect access tokens (RFC 7662)".into(),
            ])
            .map_err(seed_err)?
            .to_owned();
        manager.exec_stmt(insert).await?;
        let select = Query::select()
            .column((Roles::Table, Roles::Id))
            .column((Permissions::Table, Permissions::Id))
            .from(Roles::Table)
            .from(Permissions::Table)
            .and_where(Expr::col((Roles::Table, Roles::Name)).eq("admin"))
            .and_where(Expr::col((Permissions::Table, Permissions::Name)).eq(PERMISSION))
            .to_owned();
        let grant = Query::insert()
            .into_table(RolePermissions::Table)
            .columns([RolePermissions::RoleId, RolePermissions::PermissionId])
            .select_from(select)
            .map_err(seed_err)?
            .to_owned();
        manager.exec_stmt(grant).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let permission_id = Query::select()
            .column(Permissions::Id)
            .from(Permissions::Table)
            .and_where(Expr::col(Permissions::Name).eq(PERMISSION))
            .to_owned();
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(RolePermissions::Table)
                    .and_where(Expr::col(RolePermissions::PermissionId).in_subquery(permission_id))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(Permissions::Table)
                    .and_where(Expr::col(Permissions::Name).eq(PERMISSION))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(Revocations::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
