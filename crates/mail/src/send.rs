//! Sending: SMTP over lettre, or the log in development.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};
use rolegate_domain::{MailSender, QueuedMail, SendError};

use crate::MailConfigError;

/// Sends over SMTP. The URL picks the security, as lettre reads it:
/// `smtps://user:pass@host:465` (implicit TLS), `smtp://host:587?tls=required`
/// (STARTTLS required), `smtp://host:25` (plain: loopback and tests only).
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the credentials: never printed.
        f.debug_struct("SmtpSender")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// `timeout` bounds each SMTP command (connection included).
    pub fn new(smtp_url: &str, from: &str, timeout: Duration) -> Result<Self, MailConfigError> {
        let from: Mailbox = from
            .parse()
            .map_err(|e: lettre::address::AddressError| MailConfigError::From(e.to_string()))?;
        // Never echo the URL: it may hold a password.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| MailConfigError::SmtpUrl(format!("not a usable SMTP URL ({e})")))?
            .timeout(Some(timeout))
            .build();
        Ok(Self { transport, from })
    }
}

#[async_trait]
impl MailSender for SmtpSender {
    async fn send(&self, mail: &QueuedMail) -> Result<(), SendError> {
        let to: Mailbox = mail.to.parse().map_err(|e| SendError {
            permanent: true,
            reason: format!("recipient is not an address: {e}"),
        })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|e| SendError {
                permanent: true,
                reason: format!("mail could not be built: {e}"),
            })?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| SendError {
                // 5xx: the server refused for good; anything else (connection,
                // timeout, 4xx) may work later.
                permanent: e.is_permanent(),
                reason: e.to_string(),
            })
    }
}

/// Development: the whole mail, link included, goes to the log at INFO.
#[derive(Debug, Default)]
pub struct LogSender;

#[async_trait]
impl MailSender for LogSender {
    async fn send(&self, mail: &QueuedMail) -> Result<(), SendError> {
        tracing::info!(
            to = %mail.to,
            subject = %mail.subject,
            body = %mail.text,
            "mail (log transport: not sent; set mail.transport = \"smtp\" to deliver)"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls_and_senders_are_refused_without_echoing_secrets() {
        let t = Duration::from_secs(5);
        let e = SmtpSender::new("http://user:hunter2@x", "a@example.com", t).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(SmtpSender::new("smtp://127.0.0.1:2525", "not an address", t).is_err());
        let ok = SmtpSender::new(
            "smtps://user:hunter2@smtp.example.com:465",
            "rolegate <no-reply@example.com>",
            t,
        )
        .unwrap();
        assert!(!format!("{ok:?}").contains("hunter2"));
    }
}
