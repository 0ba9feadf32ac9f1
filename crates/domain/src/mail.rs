//! Mail: what the use cases ask to send, the outbox it waits in, and the
//! delivery that empties it.
//!
//! A use case composes its mail ([`MailComposer`]) and hands the store a
//! [`NewMail`] to write **in the same transaction** as the change that
//! causes it: if the change commits, the mail is queued; if not, nothing
//! is. A [`Postman`] (one per instance) claims due mails with a lease, sends
//! them ([`MailSender`]) and marks each sent only after the server accepted
//! it; failures are retried with exponential backoff. A mail that carries a
//! live token keeps its body only until it is sent.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::clock::Clock;
use crate::error::{BoxError, StoreError};

/// What a mail is about; it picks the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// Sign-up or resend: a link that verifies the address.
    VerifyEmail,
    /// Forgotten password: a link that sets a new one.
    PasswordReset,
    /// Notice: the password was changed or reset.
    PasswordChanged,
    /// To the new address: a link that confirms the change.
    ConfirmEmailChange,
    /// Notice to the old address: a change was requested.
    EmailChangeRequested,
}

impl MailKind {
    pub const ALL: [MailKind; 5] = [
        MailKind::VerifyEmail,
        MailKind::PasswordReset,
        MailKind::PasswordChanged,
        MailKind::ConfirmEmailChange,
        MailKind::EmailChangeRequested,
    ];

    /// The template name (and the outbox's `kind` column).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::ConfirmEmailChange => "confirm_email_change",
            Self::EmailChangeRequested => "email_change_requested",
        }
    }

    /// Whether the mail carries a live token (a link), whose body must not
    /// outlive its delivery.
    pub fn carries_token(self) -> bool {
        matches!(
            self,
            Self::VerifyEmail | Self::PasswordReset | Self::ConfirmEmailChange
        )
    }
}

/// What a mail says, before it is written out: the composer adds the words
/// and builds any link from the configured public URL (never from a request).
#[derive(Debug, Clone)]
pub struct Message {
    pub kind: MailKind,
    /// The recipient's address.
    pub to: String,
    pub username: String,
    /// The token of the link, for the kinds that carry one.
    pub token: Option<String>,
    /// For an e-mail change: the address asked for.
    pub new_email: Option<String>,
}

impl Message {
    pub fn new(kind: MailKind, to: &str, username: &str) -> Self {
        Self {
            kind,
            to: to.to_owned(),
            username: username.to_owned(),
            token: None,
            new_email: None,
        }
    }

    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    pub fn with_new_email(mut self, email: &str) -> Self {
        self.new_email = Some(email.to_owned());
        self
    }
}

/// A mail written out: subject, plain text and HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Writes messages out (templates, links).
pub trait MailComposer: Send + Sync {
    fn compose(&self, message: &Message) -> Result<Composed, BoxError>;
}

/// A mail to write to the outbox with the change that causes it.
#[derive(Debug, Clone)]
pub struct NewMail {
    pub kind: MailKind,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub created_at: DateTime<Utc>,
}

impl NewMail {
    /// Composes `message` into a mail queued at `at`.
    pub fn compose(
        composer: &dyn MailComposer,
        message: &Message,
        at: DateTime<Utc>,
    ) -> Result<Self, crate::error::Error> {
        let composed = composer
            .compose(message)
            .map_err(crate::error::Error::Internal)?;
        Ok(Self {
            kind: message.kind,
            to: message.to.clone(),
            subject: composed.subject,
            text: composed.text,
            html: composed.html,
            created_at: at,
        })
    }
}

/// A mail claimed for delivery.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    pub id: i64,
    pub kind: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Delivery attempts so far, this one included.
    pub attempts: u32,
}

/// The outbox: mails waiting, claimed with a lease so that several
/// instances never send the same mail at once.
#[async_trait]
pub trait MailOutbox: Send + Sync {
    /// Claims up to `limit` mails that are due (`next_attempt_at <= now`,
    /// not sent, not given up) and not leased by anyone (or whose lease
    /// ended): each gets `owner`'s lease until `lease_until` and one more
    /// attempt counted. A mail is claimed by one owner at a time.
    async fn claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError>;

