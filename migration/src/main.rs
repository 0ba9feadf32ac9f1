//! The migration crate's own CLI (`cargo run -p rolegate-migration -- up`).
//! The `rolegate migrate` subcommand of the server does the same with the
//! service's configuration.
use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(rolegate_migration::Migrator).await;
}
