//! The least-privilege IAM policy driftd needs, generated from the list of
//! AWS operations the code calls (`driftd iam-policy`), so it cannot fall out
//! of date: the emulator tests record every call driftd makes and check each
//! one against this list.

use serde_json::{json, Value};

/// Where a permission applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The action supports no resource-level permissions (List*, tag:GetResources).
    Any,
    /// CloudWatch metric alarms.
    Alarm,
    /// CloudWatch dashboards (global: no region in the ARN).
    Dashboard,
    /// SNS topics.
    Topic,
    /// Secrets Manager secrets.
    Secret,
    /// ECS services.
    EcsService,
}

/// One IAM action driftd calls, and why.
#[derive(Debug, Clone, Copy)]
pub struct Permission {
    /// The IAM action, e.g. `cloudwatch:PutMetricAlarm`.
    pub action: &'static str,
    pub scope: Scope,
    /// Which statement it goes in (one per purpose, so an operator can drop a kind).
    pub sid: &'static str,
}

const fn p(action: &'static str, scope: Scope, sid: &'static str) -> Permission {
    Permission { action, scope, sid }
}

/// Every AWS operation driftd calls, as an IAM action.
pub const PERMISSIONS: &[Permission] = &[
    // Tags of alarms, topics and secrets, 100 ARNs per call.
    p("tag:GetResources", Scope::Any, "ReadTags"),
    // Alarms.
    p("cloudwatch:DescribeAlarms", Scope::Alarm, "Alarms"),
    p("cloudwatch:PutMetricAlarm", Scope::Alarm, "Alarms"),
    p("cloudwatch:TagResource", Scope::Alarm, "Alarms"),
    p("cloudwatch:DeleteAlarms", Scope::Alarm, "Alarms"),
    // Dashboards.
    p("cloudwatch:ListDashboards", Scope::Any, "ListDashboards"),
    p("cloudwatch:GetDashboard", Scope::Dashboard, "Dashboards"),
    p("cloudwatch:PutDashboard", Scope::Dashboard, "Dashboards"),
    p(
        "cloudwatch:DeleteDashboards",
        Scope::Dashboard,
        "Dashboards",
    ),
    p("cloudwatch:TagResource", Scope::Dashboard, "Dashboards"),
    // The owner tag is the proof of ownership of a dashboard.
    p(
        "cloudwatch:ListTagsForResource",
        Scope::Dashboard,
        "Dashboards",
    ),
    // Topics and subscriptions.
    p("sns:ListTopics", Scope::Any, "ListTopics"),
    // The account's subscriptions at once, when that takes fewer calls.
    p("sns:ListSubscriptions", Scope::Any, "ListTopics"),
    p("sns:GetTopicAttributes", Scope::Topic, "Topics"),
    p("sns:SetTopicAttributes", Scope::Topic, "Topics"),
    p("sns:CreateTopic", Scope::Topic, "Topics"),
    p("sns:DeleteTopic", Scope::Topic, "Topics"),
    p("sns:TagResource", Scope::Topic, "Topics"),
    p("sns:ListSubscriptionsByTopic", Scope::Topic, "Topics"),
    p("sns:Subscribe", Scope::Topic, "Topics"),
    p("sns:Publish", Scope::Topic, "Topics"),
    // Unsubscribe is authorised on the subscription, whose ARN is not known in advance.
    p("sns:Unsubscribe", Scope::Any, "Unsubscribe"),
    // Secrets: metadata only. Values are read only for `valuePolicy: enforce`
    // or `requiredKeys` (statement SecretValues, which can be dropped otherwise).
    p("secretsmanager:ListSecrets", Scope::Any, "ListSecrets"),
    p(
        "secretsmanager:GetRandomPassword",
        Scope::Any,
        "ListSecrets",
    ),
    p("secretsmanager:CreateSecret", Scope::Secret, "Secrets"),
    p("secretsmanager:UpdateSecret", Scope::Secret, "Secrets"),
    p("secretsmanager:TagResource", Scope::Secret, "Secrets"),
    p("secretsmanager:DeleteSecret", Scope::Secret, "Secrets"),
    p(
        "secretsmanager:GetSecretValue",
        Scope::Secret,
        "SecretValues",
    ),
    p(
        "secretsmanager:PutSecretValue",
        Scope::Secret,
        "SecretValues",
    ),
    // ECS service counts (never create, delete or redeploy).
    p(
        "ecs:DescribeServices",
        Scope::EcsService,
        "EcsServiceCounts",
    ),
    p("ecs:UpdateService", Scope::EcsService, "EcsServiceCounts"),
    p(
        "application-autoscaling:DescribeScalableTargets",
        Scope::Any,
        "EcsAutoscaling",
    ),
];

