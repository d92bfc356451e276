//! The deployment files under `deploy/`, checked against what they are written
//! for: the ECS task definitions against the RegisterTaskDefinition shape of
//! AWS's own service model and a real registration in the emulator; their
//! wiring against the Dockerfile and the CLI; the alert rules and the Grafana
//! dashboard against the contract's metric names; and `scripts/check-deploy.sh`
//! (hadolint, promtool, shellcheck, the dashboard's queries), so that CI runs it.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::Command;

use aws_sdk_ecs::types::{ContainerDefinition, TaskDefinition, TaskDefinitionField};
use serde_json::{json, Value};

use common::repo_root;

/// The example task definitions: RegisterTaskDefinition request bodies, as
/// `aws ecs register-task-definition --cli-input-json file://...` takes them.
const TASK_DEFINITIONS: &[&str] = &[
    "deploy/ecs/driftd-service.json",
    "deploy/ecs/driftd-sidecar.json",
];

/// The metrics of section 5 of the contract, by type: the gauges...
const CONTRACT_GAUGES: &[&str] = &[
    "driftd_resources",
    "driftd_resource_in_sync",
    "driftd_last_pass_timestamp_seconds",
    "driftd_desired_state_valid",
    "driftd_leader",
    "driftd_build_info",
    "driftd_drift_flapping",
];

/// ...the counters...
const CONTRACT_COUNTERS: &[&str] = &[
    "driftd_drift_detected_total",
    "driftd_drift_corrected_total",
    "driftd_reconcile_errors_total",
    "driftd_aws_requests_total",
    "driftd_desired_state_load_errors_total",
    "driftd_aws_throttled_total",
];

/// ...and the histograms (each the series `_bucket`, `_sum` and `_count`).
const CONTRACT_HISTOGRAMS: &[&str] = &[
    "driftd_reconcile_duration_seconds",
    "driftd_pass_duration_seconds",
];

/// Every metric of section 5 of the contract.
fn contract_metrics() -> impl Iterator<Item = &'static str> {
    [CONTRACT_GAUGES, CONTRACT_COUNTERS, CONTRACT_HISTOGRAMS]
        .into_iter()
        .flatten()
        .copied()
}

/// The alerts the deployment issue asks for, by the names the rules give them.
const REQUIRED_ALERTS: &[&str] = &[
    "DriftdDriftNotCorrected",     // drift not corrected for 15 minutes
    "DriftdReconcileErrorsRising", // reconcile errors rising
    "DriftdPassesStalled",         // no pass for 3 intervals
    "DriftdDesiredStateInvalid",   // desired state invalid
    "DriftdLeaderMissing",         // no leader
];

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn read_json(path: &str) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: invalid JSON: {e}"))
}

// ---------------------------------------------------------------------------
// The ECS API shape

/// AWS's service model of ECS as botocore ships it (the model the AWS CLI
/// validates `--cli-input-json` against), read through botocore's own loader.
fn ecs_model() -> Value {
    let python = repo_root().join(".venv/bin/python");
    let out = Command::new(&python)
        .args([
            "-c",
            "import json, botocore.session; \
             print(json.dumps(botocore.session.get_session().get_service_data('ecs')))",
        ])
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "loading botocore's ECS model failed (run scripts/install-emulator.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("botocore's ECS model is JSON")
}

/// The problems of `value` as an instance of `shape`, one line each, with the
/// field path: unknown fields (with the nearest known name), missing required
/// fields, wrong JSON types, values outside an enum or a length or range.
fn shape_errors(model: &Value, shape: &str, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check_shape(model, shape, value, "", &mut errors);
    errors
}

