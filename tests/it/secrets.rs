//! Secrets against a private moto: the Secrets Manager seam and the Secret kind
//! (observe, diff, apply) with the real SDK, and the values that must never
//! be printed.

use crate::common;
use common::kinds::{ctx, resource};

use std::collections::BTreeMap;

use driftd::aws::secretsmanager::{NewSecret, SdkSecretsManager, SecretsManager};
use driftd::aws::Aws;
use driftd::engine::{self, Action, Diff, PassOptions, Reconciler, Refs, State};
use driftd::kinds::secret::{self, Secret};
use driftd::kinds::{Blocked, Change, Error, Mode, Resource, Spec, Tags, OWNER_TAG};

/// A Secret resource from the `spec:` of a document, as YAML.
fn secret(name: &str, spec_yaml: &str) -> Resource {
    let spec: secret::Spec = serde_yaml::from_str(spec_yaml).expect("secret spec");
    resource("secrets.yaml", name, Spec::Secret(spec))
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
        let diff = Secret::diff(
            resource,
            spec,
            live.as_ref(),
            &Secret::inputs(spec, live.as_ref()),
            &Refs::default(),
            &ctx(),
        );
        if matches!(diff.action, Action::Create | Action::Update) {
            Secret::apply(aws, resource, spec, &diff.ops, &mut Refs::default(), &ctx())
                .await
                .expect("apply");
        }
        diffs.push(diff);
    }
    diffs
}

/// The file `app.json` holding `text`, in a directory of its own that lives
/// as long as the `TempDir`.
fn json_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("app.json");
    std::fs::write(&file, text).expect("write");
    (dir, file)
}

