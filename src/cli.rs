//! The command line: clap derive, every flag also readable from `DRIFTD_*`.
