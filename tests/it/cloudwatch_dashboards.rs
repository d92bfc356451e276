//! The dashboard layer against a private moto: create, read back, drift that
//! is and is not drift, the body cache, ownership, and what moto does
//! differently from CloudWatch.

use crate::common;
use common::kinds::{ctx, resource};

use std::sync::Arc;

use common::cloudwatch::Requests;

use driftd::aws::dashboards::SdkDashboards;
use driftd::aws::{Aws, ErrorClass};
use driftd::engine::{Action, Reconciler, Refs};
use driftd::kinds::dashboard::{self, Dashboard, Live};
use driftd::kinds::{Resource, Spec};
use serde_json::Value;

const OWNER: &str = "driftd";

/// driftd's AWS clients against this moto, the dashboard seam counting its requests.
async fn clients(moto: &common::Moto) -> (Aws, Requests, aws_sdk_cloudwatch::Client) {
    let config = moto.sdk_config().await;
    let requests = Requests::default();
    let counted = common::cloudwatch::intercepted(&config, requests.interceptor());
    let mut aws = Aws::from_sdk_config(&config);
    aws.dashboards = Arc::new(SdkDashboards::from_client(counted));
    (aws, requests, aws_sdk_cloudwatch::Client::new(&config))
}

/// A Dashboard resource whose body is written in YAML, as users write it.
fn dashboard(name: &str, body_yaml: &str) -> Resource {
    let body: Value = serde_yaml::from_str(body_yaml).expect("test YAML");
    let spec = dashboard::Spec {
        body: Some(body),
        body_file: None,
        notice: false,
    };
    resource("dashboards.yaml", name, Spec::Dashboard(spec))
}

/// The same resource, asking for the "managed by driftd" notice widget.
fn noticed(mut resource: Resource) -> Resource {
    if let Spec::Dashboard(spec) = &mut resource.spec {
        spec.notice = true;
    }
    resource
}

const BODY: &str = r##"
widgets:
  - {type: metric, x: 0, y: 0, width: 12, height: 6,
     properties: {title: ECS CPU, region: us-east-1, stat: Average, period: 300,
                  metrics: [[AWS/ECS, CPUUtilization, ClusterName, tiktimer-dev]]}}
  - {type: text, x: 12, y: 0, width: 12, height: 6,
     properties: {markdown: "# Runbook"}}
"##;

fn spec(resource: &Resource) -> &dashboard::Spec {
    Dashboard::spec(&resource.spec).expect("a dashboard")
}

/// Observes one dashboard as a pass would.
async fn observe(aws: &Aws, resource: &Resource) -> Option<Live> {
    let mut observed = Dashboard::observe(aws, &[(resource, spec(resource))])
        .await
        .expect("ListDashboards");
    observed
        .remove(&resource.name)
        .expect("every requested name is answered")
        .expect("GetDashboard")
}

/// Observes, diffs and applies one dashboard; returns the action and the
/// changes as "field: from → to".
async fn pass(aws: &Aws, resource: &Resource) -> (Action, Vec<String>) {
    let live = observe(aws, resource).await;
    let diff = Dashboard::diff(
        resource,
        spec(resource),
        live.as_ref(),
        &driftd::kinds::Inputs::default(),
        &Refs::default(),
        &ctx(),
    );
    Dashboard::apply(
        aws,
        resource,
        spec(resource),
        &diff.ops,
        &mut Refs::default(),
        &ctx(),
    )
    .await
    .expect("apply");
    // Each change as the plan shows it: `field: from → to`.
    let changes = diff.changes.iter().map(|c| {
        let [from, to] = [&c.from, &c.to].map(|v| v.as_deref().unwrap_or("(none)"));
        format!("{}: {from} → {to}", c.field)
    });
    (diff.action, changes.collect())
}

