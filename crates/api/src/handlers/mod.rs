pub mod account;
pub mod admin;
pub mod auth;
pub mod content;
pub mod health;
pub mod keys;
pub mod mfa;
pub mod passkeys;
