//! Logging setup: text or JSON on stderr, filtered by `RUST_LOG`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber. Without `RUST_LOG`, the daemon logs at
/// info and the one-shot commands (whose output already says what happened)
/// only warnings; `-v` raises both by one level. The AWS SDK logs warnings.
pub fn init(format: LogFormat, verbose: u8, daemon: bool) {
    let default = match (daemon, verbose) {
        (true, 0) | (false, 1) => "warn,driftd=info",
        (false, 0) => "warn",
        _ => "warn,driftd=debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
