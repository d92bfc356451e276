//! The command behaviour of the contract (section 3) through the real binary:
//! `validate` never calls AWS and reports every error with its place, `plan`
//! of an invalid desired state calls nothing, the text plan's markers and
//! summary line, `-v`, `DRIFTD_DESIRED_STATE`, and clap's handling of unknown
//! flags.

use crate::common;

use std::process::Command;

use common::cloudwatch::{errors_alarm, errors_alarm_yaml, tag, AlarmDoc};
use common::proxy::Proxy;
use common::{desired_dir, free_port, place_of, repo_root, run, run_with_dir, Moto};

/// The binary with AWS pointed at a loopback port nobody listens on: any AWS
/// call it made would fail.
fn offline_driftd() -> Command {
    common::driftd_at(&format!("http://127.0.0.1:{}", free_port()))
}

/// The contract's example alarm with the typo `threshhold`, after a comment.
fn typo() -> String {
    let alarm = AlarmDoc::cpu_high(
        "tiktimer-dev-ecs-cpu-high",
        "tiktimer-dev",
        "tiktimer-dev-app",
    )
    .misspell("threshold", "threshhold");
    format!("# The ECS alarms of tiktimer (dev).\n{alarm}")
}

/// A second mistake in another file, to show that errors are reported together.
fn bad_topic() -> String {
    format!(
        "{}  subscriptions:\n    - {{protocol: email, endpont: ops@example.com}}\n",
        common::sns::topic_yaml("alerts", "Alerts")
    )
}

#[test]
fn validate_accepts_the_example_desired_state_without_calling_aws() {
    let out = run_with_dir(
        offline_driftd(),
        &["validate"],
        &repo_root().join("desired-state"),
    )
    .expect_code(0);
    out.assert_stdout_contains(": valid: ");
    assert!(out.stderr.is_empty(), "{out:?}");

    // `./desired-state` is the default directory.
    let out = run(offline_driftd().arg("validate").current_dir(repo_root())).expect_code(0);
    assert!(out.stdout.starts_with("desired-state: valid: "), "{out:?}");
}

#[test]
fn validate_reports_every_error_with_its_file_line_and_column() {
    let root = desired_dir(&[
        ("desired-state/alarms.yaml", &typo()),
        ("desired-state/topics.yaml", &bad_topic()),
    ]);
    let out = run(offline_driftd()
        .args(["validate", "--desired-state", "desired-state"])
        .current_dir(root.path()))
    .expect_code(1);
    assert!(out.stdout.is_empty(), "{out:?}");
    assert_eq!(
        out.stderr.lines().collect::<Vec<_>>(),
        [
            format!(
                "desired-state/alarms.yaml:{}: Alarm tiktimer-dev-ecs-cpu-high: \
                 spec.threshhold: unknown field (did you mean threshold?)",
                place_of(&typo(), "threshhold:")
            )
            .as_str(),
            format!(
                "desired-state/topics.yaml:{}: Topic alerts: spec.subscriptions[0].endpont: \
                 unknown field (did you mean endpoint?)",
                place_of(&bad_topic(), "endpont")
            )
            .as_str(),
            "desired-state: 2 errors in the desired state",
        ],
        "{out:?}"
    );

    let missing = run_with_dir(
        offline_driftd(),
        &["validate"],
        &root.path().join("no-such-directory"),
    )
    .expect_code(1);
    assert!(missing.stderr.contains("no-such-directory"), "{missing:?}");
}

#[test]
fn desired_state_env_var_works_like_the_flag() {
    let example = repo_root().join("desired-state");
    let by_flag = run_with_dir(offline_driftd(), &["validate"], &example);
    let by_env = run(offline_driftd()
        .arg("validate")
        .env("DRIFTD_DESIRED_STATE", &example))
    .expect_code(0);
    assert_eq!(by_env.stdout, by_flag.stdout);

    let invalid = desired_dir(&[("alarms.yaml", &typo())]);
    let by_env = run(offline_driftd()
        .arg("validate")
        .env("DRIFTD_DESIRED_STATE", invalid.path()))
    .expect_code(1);
    assert!(by_env.stderr.contains("spec.threshhold"), "{by_env:?}");

    // The flag wins over the environment.
    run(offline_driftd()
        .args(["validate", "--desired-state"])
        .arg(&example)
        .env("DRIFTD_DESIRED_STATE", invalid.path()))
    .expect_code(0);
}

#[test]
fn an_unknown_flag_is_refused_by_clap() {
    let out = run(offline_driftd().args(["plan", "--bogus"])).expect_code(2);
    assert!(out.stdout.is_empty(), "{out:?}");
    assert_eq!(
        out.stderr,
        "error: unexpected argument '--bogus' found\n\n\
         Usage: driftd plan [OPTIONS]\n\n\
         For more information, try '--help'.\n",
        "{out:?}"
    );

    // A near miss is refused too, with a hint.
    let out = run(offline_driftd().args(["plan", "--detailed-exit-code"])).expect_code(2);
    assert!(
        out.stderr
            .starts_with("error: unexpected argument '--detailed-exit-code' found"),
        "{out:?}"
    );
    assert!(
        out.stderr
            .contains("tip: a similar argument exists: '--detailed-exitcode'"),
        "{out:?}"
    );

    let out = run(offline_driftd().args(["apply", "--mode", "yolo"])).expect_code(2);
    assert!(
        out.stderr
            .contains("invalid value 'yolo' for '--mode <MODE>'"),
        "{out:?}"
    );
}

