//! Mail: the composer and sender the settings describe, and the postman's
//! delivery loop.

use std::sync::Arc;

use rolegate_domain::{MailComposer, MailSender, Postman};
use rolegate_mail::{ComposerConfig, LinkPaths, LogSender, SmtpSender, TemplateComposer};
use secrecy::ExposeSecret as _;

use crate::metrics::Metrics;
use crate::settings::{MailTransport, Settings};

/// The mail composer and sender the settings describe.
pub(crate) fn mail_adapters(
    settings: &Settings,
) -> anyhow::Result<(Arc<dyn MailComposer>, Arc<dyn MailSender>)> {
    let mail = &settings.mail;
    let composer = TemplateComposer::new(ComposerConfig {
        public_url: mail.public_url.clone(),
        paths: LinkPaths {
            reset_password: mail.reset_path.clone(),
            verify_email: mail.verify_path.clone(),
            confirm_email_change: mail.confirm_email_change_path.clone(),
        },
        templates_dir: mail.templates_dir.clone(),
        reset_minutes: i64::try_from(settings.auth.reset_token_ttl / 60)?,
        email_minutes: i64::try_from(settings.auth.email_token_ttl / 60)?,
    })?;
    let sender: Arc<dyn MailSender> = match (mail.transport, &mail.smtp_url) {
        (MailTransport::Smtp, Some(url)) => Arc::new(SmtpSender::new(
            url.expose_secret(),
            &mail.from,
            std::time::Duration::from_secs(mail.timeout_secs.max(1)),
        )?),
        (MailTransport::Smtp, None) => {
            anyhow::bail!("mail.transport = \"smtp\" needs mail.smtp_url")
        }
        (MailTransport::Log, _) => Arc::new(LogSender),
    };
    Ok((Arc::new(composer), sender))
}

/// Delivers the outbox: every `every`, or at once again after a full round.
/// Store failures (the database is down) are logged and retried. Told to
/// stop, it finishes the round under way.
pub(crate) async fn deliver_mail(
    postman: Postman,
    every: std::time::Duration,
    batch: usize,
    mut stop: tokio::sync::watch::Receiver<bool>,
    metrics: Option<Arc<Metrics>>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        match postman.deliver_due().await {
            Ok(round) => {
                if let Some(m) = &metrics {
                    m.mail_round(&round);
                }
                if round.sent + round.retried + round.given_up >= batch {
                    continue;
                }
            }
            Err(e) => tracing::warn!(error = %e, "mail delivery: the outbox is unavailable"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}
