//! Logging setup: text or JSON on stderr, filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber. Without `RUST_LOG`, driftd logs at info
/// (debug with `-v`) and the AWS SDK only its warnings.
pub fn init(format: LogFormat, verbose: u8) {
    let default = if verbose > 0 {
        "warn,driftd=debug"
    } else {
        "warn,driftd=info"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
