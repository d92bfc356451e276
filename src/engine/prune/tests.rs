//! The prune step through the in-memory fake: what is found, what each guard
//! keeps, what is deleted and in how many calls.

use serde_json::json;

use super::*;
use crate::aws::cloudwatch::fake::fake_alarm_arn;
use crate::aws::cloudwatch::CloudWatch;
use crate::aws::fake::FakeAws;
use crate::aws::sns::fake::FAKE_ARN_PREFIX;
use crate::aws::{self, ErrorClass};
use crate::engine::{reconcile, Refs};
use crate::kinds::{alarm, secret, topic, Resource, Tags, DEFAULT_ENVIRONMENT};

const OWNER: &str = "driftd";

fn opts(apply: bool, prune: bool) -> PassOptions {
    PassOptions {
        apply,
        mode: Mode::Enforce,
        owner: OWNER.into(),
        prune,
        max_prune: 10,
        stop: Default::default(),
        guards: Default::default(),
    }
}

fn alarm(name: &str, actions: &[&str]) -> Resource {
    Resource::test(
        name,
        Spec::Alarm(alarm::Spec::test().alarm_actions(actions)),
    )
}

fn topic(name: &str) -> Resource {
    Resource::test(name, Spec::Topic(topic::Spec::test()))
}

fn dashboard(name: &str) -> Resource {
    Resource::test(
        name,
        Spec::Dashboard(dashboard::Spec {
            body: Some(json!({"widgets": [{
                "type": "metric", "x": 0, "y": 0, "width": 8, "height": 6,
                "properties": {"title": name, "region": "us-east-1",
                               "metrics": [["AWS/ECS", "CPUUtilization"]]}
            }]})),
            body_file: None,
            notice: false,
        }),
    )
}

fn secret(name: &str, recovery_window_days: Option<i64>) -> Resource {
    let mut spec = secret::Spec::test().placeholder_keys(&["KEY"]);
    spec.recovery_window_days = recovery_window_days;
    Resource::test(name, Spec::Secret(spec))
}

/// The prune step of the implicit environment, against the fake.
async fn prune_default(
    fake: &FakeAws,
    desired: &DesiredState,
    validity: Validity,
    opts: &PassOptions,
) -> PruneReport {
    prune(&fake.aws(), DEFAULT_ENVIRONMENT, desired, validity, opts).await
}

/// The prune step of the implicit environment, after a pass whose desired
/// state (these resources) loaded.
async fn prune_valid(fake: &FakeAws, resources: &[Resource], opts: &PassOptions) -> PruneReport {
    prune_default(fake, &state(resources), Validity::Valid, opts).await
}

fn state(resources: &[Resource]) -> DesiredState {
    DesiredState {
        resources: resources.to_vec(),
    }
}

fn topic_arn(name: &str) -> String {
    format!("{FAKE_ARN_PREFIX}:{name}")
}

/// Creates these resources as `driftd apply` would, then forgets the writes.
async fn applied(fake: &FakeAws, resources: &[Resource]) {
    let refs: Vec<&Resource> = resources.iter().collect();
    let report = reconcile(&fake.aws(), &refs, &mut Refs::default(), &opts(true, false)).await;
    assert!(report.converged(), "{report:#?}");
    fake.state.lock().unwrap().writes.clear();
}

/// An alarm made outside driftd, with these tags and actions.
async fn foreign_alarm(fake: &FakeAws, name: &str, tags: &[(&str, &str)], actions: &[&str]) {
    let definition = alarm::Definition {
        name: name.into(),
        alarm_actions: actions.iter().map(|a| a.to_string()).collect(),
        ..alarm::Definition::default()
    };
    let tags: Tags = tags
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    fake.put_metric_alarm(&definition, &tags)
        .await
        .expect("put");
    fake.state.lock().unwrap().writes.clear();
}

fn outcome(report: &PruneReport) -> Vec<(Kind, &str, Planned, State)> {
    report
        .resources
        .iter()
        .map(|r| (r.kind, r.name.as_str(), r.action, r.state))
        .collect()
}