/// The same value written differently: keys in reverse order, every integer
/// as a float (`300` → `300.0`), pretty-printed.
fn reformatted(value: &Value) -> String {
    fn rewrite(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .rev()
                    .map(|(k, v)| (k.clone(), rewrite(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(rewrite).collect()),
            Value::Number(n) if n.is_i64() || n.is_u64() => n
                .as_f64()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .unwrap_or_else(|| v.clone()),
            other => other.clone(),
        }
    }
    serde_json::to_string_pretty(&rewrite(value)).expect("serialise")
}

async fn body_in_aws(raw: &aws_sdk_cloudwatch::Client, name: &str) -> String {
    raw.get_dashboard()
        .dashboard_name(name)
        .send()
        .await
        .expect("GetDashboard")
        .dashboard_body()
        .expect("a body")
        .to_string()
}

#[tokio::test]
async fn a_dashboard_is_created_read_back_and_not_fetched_while_unchanged() {
    let moto = common::Moto::start();
    let (aws, requests, raw) = clients(&moto).await;
    let ops = dashboard("ops-overview", BODY);

    let (action, changes) = pass(&aws, &ops).await;
    assert_eq!(action, Action::Create);
    assert_eq!(
        changes,
        ["body: (none) → 2 widgets", "driftd:owner: (none) → driftd"]
    );
    // moto cannot tag dashboards (TagResource answers ResourceNotFoundException
    // for anything but alarms and insight rules; real CloudWatch tags them):
    // the write tried once, tolerated the refusal, and remembers it.
    assert_eq!(requests.count("TagResource"), 1);
    assert!(aws.dashboards.tag_memory().refused());

    // Read back: in sync, fetched once, exactly the declared body. Without
    // a tag nothing proves driftd owns it: it would never be pruned.
    assert_eq!(pass(&aws, &ops).await, (Action::InSync, vec![]));
    let live = observe(&aws, &ops).await.expect("exists");
    assert_eq!(live.body.as_ref(), spec(&ops).body());
    assert_eq!(live.tags, None, "tags are not read where they are refused");
    assert!(!dashboard::is_owned(&live, OWNER));
    assert_eq!(requests.count("ListTagsForResource"), 0);
    assert_eq!(requests.count("TagResource"), 1, "said once, tried once");
    assert_eq!(
        requests.count("GetDashboard"),
        1,
        "fetched once after the write"
    );

    // Unchanged: listed, never fetched again.
    for _ in 0..3 {
        assert_eq!(pass(&aws, &ops).await, (Action::InSync, vec![]));
    }
    assert_eq!(
        requests.count("GetDashboard"),
        1,
        "an unchanged body is not fetched"
    );
    // One list walk per observe (6), plus the ARN lookup after the create.
    assert_eq!(requests.count("ListDashboards"), 7);

    // The same value, written differently by someone else: fetched (it
    // changed in AWS), but not drift.
    let text = reformatted(&live.body);
    assert!(text.contains("300.0"), "{text}");
    common::cloudwatch::put_dashboard(&raw, "ops-overview", &text).await;
    assert_eq!(pass(&aws, &ops).await, (Action::InSync, vec![]));
    assert_eq!(requests.count("GetDashboard"), 2);
    assert_eq!(
        body_in_aws(&raw, "ops-overview").await,
        text,
        "driftd left it alone"
    );

    // A real change: drift, named by its path, and corrected.
    let mut edited = live.body.as_ref().clone();
    edited["widgets"][0]["properties"]["title"] = "CPU (edited in the console)".into();
    common::cloudwatch::put_dashboard(&raw, "ops-overview", &edited.to_string()).await;
    assert_eq!(
        pass(&aws, &ops).await,
        (
            Action::Update,
            vec![
                r#"body.widgets[0].properties.title: "CPU (edited in the console)" → "ECS CPU""#
                    .to_string()
            ]
        )
    );
    assert_eq!(pass(&aws, &ops).await, (Action::InSync, vec![]));
    let stored: Value = serde_json::from_str(&body_in_aws(&raw, "ops-overview").await).unwrap();
    assert_eq!(stored["widgets"][0]["properties"]["title"], "ECS CPU");
}

#[tokio::test]
async fn dashboards_made_elsewhere_are_adopted_unchanged_and_only_a_notice_proves_ownership_on_moto(
) {
    let moto = common::Moto::start();
    let (aws, requests, raw) = clients(&moto).await;
    let declared = dashboard("legacy", BODY);
    let body = spec(&declared).body().to_string();
    for name in ["legacy", "someone-elses"] {
        common::cloudwatch::put_dashboard(&raw, name, &body).await;
    }

    // Same content: in sync. Adoption sets the owner tag on the side (a tag
    // is not a body change), which moto refuses (real CloudWatch sets it):
    // tried once, then known. The body is never written.
    assert_eq!(pass(&aws, &declared).await, (Action::InSync, vec![]));
    assert_eq!(pass(&aws, &declared).await, (Action::InSync, vec![]));
    assert_eq!(requests.count("TagResource"), 1);
    assert_eq!(requests.count("PutDashboard"), 0);
    assert_eq!(body_in_aws(&raw, "legacy").await, body);

    // Asked for, the notice widget is written, and it is the one proof of
    // ownership an endpoint without dashboard tags has.
    let with_notice = noticed(dashboard("noticed", BODY));
    assert_eq!(pass(&aws, &with_notice).await.0, Action::Create);
    assert_eq!(pass(&aws, &with_notice).await, (Action::InSync, vec![]));
    // A copy of it under another name ("Save as") names the original.
    let copied = body_in_aws(&raw, "noticed").await;
    assert!(copied.contains("Managed by driftd"), "{copied}");
    common::cloudwatch::put_dashboard(&raw, "noticed-copy", &copied).await;

    let observed = dashboard::observe_named(
        &aws,
        &["legacy", "someone-elses", "noticed", "noticed-copy"],
    )
    .await
    .expect("observe");
    let owned = |name: &str, owner: &str| {
        let live = observed[name]
            .as_ref()
            .expect("read")
            .as_ref()
            .expect("exists");
        dashboard::is_owned(live, owner)
    };
    assert!(
        !owned("legacy", OWNER),
        "adopted, but unprovable without a tag"
    );
    assert!(!owned("someone-elses", OWNER), "never declared");
    assert!(
        owned("noticed", OWNER),
        "its notice names this owner and dashboard"
    );
    assert!(!owned("noticed-copy", OWNER), "a copy names the original");
    assert!(!owned("noticed", "another-driftd"), "another owner");
}

#[tokio::test]
async fn the_seam_against_moto() {
    let moto = common::Moto::start();
    let (aws, _requests, raw) = clients(&moto).await;
    let seam = &aws.dashboards;

    // moto checks only that the body is JSON ("Body is invalid JSON"); real
    // CloudWatch validates the structure too and lists DashboardValidationMessages
    // (data path and message), which the seam appends to the error's message.
    let error = seam
        .put("broken", "{not json")
        .await
        .expect_err("moto rejects a body that is not JSON");
    assert_eq!(error.class, ErrorClass::Validation);
    assert_eq!(error.code.as_deref(), Some("InvalidParameterInput"));
    assert!(error.message.contains("Body is invalid JSON"), "{error}");
    assert!(
        error.to_string().starts_with("cloudwatch.PutDashboard: "),
        "{error}"
    );

    // A valid body: moto returns no warnings (real CloudWatch may).
    let warnings = seam
        .put("team-a-overview", r#"{"widgets": []}"#)
        .await
        .expect("PutDashboard");
    assert!(warnings.is_empty());
    seam.put("team-b-overview", r#"{"widgets": []}"#)
        .await
        .expect("PutDashboard");

    let all = seam.list("").await.expect("ListDashboards");
    assert_eq!(all.len(), 2);
    let team_a = seam.list("team-a").await.expect("ListDashboards");
    assert_eq!(team_a.len(), 1);
    let entry = &team_a[0];
    assert_eq!(entry.name, "team-a-overview");
    assert_eq!(entry.size, Some(15), "moto's Size is the body's length");
    assert!(
        entry.version().is_some(),
        "LastModified and Size are reported"
    );
    let arn = entry.arn.clone().expect("an ARN");
    assert_eq!(
        arn,
        "arn:aws:cloudwatch::123456789012:dashboard/team-a-overview"
    );

    assert_eq!(
        seam.get("team-a-overview")
            .await
            .expect("GetDashboard")
            .as_deref(),
        Some(r#"{"widgets": []}"#)
    );
    assert_eq!(seam.get("absent").await.expect("GetDashboard"), None);

    // Tagging: moto refuses dashboards and reports no tags on them.
    assert!(seam
        .tags(&arn)
        .await
        .expect("ListTagsForResource")
        .is_empty());
    let tags = [(driftd::kinds::OWNER_TAG.to_string(), OWNER.to_string())].into();
    let error = seam
        .tag(&arn, &tags)
        .await
        .expect_err("moto cannot tag dashboards");
    assert_eq!(error.class, ErrorClass::NotFound);
    let listed = raw
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect("ListTagsForResource");
    assert!(listed.tags().is_empty());

    seam.delete("team-a-overview")
        .await
        .expect("DeleteDashboards");
    seam.delete("team-a-overview")
        .await
        .expect("deleting what is gone is not an error");
    assert_eq!(seam.list("").await.expect("ListDashboards").len(), 1);
}