fn check_shape(model: &Value, name: &str, value: &Value, path: &str, errors: &mut Vec<String>) {
    let shape = &model["shapes"][name];
    let at = if path.is_empty() { "(top)" } else { path };
    let mut fail = |what: String| errors.push(format!("{at}: {what}"));
    match shape["type"].as_str() {
        Some("structure") => {
            let Some(object) = value.as_object() else {
                return fail(format!("expected an object ({name})"));
            };
            let members = shape["members"].as_object().cloned().unwrap_or_default();
            for required in shape["required"].as_array().into_iter().flatten() {
                let required = required.as_str().unwrap_or_default();
                if !object.contains_key(required) {
                    fail(format!("missing required field {required} of {name}"));
                }
            }
            for (key, field) in object {
                let field_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match members.get(key).and_then(|m| m["shape"].as_str()) {
                    Some(member_shape) => {
                        check_shape(model, member_shape, field, &field_path, errors)
                    }
                    None => {
                        let hint = members
                            .keys()
                            .map(|known| {
                                (
                                    strsim::levenshtein(&key.to_lowercase(), &known.to_lowercase()),
                                    known,
                                )
                            })
                            .filter(|(distance, _)| *distance <= 3)
                            .min()
                            .map(|(_, known)| format!(" (did you mean {known}?)"))
                            .unwrap_or_default();
                        errors.push(format!("{field_path}: unknown field of {name}{hint}"));
                    }
                }
            }
        }
        Some("list") => {
            let Some(items) = value.as_array() else {
                return fail(format!("expected a list ({name})"));
            };
            check_length(shape, items.len(), &mut fail);
            let member = shape["member"]["shape"].as_str().unwrap_or_default();
            for (i, item) in items.iter().enumerate() {
                check_shape(model, member, item, &format!("{path}[{i}]"), errors);
            }
        }
        Some("map") => {
            let Some(entries) = value.as_object() else {
                return fail(format!("expected an object ({name})"));
            };
            let key_shape = shape["key"]["shape"].as_str().unwrap_or_default();
            let value_shape = shape["value"]["shape"].as_str().unwrap_or_default();
            for (key, entry) in entries {
                let entry_path = format!("{path}[{key:?}]");
                check_shape(
                    model,
                    key_shape,
                    &Value::from(key.as_str()),
                    &entry_path,
                    errors,
                );
                check_shape(model, value_shape, entry, &entry_path, errors);
            }
        }
        Some("string") => {
            let Some(text) = value.as_str() else {
                return fail(format!("expected a string ({name}), found {value}"));
            };
            check_length(shape, text.chars().count(), &mut fail);
            if let Some(allowed) = shape["enum"].as_array() {
                if !allowed.iter().any(|a| a == value) {
                    fail(format!(
                        "{value} is not one of {name}: {}",
                        Value::from(allowed.clone())
                    ));
                }
            }
        }
        Some("integer" | "long") => {
            let Some(number) = value.as_i64() else {
                return fail(format!("expected an integer ({name}), found {value}"));
            };
            if shape["min"].as_i64().is_some_and(|min| number < min)
                || shape["max"].as_i64().is_some_and(|max| number > max)
            {
                fail(format!("{number} is outside the range of {name}"));
            }
        }
        Some("boolean") => {
            if !value.is_boolean() {
                fail(format!("expected true or false ({name}), found {value}"));
            }
        }
        Some("double" | "float") => {
            if !value.is_number() {
                fail(format!("expected a number ({name}), found {value}"));
            }
        }
        other => fail(format!(
            "shape {name} of type {other:?} is not checked here"
        )),
    }
}

fn check_length(shape: &Value, len: usize, fail: &mut impl FnMut(String)) {
    let len = len as i64;
    if shape["min"].as_i64().is_some_and(|min| len < min)
        || shape["max"].as_i64().is_some_and(|max| len > max)
    {
        fail(format!(
            "length {len} is outside {}..{}",
            shape["min"].as_i64().unwrap_or(0),
            shape["max"].as_i64().map_or("".into(), |m| m.to_string())
        ));
    }
}

fn register_task_definition_input(model: &Value) -> &str {
    model["operations"]["RegisterTaskDefinition"]["input"]["shape"]
        .as_str()
        .expect("the ECS model has RegisterTaskDefinition")
}

#[test]
fn task_definitions_follow_the_register_task_definition_shape() {
    let model = ecs_model();
    let input = register_task_definition_input(&model);
    for path in TASK_DEFINITIONS {
        let errors = shape_errors(&model, input, &read_json(path));
        assert!(errors.is_empty(), "{path}:\n  {}", errors.join("\n  "));
    }
}