fn notes<'a>(report: &'a PruneReport, name: &str) -> Vec<&'a str> {
    report
        .resources
        .iter()
        .find(|r| r.name == name)
        .map(|r| r.notes.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Two alarms, a topic and a dashboard, applied; the desired state keeps none.
async fn four_orphans(fake: &FakeAws) {
    applied(
        fake,
        &[
            alarm("cpu", &[]),
            alarm("memory", &[]),
            topic("alerts"),
            dashboard("main"),
        ],
    )
    .await;
}

/// An orphan reported and left alone.
fn left(kind: Kind, name: &str) -> (Kind, &str, Planned, State) {
    (kind, name, Planned::Orphaned, State::Orphaned)
}

/// An orphan deleted.
fn deleted(kind: Kind, name: &str) -> (Kind, &str, Planned, State) {
    (kind, name, Planned::Delete, State::Corrected)
}

/// The outcome of the four orphans, in the order the report lists them.
fn four_orphans_are(action: Planned, state: State) -> Vec<(Kind, &'static str, Planned, State)> {
    [
        (Kind::Topic, "alerts"),
        (Kind::Dashboard, "main"),
        (Kind::Alarm, "cpu"),
        (Kind::Alarm, "memory"),
    ]
    .map(|(kind, name)| (kind, name, action, state))
    .to_vec()
}

/// Asserts that the prune step refused for this reason, wrote nothing and
/// kept every orphan as it is, and gives its refusal.
fn refused<'a>(
    fake: &FakeAws,
    report: &'a PruneReport,
    reason: Reason,
    would_delete: usize,
) -> &'a Refusal {
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    let refused = report.problems.refused.first().expect("refused");
    assert_eq!(refused.reason, reason);
    assert_eq!(refused.would_delete, would_delete);
    assert!(report
        .resources
        .iter()
        .all(|r| r.action == Planned::Orphaned && r.state == State::Orphaned));
    refused
}

#[tokio::test]
async fn without_prune_orphans_are_reported_and_left_alone() {
    let fake = FakeAws::new();
    four_orphans(&fake).await;

    let report = prune_valid(&fake, &[], &opts(true, false)).await;

    assert_eq!(
        outcome(&report),
        four_orphans_are(Planned::Orphaned, State::Orphaned)
    );
    assert_eq!(
        notes(&report, "cpu"),
        ["not in the desired state: only --prune deletes it"]
    );
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    assert!(report.problems.is_empty());
}

