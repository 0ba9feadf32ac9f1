//! SeaORM entities. Private to this crate: nothing here leaves it.

pub mod account_tokens;
pub mod audit_events;
pub mod auth_attempts;
pub mod mail_outbox;
pub mod mfa_challenges;
pub mod passkeys;
pub mod permissions;
pub mod recovery_codes;
pub mod refresh_tokens;
pub mod revocations;
pub mod role_permissions;
pub mod roles;
pub mod user_roles;
pub mod user_totp;
pub mod users;
pub mod webauthn_challenges;