#[test]
fn the_shape_check_rejects_what_ecs_rejects() {
    let model = ecs_model();
    let input = register_task_definition_input(&model);
    let mut task = read_json("deploy/ecs/driftd-service.json");
    let object = task.as_object_mut().unwrap();
    object.remove("family");
    object.insert("taskRole".into(), json!("arn:aws:iam::123456789012:role/x"));
    let container = &mut task["containerDefinitions"][0];
    container["healthcheck"] = container["healthCheck"].take();
    container.as_object_mut().unwrap().remove("healthCheck");
    container["healthcheck"]
        .as_object_mut()
        .unwrap()
        .remove("command");
    container["cpu"] = json!("64");
    container["logConfiguration"]["logDriver"] = json!("cloudwatch");
    container["portMappings"][0]["containerPort"] = json!(9477.5);

    let errors: BTreeSet<String> = shape_errors(&model, input, &task).into_iter().collect();
    let expected: BTreeSet<String> = [
        "(top): missing required field family of RegisterTaskDefinitionRequest",
        "taskRole: unknown field of RegisterTaskDefinitionRequest (did you mean taskRoleArn?)",
        "containerDefinitions[0].healthcheck: unknown field of ContainerDefinition (did you mean healthCheck?)",
        "containerDefinitions[0].cpu: expected an integer (Integer), found \"64\"",
        "containerDefinitions[0].logConfiguration.logDriver: \"cloudwatch\" is not one of LogDriver: \
         [\"json-file\",\"syslog\",\"journald\",\"gelf\",\"fluentd\",\"awslogs\",\"splunk\",\"awsfirelens\"]",
        "containerDefinitions[0].portMappings[0].containerPort: expected an integer (BoxedInteger), found 9477.5",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(errors, expected);
}

// ---------------------------------------------------------------------------
// Registration in the emulator

/// Sends a file as the raw body of an ECS JSON-protocol request, exactly as
/// the API receives it (so that no SDK builder drops or renames a field), and
/// returns the status and the response body.
fn ecs_request(port: u16, action: &str, body: &str) -> (u16, String) {
    let target = format!("AmazonEC2ContainerServiceV20141113.{action}");
    // moto routes a request to a service by the credential scope of its
    // Authorization header and does not verify the signature.
    common::request(
        port,
        "POST",
        "/",
        &[
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", &target),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20261122/us-east-1/ecs/aws4_request, \
                 SignedHeaders=host;x-amz-target, Signature=0",
            ),
        ],
        body,
    )
    .expect("moto answers")
}

/// The fields of a described container that the example files set, under
/// their API names, to compare with the files (its `null`s are what ECS did
/// not return: [`assert_described`] drops them).
fn container_as_api_json(c: &ContainerDefinition) -> Value {
    json!({
        "name": c.name(),
        "image": c.image(),
        "essential": c.essential(),
        "command": c.command(),
        "user": c.user(),
        "readonlyRootFilesystem": c.readonly_root_filesystem(),
        "cpu": c.cpu(),
        "memory": c.memory(),
        "memoryReservation": c.memory_reservation(),
        "stopTimeout": c.stop_timeout(),
        "environment": c.environment().iter()
            .map(|kv| json!({"name": kv.name(), "value": kv.value()}))
            .collect::<Vec<_>>(),
        "portMappings": c.port_mappings().iter().map(|p| json!({
            "name": p.name(),
            "containerPort": p.container_port(),
            "protocol": p.protocol().map(|p| p.as_str()),
            "appProtocol": p.app_protocol().map(|p| p.as_str()),
        })).collect::<Vec<_>>(),
        "healthCheck": c.health_check().map(|h| json!({
            "command": h.command(),
            "interval": h.interval(),
            "timeout": h.timeout(),
            "retries": h.retries(),
            "startPeriod": h.start_period(),
        })),
        "logConfiguration": c.log_configuration().map(|l| json!({
            "logDriver": l.log_driver().as_str(),
            "options": l.options().map(|o| o.iter().collect::<BTreeMap<_, _>>()),
        })),
        "restartPolicy": c.restart_policy().map(|r| json!({
            "enabled": r.enabled(),
            "ignoredExitCodes": r.ignored_exit_codes(),
            "restartAttemptPeriod": r.restart_attempt_period(),
        })),
    })
}

/// The task-level fields of a described task definition, under their API names.
fn task_as_api_json(t: &TaskDefinition, tags: &[aws_sdk_ecs::types::Tag]) -> Value {
    json!({
        "family": t.family(),
        "taskRoleArn": t.task_role_arn(),
        "executionRoleArn": t.execution_role_arn(),
        "networkMode": t.network_mode().map(|m| m.as_str()),
        "requiresCompatibilities": t.requires_compatibilities().iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "runtimePlatform": t.runtime_platform().map(|p| json!({
            "cpuArchitecture": p.cpu_architecture().map(|a| a.as_str()),
            "operatingSystemFamily": p.operating_system_family().map(|f| f.as_str()),
        })),
        "cpu": t.cpu(),
        "memory": t.memory(),
        "tags": tags.iter().map(|t| json!({"key": t.key(), "value": t.value()})).collect::<Vec<_>>(),
    })
}