/// The IAM action of an AWS call as the SDK names it (`signing name`, `Operation`),
/// e.g. (`monitoring`, `PutMetricAlarm`) -> `cloudwatch:PutMetricAlarm`.
pub fn action_of(signing_service: &str, operation: &str) -> String {
    let prefix = match signing_service {
        "monitoring" => "cloudwatch",
        "tagging" => "tag",
        other => other,
    };
    format!("{prefix}:{operation}")
}

/// Whether the policy grants this action.
pub fn allows(action: &str) -> bool {
    PERMISSIONS.iter().any(|p| p.action == action)
}

/// Where the policy's ARNs point: partition, region and account (`*` = any).
#[derive(Debug, Clone)]
pub struct Target {
    pub partition: String,
    pub region: String,
    pub account: String,
    /// The roles of Environment documents (`roleArn`) this process assumes
    /// to reach other accounts: granted `sts:AssumeRole` on exactly these.
    /// (`sts:GetCallerIdentity`, the account guard, needs no permission.)
    pub assume_roles: Vec<String>,
    /// `run --lease-table`: the lease item's reads and conditional writes
    /// on that table (contract section 7).
    pub lease_table: Option<String>,
    /// `run --events-queue`: receiving and deleting its messages
    /// (contract section 9), as a queue URL or ARN.
    pub events_queue: Option<String>,
}

impl Default for Target {
    fn default() -> Target {
        Target {
            partition: "aws".into(),
            region: "*".into(),
            account: "*".into(),
            assume_roles: Vec::new(),
            lease_table: None,
            events_queue: None,
        }
    }
}

fn resource(scope: Scope, t: &Target) -> String {
    match scope {
        Scope::Any => "*".to_string(),
        Scope::Alarm => format!(
            "arn:{}:cloudwatch:{}:{}:alarm:*",
            t.partition, t.region, t.account
        ),
        Scope::Dashboard => format!("arn:{}:cloudwatch::{}:dashboard/*", t.partition, t.account),
        Scope::Topic => format!("arn:{}:sns:{}:{}:*", t.partition, t.region, t.account),
        Scope::Secret => format!(
            "arn:{}:secretsmanager:{}:{}:secret:*",
            t.partition, t.region, t.account
        ),
        Scope::EcsService => format!(
            "arn:{}:ecs:{}:{}:service/*",
            t.partition, t.region, t.account
        ),
    }
}