async fn tags_of(client: &aws_sdk_secretsmanager::Client, name: &str) -> Tags {
    common::secrets::describe(client, name)
        .await
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

impl Env {
    /// Fails the test unless the secret `id` holds `expected`.
    async fn assert_value(&self, id: &str, expected: &str) {
        let value = common::secrets::value(&self.client, id).await;
        assert_eq!(value.as_deref(), Some(expected), "the value of {id}");
    }
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
    common::secrets::schedule_deletion(&env.client, "batch/12").await;

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
    let (_dir, file) = json_file(r#"{"from":"file"}"#);
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

    env.assert_value("flavour/env", "from-env").await;
    env.assert_value("flavour/file", r#"{"from":"file"}"#).await;
    let generated = common::secrets::value(&env.client, "flavour/generate")
        .await
        .expect("a generated value");
    assert_eq!(generated.len(), 40);
    assert!(
        generated.chars().all(char::is_alphanumeric),
        "no punctuation"
    );
    let placeholders: serde_json::Value = serde_json::from_str(
        &common::secrets::value(&env.client, "flavour/placeholders")
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

    common::secrets::rotate(
        &env.client,
        "rotated/create-only",
        r#"{"password":"rotated"}"#,
    )
    .await;

    let diffs = pass(&env.aws, &resources).await;
    assert_eq!(diffs[0].action, Action::InSync, "{:?}", diffs[0].changes);
    env.assert_value("rotated/create-only", r#"{"password":"rotated"}"#)
        .await;
}

#[tokio::test]
async fn rotation_is_drift_under_enforce_and_is_corrected() {
    let env = env().await;
    let (_dir, file) = json_file(r#"{"password":"desired"}"#);
    let resources = [secret(
        "rotated/enforce",
        &format!(
            "initialValue: {{fromFile: '{}'}}\nvaluePolicy: enforce",
            file.display()
        ),
    )];
    assert_eq!(pass(&env.aws, &resources).await[0].action, Action::Create);

    common::secrets::rotate(&env.client, "rotated/enforce", r#"{"password":"rotated"}"#).await;

    let diffs = pass(&env.aws, &resources).await;
    assert_eq!(diffs[0].action, Action::Update);
    assert_eq!(diffs[0].changes, vec![Change::sensitive("value")]);
    env.assert_value("rotated/enforce", r#"{"password":"desired"}"#)
        .await;
    assert_eq!(pass(&env.aws, &resources).await[0].action, Action::InSync);
}

#[tokio::test]
async fn a_missing_required_key_is_reported_by_name_and_not_filled_in() {
    let env = env().await;
    common::secrets::create_by_hand(&env.client, "keys/app", r#"{"SECRET_KEY":"s"}"#).await;
    let resources = [secret(
        "keys/app",
        "requiredKeys: [SECRET_KEY, TIKTOK_CLIENT_SECRET]",
    )];

    let diffs = pass(&env.aws, &resources).await;
    assert_eq!(diffs[0].action, Action::Update);
    assert!(
        diffs[0].changes.contains(&Change::new(
            "value.keys.TIKTOK_CLIENT_SECRET",
            Some("missing".to_string()),
            Some("required".to_string())
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
    env.assert_value("keys/app", r#"{"SECRET_KEY":"s"}"#).await;
}

#[tokio::test]
async fn a_secret_scheduled_for_deletion_is_reported() {
    let env = env().await;
    let resources = [secret(
        "deleted/app",
        "initialValue: {placeholderKeys: [A]}\nrequiredKeys: [A]",
    )];
    assert_eq!(pass(&env.aws, &resources).await[0].action, Action::Create);
    common::secrets::schedule_deletion(&env.client, "deleted/app").await;

    let diffs = pass(&env.aws, &resources).await;
    let Action::Error(Error::Blocked { why, message }) = &diffs[0].action else {
        panic!("expected an error, got {:?}", diffs[0].action);
    };
    assert_eq!(*why, Blocked::ScheduledForDeletion);
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
    assert_eq!(
        fields,
        [
            "description",
            "kmsKeyId",
            "tags.driftd:owner",
            "tags.driftd:recovery-window-days"
        ]
    );

    let described = common::secrets::describe(&env.client, "update/app").await;
    assert_eq!(described.description(), Some("new"));
    assert_eq!(described.kms_key_id(), Some("alias/app"));
    assert_eq!(pass(&env.aws, &resources).await[0].action, Action::InSync);
    env.assert_value("update/app", "v").await;
}

#[tokio::test]
async fn create_only_without_required_keys_never_calls_get_secret_value() {
    let moto = common::Moto::start();
    let proxy = common::proxy::Proxy::start(&moto);
    let aws = Aws::from_sdk_config(&proxy.sdk_config().await);
    let client = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    common::secrets::create_by_hand(&client, "iam/existing", "by hand").await;
    std::env::set_var("DRIFTD_IT_SECRET_IAM", "v");
    let resources = [
        secret(
            "iam/existing",
            "initialValue: {fromEnv: DRIFTD_IT_SECRET_IAM}\ndescription: d",
        ),
        secret("iam/new", "initialValue: {fromEnv: DRIFTD_IT_SECRET_IAM}"),
    ];
    pass(&aws, &resources).await;
    let again = pass(&aws, &resources).await;
    assert!(again.iter().all(|d| d.action == Action::InSync));

    let calls: Vec<String> = proxy.calls().iter().map(|c| c.op().to_string()).collect();
    assert!(
        !calls
            .iter()
            .any(|op| op == "GetSecretValue" || op == "BatchGetSecretValue"),
        "{calls:?}"
    );
    // Every call is in the generated policy, and none needs its SecretValues
    // statement, which an operator without enforce/requiredKeys can drop.
    for call in proxy.calls() {
        let action = driftd::iam::action_of(call.service.as_deref().unwrap_or("?"), call.op());
        assert!(
            driftd::iam::allows(&action),
            "{action} is not in the policy"
        );
        let statement = driftd::iam::PERMISSIONS
            .iter()
            .find(|p| p.action == action)
            .map(|p| p.sid);
        assert_ne!(statement, Some("SecretValues"), "{action}");
    }
    // Two passes of one batched listing each, no per-secret DescribeSecret.
    assert_eq!(proxy.count("ListSecrets"), 2, "{calls:?}");
    assert_eq!(proxy.count("DescribeSecret"), 0, "{calls:?}");
}

#[tokio::test]
async fn a_missing_key_under_create_only_stays_drifted_through_the_engine() {
    let env = env().await;
    common::secrets::create_by_hand(&env.client, "engine/keys", r#"{"user":"u"}"#).await;
    let resources = [secret("engine/keys", "requiredKeys: [user, password]")];
    let refs: Vec<&Resource> = resources.iter().collect();
    let opts = PassOptions {
        apply: true,
        mode: Mode::Enforce,
        owner: "driftd".to_string(),
        prune: false,
        max_prune: 10,
        stop: Default::default(),
        guards: Default::default(),
    };

    let report = engine::reconcile(&env.aws, &refs, &mut Refs::default(), &opts).await;
    let r = &report.resources[0];
    // The owner tag was added, the missing key was not: drifted, not corrected.
    assert_eq!(r.state, State::Drifted, "{r:?}");
    assert_eq!(
        tags_of(&env.client, "engine/keys").await.get(OWNER_TAG),
        Some(&"driftd".to_string())
    );
    let report = engine::reconcile(&env.aws, &refs, &mut Refs::default(), &opts).await;
    let r = &report.resources[0];
    assert_eq!(r.state, State::Drifted, "{r:?}");
    assert_eq!(
        r.changes,
        vec![Change::new(
            "value.keys.password",
            Some("missing".to_string()),
            Some("required".to_string())
        )]
    );
}

/// What the secrets of the marker test hold; it must never be printed.
const MARKER: &str = "MARKER-7f3a9c";

#[tokio::test]
async fn secret_values_never_appear_in_any_output() {
    let moto = common::Moto::start();
    let client = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    // Live values that driftd reads (enforce, requiredKeys) hold the marker too.
    common::secrets::create_by_hand(
        &client,
        "marker/enforced",
        format!(r#"{{"password":"{MARKER}-old"}}"#),
    )
    .await;
    common::secrets::create_by_hand(
        &client,
        "marker/keys",
        format!(r#"{{"token":"{MARKER}-live"}}"#),
    )
    .await;

    let env_value = format!(r#"{{"password":"{MARKER}-env"}}"#);
    let file_value = format!(r#"{{"password":"{MARKER}-file"}}"#);
    let dir = common::desired_dir(&[
        (
            "secrets/app.yaml",
            "apiVersion: driftd/v1\n\
             kind: Secret\n\
             metadata: {name: marker/env}\n\
             spec:\n  initialValue: {fromEnv: APP_SECRET_JSON}\n  requiredKeys: [password]\n\
             ---\n\
             apiVersion: driftd/v1\n\
             kind: Secret\n\
             metadata: {name: marker/file}\n\
             spec:\n  initialValue: {fromFile: values/app.json}\n  description: from a file\n\
             ---\n\
             apiVersion: driftd/v1\n\
             kind: Secret\n\
             metadata: {name: marker/enforced}\n\
             spec:\n  initialValue: {fromEnv: APP_SECRET_JSON}\n  valuePolicy: enforce\n\
             ---\n\
             apiVersion: driftd/v1\n\
             kind: Secret\n\
             metadata: {name: marker/keys}\n\
             spec:\n  requiredKeys: [token, password]\n",
        ),
        // Relative to the YAML file that names it.
        ("secrets/values/app.json", &file_value),
    ]);
    let desired = dir.path().to_str().expect("a UTF-8 path");
    let driftd = |args: &[&str]| {
        let mut cmd = moto.driftd();
        cmd.env("APP_SECRET_JSON", &env_value)
            .env("RUST_LOG", "debug")
            .args(args)
            .args(["--desired-state", desired]);
        common::run(&mut cmd)
    };
    let assert_no_marker = |what: &str, run: &common::Run| {
        assert!(
            !run.stdout.contains(MARKER) && !run.stderr.contains(MARKER),
            "{what} printed a secret value:\n{run:?}"
        );
    };

    let validate = driftd(&["validate", "-v"]);
    assert_no_marker("validate", &validate);
    assert_eq!(validate.code, 0, "{validate:?}");

    let plan = driftd(&["plan", "-v"]);
    assert_no_marker("plan", &plan);
    assert_eq!(plan.code, 0, "{plan:?}");
    plan.assert_stdout_contains("value: (sensitive) differs");
    plan.assert_stdout_contains("value.keys.password: missing → required");

    let json = driftd(&["plan", "-v", "--output", "json"]);
    assert_no_marker("plan --output json", &json);
    assert_eq!(json.code, 0, "{json:?}");
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("a JSON plan");
    assert_eq!(doc["summary"]["create"], 2, "{doc}");

    let apply = driftd(&["apply", "-v"]);
    assert_no_marker("apply", &apply);

    let replan = driftd(&["plan", "-v", "--detailed-exitcode"]);
    assert_no_marker("second plan", &replan);

    // The values really went to AWS, and the rotated-by-hand ones were handled
    // as their policies say.
    for (name, value) in [
        ("marker/env", &env_value),
        ("marker/file", &file_value),
        ("marker/enforced", &env_value),
    ] {
        assert_eq!(
            common::secrets::value(&client, name).await.as_ref(),
            Some(value),
            "{name}"
        );
    }
    assert_eq!(
        common::secrets::value(&client, "marker/keys").await,
        Some(format!(r#"{{"token":"{MARKER}-live"}}"#))
    );
    // Only marker/keys still drifts (a missing key driftd does not fill in).
    assert_eq!(replan.code, 2, "{replan:?}");
    replan.assert_stdout_contains("Plan: 0 to create, 1 to update");
}

#[tokio::test]
async fn secrets_are_read_from_the_account_list_when_that_takes_fewer_calls() {
    let moto = common::Moto::start();
    let proxy = common::proxy::Proxy::start(&moto);
    let client = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    let create = |name: String| {
        let client = client.clone();
        async move {
            client
                .create_secret()
                .name(name)
                .send()
                .await
                .expect("create");
        }
    };
    let names: Vec<String> = (0..25).map(|i| format!("mine/{i:02}")).collect();
    for name in &names {
        create(name.clone()).await;
    }
    let sm = SdkSecretsManager::new(&proxy.sdk_config().await);
    let calls = || proxy.count("ListSecrets");

    // 25 names are 3 filtered calls; the account's 25 secrets are 1 page.
    assert_eq!(
        sm.describe_secrets(&names).await.expect("describe").len(),
        25
    );
    assert_eq!(calls(), 1);

    // 250 secrets of others: the account's list is 3 pages, no fewer than
    // the filtered calls. Given up after 2, read filtered, not tried again.
    for i in 0..250 {
        create(format!("others/{i:03}")).await;
    }
    assert_eq!(
        sm.describe_secrets(&names).await.expect("describe").len(),
        25
    );
    assert_eq!(calls(), 1 + 2 + 3);
    assert_eq!(
        sm.describe_secrets(&names).await.expect("describe").len(),
        25
    );
    assert_eq!(calls(), 1 + 2 + 3 + 3);
}
