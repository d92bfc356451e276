//! `kind: Environment` documents and the variables they give every other
//! document (section 8 of the contract): `${env}`, `${accountId}`,
//! `${region}`, `${vars.NAME}`, with `$${` for a literal `${`. Substitution
//! works on the YAML value tree before the typed parse, so every problem
//! keeps the field path (and so the line and column) of the value that
//! holds the variable. The process environment is never read here.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml::Value;

use super::position::FieldPath;
use super::validate::Problems;

/// The kind name of an Environment document.
pub const KIND: &str = "Environment";

/// The name of the one environment of a desired state that declares none.
pub const DEFAULT: &str = crate::kinds::DEFAULT_ENVIRONMENT;

/// One environment: where its resources live and the variables it gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    pub name: String,
    /// The account every write must land in (checked before the first write).
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    /// `eventsQueueUrl`: the SQS queue of this environment's change events
    /// (contract section 9), read with its credentials and region.
    pub events_queue_url: Option<String>,
    pub vars: BTreeMap<String, Value>,
}

impl Environment {
    /// The implicit environment of a desired state without Environment
    /// documents: the ambient credentials, no variables but `${env}`.
    pub fn implicit() -> Environment {
        Environment {
            name: DEFAULT.to_string(),
            account_id: None,
            region: None,
            role_arn: None,
            external_id: None,
            events_queue_url: None,
            vars: BTreeMap::new(),
        }
    }

    /// The value of a variable (`env`, `accountId`, `region`, `vars.NAME`).
    fn variable(&self, name: &str) -> Option<Value> {
        match name {
            "env" => Some(Value::String(self.name.clone())),
            "accountId" => self.account_id.clone().map(Value::String),
            "region" => self.region.clone().map(Value::String),
            _ => name
                .strip_prefix("vars.")
                .and_then(|v| self.vars.get(v))
                .cloned(),
        }
    }

    /// The variables this environment defines, for an error's hint.
    fn known(&self) -> String {
        let mut names = vec!["${env}".to_string()];
        if self.account_id.is_some() {
            names.push("${accountId}".into());
        }
        if self.region.is_some() {
            names.push("${region}".into());
        }
        names.extend(self.vars.keys().map(|k| format!("${{vars.{k}}}")));
        names.join(", ")
    }
}

/// The spec of an Environment document, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Spec {
    account_id: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    role_arn: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    events_queue_url: Option<String>,
    #[serde(default)]
    vars: BTreeMap<String, Value>,
}

impl Spec {
    /// Checks the spec (paths under `spec.`) and makes the environment.
    pub(crate) fn into_environment(self, name: String, problems: &mut Problems) -> Environment {
        let spec = FieldPath::root().key("spec");
        if self.account_id.len() != 12 || !self.account_id.bytes().all(|b| b.is_ascii_digit()) {
            problems.add(
                spec.key("accountId"),
                "must be a 12-digit AWS account id, quoted (\"123456789012\")",
            );
        }
        if let Some(region) = &self.region {
            let ok = !region.is_empty()
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                problems.add(
                    spec.key("region"),
                    "must be an AWS region such as eu-west-1",
                );
            }
        }
        if let Some(arn) = &self.role_arn {
            let account = arn.split(':').nth(4).unwrap_or_default();
            if !arn.starts_with("arn:") || !arn.contains(":role/") {
                problems.add(
                    spec.key("roleArn"),
                    "must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
                );
            } else if account != self.account_id {
                problems.add(
                    spec.key("roleArn"),
                    format!(
                        "names account {account}, not this environment's accountId {}",
                        self.account_id
                    ),
                );
            }
        }
        if self.external_id.is_some() && self.role_arn.is_none() {
            problems.add(
                spec.key("externalId"),
                "is only used to assume spec.roleArn, which is not given",
            );
        }
        if let Some(url) = &self.events_queue_url {
            if let Err(why) = check_queue_url(url) {
                problems.add(spec.key("eventsQueueUrl"), why);
            }
        }
        for (key, value) in &self.vars {
            if let Value::String(s) = value {
                if s.contains("${") && !s.contains("$${") {
                    problems.add(
                        spec.key("vars").key(key),
                        "variables cannot refer to other variables",
                    );
                }
            }
        }
        Environment {
            name,
            account_id: Some(self.account_id),
            region: self.region,
            role_arn: self.role_arn,
            external_id: self.external_id,
            events_queue_url: self.events_queue_url,
            vars: self.vars,
        }
    }
}

/// An SQS queue URL: `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`, or an
/// emulator's `http://HOST:PORT/ACCOUNT/NAME` (the path is what matters).
fn check_queue_url(url: &str) -> Result<(), String> {
    let shape = "must be an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)";
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| shape.to_string())?;
    let mut parts = rest.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(host), Some(account), Some(name), None)
            if !host.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && !name.is_empty() =>
        {
            Ok(())
        }
        _ => Err(shape.to_string()),
    }
}

