//! rolegate's mail adapters, behind the domain's ports:
//! [`TemplateComposer`] (`MailComposer`: minijinja templates, built into the
//! binary and overridable from a directory; links only from the configured
//! public URL), [`SmtpSender`] (`MailSender` over lettre: SMTP with STARTTLS
//! or implicit TLS, optional AUTH) and [`LogSender`] (development: the whole
//! mail goes to the log).

mod compose;
mod send;

pub use compose::{ComposerConfig, LinkPaths, TemplateComposer};
pub use send::{LogSender, SmtpSender};

/// A configuration the adapters cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum MailConfigError {
    #[error("mail template {name}: {message}")]
    Template { name: String, message: String },
    #[error("mail.public_url: {0}")]
    PublicUrl(String),
    #[error("mail.smtp_url: {0}")]
    SmtpUrl(String),
    #[error("mail.from: {0}")]
    From(String),
}