    /// The server accepted the mail: marks it sent (if `owner` still holds
    /// its lease) and drops the body of a mail that carried a token.
    async fn mark_sent(&self, id: i64, owner: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Delivery failed at `at`: retry at `retry_at`, or give up (`None`: the
    /// body of a mail that carried a token is dropped too). Releases the lease.
    async fn mark_failed(
        &self,
        id: i64,
        owner: &str,
        at: DateTime<Utc>,
        retry_at: Option<DateTime<Utc>>,
        error: &str,
    ) -> Result<(), StoreError>;

    /// Mails not yet sent nor given up.
    async fn pending(&self) -> Result<u64, StoreError>;

    /// Deletes the records of mails sent or given up before `before`.
    async fn purge_done(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// A sending failure: `permanent` when retrying cannot help (the server
/// refused the recipient for good).
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct SendError {
    pub permanent: bool,
    pub reason: String,
}

/// Sends one mail (SMTP, or the log in development).
#[async_trait]
pub trait MailSender: Send + Sync {
    async fn send(&self, mail: &QueuedMail) -> Result<(), SendError>;
}

/// How the postman retries.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryPolicy {
    /// Mails claimed per round.
    pub batch: u32,
    /// How long a claim lasts: longer than one send can take.
    pub lease_secs: i64,
    /// The first retry's delay; each next one doubles, up to `max_backoff_secs`.
    pub backoff_secs: i64,
    pub max_backoff_secs: i64,
    /// After this many attempts the mail is given up (logged as an error).
    pub max_attempts: u32,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            batch: 20,
            lease_secs: 60,
            backoff_secs: 2,
            max_backoff_secs: 600,
            max_attempts: 20,
        }
    }
}

impl DeliveryPolicy {
    /// The delay before attempt `attempts + 1`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(30);
        let secs = self
            .backoff_secs
            .saturating_mul(1_i64 << exp)
            .min(self.max_backoff_secs);
        Duration::seconds(secs.max(1))
    }
}

/// What one round of delivery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub sent: usize,
    pub retried: usize,
    pub given_up: usize,
}

/// Delivers what the outbox holds.
#[derive(Clone)]
pub struct Postman {
    outbox: Arc<dyn MailOutbox>,
    sender: Arc<dyn MailSender>,
    clock: Arc<dyn Clock>,
    policy: DeliveryPolicy,
    owner: String,
}

impl Postman {
    /// `owner` names this instance's claims (unique per process).
    pub fn new(
        outbox: Arc<dyn MailOutbox>,
        sender: Arc<dyn MailSender>,
        clock: Arc<dyn Clock>,
        policy: DeliveryPolicy,
        owner: String,
    ) -> Self {
        Self {
            outbox,
            sender,
            clock,
            policy,
            owner,
        }
    }

    /// Claims the due mails and tries each once.
    pub async fn deliver_due(&self) -> Result<Round, StoreError> {
        let now = self.clock.now();
        let lease_until = now + Duration::seconds(self.policy.lease_secs);
        let mails = self
            .outbox
            .claim(&self.owner, now, lease_until, self.policy.batch)
            .await?;
        let mut round = Round::default();
        for mail in mails {
            match self.sender.send(&mail).await {
                Ok(()) => {
                    self.outbox
                        .mark_sent(mail.id, &self.owner, self.clock.now())
                        .await?;
                    tracing::info!(mail_id = mail.id, kind = %mail.kind, "mail sent");
                    round.sent += 1;
                }
                Err(e) if e.permanent || mail.attempts >= self.policy.max_attempts => {
                    tracing::error!(
                        mail_id = mail.id,
                        kind = %mail.kind,
                        attempts = mail.attempts,
                        error = %e,
                        "mail given up"
                    );
                    self.outbox
                        .mark_failed(mail.id, &self.owner, self.clock.now(), None, &e.reason)
                        .await?;
                    round.given_up += 1;
                }
                Err(e) => {
                    let now = self.clock.now();
                    let retry_at = now + self.policy.backoff(mail.attempts);
                    tracing::warn!(
                        mail_id = mail.id,
                        kind = %mail.kind,
                        attempts = mail.attempts,
                        %retry_at,
                        error = %e,
                        "mail delivery failed; will retry"
                    );
                    self.outbox
                        .mark_failed(mail.id, &self.owner, now, Some(retry_at), &e.reason)
                        .await?;
                    round.retried += 1;
                }
            }
        }
        Ok(round)
    }

