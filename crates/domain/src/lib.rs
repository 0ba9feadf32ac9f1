//! rolegate's domain: users, roles and permissions, the validated types that
//! describe them, and the use cases written against ports.
//!
//! This crate knows no web framework, no ORM, no JWT library and no hashing
//! library: `rolegate-persistence` and `rolegate-auth` implement its ports,
//! `rolegate-api` drives its use cases. Its errors carry facts; the HTTP
//! layer chooses the words.
//!
//! | module | concept |
//! |---|---|
//! | [`access`] | permissions as types, the proof a guard hands to a use case |
//! | [`users`] | users, passwords, the user store |
//! | [`accounts`] | the lifecycle: password change and reset, e-mail, sessions, leaving |
//! | [`roles`] | role and permission names, descriptions |
//! | [`authentication`] | sign-up, sign-in |
//! | [`passkeys`] | passkeys (WebAuthn): registration, passwordless sign-in |
//! | [`sessions`] | refresh tokens: rotation, reuse, sign-out |
//! | [`throttle`] | rate limits around sign-in, sign-up and refresh |
//! | [`admin`] | administration and its rules |
//! | [`mail`] | mail: composing, the outbox, delivery with retries |
//! | [`mfa`] | second factors: TOTP, recovery codes, the two-step sign-in, `amr` |
//! | [`testing`] | in-memory ports, for fast rule tests (feature `testing`) |

pub mod access;
pub mod accounts;
pub mod admin;
pub mod audit;
pub mod authentication;
pub mod clock;
pub mod error;
pub mod health;
pub mod mail;
pub mod mfa;
pub mod page;
pub mod passkeys;
pub mod roles;
pub mod sessions;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod throttle;
pub mod tokens;
pub mod users;

pub use access::{Actor, Granted, Operator, PermissionName};
pub use accounts::{
    Account, AccountDeps, AccountPolicy, AccountService, AccountStore, AccountToken,
    NewAccountToken, PasswordChange, SessionInfo, TokenMail, TokenPurpose,
};
pub use admin::{
    AdminDeps, AdminService, AdminStore, Bootstrap, Change, CreateUser, ImportLine, ImportOptions,
    ImportOutcome, ImportReport, LegacyUser, Precondition,
};
pub use audit::{AuditEvent, AuditRetention, NewAuditEvent, retention_cutoff};
pub use authentication::{
    AuthDeps, AuthPolicy, AuthService, IssuedRefresh, SessionCounts, SignUp, SignedIn,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{
    BoxError, BuiltInRule, Error, Escalation, FieldErrors, RefreshFailure, StoreError, UniqueField,
};
pub use health::HealthCheck;
pub use mail::{
    Composed, DeliveryPolicy, MailComposer, MailKind, MailOutbox, MailSender, Message, NewMail,
    Postman, QueuedMail, SendError,
};
pub use mfa::{
    AuthMethod, ChallengeRecord, FactorError, FactorSecrets, MfaChallenge, MfaMethod, MfaProof,
    MfaService, MfaStore, NewChallenge, PendingSignIn, SignInStep, TotpEnrolment, TotpRecord,
};
pub use page::{Page, PageRequest};
pub use passkeys::{
    Ceremony, CeremonyKind, Challenge, NewPasskey, PasskeyDeps, PasskeyError, PasskeyFailure,
    PasskeyInfo, PasskeyService, PasskeyStore, PasskeyUser, PasskeyVerifier, PresentedAssertion,
    StartedCeremony, StoredPasskey, VerifiedAssertion, VerifiedPasskey,
};
pub use roles::{Description, NewRole, Permission, PermissionInfo, RoleInfo, RoleName};
pub use sessions::{
    ClientInfo, NewRefreshToken, RefreshRecord, RefreshSecrets, Refreshed, Revocation,
    RevocationFeed, RevocationPoller, RevocationSet, Revoked, SessionStore,
};
pub use throttle::{
    Admission, AttemptStore, Attempts, BackoffStep, Limit, Limits, MemoryAttempts, OnStoreError,
    Reservation, Throttle,
};
pub use tokens::{AccessSubject, IssuedToken, TokenError, TokenIssuer};
pub use users::register::Registration;
pub use users::{
    Email, HashError, LoginRecord, NewUser, Password, PasswordHash, PasswordHasher, User, UserId,
    UserProfile, UserStore, Username,
};

/// `items` without repeats, in first-seen order.
pub(crate) fn dedup<T: PartialEq + Clone>(items: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}
