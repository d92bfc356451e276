//! One desired state, two accounts (section 8 of the contract), end to end
//! with the real binary against a private moto: `dev` in the ambient
//! account, `prod` in another one reached with `sts:AssumeRole` and an
//! external id. Created in both, drift in one found and corrected there,
//! a second apply that writes nothing, the account guard refusing an
//! environment whose credentials act elsewhere (while another environment
//! of the same run converges), and an unknown variable at its line.
//!
//! Where moto differs from real AWS: it files every call made with
//! assumed-role credentials under the role's account without checking that
//! the role exists or trusts the caller (so a second account needs no IAM
//! set-up here), and its GetCallerIdentity answers that account. Real STS
//! refuses an AssumeRole whose trust policy or external id does not match.

use crate::common;

use std::time::Duration;

use common::cloudwatch::{cpu_alarm, dimension, find_alarm, AlarmDoc};
use common::sqs::{cloudtrail, Sqs};
use common::{desired_dir, place_of, run, within, write_file, Moto, Run};
use serde_json::json;

/// moto's default account: what the ambient (dummy) credentials act in.
const DEV_ACCOUNT: &str = "123456789012";
const PROD_ACCOUNT: &str = "222222222222";

/// An Environment document: `name` in the account `account`, with the spec
/// lines `more` and the variable `cpu`.
fn environment(name: &str, account: &str, more: &str, cpu: u32) -> String {
    format!(
        "apiVersion: driftd/v1\nkind: Environment\nmetadata:\n  name: {name}\nspec:\n  \
         accountId: \"{account}\"\n{more}  vars: {{cpu: {cpu}}}\n"
    )
}

/// `dev` in the ambient account, `prod` in its own through a role.
fn environments() -> String {
    let role =
        format!("  roleArn: arn:aws:iam::{PROD_ACCOUNT}:role/driftd\n  externalId: driftd-prod\n");
    [
        environment("dev", DEV_ACCOUNT, "", 90),
        environment("prod", PROD_ACCOUNT, &role, 85),
    ]
    .join("---\n")
}

/// A topic and a CPU alarm that notifies it, named after each environment
/// (in a flow collection, a value with `${` is quoted).
fn monitoring() -> String {
    let topic = common::sns::topic_yaml("app-${env}-alerts", "App alerts (${env})");
    let alarm = AlarmDoc::cpu("app-${env}-cpu-high", "${vars.cpu}")
        .set(
            "dimensions",
            r#"{ClusterName: "app-${env}", ServiceName: api}"#,
        )
        .set("period", 300)
        .set("alarmActions", r#"["topic:app-${env}-alerts"]"#);
    format!("{topic}---\n{alarm}")
}

/// CloudWatch as the credentials of one account see it.
struct Account {
    cw: aws_sdk_cloudwatch::Client,
    sts: aws_sdk_sts::Client,
    sqs: Sqs,
}

impl Account {
    async fn ambient(moto: &Moto) -> Account {
        Account::of(&moto.sdk_config().await)
    }

    /// Through AssumeRole of the production role, as driftd does.
    async fn assumed(moto: &Moto) -> Account {
        let base = moto.sdk_config().await;
        let provider = aws_config::sts::AssumeRoleProvider::builder(format!(
            "arn:aws:iam::{PROD_ACCOUNT}:role/driftd"
        ))
        .session_name("driftd-tests")
        .external_id("driftd-prod")
        .configure(&base)
        .build()
        .await;
        let config = base
            .into_builder()
            .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(
                provider,
            ))
            .build();
        Account::of(&config)
    }

    fn of(config: &aws_config::SdkConfig) -> Account {
        Account {
            cw: aws_sdk_cloudwatch::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            sqs: Sqs::new(config),
        }
    }

    async fn account(&self) -> String {
        let id = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .expect("GetCallerIdentity");
        id.account().unwrap_or_default().to_string()
    }

    /// A console edit of `app-<env>-cpu-high`'s threshold, the rest of it
    /// as declared.
    async fn drift_threshold(&self, env: &str, account: &str, threshold: f64) {
        cpu_alarm(&self.cw, &format!("app-{env}-cpu-high"), 300, threshold)
            .dimensions(dimension("ClusterName", &format!("app-{env}")))
            .dimensions(dimension("ServiceName", "api"))
            .alarm_actions(format!("arn:aws:sns:us-east-1:{account}:app-{env}-alerts"))
            .send()
            .await
            .expect("drift the alarm");
    }

    /// Asserts that `app-<env>-cpu-high` is here with this threshold and
    /// notifies the topic `app-<env>-alerts` of `account`.
    async fn assert_alarm(&self, env: &str, account: &str, threshold: f64) {
        let (found, actions) = self
            .alarm(&format!("app-{env}-cpu-high"))
            .await
            .unwrap_or_else(|| panic!("{env} alarm"));
        assert_eq!(found, threshold);
        assert_eq!(
            actions,
            [format!("arn:aws:sns:us-east-1:{account}:app-{env}-alerts")]
        );
    }

    /// The alarm's threshold and actions, if the alarm exists here.
    async fn alarm(&self, name: &str) -> Option<(f64, Vec<String>)> {
        find_alarm(&self.cw, name).await.map(|a| {
            (
                a.threshold().unwrap_or_default(),
                a.alarm_actions().to_vec(),
            )
        })
    }
}

