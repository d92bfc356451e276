//! The Topic kind and its SNS seam against a private moto: create, read back,
//! drift, adoption, subscriptions, pagination.
//!
//! Where moto differs from real SNS (see moto/sns/models.py):
//! * moto confirms every subscription at once, email and HTTP(S) included, and
//!   lists it with its ARN; real SNS lists it as `PendingConfirmation` until the
//!   endpoint's owner confirms. The pending case is covered by the fake
//!   (src/kinds/topic.rs tests), which behaves like real SNS.
//! * moto's `Subscribe` of an existing (protocol, endpoint) quietly returns the
//!   existing subscription, so a doubled subscription could not show in its
//!   listing; real SNS sends a pending endpoint a new confirmation message. The
//!   tests below therefore check that a second pass makes no `Subscribe` at all.

use crate::common;
use common::kinds::{ctx, resource};

use common::sns::{subscribed, subscription_arn, topic_tags};
use driftd::aws::sns::{SdkSns, Sns, TopicSubscription};
use driftd::aws::Aws;
use driftd::engine::{Action, Diff, Reconciler, Refs};
use driftd::kinds::topic::{self, Ops, Topic};
use driftd::kinds::{Change, Resource, Spec, Tags, OWNER_TAG};

fn topic(name: &str, spec_yaml: &str) -> Resource {
    let spec: topic::Spec = serde_yaml::from_str(spec_yaml).expect("topic spec");
    resource("topics.yaml", name, Spec::Topic(spec))
}

/// One pass over these topics as the engine drives a kind: observe all,
/// then diff and apply each. Returns the diffs.
async fn pass(aws: &Aws, resources: &[Resource], prune: bool) -> Vec<Diff<Ops>> {
    let pairs: Vec<(&Resource, &topic::Spec)> = resources
        .iter()
        .filter_map(|r| Some((r, Topic::spec(&r.spec)?)))
        .collect();
    let observed = Topic::observe(aws, &pairs).await.expect("observe");
    let (mut refs, mut diffs) = (Refs::default(), Vec::new());
    for (r, spec) in pairs {
        let live = observed[&r.name].as_ref().expect("read topic").as_ref();
        if let Some(live) = live {
            Topic::record_refs(&r.name, live, &mut refs);
        }
        let d = topic::diff(&r.name, spec, live, &ctx(), prune);
        Topic::apply(aws, r, spec, &d.ops, &mut refs, &ctx())
            .await
            .expect("apply");
        assert!(
            refs.topic_arns.contains_key(&r.name),
            "{} has an ARN",
            r.name
        );
        diffs.push(d);
    }
    diffs
}

fn change(field: &str, from: Option<&str>, to: Option<&str>) -> Change {
    Change::new(field, from.map(str::to_string), to.map(str::to_string))
}

const ALERTS: &str = r#"
displayName: TikTimer alerts
kmsMasterKeyId: alias/aws/sns
policy:
  Version: "2012-10-17"
  Statement:
    - Sid: AlarmsPublish
      Effect: Allow
      Principal: {Service: cloudwatch.amazonaws.com}
      Action: sns:Publish
      Resource: arn:aws:sns:us-east-1:123456789012:alerts
subscriptions:
  - {protocol: email, endpoint: ops@example.com}
  - {protocol: sqs, endpoint: "arn:aws:sqs:us-east-1:123456789012:alerts-archive"}
tags: {team: platform}
"#;

/// A moto of this test's own, its SDK config, driftd's AWS layer on it, and a
/// raw SNS client for what is made or read "outside driftd".
async fn start() -> (
    common::Moto,
    aws_config::SdkConfig,
    Aws,
    aws_sdk_sns::Client,
) {
    let moto = common::Moto::start();
    let config = moto.sdk_config().await;
    let aws = Aws::from_sdk_config(&config);
    let raw = aws_sdk_sns::Client::new(&config);
    (moto, config, aws, raw)
}

/// Creates the topic `name` with an SQS subscription of each of `queues`;
/// gives its ARN.
async fn topic_with_queues(
    raw: &aws_sdk_sns::Client,
    name: &str,
    queues: impl IntoIterator<Item = String>,
) -> String {
    let arn = common::sns::create(raw.create_topic().name(name)).await;
    for queue in queues {
        common::sns::subscribe(raw, &arn, "sqs", &queue).await;
    }
    arn
}

const ARN: &str = "arn:aws:sns:us-east-1:123456789012:alerts";

