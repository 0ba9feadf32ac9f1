//! Reading the Node tutorial's database (MySQL/MariaDB, tables created by
//! Sequelize): `users` (id, username, email, password, createdAt,
//! updatedAt), `roles` (id, name, …) and `user_roles` (roleId, userId, …).
//! Read only: nothing is written there.

use chrono::NaiveDateTime;
use rolegate_domain::{LegacyUser, StoreError};
use sea_orm::{ConnectOptions, ConnectionTrait, DbBackend, Statement};

use crate::{Backend, map_db_err, redact_url};

const USERS: &str = "SELECT CAST(`id` AS SIGNED) AS `id`, `username`, `email`, `password`, \
     `createdAt` FROM `users` ORDER BY `id`";
const ROLES: &str = "SELECT CAST(`ur`.`userId` AS SIGNED) AS `userId`, `r`.`name` \
     FROM `user_roles` `ur` JOIN `roles` `r` ON `r`.`id` = `ur`.`roleId` \
     ORDER BY `ur`.`userId`, `r`.`id`";

/// The tutorial's accounts with their role names, by id.
pub async fn read_tutorial(url: &str) -> Result<Vec<LegacyUser>, StoreError> {
    if Backend::from_url(url) != Some(Backend::MySql) {
        return Err(StoreError::internal(format!(
            "the tutorial's database must be MySQL or MariaDB (mysql://…), not {}",
            redact_url(url)
        )));
    }
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(1)
        .connect_timeout(std::time::Duration::from_secs(5))
        .acquire_timeout(std::time::Duration::from_secs(5))
        .sqlx_logging(false);
    let conn = sea_orm::Database::connect(opts).await.map_err(map_db_err)?;
    let read = async {
        let rows = conn
            .query_all_raw(Statement::from_string(DbBackend::MySql, USERS))
            .await
            .map_err(map_db_err)?;
        let mut users = Vec::with_capacity(rows.len());
        for row in rows {
            let get_text = |col: &str| row.try_get::<Option<String>>("", col);
            let created: Option<NaiveDateTime> =
                row.try_get("", "createdAt").map_err(map_db_err)?;
            users.push(LegacyUser {
                source_id: row.try_get("", "id").map_err(map_db_err)?,
                username: get_text("username").map_err(map_db_err)?,
                email: get_text("email").map_err(map_db_err)?,
                password_hash: get_text("password").map_err(map_db_err)?,
                roles: Vec::new(),
                created_at: created.map(|t| t.and_utc()),
            });
        }
        let links = conn
            .query_all_raw(Statement::from_string(DbBackend::MySql, ROLES))
            .await
            .map_err(map_db_err)?;
        let index: std::collections::HashMap<i64, usize> = users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.source_id, i))
            .collect();
        for link in links {
            let user: i64 = link.try_get("", "userId").map_err(map_db_err)?;
            let name: Option<String> = link.try_get("", "name").map_err(map_db_err)?;
            let found = index.get(&user).and_then(|&i| users.get_mut(i));
            if let (Some(u), Some(name)) = (found, name) {
                u.roles.push(name);
            }
        }
        Ok(users)
    };
    let result = read.await;
    let _ = conn.close().await;
    result
}
