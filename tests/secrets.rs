//! Secrets against a private moto: the Secrets Manager seam and the Secret kind
//! (observe, diff, apply) with the real SDK, and the values that must never
//! be printed.

mod common;

use std::collections::BTreeMap;

use driftd::aws::secretsmanager::{NewSecret, SdkSecretsManager, SecretsManager};
use driftd::aws::Aws;
use driftd::engine::{Action, Ctx, Diff, Reconciler, Refs};
use driftd::kinds::secret::{self, Secret};
use driftd::kinds::{Change, Origin, Resource, Spec, Tags, OWNER_TAG};

fn ctx() -> Ctx {
    Ctx {
        owner: "driftd".to_string(),
    }
}

/// A Secret resource from the `spec:` of a document, as YAML.
fn secret(name: &str, spec_yaml: &str) -> Resource {
    let spec: secret::Spec = serde_yaml::from_str(spec_yaml).expect("secret spec");
    Resource {
        name: name.to_string(),
        mode: None,
        origin: Origin {
            file: "desired-state/secrets.yaml".into(),
            line: 1,
            column: 1,
        },
        spec: Spec::Secret(spec),
    }
}

fn spec_of(resource: &Resource) -> &secret::Spec {
    Secret::spec(&resource.spec).expect("a Secret")
}

/// One pass as the engine runs it: one batched observe, then diff and apply
/// per resource. Returns each resource's diff, in order.
async fn pass(aws: &Aws, resources: &[Resource]) -> Vec<Diff<secret::Ops>> {
    let batch: Vec<_> = resources.iter().map(|r| (r, spec_of(r))).collect();
    let mut observed = Secret::observe(aws, &batch).await.expect("observe");
    let mut diffs = Vec::new();
    for resource in resources {
        let live = observed
            .remove(&resource.name)
            .expect("every resource observed")
            .expect("observe this secret");
        let spec = spec_of(resource);
        let diff = Secret::diff(resource, spec, live.as_ref(), &Refs::default(), &ctx());
        if matches!(diff.action, Action::Create | Action::Update) {
            Secret::apply(aws, resource, spec, &diff.ops, &mut Refs::default(), &ctx())
                .await
                .expect("apply");
        }
        diffs.push(diff);
    }
    diffs
}

async fn value_of(client: &aws_sdk_secretsmanager::Client, name: &str) -> Option<String> {
    client
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .expect("GetSecretValue")
        .secret_string()
        .map(str::to_string)
}

