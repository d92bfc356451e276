//! The commands of the binary: `validate`, `plan`, `apply` and `run`, each
//! returning the exit code of the contract.

use std::io::Write;

use anyhow::Context;

use crate::aws::{self, Aws};
use crate::cli::{Cli, Command, OutputFormat};
use crate::desired::{self, DesiredState, LoadErrors};
use crate::engine::{self, PassOptions, Refs};
use crate::kinds::{Kind, Mode};

/// Exit code: success (and, with `--detailed-exitcode`, no drift).
pub const EXIT_OK: u8 = 0;
/// Exit code: failure, invalid desired state, or a resource left in error.
pub const EXIT_ERROR: u8 = 1;
/// Exit code of `plan --detailed-exitcode` when drift was found.
pub const EXIT_DRIFT: u8 = 2;

/// Runs the command the command line asked for.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let global = cli.global;
    let verbose = global.verbose > 0;
    match cli.command {
        Command::Validate(args) => Ok(match load(&args.desired_state) {
            Some(state) => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{}", describe(&state, &args.desired_state))
                    .context("writing the result")?;
                EXIT_OK
            }
            None => EXIT_ERROR,
        }),
        Command::Plan(args) => {
            let Some(state) = load(&args.desired.desired_state) else {
                return Ok(EXIT_ERROR);
            };
            let aws = connect(global.region, global.endpoint_url).await;
            let opts = PassOptions {
                apply: false,
                mode: args.mode,
                owner: global.owner,
                prune: args.prune,
                max_prune: args.max_prune,
            };
            let report = pass(&aws, &state, &opts).await;
            let mut out = std::io::stdout().lock();
            match args.output {
                OutputFormat::Text => crate::output::write_plan_text(&mut out, &report, verbose),
                OutputFormat::Json => crate::output::write_json(&mut out, &report),
            }
            .context("writing the plan")?;
            out.flush().context("writing the plan")?;
            Ok(if report.has_errors() {
                EXIT_ERROR
            } else if args.detailed_exitcode && report.drift_found() {
                EXIT_DRIFT
            } else {
                EXIT_OK
            })
        }
        Command::Apply(args) => {
            let Some(state) = load(&args.desired.desired_state) else {
                return Ok(EXIT_ERROR);
            };
            let aws = connect(global.region, global.endpoint_url).await;
            let opts = PassOptions {
                apply: true,
                mode: args.change.mode,
                owner: global.owner,
                prune: args.change.prune,
                max_prune: args.change.max_prune,
            };
            if args.change.mode == Mode::Observe {
                tracing::info!("--mode observe: nothing will be changed");
            }
            let report = pass(&aws, &state, &opts).await;
            let mut out = std::io::stdout().lock();
            crate::output::write_apply_text(&mut out, &report, verbose)
                .and_then(|()| out.flush())
                .context("writing the apply report")?;
            Ok(if report.converged() {
                EXIT_OK
            } else {
                EXIT_ERROR
            })
        }
        Command::IamPolicy(args) => {
            let target = crate::iam::Target {
                partition: args.partition,
                region: global.region.unwrap_or_else(|| "*".into()),
                account: args.account_id.unwrap_or_else(|| "*".into()),
            };
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &crate::iam::policy(&target))
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
                .context("writing the policy")?;
            Ok(EXIT_OK)
        }
        Command::Schema => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &crate::schema::document_schema())
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
                .context("writing the schema")?;
            Ok(EXIT_OK)
        }
        Command::Run(_) => anyhow::bail!("`run` is not available in this build yet"),
    }
}

/// Loads the desired state, printing every problem on stderr when it is invalid.
fn load(dir: &std::path::Path) -> Option<DesiredState> {
    match desired::load(dir) {
        Ok(state) => Some(state),
        Err(LoadErrors(errors)) => {
            let mut err = std::io::stderr().lock();
            for e in &errors {
                let _ = writeln!(err, "{e}"); // stderr gone: nothing better to do
            }
            let _ = writeln!(
                err,
                "{}: {} in the desired state",
                dir.display(),
                if errors.len() == 1 {
                    "1 error".to_string()
                } else {
                    format!("{} errors", errors.len())
                }
            );
            None
        }
    }
}

/// `desired-state: valid: 12 resources (1 Topic, 9 Alarm, ...)`.
fn describe(state: &DesiredState, dir: &std::path::Path) -> String {
    let counts: Vec<String> = Kind::ALL
        .into_iter()
        .map(|k| (k, state.of_kind(k).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    format!(
        "{}: valid: {} resources ({})",
        dir.display(),
        state.resources.len(),
        counts.join(", ")
    )
}

async fn connect(region: Option<String>, endpoint_url: Option<String>) -> Aws {
    Aws::from_sdk_config(&aws::sdk_config(region, endpoint_url).await)
}

/// One pass over the whole desired state, then the prune step: what this
/// driftd owns and no longer declares is reported, and deleted with `--prune`.
/// The state was just loaded without error, so pruning may go ahead.
pub async fn pass(aws: &Aws, state: &DesiredState, opts: &PassOptions) -> engine::PassReport {
    let resources: Vec<_> = state.resources.iter().collect();
    let mut refs = Refs::default();
    let mut report = engine::reconcile(aws, &resources, &mut refs, opts).await;
    let orphans = engine::prune::prune(aws, state, engine::prune::Validity::Valid, opts).await;
    report.add_prune(orphans);
    report
}