#[tokio::test]
async fn a_topic_created_from_a_spec_reads_back_in_sync_and_is_never_subscribed_twice() {
    let (_moto, config, aws, raw) = start().await;
    let resources = [
        topic("alerts", ALERTS),
        // Nothing but a name: the SNS defaults (empty display name, the
        // default policy) must not read back as drift.
        topic("minimal", "{}"),
    ];

    let diffs = pass(&aws, &resources, false).await;
    assert_eq!(diffs[0].action, Action::Create);
    assert_eq!(diffs[1].action, Action::Create);

    let attrs = common::sns::topic_attributes(&raw, ARN).await;
    assert_eq!(attrs["DisplayName"], "TikTimer alerts");
    assert_eq!(attrs["KmsMasterKeyId"], "alias/aws/sns");
    assert_eq!(
        subscribed(&raw, ARN).await,
        [
            ("email".into(), "ops@example.com".into()),
            (
                "sqs".into(),
                "arn:aws:sqs:us-east-1:123456789012:alerts-archive".into()
            ),
        ]
    );
    assert_eq!(
        topic_tags(&raw, ARN).await,
        Tags::from([
            (OWNER_TAG.into(), "driftd".into()),
            ("team".into(), "platform".into()),
        ])
    );

    // moto confirms the email subscription at once (it lists its ARN); real
    // SNS would list it as PendingConfirmation until ops@ clicks the link.
    let listed = SdkSns::new(&config).subscriptions(ARN).await.expect("list");
    assert!(listed.iter().all(|s| !s.is_pending()), "{listed:?}");

    // Read back: in sync, so the second pass writes nothing, and in
    // particular subscribes nobody again (see the module comment on moto).
    let diffs = pass(&aws, &resources, false).await;
    for d in &diffs {
        assert_eq!(d.action, Action::InSync, "{:?}", d.changes);
        assert_eq!(d.ops, Ops::None);
    }
    assert_eq!(subscribed(&raw, ARN).await.len(), 2);
}

#[tokio::test]
async fn drift_made_with_the_raw_sdk_is_named_field_by_field_and_corrected() {
    let (_moto, _config, aws, raw) = start().await;
    let resources = [topic("alerts", ALERTS)];
    pass(&aws, &resources, false).await;

    for (name, value) in [
        ("DisplayName", "Alarms!"),
        ("KmsMasterKeyId", ""),
        (
            "Policy",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sns:Publish","Resource":"*"}]}"#,
        ),
    ] {
        raw.set_topic_attributes()
            .topic_arn(ARN)
            .attribute_name(name)
            .attribute_value(value)
            .send()
            .await
            .expect("set attribute");
    }
    raw.tag_resource()
        .resource_arn(ARN)
        .tags(common::sns::tag("team", "payments"))
        .send()
        .await
        .expect("tag");
    let archive = subscription_arn(&raw, ARN, "sqs").await;
    raw.unsubscribe()
        .subscription_arn(archive)
        .send()
        .await
        .expect("unsubscribe");
    common::sns::subscribe(&raw, ARN, "email", "intruder@example.com").await;

    let diffs = pass(&aws, &resources, false).await;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AlarmsPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": ARN
        }]
    });
    let drifted = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sns:Publish", "Resource": "*"}]
    });
    assert_eq!(diffs[0].action, Action::Update);
    assert_eq!(
        diffs[0].changes,
        [
            change("displayName", Some("Alarms!"), Some("TikTimer alerts")),
            change("kmsMasterKeyId", None, Some("alias/aws/sns")),
            change(
                "policy",
                Some(&drifted.to_string()),
                Some(&policy.to_string())
            ),
            change(
                "subscriptions",
                None,
                Some("sqs:arn:aws:sqs:us-east-1:123456789012:alerts-archive")
            ),
            change("subscriptions", Some("email:intruder@example.com"), None),
            change("tags.team", Some("payments"), Some("platform")),
        ]
    );

    // Corrected, except the extra subscription: without prune it stays, and
    // it is the only drift left.
    let diffs = pass(&aws, &resources, false).await;
    assert_eq!(
        diffs[0].changes,
        [change(
            "subscriptions",
            Some("email:intruder@example.com"),
            None
        )]
    );
    assert_eq!(diffs[0].ops, Ops::None, "nothing to write without prune");

    // A pruning pass removes it; then all is in sync.
    pass(&aws, &resources, true).await;
    let diffs = pass(&aws, &resources, false).await;
    assert_eq!(diffs[0].action, Action::InSync, "{:?}", diffs[0].changes);
    assert_eq!(subscribed(&raw, ARN).await.len(), 2);
}

