//! Pruning through the real binary against a private moto: orphans reported
//! by `plan` and `apply`, deleted only with `--prune` and only when every guard
//! allows it, found without a call per resource (counted by the recording
//! proxy).
//!
//! Where moto differs from real AWS (see moto/cloudwatch/models.py,
//! moto/secretsmanager/models.py):
//! * `DeleteAlarms` leaves the alarm's tags behind in moto's tagger, so an
//!   alarm re-created under the same name would get them back; `GetResources`
//!   lists only alarms that exist, so a deleted alarm is never reported. The
//!   tests below never re-create a deleted alarm.
//! * moto cannot tag dashboards (real CloudWatch can, and the `driftd:owner`
//!   tag is the proof of ownership there): the dashboards these tests prune
//!   ask for the notice widget, whose marker is the proof an endpoint
//!   without dashboard tags has; one without it is never pruned here.
//! * moto's `DescribeSecret` reports the date a scheduled deletion will happen
//!   as `DeletedDate` (deletion request + recovery window), which lets the
//!   window driftd asked for be read back.

use crate::common;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::cloudwatch::{alarm_names, errors_alarm, errors_alarm_yaml, tag};
use common::proxy::Proxy;
use common::{desired_dir, run_with_dir, write_file, Clients, Moto, Run};

const HEADER: &str = "apiVersion: driftd/v1";

fn alarm(name: &str, actions: &[&str]) -> String {
    format!(
        "{}  alarmActions: [{}]\n",
        errors_alarm_yaml(name, "App", 5),
        actions.join(", ")
    )
}

fn topic(name: &str, subscriptions: &[&str]) -> String {
    let subs: Vec<String> = subscriptions
        .iter()
        .map(|e| format!("{{protocol: sqs, endpoint: \"{e}\"}}"))
        .collect();
    format!(
        "{HEADER}\nkind: Topic\nmetadata: {{name: {name}}}\nspec:\n  subscriptions: [{}]\n",
        subs.join(", ")
    )
}

/// A dashboard with the notice widget (see the module comment for why).
fn dashboard(name: &str) -> String {
    format!("{}  notice: true\n", plain_dashboard(name))
}

/// A dashboard exactly as declared, without the notice widget.
fn plain_dashboard(name: &str) -> String {
    common::cloudwatch::text_dashboard_yaml(name, name)
}

fn secret(name: &str, recovery_window_days: i64) -> String {
    format!(
        "{HEADER}\nkind: Secret\nmetadata: {{name: {name}}}\nspec:\n  \
         initialValue: {{placeholderKeys: [KEY]}}\n  recoveryWindowDays: {recovery_window_days}\n"
    )
}

fn docs(documents: &[String]) -> String {
    documents.join("---\n")
}

/// This file's moto, the recording proxy in front of it, and clients on moto.
struct Env {
    moto: Moto,
    proxy: Proxy,
    aws: Aws,
}

impl Env {
    /// Runs `driftd <args> --desired-state <dir>` through the proxy.
    fn driftd(&self, dir: &Path, args: &[&str]) -> Run {
        run_with_dir(self.proxy.driftd(&self.moto), args, dir)
    }

    async fn start() -> Env {
        let moto = Moto::start();
        let proxy = Proxy::start(&moto);
        let aws = Aws::of(&moto).await;
        Env { moto, proxy, aws }
    }