/// `value` without its `null`s: fields ECS did not return.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// Asserts that every field `want` sets comes back the same from ECS.
fn assert_described(what: &str, want: &Value, got: &Value) {
    let got = without_nulls(got.clone());
    for (key, value) in want.as_object().expect("an object") {
        if key == "containerDefinitions" {
            continue; // compared container by container
        }
        let mut got_value = got.get(key).cloned().unwrap_or_else(|| {
            panic!("{what}: {key} is set in the file but not compared: extend the *_as_api_json mapping")
        });
        if let (Value::Object(want_fields), Value::Object(got_fields)) = (value, &mut got_value) {
            // Nested objects (a health check, a log configuration): only the
            // fields the file sets; ECS reports defaults for the others.
            got_fields.retain(|k, _| want_fields.contains_key(k));
        }
        assert_eq!(
            &got_value, value,
            "{what}: {key} differs after registration"
        );
    }
}

#[tokio::test]
async fn task_definitions_register_in_the_emulator() {
    let moto = common::Moto::start();
    let ecs = aws_sdk_ecs::Client::new(&moto.sdk_config().await);
    for path in TASK_DEFINITIONS {
        let text = read(path);
        let want = read_json(path);
        let (status, body) = ecs_request(moto.port, "RegisterTaskDefinition", &text);
        assert_eq!(
            status, 200,
            "{path}: RegisterTaskDefinition answered {status}: {body}"
        );

        let family = want["family"].as_str().expect("a family");
        let described = ecs
            .describe_task_definition()
            .task_definition(family)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: DescribeTaskDefinition: {e:?}"));
        let task = described.task_definition().expect("a task definition");
        assert_eq!(task.revision(), 1, "{path}: first registration of {family}");
        assert_described(path, &want, &task_as_api_json(task, described.tags()));

        let containers = want["containerDefinitions"].as_array().expect("containers");
        assert_eq!(task.container_definitions().len(), containers.len());
        for want_container in containers {
            let name = want_container["name"].as_str().expect("a container name");
            let got = task
                .container_definitions()
                .iter()
                .find(|c| c.name() == Some(name))
                .unwrap_or_else(|| {
                    panic!("{path}: container {name} is missing after registration")
                });
            assert_described(
                &format!("{path}: container {name}"),
                want_container,
                &container_as_api_json(got),
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Wiring: task definitions, image and CLI agree

/// What the image sets up, read from deploy/Dockerfile.
struct Image {
    user: String,
    env: BTreeMap<String, String>,
    wget: String,
    healthcheck_url: String,
    entrypoint: String,
}

fn image() -> Image {
    let dockerfile = read("deploy/Dockerfile");
    // Join continuation lines so that each instruction is one line.
    let joined = dockerfile.replace("\\\n", " ");
    let final_stage = joined
        .rsplit_once("\nFROM ")
        .map(|(_, stage)| stage)
        .expect("a final stage");
    let instruction = |name: &str| -> Vec<&str> {
        final_stage
            .lines()
            .filter_map(|l| l.trim().strip_prefix(name).map(str::trim))
            .collect()
    };
    let mut env = BTreeMap::new();
    for line in instruction("ENV ") {
        for pair in line.split_whitespace() {
            let (k, v) = pair.split_once('=').expect("ENV key=value");
            env.insert(k.to_string(), v.to_string());
        }
    }
    let wget = instruction("COPY --from=busybox /bin/wget ")
        .first()
        .expect("the image copies busybox's wget")
        .to_string();
    let healthcheck = instruction("HEALTHCHECK ");
    let healthcheck_cmd: Vec<String> = serde_json::from_str(
        healthcheck[0]
            .split_once("CMD ")
            .expect("HEALTHCHECK ... CMD [...]")
            .1,
    )
    .expect("HEALTHCHECK CMD in exec form");
    let entrypoint: Vec<String> =
        serde_json::from_str(instruction("ENTRYPOINT ")[0]).expect("ENTRYPOINT in exec form");
    Image {
        user: instruction("USER ")[0].to_string(),
        env,
        wget,
        healthcheck_url: healthcheck_cmd.last().expect("a URL").clone(),
        entrypoint: entrypoint[0].clone(),
    }
}

/// The `DRIFTD_*` variables that `driftd run` reads, from its own help text.
fn cli_env_vars() -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_driftd"))
        .args(["run", "--help"])
        .output()
        .expect("run driftd run --help");
    assert!(out.status.success(), "driftd run --help failed");
    let help = String::from_utf8_lossy(&out.stdout);
    help.split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split(['=', ']']).next())
        .map(str::to_string)
        .collect()
}

fn env_of(container: &Value) -> BTreeMap<String, String> {
    container["environment"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|kv| {
            (
                kv["name"].as_str().expect("env name").to_string(),
                kv["value"].as_str().expect("env value").to_string(),
            )
        })
        .collect()
}

fn container<'a>(task: &'a Value, name: &str) -> &'a Value {
    task["containerDefinitions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no container {name}"))
}