async fn tags_of(client: &aws_sdk_secretsmanager::Client, name: &str) -> Tags {
    client
        .describe_secret()
        .secret_id(name)
        .send()
        .await
        .expect("DescribeSecret")
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

struct Env {
    _moto: common::Moto,
    aws: Aws,
    sm: SdkSecretsManager,
    client: aws_sdk_secretsmanager::Client,
}

async fn env() -> Env {
    let moto = common::Moto::start();
    let config = moto.sdk_config().await;
    Env {
        aws: Aws::from_sdk_config(&config),
        sm: SdkSecretsManager::new(&config),
        client: aws_sdk_secretsmanager::Client::new(&config),
        _moto: moto,
    }
}

#[tokio::test]
async fn describe_finds_exact_names_in_batches_including_scheduled_deletions() {
    let env = env().await;
    // More names than one ListSecrets filter takes, and a secret whose name
    // has a requested name as its prefix.
    let names: Vec<String> = (0..13).map(|i| format!("batch/{i:02}")).collect();
    for name in names.iter().chain([&"batch/00-extra".to_string()]) {
        env.sm
            .create_secret(&NewSecret {
                name,
                description: Some("d"),
                kms_key_id: None,
                tags: &Tags::from([("team".to_string(), "platform".to_string())]),
                value: None,
            })
            .await
            .expect("create");
    }
    env.client
        .delete_secret()
        .secret_id("batch/12")
        .recovery_window_in_days(7)
        .send()
        .await
        .expect("delete");

    let mut asked = names.clone();
    asked.push("batch/missing".to_string());
    let found = env.sm.describe_secrets(&asked).await.expect("describe");

    let mut found_names: Vec<&String> = found.keys().collect();
    found_names.sort();
    assert_eq!(found_names, names.iter().collect::<Vec<_>>());
    let first = &found["batch/00"];
    assert_eq!(first.description.as_deref(), Some("d"));
    assert_eq!(first.tags.get("team").map(String::as_str), Some("platform"));
    assert!(first.arn.contains(":secret:batch/00-"), "{}", first.arn);
    assert!(first.deleted_date.is_none());
    assert!(found["batch/12"].deleted_date.is_some());
    assert!(env.sm.describe_secrets(&[]).await.expect("none").is_empty());
}

#[tokio::test]
async fn each_initial_value_flavour_is_created_then_in_sync() {
    let env = env().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("app.json");
    std::fs::write(&file, r#"{"from":"file"}"#).expect("write");
    std::env::set_var("DRIFTD_IT_SECRET_FLAVOUR", "from-env");

    let resources = [
        secret(
            "flavour/env",
            "initialValue: {fromEnv: DRIFTD_IT_SECRET_FLAVOUR}\ndescription: from the environment\ntags: {team: platform}\nrecoveryWindowDays: 7",
        ),
        secret(
            "flavour/file",
            &format!("initialValue: {{fromFile: '{}'}}", file.display()),
        ),
        secret(
            "flavour/generate",
            "initialValue: {generate: {length: 40, excludePunctuation: true}}",
        ),
        secret(
            "flavour/placeholders",
            "initialValue: {placeholderKeys: [SECRET_KEY, CLIENT_ID]}",
        ),
        secret("flavour/none", "description: filled in by hand"),
    ];
    let diffs = pass(&env.aws, &resources).await;
    for (resource, diff) in resources.iter().zip(&diffs) {
        assert_eq!(diff.action, Action::Create, "{}", resource.name);
    }

    assert_eq!(
        value_of(&env.client, "flavour/env").await.as_deref(),
        Some("from-env")
    );
    assert_eq!(
        value_of(&env.client, "flavour/file").await.as_deref(),
        Some(r#"{"from":"file"}"#)
    );
    let generated = value_of(&env.client, "flavour/generate")
        .await
        .expect("a generated value");
    assert_eq!(generated.len(), 40);
    assert!(
        generated.chars().all(char::is_alphanumeric),
        "no punctuation"
    );
    let placeholders: serde_json::Value = serde_json::from_str(
        &value_of(&env.client, "flavour/placeholders")
            .await
            .expect("a value"),
    )
    .expect("JSON");
    assert_eq!(
        placeholders,
        serde_json::json!({"SECRET_KEY": "CHANGE_ME", "CLIENT_ID": "CHANGE_ME"})
    );
    let none = env
        .client
        .get_secret_value()
        .secret_id("flavour/none")
        .send()
        .await;
    assert!(none.is_err(), "created without a version");
    assert_eq!(
        tags_of(&env.client, "flavour/env").await,
        BTreeMap::from([
            (OWNER_TAG.to_string(), "driftd".to_string()),
            (secret::RECOVERY_WINDOW_TAG.to_string(), "7".to_string()),
            ("team".to_string(), "platform".to_string()),
        ])
    );

    let again = pass(&env.aws, &resources).await;
    for (resource, diff) in resources.iter().zip(&again) {
        assert_eq!(
            diff.action,
            Action::InSync,
            "{}: {:?}",
            resource.name,
            diff.changes
        );
    }
}

#[tokio::test]
async fn rotation_is_not_drift_under_create_only() {
    let env = env().await;
    std::env::set_var("DRIFTD_IT_SECRET_ROTATION", r#"{"password":"initial"}"#);
    let resources = [secret(
        "rotated/create-only",
        "initialValue: {fromEnv: DRIFTD_IT_SECRET_ROTATION}\nrequiredKeys: [password]",
    )];
    assert_eq!(pass(&env.aws, &resources).await[0].action, Action::Create);

    env.client
        .put_secret_value()
        .secret_id("rotated/create-only")
        .secret_string(r#"{"password":"rotated"}"#)
        .send()
        .await
        .expect("rotate");

    let diffs = pass(&env.aws, &resources).await;
    assert_eq!(diffs[0].action, Action::InSync, "{:?}", diffs[0].changes);
    assert_eq!(
        value_of(&env.client, "rotated/create-only")
            .await
            .as_deref(),
        Some(r#"{"password":"rotated"}"#)
    );
}

#[tokio::test]
async fn rotation_is_drift_under_enforce_and_is_corrected() {
    let env = env().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("app.json");
    std::fs::write(&file, r#"{"password":"desired"}"#).expect("write");
    let resources = [secret(
        "rotated/enforce",
        &format!(
            "initialValue: {{fromFile: '{}'}}\nvaluePolicy: enforce",
            file.display()
        ),
    )];
    assert_eq!(pass(&env.aws, &resources).await[0].action, Action::Create);

    env.client
        .put_secret_value()
        .secret_id("rotated/enforce")
        .secret_string(r#"{"password":"rotated"}"#)
        .send()
        .await
        .expect("rotate");

    let diffs = pass(&env.aws, &resources).await;
    assert_eq!(diffs[0].action, Action::Update);
    assert_eq!(diffs[0].changes, vec![Change::sensitive("value")]);
    assert_eq!(
        value_of(&env.client, "rotated/enforce").await.as_deref(),
        Some(r#"{"password":"desired"}"#)
    );
    assert_eq!(pass(&env.aws, &resources).await[0].action, Action::InSync);
}

#[tokio::test]
async fn a_missing_required_key_is_reported_by_name_and_not_filled_in() {
    let env = env().await;
    env.client
        .create_secret()
        .name("keys/app")
        .secret_string(r#"{"SECRET_KEY":"s"}"#)
        .send()
        .await
        .expect("create by hand");
    let resources = [secret(
        "keys/app",
        "requiredKeys: [SECRET_KEY, TIKTOK_CLIENT_SECRET]",
    )];

    let diffs = pass(&env.aws, &resources).await;
    assert_eq!(diffs[0].action, Action::Update);
    assert!(
        diffs[0].changes.contains(&Change::new(
            "value.keys",
            None,
            Some("missing TIKTOK_CLIENT_SECRET".to_string())
        )),
        "{:?}",
        diffs[0].changes
    );
    assert!(
        !diffs[0]
            .changes
            .iter()
            .any(|c| c.to.as_deref() == Some("missing SECRET_KEY")),
        "{:?}",
        diffs[0].changes
    );
    // Adopted (tagged), but the value is left as it was.
    assert_eq!(
        tags_of(&env.client, "keys/app").await.get(OWNER_TAG),
        Some(&"driftd".to_string())
    );
    assert_eq!(
        value_of(&env.client, "keys/app").await.as_deref(),
        Some(r#"{"SECRET_KEY":"s"}"#)
    );
}

#[tokio::test]
async fn a_secret_scheduled_for_deletion_is_reported() {
    let env = env().await;
    let resources = [secret(
        "deleted/app",
        "initialValue: {placeholderKeys: [A]}\nrequiredKeys: [A]",
    )];
    assert_eq!(pass(&env.aws, &resources).await[0].action, Action::Create);
    env.client
        .delete_secret()
        .secret_id("deleted/app")
        .recovery_window_in_days(7)
        .send()
        .await
        .expect("delete");

    let diffs = pass(&env.aws, &resources).await;
    let Action::Error { reason, message } = &diffs[0].action else {
        panic!("expected an error, got {:?}", diffs[0].action);
    };
    assert_eq!(*reason, "scheduled_for_deletion");
    assert!(
        message.contains("restore-secret --secret-id deleted/app"),
        "{message}"
    );
}

#[tokio::test]
async fn description_and_kms_key_are_corrected_in_place() {
    let env = env().await;
    env.client
        .create_secret()
        .name("update/app")
        .description("old")
        .secret_string("v")
        .send()
        .await
        .expect("create by hand");
    let resources = [secret(
        "update/app",
        "description: new\nkmsKeyId: alias/app",
    )];
    let diffs = pass(&env.aws, &resources).await;
    assert_eq!(diffs[0].action, Action::Update);
    let fields: Vec<&str> = diffs[0].changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["description", "kmsKeyId", "tags.driftd:owner"]);

    let described = env
        .client
        .describe_secret()
        .secret_id("update/app")
        .send()
        .await
        .expect("describe");
    assert_eq!(described.description(), Some("new"));
    assert_eq!(described.kms_key_id(), Some("alias/app"));
    assert_eq!(pass(&env.aws, &resources).await[0].action, Action::InSync);
    assert_eq!(
        value_of(&env.client, "update/app").await.as_deref(),
        Some("v")
    );
}