#[tokio::test]
async fn an_untagged_topic_made_outside_driftd_is_adopted() {
    let (_moto, _config, aws, raw) = start().await;
    common::sns::create(
        raw.create_topic()
            .name("legacy")
            .attributes("DisplayName", "Legacy"),
    )
    .await;
    common::sns::subscribe(
        &raw,
        "arn:aws:sns:us-east-1:123456789012:legacy",
        "email",
        "ops@example.com",
    )
    .await;
    let resources = [topic(
        "legacy",
        "{displayName: Legacy, subscriptions: [{protocol: email, endpoint: ops@example.com}]}",
    )];

    let diffs = pass(&aws, &resources, false).await;
    assert_eq!(diffs[0].action, Action::Update);
    assert_eq!(
        diffs[0].changes,
        [change("tags.driftd:owner", None, Some("driftd"))]
    );
    assert_eq!(
        topic_tags(&raw, "arn:aws:sns:us-east-1:123456789012:legacy").await,
        Tags::from([(OWNER_TAG.into(), "driftd".into())])
    );
    let diffs = pass(&aws, &resources, false).await;
    assert_eq!(diffs[0].action, Action::InSync, "{:?}", diffs[0].changes);
}

#[tokio::test]
async fn topics_and_subscriptions_are_found_past_the_first_page() {
    let moto = common::Moto::start();
    let config = moto.sdk_config().await;
    let raw = aws_sdk_sns::Client::new(&config);
    let sns = SdkSns::new(&config);
    for i in 0..130 {
        raw.create_topic()
            .name(format!("t-{i:03}"))
            .send()
            .await
            .expect("create");
    }
    let names = ["t-003", "t-129", "nope"].map(String::from).into();
    let found = sns.topic_arns(&names).await.expect("topic_arns");
    assert_eq!(found.len(), 2);
    assert_eq!(found["t-129"], "arn:aws:sns:us-east-1:123456789012:t-129");

    let arn = &found["t-003"];
    for i in 0..105 {
        common::sns::subscribe(
            &raw,
            arn,
            "sqs",
            &format!("arn:aws:sqs:us-east-1:123456789012:q-{i:03}"),
        )
        .await;
    }
    let subs = sns.subscriptions(arn).await.expect("subscriptions");
    assert_eq!(subs.len(), 105);
    assert!(subs.iter().all(|s: &TopicSubscription| s.arn.is_some()));
}

#[tokio::test]
async fn seam_errors_are_classified() {
    let moto = common::Moto::start();
    let sns = SdkSns::new(&moto.sdk_config().await);
    let err = sns
        .topic_attributes("arn:aws:sns:us-east-1:123456789012:missing")
        .await
        .expect_err("no such topic");
    assert_eq!(err.class, driftd::aws::ErrorClass::NotFound, "{err}");
    assert_eq!(err.operation, "GetTopicAttributes");
}

#[tokio::test]
async fn subscriptions_are_read_account_wide_when_that_takes_fewer_calls() {
    let moto = common::Moto::start();
    let proxy = common::proxy::Proxy::start(&moto);
    let raw = aws_sdk_sns::Client::new(&moto.sdk_config().await);
    let mut arns = Vec::new();
    for i in 0..10 {
        let queues = (0..3).map(|q| format!("arn:aws:sqs:us-east-1:123456789012:q-{i}-{q}"));
        arns.push(topic_with_queues(&raw, &format!("t-{i}"), queues).await);
    }
    let sns = SdkSns::new(&proxy.sdk_config().await);

    // 10 topics, 30 subscriptions: one page of the account's list.
    let read = sns.subscriptions_of(&arns).await.expect("subscriptions");
    assert_eq!(proxy.count("ListSubscriptions"), 1);
    assert_eq!(proxy.count("ListSubscriptionsByTopic"), 0);
    for arn in &arns {
        let subs = read[arn].as_ref().expect("read");
        assert_eq!(subs.len(), 3, "{arn}");
        assert!(subs.iter().all(|s| s.endpoint.contains(&queue_prefix(arn))));
    }

    // 250 subscriptions of a topic driftd does not read: for 2 topics the
    // account's 3 pages cost more than their own 2 walks. Tried within a
    // budget of 1 page, given up, and not tried again.
    let queues = (0..250).map(|q| format!("arn:aws:sqs:us-east-1:123456789012:other-{q}"));
    topic_with_queues(&raw, "other", queues).await;
    let two = &arns[..2];
    let read = sns.subscriptions_of(two).await.expect("subscriptions");
    assert_eq!(read[&two[0]].as_ref().expect("read").len(), 3);
    assert_eq!(
        proxy.count("ListSubscriptions"),
        2,
        "one page, then given up"
    );
    assert_eq!(proxy.count("ListSubscriptionsByTopic"), 2);
    sns.subscriptions_of(two).await.expect("subscriptions");
    assert_eq!(proxy.count("ListSubscriptions"), 2, "not tried again");
    assert_eq!(proxy.count("ListSubscriptionsByTopic"), 4);
}

/// How the queues subscribed to `arn:...:t-3` are named: `q-3-`.
fn queue_prefix(arn: &str) -> String {
    format!("q-{}-", arn.rsplit('-').next().unwrap_or_default())
}