#[tokio::test]
async fn plan_of_an_invalid_desired_state_calls_no_aws() {
    let moto = Moto::start();
    let proxy = Proxy::start(&moto);
    let dir = desired_dir(&[("alarms.yaml", &typo())]);

    for args in [
        &["plan"][..],
        &["plan", "--detailed-exitcode"],
        &["plan", "--output", "json"],
        &["apply"],
    ] {
        let out = run_with_dir(proxy.driftd(&moto), args, dir.path());
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
        assert!(
            out.stderr.contains(
                "Alarm tiktimer-dev-ecs-cpu-high: spec.threshhold: unknown field \
                 (did you mean threshold?)"
            ),
            "{args:?}: {out:?}"
        );
    }
    let calls: Vec<String> = proxy.calls().iter().map(ToString::to_string).collect();
    assert!(calls.is_empty(), "AWS was called: {calls:?}");
}

fn alarm(name: &str, threshold: u32) -> String {
    errors_alarm_yaml(name, "Shop", threshold)
}

fn service(name: &str) -> String {
    format!(
        "apiVersion: driftd/v1\nkind: EcsService\nmetadata: {{name: {name}}}\nspec:\n  \
         cluster: shop\n  desiredCount: 1\n"
    )
}

#[tokio::test]
async fn the_text_plan_marks_each_resource_and_ends_with_the_summary() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let cw = aws_sdk_cloudwatch::Client::new(&config);
    let ecs = aws_sdk_ecs::Client::new(&config);
    ecs.create_cluster()
        .cluster_name("shop")
        .send()
        .await
        .expect("create cluster");

    // Nothing declared yet in AWS: every resource is to be created.
    let new = desired_dir(&[("a.yaml", &alarm("in-sync", 5))]);
    let out = run_with_dir(moto.driftd(), &["plan"], new.path()).expect_code(0);
    assert!(out.stdout.starts_with("+ Alarm in-sync\n"), "{out:?}");
    assert!(
        out.stdout
            .ends_with("\n\nPlan: 1 to create, 0 to update, 0 to delete, 0 errors.\n"),
        "{out:?}"
    );
    run_with_dir(moto.driftd(), &["apply"], new.path()).expect_code(0);

    // An alarm made by hand that differs, one in sync, one to create, and two
    // ECS services that do not exist.
    errors_alarm(&cw, "drifted", "Shop", 50.0)
        .tags(tag("driftd:owner", "driftd"))
        .send()
        .await
        .expect("put alarm");
    let files = [
        (
            "alarms.yaml",
            [alarm("in-sync", 5), alarm("drifted", 5), alarm("new", 7)].join("---\n"),
        ),
        (
            "services.yaml",
            [service("api"), service("worker")].join("---\n"),
        ),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let dir = desired_dir(&files);

    let plan = run_with_dir(moto.driftd(), &["plan"], dir.path());
    assert_eq!(plan.code, 1, "a resource in error fails the plan: {plan:?}");
    let lines: Vec<&str> = plan.stdout.lines().collect();
    assert_eq!(
        lines
            .iter()
            .filter(|l| !l.starts_with("    "))
            .collect::<Vec<_>>(),
        [
            &"~ Alarm drifted",
            &"+ Alarm new",
            &"! EcsService api",
            &"! EcsService worker",
            &"",
            &"Plan: 1 to create, 1 to update, 0 to delete, 2 errors.",
        ],
        "{plan:?}"
    );
    assert!(lines.contains(&"    threshold: 50 → 5"), "{plan:?}");
    assert!(lines.contains(&"    threshold: 7"), "{plan:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("    error (not_found): ")),
        "{plan:?}"
    );

    // -v adds the resources in sync, marked `=`, with no detail under them.
    let verbose = run_with_dir(moto.driftd(), &["plan", "-v"], dir.path()).expect_code(1);
    let mut in_sync = verbose
        .stdout
        .lines()
        .skip_while(|l| *l != "= Alarm in-sync");
    assert_eq!(in_sync.next(), Some("= Alarm in-sync"), "{verbose:?}");
    assert!(
        in_sync.next().is_some_and(|l| !l.starts_with("    ")),
        "{verbose:?}"
    );
    let without: Vec<&str> = verbose
        .stdout
        .lines()
        .filter(|l| *l != "= Alarm in-sync")
        .collect();
    assert_eq!(without, lines, "-v adds only the in-sync line");

    // The environment variable reads the same desired state as the flag.
    let by_env = run(moto
        .driftd()
        .arg("plan")
        .env("DRIFTD_DESIRED_STATE", dir.path()));
    assert_eq!(by_env.code, plan.code, "{by_env:?}");
    assert_eq!(by_env.stdout, plan.stdout);

    // One error is singular. The alarms driftd owns and these files leave
    // out are reported as orphaned (docs/pruning.md).
    let one_error = desired_dir(&[("services.yaml", &service("api"))]);
    let out = run_with_dir(moto.driftd(), &["plan"], one_error.path()).expect_code(1);
    assert!(
        out.stdout
            .ends_with("\nPlan: 0 to create, 0 to update, 0 to delete, 1 error, 2 orphaned.\n"),
        "{out:?}"
    );

    // In sync: only the summary, and -v lists the resources. Both owned
    // alarms are declared as they are (an owned alarm left out of the files
    // would be reported as orphaned, docs/pruning.md).
    let in_sync = desired_dir(&[(
        "a.yaml",
        &[alarm("in-sync", 5), alarm("drifted", 50)].join("---\n"),
    )]);
    let out = run_with_dir(
        moto.driftd(),
        &["plan", "--detailed-exitcode"],
        in_sync.path(),
    )
    .expect_code(0);
    assert_eq!(
        out.stdout,
        "Plan: 0 to create, 0 to update, 0 to delete, 0 errors.\n"
    );
    let out = run_with_dir(moto.driftd(), &["plan", "-v"], in_sync.path());
    assert_eq!(
        out.stdout,
        "= Alarm in-sync\n= Alarm drifted\n\nPlan: 0 to create, 0 to update, 0 to delete, 0 errors.\n"
    );
}

