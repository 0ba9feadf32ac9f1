//! The rolegate binary's library: configuration, telemetry, wiring and CLI.
//! Only this crate knows every other crate.

pub mod bootstrap;
pub mod cli;
pub mod mail;
pub mod metrics;
pub mod purge;
pub mod settings;
pub mod startup;
pub mod telemetry;
