//! The black-box and emulator tests, in one binary so that the AWS SDKs are
//! linked once: each module starts its own moto on a free loopback port (and,
//! where it needs one, the real `driftd` binary), so they run in parallel.
//! `cargo test --test it MODULE::` runs one module.

mod common;

mod apply_alarms_topics;
mod change_events;
mod cloudwatch_alarms;
mod cloudwatch_dashboards;
mod converge;
mod daemon;
mod deploy;
mod ecs_services;
mod emulator_smoke;
mod environments;
mod events;
mod iam_policy;
mod lease;
mod plan_output;
mod proxy;
mod prune;
mod schema;
mod secrets;
mod sns_topics;
mod throttling;