#[tokio::test]
async fn declared_resources_are_not_orphans() {
    let fake = FakeAws::new();
    let resources = [alarm("cpu", &[]), topic("alerts"), dashboard("main")];
    applied(&fake, &resources).await;

    let report = prune_valid(&fake, &resources, &opts(true, true)).await;

    assert!(report.resources.is_empty(), "{:?}", outcome(&report));
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[tokio::test]
async fn prune_deletes_owned_orphans_alarms_in_one_batch() {
    let fake = FakeAws::new();
    four_orphans(&fake).await;
    let kept = [alarm("disk", &[])];
    applied(&fake, &kept).await;

    let report = prune_valid(&fake, &kept, &opts(true, true)).await;

    assert_eq!(
        outcome(&report),
        four_orphans_are(Planned::Delete, State::Corrected)
    );
    assert_eq!(
        fake.writes(),
        [
            "cloudwatch.DeleteAlarms cpu,memory",
            "sns.DeleteTopic alerts",
            "cloudwatch.DeleteDashboards main",
        ]
    );
    {
        let s = fake.state.lock().unwrap();
        assert_eq!(
            s.cloudwatch.alarms.keys().collect::<Vec<_>>(),
            ["disk"],
            "the declared alarm stays"
        );
        assert!(s.sns.topics.is_empty());
        assert!(s.dashboards.dashboards.is_empty());
    }

    let again = prune_valid(&fake, &kept, &opts(true, true)).await;
    assert!(again.resources.is_empty(), "{:?}", outcome(&again));
}

#[tokio::test]
async fn a_plan_with_prune_shows_deletions_and_makes_none() {
    let fake = FakeAws::new();
    four_orphans(&fake).await;

    let report = prune_valid(&fake, &[], &opts(false, true)).await;

    assert!(report
        .resources
        .iter()
        .all(|r| r.action == Planned::Delete && r.state == State::Orphaned));
    assert_eq!(report.resources.len(), 4);
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[tokio::test]
async fn global_observe_mode_deletes_nothing() {
    let fake = FakeAws::new();
    four_orphans(&fake).await;
    let observe = PassOptions {
        mode: Mode::Observe,
        ..opts(true, true)
    };

    let report = prune_valid(&fake, &[], &observe).await;

    assert!(report.resources.iter().all(|r| r.action == Planned::Delete
        && r.state == State::Orphaned
        && r.mode == Mode::Observe));
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

// ---------------------------------------------------------------------------
// Guard: nothing is pruned in a pass whose desired state failed to load.

#[tokio::test]
async fn an_invalid_desired_state_prunes_nothing() {
    let fake = FakeAws::new();
    four_orphans(&fake).await;

    let report = prune_default(&fake, &state(&[]), Validity::Invalid, &opts(true, true)).await;

    let refused = refused(&fake, &report, Reason::DesiredStateInvalid, 4);
    assert!(refused
        .message
        .ends_with("4 resources are kept until it loads again"));
    assert_eq!(
        notes(&report, "cpu"),
        ["would be deleted, but pruning is refused in this pass (the desired state failed to load)"]
    );
}

// ---------------------------------------------------------------------------
// Guard: a desired state with no resources prunes nothing unless allowed.

#[tokio::test]
async fn an_empty_desired_state_prunes_nothing_unless_allowed() {
    let fake = FakeAws::new();
    four_orphans(&fake).await;
    let empty = state(&[]);
    assert_eq!(Validity::of(&empty, true, false), Validity::Empty);
    assert_eq!(Validity::of(&empty, false, true), Validity::Invalid);
    assert_eq!(
        Validity::of(&state(&[alarm("cpu", &[])]), true, false),
        Validity::Valid
    );

    let report = prune_default(&fake, &empty, Validity::Empty, &opts(true, true)).await;

    let refused = refused(&fake, &report, Reason::DesiredStateEmpty, 4);
    assert_eq!(
        refused.message,
        "pruning refused: the desired state declares no resources (an empty checkout or mount?); \
         4 resources are kept (give --allow-empty if deleting everything is intended)"
    );
    assert_eq!(
        notes(&report, "cpu"),
        ["would be deleted, but pruning is refused in this pass (the desired state is empty)"]
    );

    // --allow-empty: the same state deletes what it no longer declares.
    let allowed = Validity::of(&empty, true, true);
    let report = prune_default(&fake, &empty, allowed, &opts(true, true)).await;
    assert!(report.problems.refused.is_empty());
    assert!(!fake.writes().is_empty());
}

// ---------------------------------------------------------------------------
// Guard: more than --max-prune deletions prune nothing.

async fn alarms(fake: &FakeAws, n: usize) {
    let resources: Vec<Resource> = (0..n).map(|i| alarm(&format!("a{i:02}"), &[])).collect();
    applied(fake, &resources).await;
}

#[tokio::test]
async fn more_deletions_than_max_prune_delete_nothing() {
    let fake = FakeAws::new();
    alarms(&fake, 11).await;

    let report = prune_valid(&fake, &[], &opts(true, true)).await;

    assert_eq!(fake.state.lock().unwrap().cloudwatch.alarms.len(), 11);
    let refused = refused(&fake, &report, Reason::MaxPrune, 11);
    assert!(
        refused
            .message
            .contains("11 resources, more than --max-prune 10"),
        "{}",
        refused.message
    );
}

#[tokio::test]
async fn exactly_max_prune_deletions_go_ahead() {
    let fake = FakeAws::new();
    alarms(&fake, 10).await;

    let report = prune_valid(&fake, &[], &opts(true, true)).await;

    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(fake.writes().len(), 1, "{:?}", fake.writes());
    assert!(fake.state.lock().unwrap().cloudwatch.alarms.is_empty());
}

#[tokio::test]
async fn alarms_are_deleted_a_hundred_per_call() {
    let fake = FakeAws::new();
    alarms(&fake, 150).await;
    let many = PassOptions {
        max_prune: 150,
        ..opts(true, true)
    };

    let report = prune_valid(&fake, &[], &many).await;

    assert!(report.resources.iter().all(|r| r.state == State::Corrected));
    let writes = fake.writes();
    assert_eq!(writes.len(), 2, "two DeleteAlarms calls");
    assert_eq!(writes[0].matches(',').count(), 99);
    assert_eq!(writes[1].matches(',').count(), 49);
}

// ---------------------------------------------------------------------------
// Guard: a Topic still named in a remaining Alarm's actions is never pruned.

#[tokio::test]
async fn a_topic_named_by_an_alarm_that_stays_is_not_pruned() {
    let fake = FakeAws::new();
    applied(&fake, &[topic("old-alerts"), topic("unused")]).await;
    // Not driftd's: it stays whatever the pass prunes.
    foreign_alarm(&fake, "theirs", &[], &[&topic_arn("old-alerts")]).await;

    let report = prune_valid(&fake, &[], &opts(true, true)).await;

    assert_eq!(
        outcome(&report),
        [
            left(Kind::Topic, "old-alerts"),
            deleted(Kind::Topic, "unused"),
        ]
    );
    assert_eq!(
        notes(&report, "old-alerts"),
        ["not pruned: still named in the actions of alarm theirs"]
    );
    assert_eq!(fake.writes(), ["sns.DeleteTopic unused"]);
}

#[tokio::test]
async fn a_topic_named_by_a_declared_alarm_by_arn_is_not_pruned() {
    let fake = FakeAws::new();
    applied(&fake, &[topic("old-alerts")]).await;
    let declared = [alarm("cpu", &[&topic_arn("old-alerts")])];
    applied(&fake, &declared).await;

    let report = prune_valid(&fake, &declared, &opts(true, true)).await;

    assert_eq!(outcome(&report), [left(Kind::Topic, "old-alerts")]);
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[tokio::test]
async fn a_topic_named_only_by_orphan_alarms_goes_after_them() {
    let fake = FakeAws::new();
    let alerts = topic("alerts");
    applied(&fake, &[alerts.clone(), alarm("cpu", &["topic:alerts"])]).await;

    let report = prune_valid(&fake, &[], &opts(true, true)).await;

    assert_eq!(
        fake.writes(),
        ["cloudwatch.DeleteAlarms cpu", "sns.DeleteTopic alerts"]
    );
    assert_eq!(
        notes(&report, "alerts"),
        [
            "deleting a topic deletes its subscriptions",
            "named by alarm cpu, deleted first"
        ]
    );
}

#[tokio::test]
async fn a_topic_stays_when_the_alarm_naming_it_could_not_be_deleted() {
    let fake = FakeAws::new();
    applied(&fake, &[topic("alerts"), alarm("cpu", &["topic:alerts"])]).await;
    fake.fail_cloudwatch("DeleteAlarms", ErrorClass::Throttling);

    let report = prune_valid(&fake, &[], &opts(true, true)).await;

    assert_eq!(
        outcome(&report),
        [
            (Kind::Topic, "alerts", Planned::Delete, State::Error),
            (Kind::Alarm, "cpu", Planned::Delete, State::Error),
        ]
    );
    assert!(fake.topic("alerts").is_some(), "the topic was not deleted");
    let error = report.resources[0].error.as_ref().expect("error");
    assert_eq!(error.reason, Reason::NotPruned);
}

#[tokio::test]
async fn a_plan_counts_a_declared_alarm_with_the_actions_apply_gives_it() {
    let fake = FakeAws::new();
    applied(&fake, &[topic("old"), topic("new")]).await;
    // The alarm notifies `old` in AWS; its file now names `new`, and `old`
    // is no longer declared.
    applied(&fake, &[topic("new"), alarm("cpu", &[&topic_arn("old")])]).await;
    let enforced = [topic("new"), alarm("cpu", &["topic:new"])];
    let observed = [
        topic("new"),
        alarm("cpu", &["topic:new"]).mode(Mode::Observe),
    ];

    let plan = prune_valid(&fake, &enforced, &opts(false, true)).await;
    let observe = prune_valid(&fake, &observed, &opts(false, true)).await;

    assert_eq!(
        outcome(&plan),
        [(Kind::Topic, "old", Planned::Delete, State::Orphaned)],
        "apply corrects the alarm first"
    );
    assert_eq!(
        outcome(&observe),
        [left(Kind::Topic, "old")],
        "an observed alarm keeps naming it"
    );
}

#[tokio::test]
async fn topics_are_kept_when_the_alarms_cannot_be_read() {
    let fake = FakeAws::new();
    applied(&fake, &[topic("alerts")]).await;
    fake.fail_cloudwatch("DescribeAlarms", ErrorClass::Transient);

    let report = prune_valid(&fake, &[], &opts(true, true)).await;

    assert_eq!(outcome(&report), [left(Kind::Topic, "alerts")]);
    assert_eq!(report.problems.errors.len(), 1);
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

// ---------------------------------------------------------------------------
// Guard: a resource whose owner tag names another owner is never touched.

#[tokio::test]
async fn resources_of_another_owner_or_of_none_are_never_touched() {
    let fake = FakeAws::new();
    foreign_alarm(&fake, "team-b-cpu", &[(OWNER_TAG, "team-b")], &[]).await;
    foreign_alarm(&fake, "hand-made", &[("team", "platform")], &[]).await;
    fake.put_topic("team-b-alerts", &[], &[(OWNER_TAG, "team-b")]);
    fake.put_topic("hand-made", &[], &[]);
    let theirs = json!({"widgets": [{"type": "text", "properties": {
        "markdown": dashboard::marker_markdown("team-b", "team-b-main")}}]});
    fake.put_dashboard_out_of_band("team-b-main", &theirs.to_string());
    fake.put_dashboard_out_of_band("hand-made", r#"{"widgets": []}"#);
    // A copy of one of our dashboards under another name: its marker names the original.
    let copy = json!({"widgets": [{"type": "text", "properties": {
        "markdown": dashboard::marker_markdown(OWNER, "main")}}]});
    fake.put_dashboard_out_of_band("copy-of-main", &copy.to_string());

    let report = prune_valid(&fake, &[], &opts(true, true)).await;

    assert!(report.resources.is_empty(), "{:?}", outcome(&report));
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[test]
fn a_listed_resource_is_ours_only_if_its_owner_tag_says_so() {
    // What the tagging API returned, whatever the filter asked for.
    let listed = |owner: Option<&str>| TaggedResource {
        arn: fake_alarm_arn("cpu"),
        tags: owner
            .map(|o| Tags::from([(OWNER_TAG.to_string(), o.to_string())]))
            .unwrap_or_default(),
    };
    let desired = state(&[]);
    let declared = Declared::of(&desired);
    for (owner, expected) in [(Some(OWNER), 1), (Some("team-b"), 0), (None, 0)] {
        let found = orphans_of_tagged(&[listed(owner)], &declared, OWNER);
        assert_eq!(found.len(), expected, "owner tag {owner:?}");
    }
}

#[test]
fn kinds_and_names_come_from_arns() {
    for (arn, expected) in [
        (
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:team:cpu",
            Some((Kind::Alarm, "team:cpu")),
        ),
        (
            "arn:aws:sns:us-east-1:123456789012:alerts.fifo",
            Some((Kind::Topic, "alerts.fifo")),
        ),
        ("arn:aws:sns:us-east-1:123456789012:alerts:1a2b", None),
        ("arn:aws:cloudwatch:us-east-1:123456789012:alarm:", None),
        (
            "arn:aws:cloudwatch:us-east-1:123456789012:insight-rule/x",
            None,
        ),
        ("arn:aws:ecs:us-east-1:123456789012:service/c/s", None),
        ("alerts", None),
    ] {
        let got = kind_and_name(arn);
        assert_eq!(
            got.as_ref().map(|(k, n)| (*k, n.as_str())),
            expected,
            "{arn}"
        );
    }
}

// ---------------------------------------------------------------------------
// What the prune step cannot see, it does not delete.

#[tokio::test]
async fn a_failed_listing_is_reported_and_deletes_nothing_of_those_kinds() {
    let fake = FakeAws::new();
    four_orphans(&fake).await;
    fake.state.lock().unwrap().tagged_failure = Some(aws::Error::new(
        "tagging",
        "GetResources",
        ErrorClass::AccessDenied,
        "not allowed",
    ));

    let report = prune_valid(&fake, &[], &opts(true, true)).await;

    assert_eq!(
        outcome(&report),
        [deleted(Kind::Dashboard, "main")],
        "dashboards are found without the tagging API"
    );
    assert_eq!(report.problems.errors.len(), 1);
    assert_eq!(report.problems.errors[0].kinds, [Kind::Alarm, Kind::Topic]);
    assert_eq!(report.problems.errors[0].error.reason, Reason::AccessDenied);
    assert_eq!(fake.writes(), ["cloudwatch.DeleteDashboards main"]);
}

#[tokio::test]
async fn finding_orphans_costs_one_listing_per_source() {
    let fake = FakeAws::new();
    alarms(&fake, 30).await;
    applied(&fake, &[dashboard("main")]).await;
    // Saved again outside driftd (same body, new LastModified): the body
    // cached when the apply read it back is stale.
    let body = fake.dashboard_body("main").expect("applied");
    fake.put_dashboard_out_of_band("main", &body);
    let gets = fake.dashboard_get_calls();

    prune_valid(&fake, &[], &opts(false, false)).await;

    let s = fake.state.lock().unwrap();
    assert_eq!(s.tagged_calls, 1);
    assert_eq!(
        s.dashboards.get_calls - gets,
        1,
        "one body to check, read once"
    );
}

#[tokio::test]
async fn ecs_services_are_never_orphans() {
    let fake = FakeAws::new();
    // Tagged with this owner (as a person might do by hand) and not declared:
    // still not a candidate, since services are never listed.
    fake.state.lock().unwrap().tags.insert(
        "arn:aws:ecs:us-east-1:123456789012:service/dev/worker".into(),
        Tags::from([(OWNER_TAG.to_string(), OWNER.to_string())]),
    );

    let report = prune_valid(&fake, &[], &opts(true, true)).await;

    assert!(report.resources.is_empty(), "{:?}", outcome(&report));
}

// ---------------------------------------------------------------------------
// Subscriptions not in a Topic's file: removed by the pass, only with --prune.

#[tokio::test]
async fn the_pass_removes_extra_subscriptions_only_when_pruning() {
    let fake = FakeAws::new();
    let alerts = [Resource::test(
        "alerts",
        Spec::Topic(topic::Spec::test().subscription("sqs", "arn:aws:sqs:us-east-1:1:keep")),
    )];
    applied(&fake, &alerts).await;
    fake.put_subscription("alerts", "sqs", "arn:aws:sqs:us-east-1:1:extra");
    let refs: Vec<&Resource> = alerts.iter().collect();

    reconcile(&fake.aws(), &refs, &mut Refs::default(), &opts(true, false)).await;
    let kept = fake.topic("alerts").expect("topic").subscriptions.len();
    reconcile(&fake.aws(), &refs, &mut Refs::default(), &opts(true, true)).await;
    let after = fake.topic("alerts").expect("topic").subscriptions;

    assert_eq!(kept, 2, "without --prune the extra subscription stays");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].endpoint, "arn:aws:sqs:us-east-1:1:keep");
}

// ---------------------------------------------------------------------------
// Secrets: deleted with the recovery window they were created with.

#[tokio::test]
async fn secrets_are_deleted_with_the_recovery_window_their_tag_remembers() {
    let fake = FakeAws::new();
    let kept = [secret("app/kept", Some(0))];
    applied(
        &fake,
        &[
            secret("app/week", Some(7)),
            secret("app/now", Some(0)),
            secret("app/default", None),
            kept[0].clone(),
        ],
    )
    .await;

    let report = prune_valid(&fake, &kept, &opts(true, true)).await;

    assert_eq!(
        outcome(&report),
        [
            deleted(Kind::Secret, "app/default"),
            deleted(Kind::Secret, "app/now"),
            deleted(Kind::Secret, "app/week"),
        ]
    );
    let mut writes = fake.writes();
    writes.sort();
    assert_eq!(
        writes,
        [
            "SecretsManager.DeleteSecret arn:aws:secretsmanager:us-east-1:123456789012:secret:app/default-AbCdEf recovery=30",
            "SecretsManager.DeleteSecret arn:aws:secretsmanager:us-east-1:123456789012:secret:app/now-AbCdEf recovery=0",
            "SecretsManager.DeleteSecret arn:aws:secretsmanager:us-east-1:123456789012:secret:app/week-AbCdEf recovery=7",
        ]
    );
    assert_eq!(
        notes(&report, "app/week"),
        ["restorable for 7 days after deletion"]
    );
    assert_eq!(
        notes(&report, "app/now"),
        ["deleted at once, without recovery (recoveryWindowDays: 0)"]
    );
    assert!(fake.secret("app/now").is_none());
    assert!(fake
        .secret("app/week")
        .expect("scheduled")
        .deleted_date
        .is_some());
    assert!(fake
        .secret("app/kept")
        .expect("kept")
        .deleted_date
        .is_none());

    // Scheduled for deletion: no longer an orphan, never deleted twice.
    fake.state.lock().unwrap().writes.clear();
    let again = prune_valid(&fake, &kept, &opts(true, true)).await;
    assert!(again.resources.is_empty(), "{:?}", outcome(&again));
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[test]
fn a_recovery_window_tag_that_aws_would_reject_falls_back_to_the_default() {
    for (tag, days, noted) in [
        (Some("7"), 7, false),
        (Some("30"), 30, false),
        (Some("0"), 0, false),
        (None, 30, true),
        (Some("3"), 30, true),
        (Some("31"), 30, true),
        (Some("-1"), 30, true),
        (Some("week"), 30, true),
    ] {
        let tag = tag.map(str::to_string);
        let (got, notes) = recovery_window(tag.as_ref());
        assert_eq!((got, !notes.is_empty()), (days, noted), "{tag:?}");
    }
}

#[tokio::test]
async fn secrets_of_another_owner_or_of_none_are_never_touched() {
    let fake = FakeAws::new();
    let owned_by = |o: &str| Tags::from([(OWNER_TAG.to_string(), o.to_string())]);
    fake.add_secret("team-b/app", None, owned_by("team-b"));
    // `ListSecrets` matches tag values by prefix: this one's owner starts like ours.
    fake.add_secret("prod/app", None, owned_by("driftd-prod"));
    fake.add_secret("hand-made", None, Tags::new());

    let report = prune_valid(&fake, &[], &opts(true, true)).await;

    assert!(report.resources.is_empty(), "{:?}", outcome(&report));
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[test]
fn a_listed_secret_is_ours_only_if_its_owner_tag_says_so() {
    // What `ListSecrets` may return for a tag-value filter `driftd`: prefix matches.
    let listed = |owner: &str| SecretInfo {
        arn: format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{owner}-AbCdEf"),
        name: owner.to_string(),
        description: None,
        kms_key_id: None,
        tags: Tags::from([
            (OWNER_TAG.to_string(), owner.to_string()),
            ("team".to_string(), OWNER.to_string()),
        ]),
        deleted_date: None,
    };
    let desired = state(&[]);
    let declared = Declared::of(&desired);
    let found = orphans_of_secrets(
        &[listed(OWNER), listed("driftd-prod"), listed("team-b")],
        &declared,
        OWNER,
    );
    assert_eq!(
        found.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        [OWNER]
    );
}
