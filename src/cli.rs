//! The command line: clap derive, every flag also readable from `DRIFTD_*`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::engine::events::Target;
use crate::kinds::Mode;

/// driftd keeps CloudWatch alarms and dashboards, SNS topics, Secrets Manager
/// secrets and ECS service counts as declared in YAML, and reports the drift.
#[derive(Debug, Parser)]
#[command(name = "driftd", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct Global {
    /// AWS region (default: the standard AWS configuration chain).
    #[arg(long, global = true, env = "DRIFTD_REGION")]
    pub region: Option<String>,
    /// Send AWS requests to this endpoint (an emulator); `AWS_ENDPOINT_URL` works too.
    #[arg(long, global = true, env = "DRIFTD_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// The value of the `driftd:owner` tag this process writes and honours.
    #[arg(long, global = true, env = "DRIFTD_OWNER", default_value = "driftd")]
    pub owner: String,
    /// Log format on stderr.
    #[arg(long, global = true, env = "DRIFTD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More output: in-sync resources in plans; debug logs unless `RUST_LOG` says otherwise.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Pace of AWS calls, `service[.Operation]=N` calls a second (repeatable;
    /// e.g. `cloudwatch.PutMetricAlarm=20` for raised quotas or an emulator).
    /// Default: a bit below each operation's documented quota.
    #[arg(
        long = "aws-max-rps",
        global = true,
        env = "DRIFTD_AWS_MAX_RPS",
        value_delimiter = ',',
        value_name = "SERVICE[.OP]=N"
    )]
    pub aws_max_rps: Vec<crate::aws::pace::Rate>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the desired-state files without calling AWS.
    Validate(EnvArgs),
    /// Print the effective documents of each environment as YAML, with
    /// their variables replaced (secret values are never read).
    Render(EnvArgs),
    /// Read AWS and print what `apply` would change; changes nothing.
    Plan(PlanArgs),
    /// One full pass: read AWS, correct drift, print what was done.
    Apply(ApplyArgs),
    /// The daemon: reconcile continuously and serve metrics and health.
    Run(RunArgs),
    /// Print the least-privilege IAM policy driftd needs, as JSON.
    IamPolicy(IamPolicyArgs),
    /// Print the JSON Schema of desired-state documents, for editors.
    Schema,
}

#[derive(Debug, Args)]
pub struct IamPolicyArgs {
    /// Scope resource ARNs to this account (default: any account).
    #[arg(long, env = "DRIFTD_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// The AWS partition of the ARNs.
    #[arg(long, env = "DRIFTD_PARTITION", default_value = "aws")]
    pub partition: String,
    /// Also allow `sts:AssumeRole` of this role (an Environment's `roleArn`;
    /// repeatable). The role itself needs this policy without the flag,
    /// generated with `--account-id` of its account.
    #[arg(long = "assume-role", value_name = "ROLE_ARN")]
    pub assume_roles: Vec<String>,
    /// Also allow the lease item's calls on this DynamoDB table
    /// (`run --lease-table`).
    #[arg(long, env = "DRIFTD_LEASE_TABLE")]
    pub lease_table: Option<String>,
    /// Also allow receiving and deleting the messages of this queue (`run
    /// --events-queue`; its URL or ARN).
    #[arg(long, env = "DRIFTD_EVENTS_QUEUE", value_name = "URL")]
    pub events_queue: Option<String>,
}

#[derive(Debug, Args)]
pub struct DesiredArgs {
    /// Directory of desired-state YAML files (read recursively).
    #[arg(long, env = "DRIFTD_DESIRED_STATE", default_value = "desired-state")]
    pub desired_state: PathBuf,
}