/// The policy document: one statement per purpose, actions sorted, no `*` action.
pub fn policy(target: &Target) -> Value {
    let mut sids: Vec<&str> = Vec::new();
    for p in PERMISSIONS {
        if !sids.contains(&p.sid) {
            sids.push(p.sid);
        }
    }
    let statements: Vec<Value> = sids
        .iter()
        .map(|sid| {
            let of_sid: Vec<&Permission> = PERMISSIONS.iter().filter(|p| p.sid == *sid).collect();
            let mut actions: Vec<&str> = of_sid.iter().map(|p| p.action).collect();
            actions.sort_unstable();
            actions.dedup();
            let mut resources: Vec<String> = of_sid.iter().map(|p| resource(p.scope, target)).collect();
            resources.sort_unstable();
            resources.dedup();
            json!({
                "Sid": sid,
                "Effect": "Allow",
                "Action": actions,
                "Resource": if resources.len() == 1 { json!(resources[0]) } else { json!(resources) },
            })
        })
        .collect();
    let mut statements = statements;
    if !target.assume_roles.is_empty() {
        let mut roles = target.assume_roles.clone();
        roles.sort_unstable();
        roles.dedup();
        statements.push(json!({
            "Sid": "AssumeEnvironmentRoles",
            "Effect": "Allow",
            "Action": ["sts:AssumeRole"],
            "Resource": if roles.len() == 1 { json!(roles[0]) } else { json!(roles) },
        }));
    }
    if let Some(table) = &target.lease_table {
        statements.push(json!({
            "Sid": "Lease",
            "Effect": "Allow",
            "Action": [
                "dynamodb:DeleteItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem"
            ],
            "Resource": format!(
                "arn:{}:dynamodb:{}:{}:table/{table}",
                target.partition, target.region, target.account
            ),
        }));
    }
    if let Some(queue) = &target.events_queue {
        statements.push(json!({
            "Sid": "EventsQueue",
            "Effect": "Allow",
            "Action": [
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage"
            ],
            "Resource": queue_arn(queue, target),
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The ARN of a queue given as an ARN or as its URL
/// (`https://sqs.<region>.amazonaws.com/<account>/<name>`; another host,
/// such as an emulator's, takes the policy's region).
fn queue_arn(queue: &str, target: &Target) -> String {
    if queue.starts_with("arn:") {
        return queue.to_string();
    }
    let rest = queue.split_once("://").map_or(queue, |(_, r)| r);
    let mut parts = rest.split('/');
    let host = parts.next().unwrap_or_default();
    let account = parts.next().unwrap_or(&target.account);
    let name = parts.next().unwrap_or("*");
    let region = host
        .strip_prefix("sqs.")
        .and_then(|h| h.split('.').next())
        .unwrap_or(&target.region);
    format!("arn:{}:sqs:{region}:{account}:{name}", target.partition)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_action_is_a_wildcard() {
        for p in PERMISSIONS {
            assert!(!p.action.contains('*'), "{}", p.action);
            assert!(p.action.contains(':'), "{}", p.action);
        }
    }

    #[test]
    fn sdk_names_map_to_iam_actions() {
        assert_eq!(
            action_of("monitoring", "PutMetricAlarm"),
            "cloudwatch:PutMetricAlarm"
        );
        assert_eq!(action_of("tagging", "GetResources"), "tag:GetResources");
        assert!(allows(&action_of("ecs", "UpdateService")));
        assert!(
            !allows(&action_of("ecs", "DeleteService")),
            "driftd never deletes services"
        );
        assert!(!allows(&action_of("ecs", "CreateService")));
    }

    #[test]
    fn resources_are_scoped_where_aws_allows() {
        let doc = policy(&Target {
            partition: "aws".into(),
            region: "eu-west-1".into(),
            account: "123456789012".into(),
            assume_roles: Vec::new(),
            lease_table: None,
            events_queue: None,
        });
        let statements = doc["Statement"].as_array().unwrap();
        assert!(statements
            .iter()
            .all(|s| s["Sid"] != "AssumeEnvironmentRoles" && s["Sid"] != "Lease"));
        let alarms = statements.iter().find(|s| s["Sid"] == "Alarms").unwrap();
        assert_eq!(
            alarms["Resource"],
            "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:*"
        );
        let values = statements
            .iter()
            .find(|s| s["Sid"] == "SecretValues")
            .unwrap();
        assert_eq!(
            values["Resource"],
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:*"
        );
        for s in statements {
            for a in s["Action"].as_array().unwrap() {
                assert_ne!(a, "*");
            }
        }
    }

    #[test]
    fn the_roles_of_environments_may_be_assumed_and_no_other() {
        let prod = "arn:aws:iam::222222222222:role/driftd";
        let doc = policy(&Target {
            assume_roles: vec![prod.into()],
            ..Target::default()
        });
        let assume = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "AssumeEnvironmentRoles")
            .expect("statement");
        assert_eq!(assume["Action"], json!(["sts:AssumeRole"]));
        assert_eq!(assume["Resource"], prod);
    }

    #[test]
    fn the_lease_table_alone_with_a_lease() {
        let doc = policy(&Target {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            lease_table: Some("driftd-leases".into()),
            ..Target::default()
        });
        let lease = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "Lease")
            .expect("statement");
        assert_eq!(
            lease["Resource"],
            "arn:aws:dynamodb:us-east-1:123456789012:table/driftd-leases"
        );
        assert_eq!(lease["Action"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn the_events_queue_by_url_or_arn() {
        let of = |queue: &str| {
            let doc = policy(&Target {
                events_queue: Some(queue.into()),
                ..Target::default()
            });
            doc["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["Sid"] == "EventsQueue")
                .expect("statement")["Resource"]
                .clone()
        };
        let arn = "arn:aws:sqs:eu-west-1:123456789012:driftd-events";
        assert_eq!(
            of("https://sqs.eu-west-1.amazonaws.com/123456789012/driftd-events"),
            arn
        );
        assert_eq!(of(arn), arn);
    }
}