    /// Replaces the desired state with these files, and forgets the calls
    /// recorded so far.
    fn rewrite(&self, dir: &Path, files: &[(&str, &str)]) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                std::fs::remove_file(path).expect("remove file");
            }
        }
        for (name, text) in files {
            write_file(dir, name, text);
        }
        self.proxy.reset();
    }

    /// Applies `n` alarms without actions, `prefix-01`..., then empties the
    /// desired state; gives it and the alarms' names.
    fn applied_then_emptied(&self, prefix: &str, n: usize) -> (tempfile::TempDir, Vec<String>) {
        let names: Vec<String> = (1..=n).map(|i| format!("{prefix}-{i:02}")).collect();
        let alarms: Vec<String> = names.iter().map(|n| alarm(n, &[])).collect();
        let dir = desired_dir(&[("alarms.yaml", &docs(&alarms))]);
        self.driftd(dir.path(), &["apply"]).expect_code(0);
        self.rewrite(dir.path(), &[]);
        (dir, names)
    }

    /// A plan and an apply with `flags` both refuse to prune with `refusal`
    /// (an error, logged by the apply), and the alarms `names` are all still
    /// there; gives the plan to look at further.
    async fn assert_refused(
        &self,
        dir: &Path,
        flags: &[&str],
        refusal: &str,
        names: &[String],
    ) -> Run {
        let plan = self.driftd(dir, &[&["plan"], flags].concat());
        assert_eq!(plan.code, 1, "a refused prune is an error: {plan:?}");
        plan.assert_stdout_contains(&format!("! {refusal}"));
        let apply = self
            .driftd(dir, &[&["apply"], flags].concat())
            .expect_code(1);
        apply.assert_stdout_contains(&format!("! {refusal}"));
        assert!(apply.stderr.contains(refusal), "logged too: {apply:?}");
        self.proxy.assert_no_writes("a refused prune");
        assert_eq!(self.aws.alarms().await, names);
        plan
    }

    /// An apply with `args` deletes every alarm, in one call.
    async fn assert_deletes_the_alarms(&self, dir: &Path, args: &[&str]) {
        self.driftd(dir, args).expect_code(0);
        assert_eq!(writes(&self.proxy), ["DeleteAlarms"]);
        assert!(self.aws.alarms().await.is_empty());
    }
}

/// The names of the writes AWS accepted, in order. A call the SDK retried
/// (a 5xx from an emulator under load) shows once.
fn writes(proxy: &Proxy) -> Vec<String> {
    proxy
        .writes()
        .iter()
        .filter(|c| c.status < 300)
        .map(|c| c.op().to_string())
        .collect()
}