/// Two environments and one alarm named after each (section 8).
const ENVIRONMENTS: &str = "\
apiVersion: driftd/v1
kind: Environment
metadata: {name: dev}
spec: {accountId: \"111111111111\", region: us-east-1, vars: {cpu: 80}}
---
apiVersion: driftd/v1
kind: Environment
metadata: {name: prod}
spec: {accountId: \"222222222222\", region: eu-west-1, vars: {cpu: 85}}
";

/// An alarm per environment, its threshold the environment's variable.
fn alarm_per_env() -> String {
    AlarmDoc::cpu("app-${env}-cpu-high", "${vars.cpu}")
        .set("period", 300)
        .to_string()
}

#[test]
fn environments_are_validated_rendered_and_planned_each_on_its_own() {
    let root = desired_dir(&[
        ("desired-state/environments.yaml", ENVIRONMENTS),
        ("desired-state/alarms.yaml", &alarm_per_env()),
    ]);
    let in_root = |args: &[&str]| {
        let mut cmd = offline_driftd();
        cmd.args(args)
            .args(["--desired-state", "desired-state"])
            .current_dir(root.path());
        run(&mut cmd)
    };
    let out = in_root(&["validate"]).expect_code(0);
    assert_eq!(
        out.stdout,
        "desired-state [dev]: valid: 1 resources (1 Alarm)\n\
         desired-state [prod]: valid: 1 resources (1 Alarm)\n"
    );

    let out = in_root(&["render", "--env", "prod"]).expect_code(0);
    assert!(
        out.stdout
            .starts_with("# environment: prod (account 222222222222, region eu-west-1)\n---\n"),
        "{out:?}"
    );
    out.assert_stdout_contains("  name: app-prod-cpu-high\n");
    out.assert_stdout_contains("  threshold: 85\n");
    out.assert_stdout_lacks("app-dev");

    let alarms = alarm_per_env().replace("${vars.cpu}", "${vars.cpus}");
    let unknown_var = desired_dir(&[
        ("desired-state/environments.yaml", ENVIRONMENTS),
        ("desired-state/alarms.yaml", &alarms),
    ]);
    let out = run(offline_driftd()
        .args([
            "validate",
            "--env",
            "dev",
            "--desired-state",
            "desired-state",
        ])
        .current_dir(unknown_var.path()))
    .expect_code(1);
    assert_eq!(
        out.stderr.lines().next(),
        Some(
            format!(
                "desired-state/alarms.yaml:{}: Alarm app-${{env}}-cpu-high: spec.threshold: \
                 unknown variable ${{vars.cpus}} in environment dev (known: ${{env}}, \
                 ${{accountId}}, ${{region}}, ${{vars.cpu}})",
                place_of(&alarms, "threshold: ${vars.cpus}")
            )
            .as_str()
        ),
        "{out:?}"
    );

    // Plan reconciles every environment: AWS is a port nobody listens on,
    // so the account guard of each fails, and each line names its environment.
    let out = in_root(&["plan"]).expect_code(1);
    for line in [
        "! [dev] Alarm app-dev-cpu-high\n",
        "! [prod] Alarm app-prod-cpu-high\n",
    ] {
        assert!(out.stdout.contains(line), "{line:?} missing: {out:?}");
    }
}

#[test]
fn the_environments_example_is_valid() {
    let out = run(offline_driftd()
        .args(["validate", "--desired-state"])
        .arg(repo_root().join("examples/environments")))
    .expect_code(0);
    out.assert_stdout_contains("[dev]: valid: 2 resources (1 Topic, 1 Alarm)\n");
    out.assert_stdout_contains("[prod]: valid: 3 resources (1 Topic, 1 Alarm, 1 EcsService)\n");
}
