//! Logging setup: text or JSON, filtered by `RUST_LOG`.