#[test]
fn the_image_defaults_are_flags_driftd_reads() {
    let image = image();
    let cli_env = cli_env_vars();
    assert!(
        cli_env.contains("DRIFTD_INTERVAL"),
        "the help text lists env vars: {cli_env:?}"
    );
    assert_eq!(image.entrypoint, "/usr/local/bin/driftd");
    assert_eq!(image.env["DRIFTD_LOG_FORMAT"], "json");
    let image_port: SocketAddr = image.env["DRIFTD_METRICS_ADDR"]
        .parse()
        .expect("a socket address");
    assert_eq!(
        image.healthcheck_url,
        format!("http://127.0.0.1:{}/healthz", image_port.port())
    );
    // Read by glibc's malloc, not by driftd (deploy/Dockerfile says why).
    assert_eq!(image.env["MALLOC_ARENA_MAX"], "2");
    for var in image.env.keys().filter(|v| *v != "MALLOC_ARENA_MAX") {
        assert!(
            cli_env.contains(var),
            "deploy/Dockerfile sets {var}, which driftd does not read"
        );
    }
}

#[test]
fn driftd_containers_are_wired_as_the_image_and_the_cli_expect() {
    let image = image();
    let cli_env = cli_env_vars();
    for path in TASK_DEFINITIONS {
        let task = read_json(path);
        let what = |field: &str| format!("{path}: driftd's {field}");
        assert!(
            task["taskRoleArn"].is_string(),
            "{path}: a task role carries driftd's policy"
        );
        assert!(
            task["executionRoleArn"].is_string(),
            "{path}: an execution role pulls the image and writes logs"
        );
        let driftd = container(&task, "driftd");
        assert_eq!(driftd["command"], json!(["run"]), "{}", what("command"));
        assert_eq!(driftd["user"], image.user.as_str(), "{}", what("user"));
        assert_eq!(
            driftd["readonlyRootFilesystem"],
            true,
            "{}",
            what("root filesystem")
        );

        let env = env_of(driftd);
        for var in env.keys() {
            assert!(
                cli_env.contains(var) || var == "RUST_LOG",
                "{}: {var} is not read by driftd run (it reads {cli_env:?})",
                what("environment")
            );
        }
        assert_eq!(env["DRIFTD_LOG_FORMAT"], "json", "{}", what("log format"));
        assert_eq!(
            env["DRIFTD_DESIRED_STATE"],
            image.env["DRIFTD_DESIRED_STATE"]
        );

        let metrics: SocketAddr = env["DRIFTD_METRICS_ADDR"]
            .parse()
            .expect("a socket address");
        let port = i64::from(metrics.port());
        assert!(
            driftd["portMappings"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["containerPort"] == port && p["protocol"] == "tcp"),
            "{}: no port mapping for the metrics port {port}",
            what("port mappings")
        );

        let health = &driftd["healthCheck"];
        let command: Vec<&str> = health["command"]
            .as_array()
            .expect("a health check command")
            .iter()
            .map(|a| a.as_str().expect("a string"))
            .collect();
        assert_eq!(
            command[0],
            "CMD",
            "{}: exec form (the image has no shell)",
            what("health check")
        );
        assert_eq!(
            command[1],
            image.wget,
            "{}: the image's wget",
            what("health check")
        );
        assert_eq!(
            command.last().copied(),
            Some(format!("http://127.0.0.1:{port}/healthz").as_str()),
            "{}",
            what("health check")
        );
        // The ranges ECS documents for HealthCheck (its model does not carry them).
        let int = |field: &str| {
            health[field]
                .as_i64()
                .unwrap_or_else(|| panic!("healthCheck.{field}"))
        };
        assert!(
            (5..=300).contains(&int("interval")),
            "{}",
            what("health check interval")
        );
        assert!((2..=60).contains(&int("timeout")) && int("timeout") < int("interval"));
        assert!(
            (1..=10).contains(&int("retries")),
            "{}",
            what("health check retries")
        );
        assert!(
            (0..=300).contains(&int("startPeriod")),
            "{}",
            what("health check start period")
        );

        let logs = &driftd["logConfiguration"];
        assert_eq!(logs["logDriver"], "awslogs", "{}", what("log driver"));
        for option in ["awslogs-group", "awslogs-region", "awslogs-stream-prefix"] {
            assert!(
                logs["options"][option].is_string(),
                "{}: {option}",
                what("log options")
            );
        }

        // No two containers of a task (one network namespace) share a port.
        let mut ports = BTreeSet::new();
        for c in task["containerDefinitions"].as_array().expect("containers") {
            for p in c["portMappings"].as_array().into_iter().flatten() {
                let port = p["containerPort"].as_i64().expect("a container port");
                assert!(ports.insert(port), "{path}: port {port} is mapped twice");
            }
        }
    }
}