/// The desired state, and the environments of it a command is limited to.
#[derive(Debug, Args)]
pub struct EnvArgs {
    #[command(flatten)]
    pub desired: DesiredArgs,
    /// Only this environment (repeatable; default: every environment).
    #[arg(long = "env", value_name = "NAME")]
    pub env: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub desired: EnvArgs,
    /// Exit 0 when nothing drifted, 2 when something did, 1 on error.
    #[arg(long, env = "DRIFTD_DETAILED_EXITCODE")]
    pub detailed_exitcode: bool,
    /// Output format.
    #[arg(long, env = "DRIFTD_OUTPUT", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Plan as this mode would act (observe-mode resources are reported, not planned for change).
    #[arg(long, env = "DRIFTD_MODE", value_enum, default_value_t = Mode::Enforce)]
    pub mode: Mode,
    // `plan` plans the deletions `apply` would make with these.
    #[command(flatten)]
    pub prune: PruneArgs,
}

/// When owned resources that left the desired state are deleted.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Delete owned resources that left the desired state (without it,
    /// orphans are only reported).
    #[arg(long, env = "DRIFTD_PRUNE")]
    pub prune: bool,
    /// Refuse to prune when a pass would delete more than this many resources.
    #[arg(long, env = "DRIFTD_MAX_PRUNE", default_value_t = 10)]
    pub max_prune: usize,
    /// Let a desired state with no resources at all prune what it no longer
    /// declares (by default an empty checkout or mount deletes nothing).
    #[arg(long, env = "DRIFTD_ALLOW_EMPTY")]
    pub allow_empty: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub desired: EnvArgs,
    #[command(flatten)]
    pub change: ChangeArgs,
}

/// Options of the commands that may change AWS.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// `observe` changes nothing, whatever a resource says.
    #[arg(long, env = "DRIFTD_MODE", value_enum, default_value_t = Mode::Enforce)]
    pub mode: Mode,
    #[command(flatten)]
    pub prune: PruneArgs,
    /// Publish drift events (a JSON message when a resource starts drifting
    /// and one when it is back in sync) to this SNS topic: an ARN, or
    /// `topic:<name>` for a Topic of the desired state.
    #[arg(long, env = "DRIFTD_EVENTS_TOPIC")]
    pub events_topic: Option<Target>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub desired: EnvArgs,
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Time between full resyncs (e.g. `30s`, `5m`), with a little jitter.
    #[arg(long, env = "DRIFTD_INTERVAL", default_value = "60s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Address of the `/metrics`, `/healthz`, `/readyz` and `/status` server.
    #[arg(long, env = "DRIFTD_METRICS_ADDR", default_value = "0.0.0.0:9477")]
    pub metrics_addr: SocketAddr,
    /// SQS queue an EventBridge rule feeds with AWS's change events: the
    /// resource an event names is reconciled at once (the interval resync
    /// stays, as the safety net).
    #[arg(long, env = "DRIFTD_EVENTS_QUEUE", value_name = "URL")]
    pub events_queue: Option<String>,
    /// DynamoDB table for leader election between replicas (String
    /// partition key `id`); without it, run a single replica.
    #[arg(long, env = "DRIFTD_LEASE_TABLE")]
    pub lease_table: Option<String>,
    /// How long the leader may go without renewing its lease before another
    /// replica takes over (it renews every third of it).
    #[arg(long, env = "DRIFTD_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn interval_takes_humane_durations() {
        let cli = Cli::try_parse_from(["driftd", "run", "--interval", "5m"]).unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run")
        };
        assert_eq!(run.interval, Duration::from_secs(300));
    }

    #[test]
    fn events_topic_is_an_arn_or_a_topic_reference() {
        let cli =
            Cli::try_parse_from(["driftd", "apply", "--events-topic", "topic:drift"]).unwrap();
        let Command::Apply(apply) = cli.command else {
            panic!("not apply")
        };
        assert_eq!(
            apply.change.events_topic,
            Some(Target::Topic("drift".into()))
        );
        let err = Cli::try_parse_from(["driftd", "run", "--events-topic", "drift"]).unwrap_err();
        assert!(err.to_string().contains("topic:<name>"), "{err}");
    }
}
