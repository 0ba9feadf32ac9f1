use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = rolegate::cli::Cli::parse();
    match rolegate::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rolegate: {e:#}");
            ExitCode::FAILURE
        }
    }
}
