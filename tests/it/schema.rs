//! `driftd schema`: the JSON Schema editors use accepts every document of the
//! example desired state and rejects the mistakes editors should flag.

use crate::common;

use std::path::Path;

use serde::Deserialize;

fn schema_validator() -> jsonschema::Validator {
    let out = common::run(std::process::Command::new(env!("CARGO_BIN_EXE_driftd")).arg("schema"))
        .expect_code(0);
    let schema: serde_json::Value = serde_json::from_str(&out.stdout).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

/// Every document of a YAML file, as JSON values (what yaml-language-server checks).
fn documents(text: &str) -> Vec<serde_json::Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| serde_json::Value::deserialize(doc).expect("YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

fn yaml_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn every_example_document_is_valid_against_the_schema() {
    let validator = schema_validator();
    let mut files = Vec::new();
    yaml_files(&common::repo_root().join("desired-state"), &mut files);
    assert!(!files.is_empty());
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        for doc in documents(&text) {
            let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", file.display());
            checked += 1;
        }
    }
    assert_eq!(checked, 15, "the example has 15 documents");
}

#[test]
fn the_schema_flags_what_an_editor_should() {
    let validator = schema_validator();
    let alarm = |spec: &str| {
        documents(&format!(
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {{name: a}}\nspec:\n{spec}"
        ))
        .remove(0)
    };
    let good = "  namespace: AWS/ECS\n  metricName: CPUUtilization\n  statistic: Average\n  period: 60\n  evaluationPeriods: 1\n  threshold: 85\n  comparisonOperator: GreaterThanThreshold\n";
    assert!(validator.is_valid(&alarm(good)));
    let typo = good.replace("threshold:", "threshhold:");
    assert!(!validator.is_valid(&alarm(&typo)), "unknown field");
    let bad_enum = good.replace("Average", "Averag");
    assert!(!validator.is_valid(&alarm(&bad_enum)), "unknown statistic");
    let missing = good.replace("  evaluationPeriods: 1\n", "");
    assert!(!validator.is_valid(&alarm(&missing)), "required field");
    let wrong_spec_for_kind = documents(
        "apiVersion: driftd/v1\nkind: EcsService\nmetadata: {name: w}\nspec: {namespace: AWS/ECS}\n",
    )
    .remove(0);
    assert!(
        !validator.is_valid(&wrong_spec_for_kind),
        "spec of another kind"
    );
    let bad_mode = documents(
        "apiVersion: driftd/v1\nkind: Topic\nmetadata: {name: t, mode: watch}\nspec: {}\n",
    )
    .remove(0);
    assert!(!validator.is_valid(&bad_mode), "unknown mode");
}

#[test]
fn the_checked_in_schema_is_current() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_driftd"))
        .arg("schema")
        .output()
        .expect("run driftd schema");
    let file = common::repo_root().join("deploy/schema/desired-state.schema.json");
    let checked_in = std::fs::read_to_string(&file).expect("read the checked-in schema");
    assert!(
        checked_in == String::from_utf8_lossy(&out.stdout),
        "{} is out of date: regenerate it with `driftd schema > deploy/schema/desired-state.schema.json`",
        file.display()
    );
}
