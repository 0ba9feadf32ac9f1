//! The mail outbox over SeaORM: mails written in the transaction of the
//! change that causes them (`insert_mail`), claimed with a lease and marked
//! sent by the delivery worker (`MailOutbox`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rolegate_domain::{MailOutbox, NewMail, QueuedMail, StoreError};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::Database;
use crate::entities::mail_outbox;
use crate::error::map_db_err;

/// Queues `mail` in the caller's transaction, due at once.
pub(crate) async fn insert_mail<C: ConnectionTrait>(
    db: &C,
    mail: NewMail,
) -> Result<(), StoreError> {
    mail_outbox::ActiveModel {
        kind: Set(mail.kind.as_str().to_owned()),
        recipient: Set(mail.to),
        subject: Set(mail.subject.chars().take(255).collect()),
        body_text: Set(Some(mail.text)),
        body_html: Set(Some(mail.html)),
        carries_token: Set(mail.kind.carries_token()),
        created_at: Set(mail.created_at),
        next_attempt_at: Set(mail.created_at),
        attempts: Set(0),
        lease_owner: Set(None),
        lease_until: Set(None),
        sent_at: Set(None),
        failed_at: Set(None),
        last_error: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(map_db_err)?;
    Ok(())
}

/// Records of sent or given-up mails deleted per statement.
const PURGE_BATCH: u64 = 1000;

#[async_trait]
impl MailOutbox for Database {
    async fn claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        use mail_outbox::Column;
        let free = Condition::any()
            .add(Column::LeaseUntil.is_null())
            .add(Column::LeaseUntil.lt(now));
        let candidates: Vec<i64> = mail_outbox::Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::SentAt.is_null())
            .filter(Column::FailedAt.is_null())
            .filter(Column::NextAttemptAt.lte(now))
            .filter(free.clone())
            .order_by_asc(Column::Id)
            .limit(u64::from(limit))
            .into_tuple()
            .all(&self.conn)
            .await
            .map_err(map_db_err)?;
        let mut claimed = Vec::with_capacity(candidates.len());
        for id in candidates {
            // The conditional update is the claim: of several instances
            // racing for one row, exactly one sees it free.
            let updated = mail_outbox::Entity::update_many()
                .col_expr(Column::LeaseOwner, Expr::value(owner))
                .col_expr(Column::LeaseUntil, Expr::value(lease_until))
                .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
                .filter(Column::Id.eq(id))
                .filter(Column::SentAt.is_null())
                .filter(Column::FailedAt.is_null())
                .filter(free.clone())
                .exec(&self.conn)
                .await
                .map_err(map_db_err)?;
            if updated.rows_affected != 1 {
                continue;
            }
            let Some(row) = mail_outbox::Entity::find_by_id(id)
                .one(&self.conn)
                .await
                .map_err(map_db_err)?
            else {
                continue;
            };
            claimed.push(QueuedMail {
                id: row.id,
                kind: row.kind,
                to: row.recipient,
                subject: row.subject,
                text: row.body_text.unwrap_or_default(),
                html: row.body_html.unwrap_or_default(),
                attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
            });
        }
        Ok(claimed)
    }

    async fn mark_sent(&self, id: i64, owner: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        use mail_outbox::Column;
        // A mail that carried a token keeps no body once delivered.
        let keep_body = |col: Column| {
            Expr::case(
                Expr::col(Column::CarriesToken).eq(true),
                Expr::value(Option::<String>::None),
            )
            .finally(Expr::col(col))
        };
        mail_outbox::Entity::update_many()
            .col_expr(Column::SentAt, Expr::value(at))
            .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(
                Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(Column::BodyText, keep_body(Column::BodyText).into())
            .col_expr(Column::BodyHtml, keep_body(Column::BodyHtml).into())
            .filter(Column::Id.eq(id))
            .filter(Column::LeaseOwner.eq(owner))
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn mark_failed(
        &self,
        id: i64,
        owner: &str,
        at: DateTime<Utc>,
        retry_at: Option<DateTime<Utc>>,
        error: &str,
    ) -> Result<(), StoreError> {
        use mail_outbox::Column;
        let error: String = error.chars().take(255).collect();
        let mut update = mail_outbox::Entity::update_many()
            .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(
                Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(Column::LastError, Expr::value(error));
        update = match retry_at {
            Some(at) => update.col_expr(Column::NextAttemptAt, Expr::value(at)),
            None => {
                let drop_body = |col: Column| {
                    Expr::case(
                        Expr::col(Column::CarriesToken).eq(true),
                        Expr::value(Option::<String>::None),
                    )
                    .finally(Expr::col(col))
                };
                update
                    .col_expr(Column::FailedAt, Expr::value(at))
                    .col_expr(Column::BodyText, drop_body(Column::BodyText).into())
                    .col_expr(Column::BodyHtml, drop_body(Column::BodyHtml).into())
            }
        };
        update
            .filter(Column::Id.eq(id))
            .filter(Column::LeaseOwner.eq(owner))
            .exec(&self.conn)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn pending(&self) -> Result<u64, StoreError> {
        use mail_outbox::Column;
        mail_outbox::Entity::find()
            .filter(Column::SentAt.is_null())
            .filter(Column::FailedAt.is_null())
            .count(&self.conn)
            .await
            .map_err(map_db_err)
    }

    async fn purge_done(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        use mail_outbox::Column;
        let mut total = 0;
        loop {
            let ids: Vec<i64> = mail_outbox::Entity::find()
                .select_only()
                .column(Column::Id)
                .filter(
                    Condition::any()
                        .add(Column::SentAt.lt(before))
                        .add(Column::FailedAt.lt(before)),
                )
                .limit(PURGE_BATCH)
                .into_tuple()
                .all(&self.conn)
                .await
                .map_err(map_db_err)?;
            if ids.is_empty() {
                return Ok(total);
            }
            let deleted = mail_outbox::Entity::delete_many()
                .filter(Column::Id.is_in(ids))
                .exec(&self.conn)
                .await
                .map_err(map_db_err)?;
            total += deleted.rows_affected;
            if deleted.rows_affected < PURGE_BATCH {
                return Ok(total);
            }
        }
    }
}
