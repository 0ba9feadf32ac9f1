//! The mail outbox over SeaORM: mails written in the transaction of the
//! change that causes them (`insert_mail`), claimed with a lease and marked
//! sent by the delivery worker (`MailOutbox`).

use rolegate_domain::{NewMail, StoreError};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};

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
