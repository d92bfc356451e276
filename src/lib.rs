//! driftd: a reconciliation daemon that keeps AWS resources as declared in YAML.
//!
//! Data flows one way: files -> [`desired::DesiredState`] -> for each resource:
//! observe live -> pure diff ([`kinds`]) -> plan (printable) -> apply ([`engine`]).

pub mod aws;
pub mod cli;
pub mod commands;
pub mod desired;
pub mod engine;
pub mod files;
pub mod http;
pub mod iam;
pub mod kinds;
pub mod metrics;
pub mod output;
pub mod schema;
pub mod telemetry;