/// A desired-state directory of these Environment documents and resources.
fn desired_state(environments: &str, resources: &str) -> tempfile::TempDir {
    desired_dir(&[
        ("desired-state/environments.yaml", environments),
        ("desired-state/monitoring.yaml", resources),
    ])
}

fn assert_lines(out: &Run, lines: &[&str]) {
    for line in lines {
        assert!(out.stdout.contains(line), "{line:?} missing: {out:?}");
    }
}

/// (environment, name, the field `field` of the entry) of the JSON plan's
/// resources that `keep` keeps.
fn json_resources(
    out: &Run,
    keep: impl Fn(&serde_json::Value) -> bool,
    field: impl Fn(&serde_json::Value) -> &serde_json::Value,
) -> Vec<(String, String, String)> {
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON plan");
    doc["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter(|r| keep(r))
        .map(|r| {
            let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            (text(&r["environment"]), text(&r["name"]), text(field(r)))
        })
        .collect()
}

fn driftd(moto: &Moto, dir: &tempfile::TempDir, args: &[&str]) -> Run {
    run(moto
        .driftd()
        .args(args)
        .args(["--desired-state", "desired-state"])
        .current_dir(dir.path()))
}

#[tokio::test]
async fn one_desired_state_creates_and_corrects_in_two_accounts() {
    let moto = Moto::start();
    let dev = Account::ambient(&moto).await;
    let prod = Account::assumed(&moto).await;
    // The emulator files assumed-role calls under the role's account.
    assert_eq!(dev.account().await, DEV_ACCOUNT);
    assert_eq!(prod.account().await, PROD_ACCOUNT);
    let dir = desired_state(&environments(), &monitoring());

    let out = driftd(&moto, &dir, &["apply"]).expect_code(0);
    assert_lines(
        &out,
        &[
            "+ [dev] Topic app-dev-alerts: created",
            "+ [dev] Alarm app-dev-cpu-high: created",
            "+ [prod] Topic app-prod-alerts: created",
            "+ [prod] Alarm app-prod-cpu-high: created",
        ],
    );
    // Each environment's resources are in its own account, and only there;
    // the alarm names its own account's topic.
    dev.assert_alarm("dev", DEV_ACCOUNT, 90.0).await;
    prod.assert_alarm("prod", PROD_ACCOUNT, 85.0).await;
    assert_eq!(dev.alarm("app-prod-cpu-high").await, None);
    assert_eq!(prod.alarm("app-dev-cpu-high").await, None);

    // A console edit in production: found there, and only there.
    prod.drift_threshold("prod", PROD_ACCOUNT, 99.0).await;
    let plan = driftd(&moto, &dir, &["plan", "--detailed-exitcode"]).expect_code(2);
    plan.assert_stdout_contains("~ [prod] Alarm app-prod-cpu-high\n    threshold: 99 → 85\n");
    plan.assert_stdout_lacks("[dev] Alarm");

    let json = driftd(&moto, &dir, &["plan", "--output", "json"]);
    let drifted = json_resources(&json, |r| r["action"] != "in_sync", |r| &r["action"]);
    assert_eq!(
        drifted,
        [("prod".into(), "app-prod-cpu-high".into(), "update".into())],
        "{json:?}"
    );

    let out = driftd(&moto, &dir, &["apply"]).expect_code(0);
    out.assert_stdout_contains("~ [prod] Alarm app-prod-cpu-high: corrected");
    assert_eq!(
        prod.alarm("app-prod-cpu-high").await.map(|a| a.0),
        Some(85.0)
    );
    let again = driftd(&moto, &dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "nothing left to do: {again:?}");

    // --env limits a command to one environment.
    let only_dev = driftd(&moto, &dir, &["plan", "--env", "dev", "-v"]).expect_code(0);
    only_dev.assert_stdout_contains("[dev] Alarm app-dev-cpu-high");
    only_dev.assert_stdout_lacks("[prod]");
}

#[tokio::test]
async fn the_account_guard_refuses_an_environment_whose_credentials_act_elsewhere() {
    let moto = Moto::start();
    let ambient = Account::ambient(&moto).await;
    // `staging` says it is account 333333333333, but without a role its
    // calls go out with the ambient credentials, which act in moto's
    // default account: driftd must write nothing there.
    let environments = [
        environment("dev", DEV_ACCOUNT, "", 90),
        environment("staging", "333333333333", "", 80),
    ]
    .join("---\n");
    let dir = desired_state(&environments, &monitoring());
    let out = driftd(&moto, &dir, &["apply"]).expect_code(1);
    assert_lines(
        &out,
        &[
            "! [staging] Topic app-staging-alerts: error",
            "! [staging] Alarm app-staging-cpu-high: error",
        ],
    );
    out.assert_stdout_contains(
        "error (account_mismatch): environment staging declares account 333333333333, but \
         its credentials act in account 123456789012: nothing is done there",
    );
    // The other environment is not held up.
    out.assert_stdout_contains("+ [dev] Alarm app-dev-cpu-high: created");
    assert!(ambient.alarm("app-dev-cpu-high").await.is_some());
    assert_eq!(ambient.alarm("app-staging-cpu-high").await, None);

    // JSON says which environment and why.
    let plan = driftd(&moto, &dir, &["plan", "--output", "json"]).expect_code(1);
    let reasons = json_resources(
        &plan,
        |r| r["environment"] == "staging",
        |r| &r["error"]["reason"],
    );
    let mismatch = |name: &str| ("staging".into(), name.into(), "account_mismatch".into());
    assert_eq!(
        reasons,
        [
            mismatch("app-staging-alerts"),
            mismatch("app-staging-cpu-high")
        ]
    );
}

#[test]
fn an_unknown_variable_is_reported_at_its_line_and_nothing_is_done() {
    let moto = Moto::start();
    let monitoring = monitoring().replace("${vars.cpu}", "${vars.cpuu}");
    let dir = desired_state(&environments(), &monitoring);
    let out = driftd(&moto, &dir, &["apply"]).expect_code(1);
    let place = place_of(&monitoring, "threshold: ${vars.cpuu}");
    assert!(
        out.stderr.starts_with(&format!(
            "desired-state/monitoring.yaml:{place}: Alarm app-${{env}}-cpu-high: spec.threshold: \
             unknown variable ${{vars.cpuu}} in environment dev"
        )),
        "{out:?}"
    );
    assert!(out.stdout.is_empty(), "{out:?}");
}

#[tokio::test]
async fn the_daemon_keeps_both_accounts_in_sync_and_labels_everything_with_its_environment() {
    let moto = Moto::start();
    let prod = Account::assumed(&moto).await;
    let dir = desired_state(&environments(), &monitoring());
    let driftd =
        common::driftd::Daemon::start(moto.driftd(), &dir.path().join("desired-state"), "1s", &[]);
    driftd.wait_ready();

    let status = driftd.status();
    let entries: Vec<(String, String)> = status["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| {
            let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            (text(&r["environment"]), text(&r["name"]))
        })
        .collect();
    let entry = |env: &str, name: &str| (env.to_string(), name.to_string());
    assert_eq!(
        entries,
        [
            entry("dev", "app-dev-alerts"),
            entry("dev", "app-dev-cpu-high"),
            entry("prod", "app-prod-alerts"),
            entry("prod", "app-prod-cpu-high"),
        ],
        "{status:#}"
    );
    for env in ["dev", "prod"] {
        let series = format!(
            "driftd_resource_in_sync{{env=\"{env}\",kind=\"Alarm\",name=\"app-{env}-cpu-high\"}}"
        );
        assert_eq!(driftd.metric(&series), Some(1.0), "{series}");
        let series =
            format!("driftd_resources{{env=\"{env}\",kind=\"Alarm\",state=\"corrected\"}}");
        assert_eq!(driftd.metric(&series), Some(1.0), "{series}");
    }

    // A console edit in production is put back at the next resync.
    prod.drift_threshold("prod", PROD_ACCOUNT, 99.0).await;
    let corrected = "driftd_drift_corrected_total{env=\"prod\",kind=\"Alarm\"}";
    driftd.wait(Duration::from_secs(15), "prod alarm corrected", || {
        driftd.metric(corrected) >= Some(2.0)
    });
    assert_eq!(
        prod.alarm("app-prod-cpu-high").await.map(|a| a.0),
        Some(85.0)
    );
    assert_eq!(
        driftd.metric("driftd_drift_corrected_total{env=\"dev\",kind=\"Alarm\"}"),
        Some(1.0),
        "dev was not touched again"
    );
}

