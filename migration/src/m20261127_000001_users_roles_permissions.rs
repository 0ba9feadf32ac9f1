use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    UsernameKey,
    Email,
    PasswordHash,
    Disabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
    Name,
    Description,
    BuiltIn,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Permissions {
    Table,
    Id,
    Name,
    Description,
}

#[derive(DeriveIden)]
enum UserRoles {
    Table,
    UserId,
    RoleId,
}

#[derive(DeriveIden)]
enum RolePermissions {
    Table,
    RoleId,
    PermissionId,
}

/// Built-in roles, in the order the tutorial lists them (ids ascend in this
/// order, and role lists are ordered by id).
const ROLES: [(&str, &str); 3] = [
    ("user", "Any signed-up user"),
    ("moderator", "Moderates content, reads users"),
    ("admin", "Administers users, roles and permissions"),
];

const PERMISSIONS: [(&str, &str); 7] = [
    ("content:read", "Read content"),
    ("content:moderate", "Moderate content"),
    ("users:read", "List and read user accounts"),
    ("users:write", "Change, disable and delete user accounts"),
    ("roles:read", "List roles and permissions"),
    ("roles:write", "Create, change and delete roles"),
    ("audit:read", "Read the audit log"),
];

const GRANTS: [(&str, &[&str]); 3] = [
    ("user", &["content:read"]),
    (
        "moderator",
        &["content:read", "content:moderate", "users:read"],
    ),
    (
        "admin",
        &[
            "content:read",
            "content:moderate",
            "users:read",
            "users:write",
            "roles:read",
            "roles:write",
            "audit:read",
        ],
    ),
];

fn seed_err(e: impl std::fmt::Display) -> DbErr {
    DbErr::Migration(format!("seed data: {e}"))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Users::Id))
                    .col(string_len(Users::Username, 64))
                    .col(string_len(Users::UsernameKey, 64))
                    .col(string_len(Users::Email, 254))
                    .col(string_len(Users::PasswordHash, 255))
                    .col(boolean(Users::Disabled).default(false))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ux_users_username_key", Users::UsernameKey),
            ("ux_users_email", Users::Email),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Users::Table)
                        .col(col)
                        .unique()
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Roles::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Roles::Id))
                    .col(string_len(Roles::Name, 32))
                    .col(string_len(Roles::Description, 255).default(""))
                    .col(boolean(Roles::BuiltIn).default(false))
                    .col(timestamp_with_time_zone(Roles::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_roles_name")
                    .table(Roles::Table)
                    .col(Roles::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Permissions::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Permissions::Id))
                    .col(string_len(Permissions::Name, 64))
                    .col(string_len(Permissions::Description, 255).default(""))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_permissions_name")
                    .table(Permissions::Table)
                    .col(Permissions::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UserRoles::Table)
                    .if_not_exists()
                    .col(big_integer(UserRoles::UserId))
                    .col(big_integer(UserRoles::RoleId))
                    .primary_key(
                        Index::create()
                            .col(UserRoles::UserId)
                            .col(UserRoles::RoleId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_user_roles_user")
                            .from(UserRoles::Table, UserRoles::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_user_roles_role")
                            .from(UserRoles::Table, UserRoles::RoleId)
                            .to(Roles::Table, Roles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_user_roles_role")
                    .table(UserRoles::Table)
                    .col(UserRoles::RoleId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RolePermissions::Table)
                    .if_not_exists()
                    .col(big_integer(RolePermissions::RoleId))
                    .col(big_integer(RolePermissions::PermissionId))
                    .primary_key(
                        Index::create()
                            .col(RolePermissions::RoleId)
                            .col(RolePermissions::PermissionId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_role_permissions_role")
                            .from(RolePermissions::Table, RolePermissions::RoleId)
                            .to(Roles::Table, Roles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_role_permissions_permission")
                            .from(RolePermissions::Table, RolePermissions::PermissionId)
                            .to(Permissions::Table, Permissions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // Seed data: plain inserts, one row at a time so that ids follow the
        // order of ROLES on every backend.
        let now = Expr::current_timestamp();
        for (name, description) in ROLES {
            let insert = Query::insert()
                .into_table(Roles::Table)
                .columns([
                    Roles::Name,
                    Roles::Description,
                    Roles::BuiltIn,
                    Roles::CreatedAt,
                ])
                .values([name.into(), description.into(), true.into(), now.clone()])
                .map_err(seed_err)?
                .to_owned();
            manager.exec_stmt(insert).await?;
        }
        for (name, description) in PERMISSIONS {
            let insert = Query::insert()
                .into_table(Permissions::Table)
                .columns([Permissions::Name, Permissions::Description])
                .values([name.into(), description.into()])
                .map_err(seed_err)?
                .to_owned();
            manager.exec_stmt(insert).await?;
        }
        for (role, permissions) in GRANTS {
            for permission in permissions {
                let select = Query::select()
                    .column((Roles::Table, Roles::Id))
                    .column((Permissions::Table, Permissions::Id))
                    .from(Roles::Table)
                    .from(Permissions::Table)
                    .and_where(Expr::col((Roles::Table, Roles::Name)).eq(role))
                    .and_where(Expr::col((Permissions::Table, Permissions::Name)).eq(*permission))
                    .to_owned();
                let insert = Query::insert()
                    .into_table(RolePermissions::Table)
                    .columns([RolePermissions::RoleId, RolePermissions::PermissionId])
                    .select_from(select)
                    .map_err(seed_err)?
                    .to_owned();
                manager.exec_stmt(insert).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RolePermissions::Table.into_iden(),
            UserRoles::Table.into_iden(),
            Permissions::Table.into_iden(),
            Roles::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
