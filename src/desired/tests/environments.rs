//! One desired state for several environments (section 8 of the contract):
//! Environment documents, variables, `metadata.environments`, and every
//! problem located at the file, line and column of the value, naming its
//! environment.

use super::*;

const ENVIRONMENTS: &str = "\
apiVersion: driftd/v1
kind: Environment
metadata:
  name: dev
spec:
  accountId: \"111111111111\"
  region: us-east-1
  vars:
    cpuThreshold: 80
    subs: [{protocol: email, endpoint: dev@example.com}]
---
apiVersion: driftd/v1
kind: Environment
metadata:
  name: prod
spec:
  accountId: \"222222222222\"
  region: eu-west-1
  roleArn: arn:aws:iam::222222222222:role/driftd
  externalId: driftd-prod
  vars:
    cpuThreshold: 85
    subs:
      - {protocol: email, endpoint: ops@example.com}
      - {protocol: email, endpoint: oncall@example.com}
";

const MONITORING: &str = "\
apiVersion: driftd/v1
kind: Topic
metadata:
  name: app-${env}-alerts
spec:
  subscriptions: ${vars.subs}
---
apiVersion: driftd/v1
kind: Alarm
metadata:
  name: app-${env}-cpu-high
spec:
  namespace: AWS/ECS
  metricName: CPUUtilization
  dimensions:
    ClusterName: app-${env}
  statistic: Average
  period: 60
  evaluationPeriods: 3
  threshold: ${vars.cpuThreshold}
  comparisonOperator: GreaterThanThreshold
  alarmActions: [\"topic:app-${env}-alerts\"]
  description: \"CPU of app-${env} in ${accountId}/${region}; $${not a variable}\"
---
apiVersion: driftd/v1
kind: Secret
metadata:
  name: app/${env}/db
  environments: [prod]
spec:
  initialValue: {fromEnv: APP_DB_JSON}
";

/// Every environment's state, or the rendered errors.
fn load_all(dir: &Dir, only: &[&str]) -> Result<Vec<EnvironmentState>, Vec<String>> {
    let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
    let prefix = format!("{}/", dir.path().display());
    load_environments(dir.path(), &only)
        .map(|l| l.environments)
        .map_err(|e| {
            e.0.iter()
                .map(|e| e.to_string().replace(&prefix, ""))
                .collect()
        })
}

/// A directory of these environments and the monitoring documents that use them.
fn with_monitoring(environments: &str, monitoring: &str) -> Dir {
    Dir::new(&[
        ("environments.yaml", environments),
        ("monitoring.yaml", monitoring),
    ])
}

fn names(env: &EnvironmentState) -> Vec<String> {
    env.state
        .resources
        .iter()
        .map(|r| format!("{} {}", r.kind(), r.name))
        .collect()
}

#[test]
fn every_document_is_instantiated_per_environment_with_its_variables() {
    let dir = with_monitoring(ENVIRONMENTS, MONITORING);
    let envs = load_all(&dir, &[]).expect("valid");
    let [dev, prod] = envs.as_slice() else {
        panic!("two environments expected")
    };
    assert_eq!(dev.environment.name, "dev");
    assert_eq!(
        names(dev),
        ["Topic app-dev-alerts", "Alarm app-dev-cpu-high"]
    );
    assert_eq!(
        names(prod),
        [
            "Topic app-prod-alerts",
            "Alarm app-prod-cpu-high",
            "Secret app/prod/db"
        ],
        "the secret is only in the environments it lists"
    );
    assert_eq!(
        prod.environment.role_arn.as_deref(),
        Some("arn:aws:iam::222222222222:role/driftd")
    );
    assert_eq!(prod.environment.external_id.as_deref(), Some("driftd-prod"));

    let alarm = |env: &EnvironmentState| match &env.state.resources[1].spec {
        Spec::Alarm(a) => a.clone(),
        other => panic!("{other:?}"),
    };
    // A whole `${...}` keeps the variable's type: a number here.
    assert_eq!(alarm(dev).threshold, Some(80.0));
    assert_eq!(alarm(prod).threshold, Some(85.0));
    assert_eq!(alarm(prod).alarm_actions, ["topic:app-prod-alerts"]);
    assert_eq!(
        alarm(prod).description.as_deref(),
        Some("CPU of app-prod in 222222222222/eu-west-1; ${not a variable}")
    );
    // ... and a list: the subscriptions of each environment.
    let subscriptions = |env: &EnvironmentState| match &env.state.resources[0].spec {
        Spec::Topic(t) => t.subscriptions.len(),
        other => panic!("{other:?}"),
    };
    assert_eq!((subscriptions(dev), subscriptions(prod)), (1, 2));

    let only_prod = load_all(&dir, &["prod"]).expect("valid");
    assert_eq!(only_prod.len(), 1);
    assert_eq!(only_prod[0].environment.name, "prod");
}

#[test]
fn without_environments_there_is_one_default_and_plan_still_loads() {
    let dir = Dir::new(&[("a.yaml", TOPIC)]);
    let envs = load_all(&dir, &[]).expect("valid");
    assert_eq!(envs.len(), 1);
    assert_eq!(envs[0].environment, Environment::implicit());
    assert_eq!(envs[0].environment.name, "default");
    assert_eq!(envs[0].state, dir.state(), "load() reads the same state");
}

#[test]
fn every_resource_carries_its_environment() {
    let dir = with_monitoring(ENVIRONMENTS, MONITORING);
    let envs = load_all(&dir, &[]).expect("valid");
    for env in &envs {
        assert!(!env.state.resources.is_empty());
        for r in &env.state.resources {
            assert_eq!(r.environment, env.environment.name, "{}", r.name);
        }
    }
}

#[test]
fn an_unknown_variable_is_reported_at_its_line_naming_the_environment() {
    let broken = MONITORING.replace("${vars.cpuThreshold}", "${vars.cpuTreshold}");
    let dir = with_monitoring(ENVIRONMENTS, &broken);
    let errors = load_all(&dir, &[]).expect_err("unknown variable");
    assert_eq!(
        errors,
        [
            "monitoring.yaml:20:3: Alarm app-${env}-cpu-high: spec.threshold: unknown variable \
             ${vars.cpuTreshold} in environment dev (known: ${env}, ${accountId}, ${region}, \
             ${vars.cpuThreshold}, ${vars.subs})",
            "monitoring.yaml:20:3: Alarm app-${env}-cpu-high: spec.threshold: unknown variable \
             ${vars.cpuTreshold} in environment prod (known: ${env}, ${accountId}, ${region}, \
             ${vars.cpuThreshold}, ${vars.subs})",
        ]
    );
    // Limited to one environment, only its problem is said.
    assert_eq!(load_all(&dir, &["prod"]).expect_err("unknown").len(), 1);
}

#[test]
fn a_problem_outside_variables_is_said_once_not_per_environment() {
    let broken = MONITORING.replace("period: 60", "period: 61");
    let dir = with_monitoring(ENVIRONMENTS, &broken);
    let errors = load_all(&dir, &[]).expect_err("bad period");
    assert_eq!(
        errors.len(),
        2,
        "one per environment: each names its alarm: {errors:?}"
    );
    for (error, env) in errors.iter().zip(["dev", "prod"]) {
        let said = format!("Alarm app-{env}-cpu-high: spec.period");
        assert!(error.contains(&said), "{error}");
    }
    // A document whose name holds no variable says it once.
    let fixed_name = broken.replace("app-${env}-cpu-high", "app-cpu-high");
    let dir = with_monitoring(ENVIRONMENTS, &fixed_name);
    let errors = load_all(&dir, &[]).expect_err("bad period");
    assert!(
        errors.iter().filter(|e| e.contains("spec.period")).count() == 1,
        "{errors:?}"
    );
}

#[test]
fn environments_sharing_an_account_cannot_declare_the_same_resource() {
    let same_account = ENVIRONMENTS
        .replace("\"222222222222\"", "\"111111111111\"")
        .replace("eu-west-1", "us-east-1")
        .replace("arn:aws:iam::222222222222", "arn:aws:iam::111111111111");
    let fixed = MONITORING.replace("app-${env}-cpu-high", "app-cpu-high");
    let dir = with_monitoring(&same_account, &fixed);
    let errors = load_all(&dir, &[]).expect_err("a fight over one alarm");
    assert_eq!(
        errors,
        ["monitoring.yaml:11:3: Alarm app-cpu-high: metadata.name: Alarm app-cpu-high is declared \
          in environments dev and prod, which share account 111111111111 and region us-east-1: \
          name it after ${env}, or list one of them in metadata.environments"]
    );
}

#[test]
fn environment_documents_and_their_references_are_checked() {
    let bad = ENVIRONMENTS
        .replace("\"111111111111\"", "\"1111\"")
        .replace(
            "arn:aws:iam::222222222222:role/driftd",
            "arn:aws:iam::333333333333:role/driftd",
        );
    let listing = MONITORING.replace("environments: [prod]", "environments: [prod, staging]");
    let dir = with_monitoring(&bad, &listing);
    let errors = load_all(&dir, &[]).expect_err("bad environments");
    assert_eq!(
        errors,
        [
            "environments.yaml:6:3: Environment dev: spec.accountId: must be a 12-digit AWS \
             account id, quoted (\"123456789012\")",
            "environments.yaml:19:3: Environment prod: spec.roleArn: names account 333333333333, \
             not this environment's accountId 222222222222",
        ]
    );
    let dir = with_monitoring(ENVIRONMENTS, &listing);
    assert_eq!(
        load_all(&dir, &[]).expect_err("an unknown environment"),
        ["monitoring.yaml:29:24: Secret app/${env}/db: metadata.environments[1]: no Environment \
          named \"staging\" is declared (declared: dev, prod)"]
    );
    let unknown = load_all(&dir_of(ENVIRONMENTS), &["stage"]).expect_err("no such environment");
    assert!(
        unknown[0].ends_with("--env \"stage\": no such environment (declared: dev, prod)"),
        "{unknown:?}"
    );
}

fn dir_of(environments: &str) -> Dir {
    Dir::new(&[("environments.yaml", environments)])
}

#[test]
fn render_prints_each_environments_documents_without_secret_values() {
    let dir = with_monitoring(ENVIRONMENTS, MONITORING);
    std::env::set_var("APP_DB_JSON", "{\"password\": \"RENDER-MARKER-5f1c\"}");
    let loaded = render_environments(dir.path(), &["prod".to_string()]).expect("valid");
    let mut out = Vec::new();
    loaded.render(&mut out).expect("render");
    let text = String::from_utf8(out).expect("UTF-8");
    assert!(
        text.starts_with("# environment: prod (account 222222222222, region eu-west-1)\n---\n"),
        "{text}"
    );
    assert!(text.contains("  name: app-prod-cpu-high\n"), "{text}");
    assert!(text.contains("  threshold: 85\n"), "{text}");
    assert!(text.contains("    fromEnv: APP_DB_JSON\n"), "{text}");
    assert!(
        !text.contains("RENDER-MARKER"),
        "a secret value was read: {text}"
    );
    assert!(!text.contains("app-dev"), "only prod: {text}");
    // `$${` is the literal `${` it stands for, once rendered.
    assert!(text.contains("; ${not a variable}"), "{text}");
}

#[test]
fn an_events_queue_url_is_an_sqs_queue_url() {
    let with = |url: &str| {
        ENVIRONMENTS.replace(
            "  region: eu-west-1\n",
            &format!("  region: eu-west-1\n  eventsQueueUrl: {url}\n"),
        )
    };
    let good = "https://sqs.eu-west-1.amazonaws.com/222222222222/driftd-events";
    let loaded = load_all(&dir_of(&with(good)), &[]).expect("valid");
    let prod = &loaded[1].environment;
    assert_eq!(prod.events_queue_url.as_deref(), Some(good));
    assert_eq!(loaded[0].environment.events_queue_url, None);
    for bad in [
        "arn:aws:sqs:eu-west-1:222222222222:driftd-events",
        "https://sqs.eu-west-1.amazonaws.com/driftd-events",
        "https://sqs.eu-west-1.amazonaws.com/2222/driftd-events",
    ] {
        assert_eq!(
            load_all(&dir_of(&with(bad)), &[]).expect_err(bad),
            [
                "environments.yaml:19:3: Environment prod: spec.eventsQueueUrl: must be an SQS \
              queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"
            ],
            "{bad}"
        );
    }
}