/// The names of the calls AWS answered, sorted.
fn answered(proxy: &Proxy) -> Vec<String> {
    sorted(
        proxy
            .calls()
            .iter()
            .filter(|c| c.status < 300)
            .map(|c| c.op().to_string())
            .collect(),
    )
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The shared clients, with this file's look-ups and arrangements.
struct Aws(Clients);

impl Aws {
    async fn of(moto: &Moto) -> Aws {
        Aws(Clients::of(moto).await)
    }

    async fn alarms(&self) -> Vec<String> {
        sorted(alarm_names(&self.cloudwatch).await)
    }

    async fn topics(&self) -> Vec<String> {
        let out = self.sns.list_topics().send().await.expect("list topics");
        sorted(
            out.topics()
                .iter()
                .filter_map(|t| t.topic_arn())
                .map(|arn| arn.rsplit(':').next().unwrap_or(arn).to_string())
                .collect(),
        )
    }

    async fn dashboards(&self) -> Vec<String> {
        let out = self
            .cloudwatch
            .list_dashboards()
            .send()
            .await
            .expect("list dashboards");
        sorted(
            out.dashboard_entries()
                .iter()
                .filter_map(|d| d.dashboard_name().map(str::to_string))
                .collect(),
        )
    }

    async fn subscriptions(&self, topic: &str) -> Vec<String> {
        let arn = format!("arn:aws:sns:us-east-1:123456789012:{topic}");
        let subscribed = common::sns::subscribed(&self.sns, &arn).await;
        sorted(
            subscribed
                .into_iter()
                .map(|(_, endpoint)| endpoint)
                .collect(),
        )
    }

    /// `None` when the secret does not exist; its `DeletedDate` otherwise.
    async fn secret(&self, name: &str) -> Option<Option<aws_smithy_types::DateTime>> {
        match self.secrets.describe_secret().secret_id(name).send().await {
            Ok(out) => Some(out.deleted_date().copied()),
            Err(e) => {
                let code = e.as_service_error().and_then(|e| {
                    aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(e).map(str::to_string)
                });
                assert_eq!(code.as_deref(), Some("ResourceNotFoundException"), "{e:?}");
                None
            }
        }
    }

    async fn subscribe(&self, topic: &str, endpoint: &str) {
        common::sns::subscribe(
            &self.sns,
            &format!("arn:aws:sns:us-east-1:123456789012:{topic}"),
            "sqs",
            endpoint,
        )
        .await;
    }

    async fn put_alarm(&self, name: &str, tags: &[(&str, &str)], actions: &[String]) {
        let tags = tags.iter().map(|(k, v)| tag(k, v)).collect();
        errors_alarm(&self.cloudwatch, name, "App", 5.0)
            .set_alarm_actions((!actions.is_empty()).then(|| actions.to_vec()))
            .set_tags(Some(tags))
            .send()
            .await
            .expect("put alarm by hand");
    }

    async fn put_topic(&self, name: &str, tags: &[(&str, &str)]) {
        let tags = tags.iter().map(|(k, v)| common::sns::tag(k, v)).collect();
        self.sns
            .create_topic()
            .name(name)
            .set_tags(Some(tags))
            .send()
            .await
            .expect("create topic by hand");
    }

    async fn put_secret(&self, name: &str, tags: &[(&str, &str)]) {
        let tags = tags
            .iter()
            .map(|(k, v)| {
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key(*k)
                    .value(*v)
                    .build()
            })
            .collect();
        self.secrets
            .create_secret()
            .name(name)
            .secret_string("{}")
            .set_tags(Some(tags))
            .send()
            .await
            .expect("create secret by hand");
    }

    async fn put_dashboard(&self, name: &str, body: &serde_json::Value) {
        common::cloudwatch::put_dashboard(&self.cloudwatch, name, &body.to_string()).await;
    }
}

// The shared clients' fields (`self.cloudwatch`, `self.sns`, ...) read through.
impl std::ops::Deref for Aws {
    type Target = Clients;
    fn deref(&self) -> &Clients {
        &self.0
    }
}

fn topic_arn(name: &str) -> String {
    format!("arn:aws:sns:us-east-1:123456789012:{name}")
}

const KEEP: &str = "arn:aws:sqs:us-east-1:123456789012:keep";
const EXTRA: &str = "arn:aws:sqs:us-east-1:123456789012:extra";

#[tokio::test]
async fn resources_removed_from_the_files_are_orphaned_then_pruned() {
    let env = Env::start().await;
    let all = [
        (
            "topics.yaml",
            docs(&[topic("p-alerts", &[KEEP]), topic("p-old", &[])]),
        ),
        (
            "alarms.yaml",
            docs(&[
                alarm("p-a1", &["topic:p-alerts"]),
                alarm("p-a2", &["topic:p-old"]),
                alarm("p-a3", &[]),
            ]),
        ),
        ("dashboards.yaml", dashboard("p-main")),
        (
            "secrets.yaml",
            docs(&[secret("p/week", 7), secret("p/now", 0)]),
        ),
    ];
    let files: Vec<(&str, &str)> = all.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let dir = desired_dir(&files);
    env.driftd(dir.path(), &["apply"]).expect_code(0);
    env.aws.subscribe("p-alerts", EXTRA).await;

    // The files now keep one topic (its extra subscription gone from AWS
    // only with --prune) and the alarm that notifies it.
    let kept = [
        ("topics.yaml", topic("p-alerts", &[KEEP])),
        ("alarms.yaml", alarm("p-a1", &["topic:p-alerts"])),
    ];
    env.rewrite(
        dir.path(),
        &kept
            .iter()
            .map(|(n, t)| (*n, t.as_str()))
            .collect::<Vec<_>>(),
    );

    let plan = env.driftd(dir.path(), &["plan"]).expect_code(0);
    for line in [
        "? Alarm p-a2",
        "? Alarm p-a3",
        "? Topic p-old",
        "? Dashboard p-main",
        "? Secret p/week",
        "? Secret p/now",
        "    note: not in the desired state: only --prune deletes it",
        "Plan: 0 to create, 1 to update, 0 to delete, 0 errors, 6 orphaned.",
    ] {
        assert!(plan.stdout.contains(line), "{line:?} in\n{plan:?}");
    }

    let pruning_plan = env
        .driftd(dir.path(), &["plan", "--prune", "--detailed-exitcode"])
        .expect_code(2);
    for line in [
        "- Alarm p-a2",
        "- Alarm p-a3",
        "- Topic p-old",
        "    note: named by alarm p-a2, deleted first",
        "- Dashboard p-main",
        "- Secret p/week",
        "    note: restorable for 7 days after deletion",
        "- Secret p/now",
        "    note: deleted at once, without recovery (recoveryWindowDays: 0)",
        &format!("    subscriptions: sqs:{EXTRA} → (none)"),
        "Plan: 0 to create, 1 to update, 6 to delete, 0 errors.",
    ] {
        assert!(
            pruning_plan.stdout.contains(line),
            "{line:?} in\n{pruning_plan:?}"
        );
    }
    env.proxy.assert_no_writes("a plan");

    // Without --prune: orphans stay, and so does the extra subscription —
    // drift apply may not correct, so it exits 1.
    let apply = env.driftd(dir.path(), &["apply"]).expect_code(1);
    apply.assert_stdout_contains("? Alarm p-a2: orphaned");
    assert!(apply.stdout.ends_with(", 6 orphaned.\n"), "{apply:?}");
    env.proxy.assert_no_writes("the apply");

    let pruned = env.driftd(dir.path(), &["apply", "--prune"]).expect_code(0);
    pruned.assert_stdout_contains("- Alarm p-a2: deleted");
    pruned.assert_stdout_contains("- Secret p/now: deleted");
    pruned.assert_stdout_contains(
        "Apply: 0 created, 1 corrected, 0 observed, 0 errors, 1 in sync, 6 deleted.",
    );
    assert_eq!(
        sorted(writes(&env.proxy)),
        [
            "DeleteAlarms",
            "DeleteDashboards",
            "DeleteSecret",
            "DeleteSecret",
            "DeleteTopic",
            "Unsubscribe"
        ],
        "the alarms go in one DeleteAlarms call"
    );
    let order = writes(&env.proxy);
    let position = |op: &str| order.iter().position(|w| w == op).expect(op);
    assert!(
        position("DeleteAlarms") < position("DeleteTopic"),
        "the alarm naming the topic goes first: {order:?}"
    );

    assert_eq!(env.aws.alarms().await, ["p-a1"]);
    assert_eq!(env.aws.topics().await, ["p-alerts"]);
    assert_eq!(env.aws.subscriptions("p-alerts").await, [KEEP]);
    assert!(env.aws.dashboards().await.is_empty());
    assert_eq!(
        env.aws.secret("p/now").await,
        None,
        "deleted without recovery"
    );
    let deletion = env
        .aws
        .secret("p/week")
        .await
        .expect("scheduled, still there")
        .expect("scheduled for deletion");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let window = Duration::from_secs((deletion.secs() - now).max(0) as u64);
    assert!(
        (Duration::from_secs(7 * 86_400 - 600)..=Duration::from_secs(7 * 86_400 + 600))
            .contains(&window),
        "deleted with a 7-day recovery window (moto's DeletedDate): {window:?}"
    );

    for call in env.proxy.calls() {
        let action = driftd::iam::action_of(call.service.as_deref().unwrap_or_default(), call.op());
        assert!(
            driftd::iam::allows(&action),
            "{action} is not in the IAM policy"
        );
    }

    env.proxy.reset();
    let again = env.driftd(dir.path(), &["apply", "--prune"]).expect_code(0);
    env.proxy.assert_no_writes("the apply");
    assert!(
        again
            .stdout
            .contains("Apply: 0 created, 0 corrected, 0 observed, 0 errors, 2 in sync."),
        "nothing left to prune, the scheduled secret included: {again:?}"
    );
}

#[tokio::test]
async fn more_deletions_than_max_prune_delete_nothing_and_say_why() {
    let env = Env::start().await;
    // An edit that drops every alarm, by mistake; with --allow-empty, so
    // that the guard seen here is --max-prune's.
    let (dir, names) = env.applied_then_emptied("m", 11);

    let refusal =
        "pruning refused: this pass would delete 11 resources, more than --max-prune 10; \
                   nothing is deleted (if these deletions are intended, raise --max-prune)";
    let plan = env
        .assert_refused(dir.path(), &["--prune", "--allow-empty"], refusal, &names)
        .await;
    assert!(
        plan.stdout.contains(
            "? Alarm m-01: orphaned\n    note: would be deleted, but pruning is refused in this pass (more than --max-prune)"
        ),
        "the would-be deletions are listed: {plan:?}"
    );
    plan.assert_stdout_contains(
        "Plan: 0 to create, 0 to update, 0 to delete, 1 error, 11 orphaned.",
    );

    env.assert_deletes_the_alarms(
        dir.path(),
        &["apply", "--prune", "--allow-empty", "--max-prune", "11"],
    )
    .await;
}

#[tokio::test]
async fn an_emptied_desired_state_deletes_nothing_unless_allowed() {
    let env = Env::start().await;
    // `rm desired-state/*`, an empty checkout, a ConfigMap mounted empty.
    let (dir, names) = env.applied_then_emptied("e", 3);

    let refusal = "pruning refused: the desired state declares no resources (an empty checkout \
                   or mount?); 3 resources are kept (give --allow-empty if deleting everything is intended)";
    env.assert_refused(dir.path(), &["--prune"], refusal, &names)
        .await;

    env.assert_deletes_the_alarms(dir.path(), &["apply", "--prune", "--allow-empty"])
        .await;
}

#[tokio::test]
async fn a_topic_an_alarm_still_names_is_never_pruned() {
    let env = Env::start().await;
    let dir = desired_dir(&[
        (
            "topics.yaml",
            &docs(&[
                topic("r-by-file", &[]),
                topic("r-by-hand", &[]),
                topic("r-unused", &[]),
            ]),
        ),
        ("alarms.yaml", &alarm("r-cpu", &["topic:r-by-file"])),
    ]);
    env.driftd(dir.path(), &["apply"]).expect_code(0);
    // An alarm driftd does not manage notifies another of the topics.
    env.aws
        .put_alarm("r-made-by-hand", &[], &[topic_arn("r-by-hand")])
        .await;
    // The topics leave the files; the declared alarm keeps naming one, now by ARN.
    env.rewrite(
        dir.path(),
        &[("alarms.yaml", &alarm("r-cpu", &[&topic_arn("r-by-file")]))],
    );

    let apply = env.driftd(dir.path(), &["apply", "--prune"]).expect_code(0);
    for line in [
        "? Topic r-by-file: orphaned\n    note: not pruned: still named in the actions of alarm r-cpu",
        "? Topic r-by-hand: orphaned\n    note: not pruned: still named in the actions of alarm r-made-by-hand",
        "- Topic r-unused: deleted",
    ] {
        assert!(apply.stdout.contains(line), "{line:?} in\n{apply:?}");
    }
    assert_eq!(writes(&env.proxy), ["DeleteTopic"]);
    assert_eq!(env.aws.topics().await, ["r-by-file", "r-by-hand"]);
    assert_eq!(
        answered(&env.proxy)
            .iter()
            .filter(|op| *op == "DescribeAlarms")
            .count(),
        2,
        "the declared alarm, then one walk over every alarm for the references"
    );
}

#[tokio::test]
async fn resources_of_another_owner_or_of_none_are_never_deleted() {
    let env = Env::start().await;
    let theirs = [("driftd:owner", "team-b")];
    let prefixed = [("driftd:owner", "driftd-prod")];
    env.aws.put_alarm("o-team-b", &theirs, &[]).await;
    env.aws
        .put_alarm("o-hand-made", &[("team", "driftd")], &[])
        .await;
    env.aws.put_topic("o-team-b", &theirs).await;
    env.aws.put_topic("o-hand-made", &[]).await;
    env.aws.put_secret("o/team-b", &theirs).await;
    // ListSecrets matches tag values by prefix: `driftd-prod` starts with `driftd`.
    env.aws.put_secret("o/prod", &prefixed).await;
    env.aws.put_secret("o/hand-made", &[]).await;
    let marker = |owner: &str, name: &str| {
        serde_json::json!({"widgets": [{"type": "text", "x": 0, "y": 0, "width": 24, "height": 1,
            "properties": {"markdown": driftd::kinds::dashboard::marker_markdown(owner, name)}}]})
    };
    env.aws
        .put_dashboard("o-team-b", &marker("team-b", "o-team-b"))
        .await;
    env.aws
        .put_dashboard("o-hand-made", &serde_json::json!({"widgets": []}))
        .await;
    // A copy of a dashboard of ours under another name: its marker names the original.
    env.aws
        .put_dashboard("o-copy", &marker("driftd", "o-original"))
        .await;
    let dir = desired_dir(&[]);

    let apply = env
        .driftd(dir.path(), &["apply", "--prune", "--allow-empty"])
        .expect_code(0);
    env.proxy.assert_no_writes("the apply");
    assert!(
        apply
            .stdout
            .contains("Apply: 0 created, 0 corrected, 0 observed, 0 errors, 0 in sync."),
        "nothing reported as ours: {apply:?}"
    );

    // The owner tag is what decides: team-b's driftd prunes exactly its own.
    env.driftd(
        dir.path(),
        &["apply", "--prune", "--allow-empty", "--owner", "team-b"],
    )
    .expect_code(0);
    assert_eq!(env.aws.alarms().await, ["o-hand-made"]);
    assert_eq!(env.aws.topics().await, ["o-hand-made"]);
    assert_eq!(env.aws.dashboards().await, ["o-copy", "o-hand-made"]);
    assert!(env.aws.secret("o/team-b").await.expect("there").is_some());
    assert_eq!(env.aws.secret("o/prod").await, Some(None), "not scheduled");
    assert_eq!(env.aws.secret("o/hand-made").await, Some(None));
}

#[tokio::test]
async fn where_dashboards_cannot_be_tagged_one_without_its_notice_is_never_pruned() {
    let env = Env::start().await;
    let dir = desired_dir(&[(
        "dashboards.yaml",
        &docs(&[plain_dashboard("t-main"), plain_dashboard("t-second")]),
    )]);
    let created = env.driftd(dir.path(), &["apply"]).expect_code(0);
    assert_eq!(
        created
            .stderr
            .matches("this endpoint refuses tags on dashboards")
            .count(),
        1,
        "said once: {created:?}"
    );
    env.rewrite(dir.path(), &[]);

    env.driftd(dir.path(), &["apply", "--prune", "--allow-empty"])
        .expect_code(0);
    env.proxy.assert_no_writes("the apply");
    assert_eq!(env.aws.dashboards().await, ["t-main", "t-second"]);
}

#[tokio::test]
async fn finding_orphans_costs_no_call_per_resource() {
    let env = Env::start().await;
    let mut documents: Vec<String> = (0..40).map(|i| alarm(&format!("c-{i:02}"), &[])).collect();
    documents.extend((0..5).map(|i| topic(&format!("c-topic-{i}"), &[])));
    documents.extend((0..5).map(|i| secret(&format!("c/secret-{i}"), 7)));
    documents.push(dashboard("c-main"));
    let dir = desired_dir(&[("all.yaml", &docs(&documents))]);
    env.driftd(dir.path(), &["apply"]).expect_code(0);
    env.rewrite(dir.path(), &[]);

    let plan = env.driftd(dir.path(), &["plan"]).expect_code(0);
    plan.assert_stdout_contains(", 51 orphaned.");
    assert_eq!(
        answered(&env.proxy),
        [
            // One dashboard to check for its owner tag and, as moto has
            // none, for a marker in its body: a one-shot process reads each
            // undeclared dashboard once (the daemon keeps what it read
            // across passes while the dashboard's version does not move).
            "GetDashboard",
            // 45 alarms and topics with the owner tag, one page.
            "GetResources",
            "ListDashboards",
            // 5 secrets with the owner tag, one page.
            "ListSecrets",
            "ListTagsForResource",
        ]
    );

    env.proxy.reset();
    let pruning = env
        .driftd(
            dir.path(),
            &["plan", "--prune", "--allow-empty", "--max-prune", "60"],
        )
        .expect_code(0);
    pruning.assert_stdout_contains("51 to delete");
    assert_eq!(
        answered(&env.proxy),
        [
            // With topics to prune, one walk over the alarms for references.
            "DescribeAlarms",
            "GetDashboard",
            "GetResources",
            "ListDashboards",
            "ListSecrets",
            "ListTagsForResource",
        ]
    );
}

#[tokio::test]
async fn an_invalid_desired_state_calls_no_aws_and_prunes_nothing() {
    let env = Env::start().await;
    let dir = desired_dir(&[("alarms.yaml", &alarm("i-cpu", &[]))]);
    env.driftd(dir.path(), &["apply"]).expect_code(0);
    env.rewrite(
        dir.path(),
        &[(
            "alarms.yaml",
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: i-cpu}\nspec: {threshhold: 1}\n",
        )],
    );

    env.driftd(dir.path(), &["apply", "--prune"]).expect_code(1);
    assert!(env.proxy.calls().is_empty(), "{:?}", env.proxy.calls());
    assert_eq!(env.aws.alarms().await, ["i-cpu"]);
}