#[test]
fn the_service_is_driftd_and_the_sidecar_is_a_good_neighbour() {
    // As its own service, driftd is the task.
    let service = read_json("deploy/ecs/driftd-service.json");
    assert_eq!(container(&service, "driftd")["essential"], true);

    // As a sidecar, it must neither take the application down nor be needed
    // by it, is restarted in place and owns only the application's resources.
    let sidecar = read_json("deploy/ecs/driftd-sidecar.json");
    let driftd = container(&sidecar, "driftd");
    assert_eq!(driftd["essential"], false);
    assert_eq!(driftd["restartPolicy"]["enabled"], true);
    let env = env_of(driftd);
    assert!(
        !env.contains_key("DRIFTD_LEASE_TABLE"),
        "a sidecar is one replica per application task: it runs without leader election"
    );
    assert_ne!(
        env.get("DRIFTD_OWNER")
            .map(String::as_str)
            .unwrap_or("driftd"),
        "driftd",
        "a sidecar owns only its application's resources: an owner of its own"
    );
    for c in sidecar["containerDefinitions"]
        .as_array()
        .expect("containers")
    {
        if c["name"] != "driftd" {
            assert_eq!(
                c["essential"], true,
                "the application container is essential"
            );
            assert!(
                !c["dependsOn"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|d| d["containerName"] == "driftd"),
                "the application must not wait for driftd"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Alert rules and dashboard

/// The metric names in a PromQL expression that start with `driftd_`, outside
/// quoted strings (label values such as `job=~"driftd-.*"`).
fn driftd_metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut unquoted = String::new();
    let mut quote = None;
    for ch in expr.chars() {
        match quote {
            Some(q) if ch == q => quote = None,
            Some(_) => {}
            None if ch == '"' || ch == '\'' || ch == '`' => {
                quote = Some(ch);
                unquoted.push(' ');
            }
            None => unquoted.push(ch),
        }
    }
    for word in unquoted.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
        if word.starts_with("driftd_") {
            names.insert(word.to_string());
        }
    }
    names
}

/// The contract metric a series name belongs to (`_bucket`, `_sum` and
/// `_count` of a histogram belong to the histogram), or `None`.
fn contract_metric(series: &str) -> Option<&'static str> {
    let of_histogram = |name: &&str| {
        ["_bucket", "_sum", "_count"]
            .iter()
            .any(|suffix| series.strip_prefix(*name) == Some(suffix))
    };
    contract_metrics()
        .find(|name| *name == series)
        .or_else(|| CONTRACT_HISTOGRAMS.iter().copied().find(of_histogram))
}

fn dashboard_exprs(dashboard: &Value) -> Vec<(String, String)> {
    let mut exprs = Vec::new();
    let mut panels: Vec<&Value> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .collect();
    while let Some(panel) = panels.pop() {
        // Panels folded into a collapsed row sit inside it.
        panels.extend(panel["panels"].as_array().into_iter().flatten());
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .expect("a Prometheus target has an expr");
            let title = panel["title"].as_str().unwrap_or("(untitled)");
            exprs.push((title.to_string(), expr.to_string()));
        }
    }
    exprs
}