/// Replaces every variable in the string values of `value` (names
/// included, map keys excluded). Each unknown variable is a problem at the
/// path of the value that holds it, naming the environment.
pub(crate) fn substitute(value: &mut Value, env: &Environment, problems: &mut Problems) {
    walk(value, &FieldPath::root(), env, problems);
}

fn walk(value: &mut Value, path: &FieldPath, env: &Environment, problems: &mut Problems) {
    match value {
        Value::String(text) => {
            if text.contains('$') {
                match expand(text, env) {
                    Ok(Some(new)) => *value = new,
                    Ok(None) => {}
                    Err(message) => problems.add(path.clone(), message),
                }
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, &path.index(i), env, problems);
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let key = match key {
                    Value::String(k) => k.clone(),
                    other => serde_yaml::to_string(other)
                        .map(|s| s.trim_end().to_string())
                        .unwrap_or_default(),
                };
                walk(item, &path.key(&key), env, problems);
            }
        }
        Value::Tagged(tagged) => walk(&mut tagged.value, path, env, problems),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// One string with its variables replaced: `Ok(None)` when it holds none.
/// A string that is exactly one `${...}` becomes the variable's own value
/// (a number stays a number, a list a list).
fn expand(text: &str, env: &Environment) -> Result<Option<Value>, String> {
    let unknown = |name: &str| {
        format!(
            "unknown variable ${{{name}}} in environment {} (known: {})",
            env.name,
            env.known()
        )
    };
    if let Some(name) = text
        .strip_prefix("${")
        .and_then(|t| t.strip_suffix('}'))
        .filter(|n| !n.contains(['{', '}', '$']))
    {
        return env.variable(name).map(Some).ok_or_else(|| unknown(name));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
            changed = true;
        } else if let Some(after) = tail.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                return Err(format!("unterminated variable (${{ without }}) in {text:?}; write $${{ for a literal ${{"));
            };
            let name = &after[..end];
            let value = env.variable(name).ok_or_else(|| unknown(name))?;
            match value {
                Value::String(s) => out.push_str(&s),
                Value::Number(n) => out.push_str(&n.to_string()),
                Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
                _ => {
                    return Err(format!(
                        "${{{name}}} is a list or a mapping in environment {}: it can only be \
                         the whole value, not part of a string",
                        env.name
                    ))
                }
            }
            rest = &after[end + 1..];
            changed = true;
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(changed.then_some(Value::String(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prod() -> Environment {
        let vars: BTreeMap<String, Value> =
            serde_yaml::from_str("cpuThreshold: 85\nalertEmail: ops@example.com\nsubs: [a, b]\n")
                .unwrap();
        Environment {
            name: "prod".into(),
            account_id: Some("222222222222".into()),
            region: Some("eu-west-1".into()),
            role_arn: None,
            external_id: None,
            events_queue_url: None,
            vars,
        }
    }

    fn run(yaml: &str) -> (Value, Vec<String>) {
        let mut value: Value = serde_yaml::from_str(yaml).unwrap();
        let mut problems = Problems::default();
        substitute(&mut value, &prod(), &mut problems);
        let problems = problems
            .0
            .into_iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect();
        (value, problems)
    }

    #[test]
    fn whole_values_keep_the_variables_type_and_parts_become_text() {
        let (value, problems) = run(
            "name: tiktimer-${env}-cpu\nthreshold: ${vars.cpuThreshold}\nsubs: ${vars.subs}\n\
             arn: arn:aws:sns:${region}:${accountId}:alerts\nnote: cost $5, $${literal}\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        let expected: Value = serde_yaml::from_str(
            "name: tiktimer-prod-cpu\nthreshold: 85\nsubs: [a, b]\n\
             arn: arn:aws:sns:eu-west-1:222222222222:alerts\nnote: cost $5, ${literal}\n",
        )
        .unwrap();
        assert_eq!(value, expected);
    }

    #[test]
    fn map_keys_are_not_substituted() {
        let (value, _) = run("${env}: ${env}\n");
        let expected: Value = serde_yaml::from_str("${env}: prod\n").unwrap();
        assert_eq!(value, expected);
    }

    #[test]
    fn unknown_and_misused_variables_are_problems_at_their_path() {
        let (_, problems) = run(
            "spec:\n  threshold: ${vars.nope}\n  items: [ok, \"x-${vars.subs}\"]\n  broken: \"${env\"\n",
        );
        assert_eq!(problems.len(), 3, "{problems:?}");
        let starts = [
            "spec.threshold: unknown variable ${vars.nope} in environment prod (known: ${env}, ${accountId}, ${region}, ${vars.alertEmail}",
            "spec.items[1]: ${vars.subs} is a list",
            "spec.broken: unterminated variable",
        ];
        for (problem, start) in problems.iter().zip(starts) {
            assert!(problem.starts_with(start), "{problem}");
        }
    }

    #[test]
    fn the_process_environment_is_never_read() {
        std::env::set_var("DRIFTD_SUBST_MARKER", "leak");
        let (_, problems) = run("a: ${DRIFTD_SUBST_MARKER}\nb: ${env.DRIFTD_SUBST_MARKER}\n");
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
