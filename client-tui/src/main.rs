//! `lanchat`: the full-screen chat client. Everything lives in the library.

use std::process::ExitCode;

use clap::Parser;
use lanchat_client::Args;

#[tokio::main]
async fn main() -> ExitCode {
    match lanchat_client::run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lanchat: {error:#}");
            ExitCode::FAILURE
        }
    }
}