    /// Mails waiting.
    pub async fn pending(&self) -> Result<u64, StoreError> {
        self.outbox.pending().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = DeliveryPolicy {
            backoff_secs: 2,
            max_backoff_secs: 60,
            ..DeliveryPolicy::default()
        };
        let secs: Vec<i64> = (1..=8).map(|a| p.backoff(a).num_seconds()).collect();
        assert_eq!(secs, vec![2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(p.backoff(u32::MAX).num_seconds(), 60);
    }

    #[test]
    fn only_link_mails_carry_tokens() {
        let with: Vec<&str> = MailKind::ALL
            .iter()
            .filter(|k| k.carries_token())
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            with,
            vec!["verify_email", "password_reset", "confirm_email_change"]
        );
    }

    use std::sync::Mutex;

    use crate::clock::ManualClock;

    /// One mail in memory, with what the postman did to it.
    #[derive(Default)]
    struct OneMail {
        attempts: u32,
        due: Option<DateTime<Utc>>,
        sent: bool,
        given_up: bool,
    }

    #[derive(Default)]
    struct Outbox(Mutex<OneMail>);

    #[async_trait]
    impl MailOutbox for Outbox {
        async fn claim(
            &self,
            _: &str,
            now: DateTime<Utc>,
            _: DateTime<Utc>,
            _: u32,
        ) -> Result<Vec<QueuedMail>, StoreError> {
            let mut m = self.0.lock().unwrap();
            if m.sent || m.given_up || m.due.is_some_and(|d| d > now) {
                return Ok(vec![]);
            }
            m.attempts += 1;
            Ok(vec![QueuedMail {
                id: 1,
                kind: "password_reset".into(),
                to: "a@example.com".into(),
                subject: "s".into(),
                text: "t".into(),
                html: "h".into(),
                attempts: m.attempts,
            }])
        }
        async fn mark_sent(&self, _: i64, _: &str, _: DateTime<Utc>) -> Result<(), StoreError> {
            self.0.lock().unwrap().sent = true;
            Ok(())
        }
        async fn mark_failed(
            &self,
            _: i64,
            _: &str,
            _: DateTime<Utc>,
            retry_at: Option<DateTime<Utc>>,
            _: &str,
        ) -> Result<(), StoreError> {
            let mut m = self.0.lock().unwrap();
            match retry_at {
                Some(at) => m.due = Some(at),
                None => m.given_up = true,
            }
            Ok(())
        }
        async fn pending(&self) -> Result<u64, StoreError> {
            let m = self.0.lock().unwrap();
            Ok(u64::from(!m.sent && !m.given_up))
        }
        async fn purge_done(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
            Ok(0)
        }
    }

    /// Fails the first `fail` sends (permanently if `permanent`), then accepts.
    struct Server {
        fail: Mutex<u32>,
        permanent: bool,
    }

    #[async_trait]
    impl MailSender for Server {
        async fn send(&self, _: &QueuedMail) -> Result<(), SendError> {
            let mut fail = self.fail.lock().unwrap();
            if *fail == 0 {
                return Ok(());
            }
            *fail -= 1;
            Err(SendError {
                permanent: self.permanent,
                reason: "421 try later".into(),
            })
        }
    }

    fn postman(
        fail: u32,
        permanent: bool,
        max_attempts: u32,
    ) -> (Postman, Arc<Outbox>, Arc<ManualClock>) {
        let outbox = Arc::new(Outbox::default());
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let sender = Arc::new(Server {
            fail: Mutex::new(fail),
            permanent,
        });
        let policy = DeliveryPolicy {
            backoff_secs: 2,
            max_backoff_secs: 600,
            max_attempts,
            ..DeliveryPolicy::default()
        };
        (
            Postman::new(outbox.clone(), sender, clock.clone(), policy, "me".into()),
            outbox,
            clock,
        )
    }

    #[tokio::test]
    async fn a_failed_delivery_waits_for_its_backoff_and_then_goes_out() {
        let (postman, outbox, clock) = postman(2, false, 20);
        assert_eq!(postman.deliver_due().await.unwrap().retried, 1);
        assert_eq!(
            postman.deliver_due().await.unwrap(),
            Round::default(),
            "not due yet"
        );
        clock.advance(Duration::seconds(2));
        assert_eq!(postman.deliver_due().await.unwrap().retried, 1);
        clock.advance(Duration::seconds(3));
        assert_eq!(
            postman.deliver_due().await.unwrap(),
            Round::default(),
            "the second wait doubled"
        );
        clock.advance(Duration::seconds(1));
        assert_eq!(postman.deliver_due().await.unwrap().sent, 1);
        assert!(outbox.0.lock().unwrap().sent);
        assert_eq!(postman.pending().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn permanent_failures_and_the_last_attempt_give_up() {
        let (postman, outbox, _) = postman(1, true, 20);
        assert_eq!(postman.deliver_due().await.unwrap().given_up, 1);
        assert!(outbox.0.lock().unwrap().given_up);

        let (postman, outbox, clock) = postman_with_cap();
        for _ in 0..3 {
            postman.deliver_due().await.unwrap();
            clock.advance(Duration::seconds(600));
        }
        let m = outbox.0.lock().unwrap();
        assert!(m.given_up && !m.sent, "given up after 3 attempts");
        assert_eq!(m.attempts, 3);
    }

    fn postman_with_cap() -> (Postman, Arc<Outbox>, Arc<ManualClock>) {
        postman(u32::MAX, false, 3)
    }
}
