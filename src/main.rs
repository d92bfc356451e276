//! The `driftd` binary: parse the command line, start logging, call the
//! library, map the outcome to the contract's exit codes.

// The binary's edge: errors that end the process are printed, not logged.
#![allow(clippy::print_stderr)]

use std::process::ExitCode;

use clap::Parser;

use driftd::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let daemon = matches!(cli.command, driftd::cli::Command::Run(_));
    driftd::telemetry::init(cli.global.log_format, cli.global.verbose, daemon);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("driftd: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(driftd::commands::run(cli));
    // A load stuck on a file system must not keep the process from exiting:
    // dropping the runtime would wait for its blocking thread for ever.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("driftd: {e:#}");
            ExitCode::from(1)
        }
    }
}