/// The event of a console edit of `app-<env>-cpu-high` in `account`.
fn alarm_event(env: &str, account: &str) -> String {
    cloudtrail(
        account,
        "monitoring.amazonaws.com",
        "PutMetricAlarm",
        json!({"alarmName": format!("app-{env}-cpu-high")}),
    )
}

/// `eventsQueueUrl` in an environment's spec (after its `accountId`).
fn with_queue(environments: &str, account: &str, url: &str) -> String {
    let line = format!("  accountId: \"{account}\"\n");
    environments.replace(&line, &format!("{line}  eventsQueueUrl: {url}\n"))
}

#[tokio::test]
async fn each_environment_reads_its_own_events_queue_and_a_reload_changes_which() {
    let moto = Moto::start();
    let dev = Account::ambient(&moto).await;
    let prod = Account::assumed(&moto).await;
    // One queue per account (each account's EventBridge rule feeds its own),
    // created with that account's credentials: only those can read it.
    let dev_queue = dev.sqs.create("driftd-events").await;
    let prod_queue = prod.sqs.create("driftd-events").await;
    assert!(prod_queue.contains(PROD_ACCOUNT), "{prod_queue}");
    assert!(dev_queue.contains(DEV_ACCOUNT), "{dev_queue}");
    let environments = with_queue(&environments(), PROD_ACCOUNT, &prod_queue);
    let dir = desired_state(&environments, &monitoring());
    let files = dir.path().join("desired-state");
    let driftd = common::driftd::Daemon::start(moto.driftd(), &files, "10m", &[]);
    driftd.wait_ready();
    driftd.wait(Duration::from_secs(10), "prod's queue listened to", || {
        driftd.logs().contains(&prod_queue)
    });

    // A console edit in prod and its event, in prod's queue.
    prod.drift_threshold("prod", PROD_ACCOUNT, 99.0).await;
    prod.sqs
        .send(&prod_queue, &alarm_event("prod", PROD_ACCOUNT))
        .await;
    within(Duration::from_secs(2), "prod corrected", || async {
        prod.alarm("app-prod-cpu-high").await.map(|a| a.0) == Some(85.0)
    })
    .await;
    within(Duration::from_secs(5), "prod's queue emptied", || async {
        prod.sqs.in_queue(&prod_queue).await == 0
    })
    .await;

    // dev has no queue yet: its event waits in its queue, unread.
    dev.drift_threshold("dev", DEV_ACCOUNT, 99.0).await;
    dev.sqs
        .send(&dev_queue, &alarm_event("dev", DEV_ACCOUNT))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(dev.alarm("app-dev-cpu-high").await.map(|a| a.0), Some(99.0));

    // An edit of the files gives dev its queue and takes prod's away.
    let both = with_queue(&environments, DEV_ACCOUNT, &dev_queue);
    let dev_only = both.replace(&format!("  eventsQueueUrl: {prod_queue}\n"), "");
    write_file(&files, "environments.yaml", &dev_only);
    // Its event, still waiting, is read as soon as the queue is.
    within(Duration::from_secs(10), "dev corrected", || async {
        dev.alarm("app-dev-cpu-high").await.map(|a| a.0) == Some(90.0)
    })
    .await;
    driftd.wait(Duration::from_secs(5), "prod's queue let go", || {
        driftd
            .logs()
            .contains("no longer listening to this events queue")
    });
    driftd.wait(Duration::from_secs(5), "both events handled", || {
        driftd.metric("driftd_events_received_total{outcome=\"matched\"}") == Some(2.0)
    });
    within(Duration::from_secs(5), "dev's queue emptied", || async {
        dev.sqs.in_queue(&dev_queue).await == 0
    })
    .await;
    // Only the events did it: the interval is 10 minutes.
    assert_eq!(
        driftd.metric("driftd_pass_duration_seconds_count"),
        Some(1.0)
    );
}