#[test]
fn rules_and_dashboard_speak_the_contract_metrics() {
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&read("deploy/prometheus/rules/driftd.rules.yml"))
            .expect("rules YAML");
    let tests: serde_yaml::Value =
        serde_yaml::from_str(&read("deploy/prometheus/tests/driftd.rules.test.yml"))
            .expect("tests YAML");
    let dashboard = read_json("deploy/grafana/driftd-dashboard.json");

    // Every alert: a severity, a summary and a description, and unit tests
    // that see it fire and see it stay quiet.
    let mut alerts = BTreeSet::new();
    let mut used = BTreeSet::new();
    for group in rules["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let alert = rule["alert"]
                .as_str()
                .expect("alerting rules only")
                .to_string();
            let expr = rule["expr"].as_str().expect("an expr");
            for name in driftd_metric_names(expr) {
                let metric = contract_metric(&name).unwrap_or_else(|| {
                    panic!("alert {alert} uses {name}, which is not a driftd metric")
                });
                used.insert(metric);
            }
            let severity = rule["labels"]["severity"].as_str();
            assert!(
                matches!(severity, Some("warning" | "critical")),
                "alert {alert}: severity {severity:?}"
            );
            for annotation in ["summary", "description"] {
                assert!(
                    rule["annotations"][annotation].is_string(),
                    "alert {alert}: no {annotation}"
                );
            }
            assert!(
                alerts.insert(alert.clone()),
                "alert {alert} is defined twice"
            );
        }
    }
    for required in REQUIRED_ALERTS {
        assert!(alerts.contains(*required), "no alert {required}");
    }
    let mut fires = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    for test in tests["tests"].as_sequence().expect("tests") {
        for case in test["alert_rule_test"].as_sequence().into_iter().flatten() {
            let name = case["alertname"].as_str().expect("alertname").to_string();
            let expected = case["exp_alerts"].as_sequence().map_or(0, Vec::len);
            if expected == 0 {
                &mut quiet
            } else {
                &mut fires
            }
            .insert(name);
        }
    }
    assert_eq!(fires, alerts, "alerts without a unit test that fires them");
    assert_eq!(
        quiet, alerts,
        "alerts without a unit test that keeps them quiet"
    );

    // The dashboard shows every metric of the contract, and nothing else of driftd's.
    let mut shown = BTreeSet::new();
    for (panel, expr) in dashboard_exprs(&dashboard) {
        for name in driftd_metric_names(&expr) {
            let metric = contract_metric(&name).unwrap_or_else(|| {
                panic!("panel {panel:?} uses {name}, which is not a driftd metric")
            });
            shown.insert(metric);
        }
    }
    let all: BTreeSet<&str> = contract_metrics().collect();
    let missing: Vec<_> = all.difference(&shown).collect();
    assert!(
        missing.is_empty(),
        "the dashboard does not show {missing:?}"
    );
    assert!(
        used.len() >= 6,
        "the alerts cover the daemon's health: {used:?}"
    );
}

#[test]
fn metric_name_scanner_skips_label_values_and_knows_histograms() {
    assert_eq!(
        driftd_metric_names(
            r#"sum by (le) (rate(driftd_pass_duration_seconds_bucket{job=~"driftd_x"}[5m])) / driftd_leader"#
        ),
        BTreeSet::from([
            "driftd_pass_duration_seconds_bucket".to_string(),
            "driftd_leader".to_string()
        ])
    );
    assert_eq!(
        contract_metric("driftd_pass_duration_seconds_bucket"),
        Some("driftd_pass_duration_seconds")
    );
    assert_eq!(contract_metric("driftd_leader_bucket"), None);
    assert_eq!(contract_metric("driftd_resources_in_sync"), None);
}

// ---------------------------------------------------------------------------
// The tool checks

#[test]
fn deploy_checks_pass() {
    let out = Command::new(repo_root().join("scripts/check-deploy.sh"))
        .output()
        .expect("run scripts/check-deploy.sh");
    assert!(
        out.status.success(),
        "scripts/check-deploy.sh failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
