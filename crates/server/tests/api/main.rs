//! rolegate's integration suite: the real app on a free port against a real,
//! fresh database per test. The backend is chosen by `ROLEGATE_TEST_DB`
//! (`sqlite`, the default; `mysql`; `postgres`), so the same suite runs on all
//! three (see the Makefile's `test` target).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;
mod processes;
mod smtp;

mod account;

mod admin;
mod audit_retention;
mod cli_operator;
mod cli_users;
mod cluster;
mod compat;
mod concurrency;
mod config;
mod errors;
mod faults;
mod health_docs;
mod hostile;
mod import_tutorial;
mod keys;
mod limits;
mod lockout;
mod logs;
mod metrics;
mod mfa;
mod migrate_cli;
mod passkey_ceremonies;
mod passkeys;
mod persistence;
mod proxy;
mod redis_store;
mod revocation;
mod sessions;
mod shutdown;
mod signin;
mod signup;
mod slow_body;
mod test_routes;
