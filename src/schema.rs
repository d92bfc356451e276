//! The JSON Schema of a desired-state document (`driftd schema`), generated
//! from the same spec types the loader deserializes, for editors
//! (yaml-language-server) to validate and complete the files as you type.
//!
//! The schema checks structure: fields, types, enums, required fields. The
//! loader's cross-field rules (exactly one of `statistic`/`extendedStatistic`,
//! `topic:` references...) are only checked by `driftd validate`.

use schemars::SchemaGenerator;
use serde_json::{json, Map, Value};

use crate::desired::environment::KIND as ENVIRONMENT;
use crate::kinds::{alarm, dashboard, ecs_service, secret, topic, Kind, Mode};

/// The spec of an Environment document (section 8 of the contract).
fn environment_spec() -> Value {
    json!({
        "type": "object",
        "required": ["accountId"],
        "additionalProperties": false,
        "properties": {
            "accountId": {"type": "string", "pattern": "^[0-9]{12}$", "description": "The account every write must land in; checked before the first write."},
            "region": {"type": "string", "description": "Default: --region / the AWS chain."},
            "roleArn": {"type": "string", "pattern": "^arn:[^:]+:iam::[0-9]{12}:role/.+$", "description": "Assumed with sts:AssumeRole."},
            "externalId": {"type": "string", "description": "The ExternalId of the AssumeRole call."},
            "eventsQueueUrl": {"type": "string", "pattern": "^https?://[^/]+/[0-9]{12}/[^/]+$", "description": "The SQS queue of this environment's change events, read with its credentials and region."},
            "vars": {"type": "object", "description": "Variables, used as ${vars.NAME} in any string value of the other documents."},
        },
    })
}

/// The schema of one document of a desired-state file.
pub fn document_schema() -> Value {
    let mut generator = SchemaGenerator::default();
    let specs = [
        (Kind::Alarm, generator.subschema_for::<alarm::Spec>()),
        (
            Kind::Dashboard,
            generator.subschema_for::<dashboard::Spec>(),
        ),
        (Kind::Topic, generator.subschema_for::<topic::Spec>()),
        (Kind::Secret, generator.subschema_for::<secret::Spec>()),
        (
            Kind::EcsService,
            generator.subschema_for::<ecs_service::Spec>(),
        ),
    ];
    let mode = generator.subschema_for::<Mode>();
    let definitions: Map<String, Value> = generator.take_definitions(true);
    let mut per_kind: Vec<Value> = specs
        .iter()
        .map(|(kind, spec)| {
            json!({
                "if": {"properties": {"kind": {"const": kind.as_str()}}, "required": ["kind"]},
                "then": {"properties": {"spec": spec}},
            })
        })
        .collect();
    per_kind.push(json!({
        "if": {"properties": {"kind": {"const": ENVIRONMENT}}, "required": ["kind"]},
        "then": {"properties": {"spec": environment_spec()}},
    }));
    let mut kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    kinds.push(ENVIRONMENT);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "driftd desired-state document (apiVersion driftd/v1)",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": false,
        "properties": {
            "apiVersion": {"const": "driftd/v1"},
            "kind": {"enum": kinds},
            "metadata": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": false,
                "properties": {
                    "name": {"type": "string", "minLength": 1, "description": "The AWS name; unique per kind."},
                    "mode": mode,
                    "environments": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "The environments this document is instantiated in (default: every environment).",
                    },
                },
            },
            "spec": {"type": "object"},
        },
        "allOf": per_kind,
        "$defs": definitions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_spec_definition() {
        let schema = document_schema();
        let defs = schema["$defs"].as_object().expect("$defs");
        for name in [
            "AlarmSpec",
            "DashboardSpec",
            "TopicSpec",
            "SecretSpec",
            "EcsServiceSpec",
        ] {
            assert!(
                defs.contains_key(name),
                "{name} missing from {:?}",
                defs.keys()
            );
            assert_eq!(
                defs[name]["additionalProperties"], false,
                "{name} rejects unknown fields"
            );
        }
    }
}
