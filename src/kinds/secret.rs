//! Secrets Manager secrets: the spec, the live view, and the pure diff.
//! Secret values only ever live in [`SecretValue`], which never prints them.
//!
//! Choices where the contract is silent:
//! * `description` and `kmsKeyId` absent from the spec are not managed: the
//!   secret keeps whatever it has (an absent `kmsKeyId` does not move a secret
//!   back to the AWS managed key `aws/secretsmanager`). An empty description
//!   counts as none.
//! * `kmsKeyId` is compared by what it names: `alias/x` equals the alias ARN
//!   `arn:aws:kms:…:alias/x`, a key id equals its key ARN, and
//!   `alias/aws/secretsmanager` equals the absent key AWS reports for its
//!   managed key. An alias against a key id cannot be compared without KMS
//!   access: the plan notes it and driftd does not rewrite the key.
//! * Values are read (`GetSecretValue`) only when the spec needs them
//!   (`valuePolicy: enforce` or `requiredKeys`). Under `enforce` two values
//!   are equal when their text is, or when both are JSON objects or arrays
//!   that are equal as JSON (the console rewrites JSON it edits).
//! * The initial value (an environment variable or a file) is read right
//!   before the pure diff (`Secret::inputs`), and only when it decides
//!   something: when the secret is to be created, and under `enforce`. An
//!   existing `createOnly` secret never needs it.
//! * `recoveryWindowDays` is remembered in the tag [`RECOVERY_WINDOW_TAG`],
//!   for pruning once the file is gone. Without it in the spec, the tag holds
//!   AWS's default window (30 days), so a stale value never outlives the spec.

use std::collections::HashMap;
use std::path::Path;

use async_trait::async_trait;
use aws_smithy_types::date_time::Format;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

pub use crate::aws::secretsmanager::{Generate, SecretValue};

use super::{desired_tags, tag_changes, Change, Kind, Resource, Tags};
use super::{Action, Blocked, Ctx, Diff, Error, Inputs, Observed, Reconciler, Refs};
use crate::aws::secretsmanager::{CurrentValue, NewSecret, SecretInfo};
use crate::aws::Aws;
use crate::files;

/// `spec:` of a `Secret` document (section 1.4 of the contract).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "SecretSpec")]
pub struct Spec {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub initial_value: Option<InitialValue>,
    #[serde(default)]
    pub value_policy: ValuePolicy,
    #[serde(default)]
    pub required_keys: Vec<String>,
    #[serde(default)]
    pub recovery_window_days: Option<i64>,
}

/// Where the value of a new secret comes from: exactly one of the four.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InitialValue {
    #[serde(default)]
    pub from_env: Option<String>,
    /// Relative to the YAML file as written; the loader makes it relative to
    /// the working directory (or absolute).
    #[serde(default)]
    pub from_file: Option<String>,
    #[serde(default)]
    pub generate: Option<Generate>,
    #[serde(default)]
    pub placeholder_keys: Option<Vec<String>>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum ValuePolicy {
    #[default]
    CreateOnly,
    Enforce,
}

/// The tag that remembers `recoveryWindowDays`, for pruning a secret whose
/// file is gone.
pub const RECOVERY_WINDOW_TAG: &str = "driftd:recovery-window-days";

/// What placeholder keys hold until an operator fills them in.
pub const PLACEHOLDER: &str = "CHANGE_ME";

/// The recovery window `DeleteSecret` uses when given none.
pub const DEFAULT_RECOVERY_WINDOW_DAYS: i64 = 30;

/// The KMS key AWS uses when a secret names none; AWS then reports no key.
const AWS_MANAGED_KEY_ALIAS: &str = "aws/secretsmanager";

/// How many `GetSecretValue` calls a pass keeps in flight.
const VALUE_READS_IN_FLIGHT: usize = 4;

impl Spec {
    /// Whether reconciling this secret needs its current value. When not,
    /// driftd never calls `GetSecretValue` for it (and needs no permission to).
    pub fn reads_value(&self) -> bool {
        self.value_policy == ValuePolicy::Enforce || !self.required_keys.is_empty()
    }

    /// The tags the secret must carry: the spec's, the owner tag, and the
    /// remembered recovery window.
    pub fn desired_tags(&self, owner: &str) -> Tags {
        let mut tags = desired_tags(&self.tags, owner);
        let days = self
            .recovery_window_days
            .unwrap_or(DEFAULT_RECOVERY_WINDOW_DAYS);
        tags.insert(RECOVERY_WINDOW_TAG.to_string(), days.to_string());
        tags
    }

    /// The description to manage: `None` when the spec leaves it alone.
    fn managed_description(&self) -> Option<&str> {
        self.description.as_deref().filter(|d| !d.is_empty())
    }
}

/// Where an initial value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source<'a> {
    Env(&'a str),
    File(&'a str),
    Generate(&'a Generate),
    Placeholder(&'a [String]),
}

impl InitialValue {
    /// The sources this block names; a valid spec names exactly one.
    pub fn sources(&self) -> Vec<Source<'_>> {
        let mut out = Vec::new();
        if let Some(var) = &self.from_env {
            out.push(Source::Env(var));
        }
        if let Some(path) = &self.from_file {
            out.push(Source::File(path));
        }
        if let Some(generate) = &self.generate {
            out.push(Source::Generate(generate));
        }
        if let Some(keys) = &self.placeholder_keys {
            out.push(Source::Placeholder(keys));
        }
        out
    }
}

/// Why an initial value could not be read. Names the variable or file, never
/// the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("initialValue.fromEnv: environment variable {0} is not set")]
    EnvUnset(String),
    #[error("initialValue.fromEnv: environment variable {0} is empty")]
    EnvEmpty(String),
    #[error("initialValue.fromEnv: environment variable {0} is not valid UTF-8")]
    EnvNotUnicode(String),
    #[error("initialValue.fromFile: cannot read {path}: {reason}")]
    FileUnreadable { path: String, reason: String },
    #[error("initialValue.fromFile: {0} is empty")]
    FileEmpty(String),
    /// The engine did not read it before the diff (cannot be: see
    /// `Secret::inputs`).
    #[error("initialValue: not read before the diff")]
    NotRead,
}

/// The value a new secret gets, or that `enforce` holds it to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewValue {
    /// No `initialValue`: the secret is created without a version.
    None,
    /// Read from the environment or a file, or made of placeholder keys.
    Known(SecretValue),
    /// Made by `GetRandomPassword` when the secret is created.
    Generate(Generate),
}

impl Source<'_> {
    /// Reads the value this source names (generated values are made later, by AWS).
    pub fn read(self) -> Result<NewValue, SourceError> {
        match self {
            Source::Env(var) => match std::env::var(var) {
                Ok(v) if v.is_empty() => Err(SourceError::EnvEmpty(var.to_string())),
                Ok(v) => Ok(NewValue::Known(SecretValue::new(v))),
                Err(std::env::VarError::NotPresent) => Err(SourceError::EnvUnset(var.to_string())),
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(SourceError::EnvNotUnicode(var.to_string()))
                }
            },
            // The loader confined the path to the desired-state directory;
            // read defensively again, since the file may have changed since.
            Source::File(path) => {
                match files::read_text(Path::new(path), files::MAX_SECRET_BYTES) {
                    Ok(v) if v.is_empty() => Err(SourceError::FileEmpty(path.to_string())),
                    Ok(v) => Ok(NewValue::Known(SecretValue::new(v))),
                    // A FileError's text names the failure (not found, not a
                    // regular file, too large), never the file's contents.
                    Err(e) => Err(SourceError::FileUnreadable {
                        path: path.to_string(),
                        reason: e.to_string(),
                    }),
                }
            }
            Source::Generate(g) => Ok(NewValue::Generate(g.clone())),
            Source::Placeholder(keys) => {
                let object: serde_json::Map<String, serde_json::Value> = keys
                    .iter()
                    .map(|k| (k.clone(), serde_json::Value::from(PLACEHOLDER)))
                    .collect();
                Ok(NewValue::Known(SecretValue::new(
                    serde_json::Value::Object(object).to_string(),
                )))
            }
        }
    }
}

/// The value the spec's `initialValue` yields, read now.
fn read_initial_value(spec: &Spec) -> Result<NewValue, SourceError> {
    match spec.initial_value.as_ref().map(InitialValue::sources) {
        Some(sources) => match sources.first() {
            Some(source) => source.read(),
            None => Ok(NewValue::None),
        },
        None => Ok(NewValue::None),
    }
}

/// A secret as AWS has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub arn: String,
    pub description: Option<String>,
    /// Absent when AWS uses its managed key.
    pub kms_key_id: Option<String>,
    pub tags: Tags,
    /// Set when the secret is scheduled for deletion.
    pub deleted_date: Option<aws_smithy_types::DateTime>,
    /// The current value; `None` when it was not read because the spec does
    /// not need it ([`Spec::reads_value`]).
    pub value: Option<CurrentValue>,
}

impl Live {
    fn new(info: SecretInfo, value: Option<CurrentValue>) -> Live {
        Live {
            arn: info.arn,
            description: info.description,
            kms_key_id: info.kms_key_id,
            tags: info.tags,
            deleted_date: info.deleted_date,
            value,
        }
    }
}

/// The writes a diff decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ops {
    pub create: Option<Create>,
    /// ARN of the existing secret the writes below go to.
    pub secret_id: String,
    /// `UpdateSecret`: the description to set.
    pub description: Option<String>,
    /// `UpdateSecret`: the KMS key to set.
    pub kms_key_id: Option<String>,
    /// `PutSecretValue` (only under `valuePolicy: enforce`).
    pub put_value: Option<SecretValue>,
    pub tag: Tags,
    /// Drift was reported that these writes leave alone (required keys
    /// missing under `createOnly`).
    pub leaves_drift: bool,
}

/// A secret to create.
#[derive(Debug, Clone, PartialEq)]
pub struct Create {
    pub description: Option<String>,
    pub kms_key_id: Option<String>,
    pub tags: Tags,
    pub value: NewValue,
}

/// What a KMS key reference names, with ARNs reduced to their resource part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KmsRef<'a> {
    Alias(&'a str),
    Key(&'a str),
}

impl<'a> KmsRef<'a> {
    fn parse(reference: &'a str) -> KmsRef<'a> {
        // arn:aws:kms:region:account:alias/name or …:key/id
        let resource = match reference.strip_prefix("arn:") {
            Some(_) => reference.splitn(6, ':').nth(5).unwrap_or(reference),
            None => reference,
        };
        match (
            resource.strip_prefix("alias/"),
            resource.strip_prefix("key/"),
        ) {
            (Some(alias), _) => KmsRef::Alias(alias),
            (None, Some(key)) => KmsRef::Key(key),
            (None, None) => KmsRef::Key(resource),
        }
    }
}

/// Whether the KMS key AWS reports is the one the spec names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KmsMatch {
    Same,
    Differs,
    /// An alias against a key id: only KMS could tell.
    Unknown,
}

fn kms_match(desired: &str, live: Option<&str>) -> KmsMatch {
    let desired = KmsRef::parse(desired);
    match live.map(KmsRef::parse) {
        None if desired == KmsRef::Alias(AWS_MANAGED_KEY_ALIAS) => KmsMatch::Same,
        None => KmsMatch::Differs,
        Some(live) => match (desired, live) {
            (KmsRef::Alias(a), KmsRef::Alias(b)) | (KmsRef::Key(a), KmsRef::Key(b)) => {
                if a == b {
                    KmsMatch::Same
                } else {
                    KmsMatch::Differs
                }
            }
            _ => KmsMatch::Unknown,
        },
    }
}

/// Whether the current value equals the desired one: the same text, or JSON
/// objects / arrays that are equal as JSON.
fn values_equal(current: &SecretValue, desired: &SecretValue) -> bool {
    if current == desired {
        return true;
    }
    let structured = |v: &SecretValue| {
        serde_json::from_str::<serde_json::Value>(v.expose())
            .ok()
            .filter(|j| j.is_object() || j.is_array())
    };
    match (structured(current), structured(desired)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The required keys a value lacks, in the spec's order, and why when the
/// value is not a JSON object at all.
fn missing_keys<'a>(
    value: &CurrentValue,
    required: &'a [String],
) -> (Vec<&'a str>, Option<&'static str>) {
    let all = || required.iter().map(String::as_str).collect();
    let text = match value {
        CurrentValue::Absent => return (all(), Some("the secret has no value")),
        CurrentValue::Binary => return (all(), Some("the value is binary")),
        CurrentValue::Text(text) => text,
    };
    match serde_json::from_str::<serde_json::Value>(text.expose()) {
        Ok(serde_json::Value::Object(object)) => (
            required
                .iter()
                .filter(|k| !object.contains_key(k.as_str()))
                .map(String::as_str)
                .collect(),
            None,
        ),
        _ => (all(), Some("the value is not a JSON object")),
    }
}

/// The required keys a value about to be written lacks.
fn missing_from_new<'a>(value: &NewValue, required: &'a [String]) -> Vec<&'a str> {
    match value {
        NewValue::Known(v) => missing_keys(&CurrentValue::Text(v.clone()), required).0,
        NewValue::None | NewValue::Generate(_) => required.iter().map(String::as_str).collect(),
    }
}

/// Spec problems the diff cannot work around (the loader should have caught
/// them; this keeps a bad spec from doing something surprising).
fn spec_problem(spec: &Spec) -> Option<String> {
    let sources = spec
        .initial_value
        .as_ref()
        .map(InitialValue::sources)
        .unwrap_or_default();
    if sources.len() > 1 {
        return Some(
            "initialValue: set exactly one of fromEnv, fromFile, generate, placeholderKeys"
                .to_string(),
        );
    }
    if spec.value_policy == ValuePolicy::Enforce
        && !matches!(sources.first(), Some(Source::Env(_) | Source::File(_)))
    {
        return Some(
            "valuePolicy: enforce needs initialValue.fromEnv or initialValue.fromFile".to_string(),
        );
    }
    None
}

/// The diff, with the reading of the initial value passed in so that tests
/// can decide what it yields. `read_value` is called at most once, and only
/// when the secret is to be created or its value is enforced.
fn diff_secret(
    name: &str,
    spec: &Spec,
    live: Option<&Live>,
    ctx: &Ctx,
    read_value: impl FnOnce() -> Result<NewValue, SourceError>,
) -> Diff<Ops> {
    if let Some(problem) = spec_problem(spec) {
        return Diff::blocked(Blocked::InvalidSpec, problem);
    }
    match live {
        None => diff_create(spec, ctx, read_value),
        Some(live) => match live.deleted_date {
            Some(deleted) => Diff::blocked(
                Blocked::ScheduledForDeletion,
                format!(
                    "secret {name} is scheduled for deletion (DeletedDate {}): Secrets Manager \
                     keeps its name until the recovery window ends, so driftd can neither manage \
                     nor recreate it; restore it to manage it again \
                     (aws secretsmanager restore-secret --secret-id {name})",
                    deleted
                        .fmt(Format::DateTime)
                        .unwrap_or_else(|_| deleted.secs().to_string())
                ),
            ),
            None => diff_existing(spec, live, ctx, read_value),
        },
    }
}

fn diff_create(
    spec: &Spec,
    ctx: &Ctx,
    read_value: impl FnOnce() -> Result<NewValue, SourceError>,
) -> Diff<Ops> {
    let value = match read_value() {
        Ok(v) => v,
        Err(e) => return Diff::blocked(Blocked::InitialValueUnavailable, e.to_string()),
    };
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    let description = spec.managed_description().map(str::to_string);
    if let Some(d) = &description {
        changes.push(Change::new("description", None, Some(d.clone())));
    }
    if let Some(k) = &spec.kms_key_id {
        changes.push(Change::new("kmsKeyId", None, Some(k.clone())));
    }
    let tags = spec.desired_tags(&ctx.owner);
    tag_changes(&Tags::new(), &tags, &mut changes);
    match &value {
        NewValue::None => notes.push("created without a value (no initialValue)".to_string()),
        NewValue::Known(_) => changes.push(Change::sensitive("value")),
        NewValue::Generate(g) => {
            changes.push(Change::sensitive("value"));
            notes.push(format!(
                "value: generated by GetRandomPassword ({} characters)",
                g.length
            ));
        }
    }
    if let Some(Source::Placeholder(keys)) = spec
        .initial_value
        .as_ref()
        .and_then(|i| i.sources().first().copied())
    {
        notes.push(format!(
            "value: placeholder keys {} hold {PLACEHOLDER}; fill them in out of band",
            keys.join(", ")
        ));
    }
    let missing = missing_from_new(&value, &spec.required_keys);
    if !missing.is_empty() {
        if spec.value_policy == ValuePolicy::Enforce {
            return Diff::blocked(
                Blocked::InvalidSpec,
                format!(
                    "the initial value lacks required keys {}, so enforcing it can never \
                     satisfy requiredKeys",
                    missing.join(", ")
                ),
            );
        }
        notes.push(format!(
            "the initial value lacks required keys {}: they will be reported missing",
            missing.join(", ")
        ));
    }
    Diff {
        action: Action::Create,
        changes,
        notes,
        ops: Ops {
            create: Some(Create {
                description,
                kms_key_id: spec.kms_key_id.clone(),
                tags,
                value,
            }),
            ..Ops::default()
        },
    }
}

fn diff_existing(
    spec: &Spec,
    live: &Live,
    ctx: &Ctx,
    read_value: impl FnOnce() -> Result<NewValue, SourceError>,
) -> Diff<Ops> {
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    let mut ops = Ops {
        secret_id: live.arn.clone(),
        ..Ops::default()
    };

    if let Some(desired) = spec.managed_description() {
        let current = live.description.as_deref().filter(|d| !d.is_empty());
        if current != Some(desired) {
            changes.push(Change::new(
                "description",
                current.map(str::to_string),
                Some(desired.to_string()),
            ));
            ops.description = Some(desired.to_string());
        }
    }

    if let Some(desired) = &spec.kms_key_id {
        match kms_match(desired, live.kms_key_id.as_deref()) {
            KmsMatch::Same => {}
            KmsMatch::Differs => {
                changes.push(Change::new(
                    "kmsKeyId",
                    Some(
                        live.kms_key_id
                            .clone()
                            .unwrap_or_else(|| format!("alias/{AWS_MANAGED_KEY_ALIAS}")),
                    ),
                    Some(desired.clone()),
                ));
                ops.kms_key_id = Some(desired.clone());
            }
            KmsMatch::Unknown => notes.push(format!(
                "kmsKeyId: AWS reports {}, which driftd cannot compare with {desired} without \
                 KMS; not changed",
                live.kms_key_id.as_deref().unwrap_or_default()
            )),
        }
    }

    let desired_tags = spec.desired_tags(&ctx.owner);
    ops.tag = tag_changes(&live.tags, &desired_tags, &mut changes);

    if spec.reads_value() {
        let Some(current) = &live.value else {
            // observe reads the value of every spec that needs it.
            return Diff::blocked(
                Blocked::ValueNotRead,
                "the current value was not read, so it cannot be checked",
            );
        };
        if spec.value_policy == ValuePolicy::Enforce {
            let desired = match read_value() {
                Ok(NewValue::Known(v)) => v,
                Ok(_) => {
                    return Diff::blocked(
                        Blocked::InvalidSpec,
                        "valuePolicy: enforce needs initialValue.fromEnv or initialValue.fromFile",
                    )
                }
                Err(e) => return Diff::blocked(Blocked::InitialValueUnavailable, e.to_string()),
            };
            let missing = missing_from_new(&NewValue::Known(desired.clone()), &spec.required_keys);
            if !missing.is_empty() {
                return Diff::blocked(
                    Blocked::InvalidSpec,
                    format!(
                        "the enforced value lacks required keys {}, so it can never satisfy \
                         requiredKeys",
                        missing.join(", ")
                    ),
                );
            }
            let equal = matches!(current, CurrentValue::Text(c) if values_equal(c, &desired));
            if !equal {
                changes.push(Change::sensitive("value"));
                ops.put_value = Some(desired);
            }
        }
        if !spec.required_keys.is_empty() {
            let (missing, why) = missing_keys(current, &spec.required_keys);
            for key in &missing {
                changes.push(Change::new(
                    format!("value.keys.{key}"),
                    Some("missing".to_string()),
                    Some("required".to_string()),
                ));
            }
            if let Some(why) = why {
                notes.push(format!("value.keys: {why}"));
            }
            if !missing.is_empty() && spec.value_policy == ValuePolicy::CreateOnly {
                ops.leaves_drift = true;
                notes.push(
                    "value.keys: driftd fills in missing keys only with valuePolicy: enforce; \
                     set them out of band"
                        .to_string(),
                );
            }
        }
    }

    Diff::of_changes(changes, notes, ops)
}

/// The Secret kind.
pub struct Secret;

#[async_trait]
impl Reconciler for Secret {
    const KIND: Kind = Kind::Secret;
    type Spec = Spec;
    type Live = Live;
    type Ops = Ops;

    async fn observe(aws: &Aws, resources: &[(&Resource, &Spec)]) -> Result<Observed<Live>, Error> {
        let sm = &aws.secretsmanager;
        let names: Vec<String> = resources.iter().map(|(r, _)| r.name.clone()).collect();
        let mut infos = sm.describe_secrets(&names).await?;
        let mut observed: Observed<Live> = HashMap::new();
        let mut to_read = Vec::new();
        for (resource, spec) in resources {
            match infos.remove(&resource.name) {
                None => {
                    observed.insert(resource.name.clone(), Ok(None));
                }
                // A secret scheduled for deletion cannot be read, and is an
                // error whatever its value.
                Some(info) if spec.reads_value() && info.deleted_date.is_none() => {
                    to_read.push((resource.name.clone(), info));
                }
                Some(info) => {
                    observed.insert(resource.name.clone(), Ok(Some(Live::new(info, None))));
                }
            }
        }
        let read: Vec<_> = stream::iter(to_read)
            .map(|(name, info)| async move {
                let value = sm.current_value(&info.arn).await;
                (
                    name,
                    value
                        .map(|v| Some(Live::new(info, Some(v))))
                        .map_err(Error::from),
                )
            })
            .buffer_unordered(VALUE_READS_IN_FLIGHT)
            .collect()
            .await;
        observed.extend(read);
        Ok(observed)
    }

    fn live_tags(live: &Live) -> Option<&Tags> {
        Some(&live.tags)
    }

    fn corrects_all(ops: &Ops) -> bool {
        !ops.leaves_drift
    }

    /// The initial value, read from the environment or its file only when
    /// the diff decides something with it: a secret to create, or a value
    /// enforced (an existing `createOnly` secret never needs it).
    fn inputs(spec: &Spec, live: Option<&Live>) -> Inputs {
        let needed = spec_problem(spec).is_none()
            && match live {
                None => true,
                Some(live) => {
                    live.deleted_date.is_none()
                        && spec.value_policy == ValuePolicy::Enforce
                        && live.value.is_some()
                }
            };
        Inputs {
            initial_value: needed.then(|| read_initial_value(spec)),
        }
    }

    fn diff(
        resource: &Resource,
        spec: &Spec,
        live: Option<&Live>,
        inputs: &Inputs,
        _refs: &Refs,
        ctx: &Ctx,
    ) -> Diff<Ops> {
        diff_secret(&resource.name, spec, live, ctx, || {
            inputs
                .initial_value
                .clone()
                .unwrap_or(Err(SourceError::NotRead))
        })
    }

    async fn apply(
        aws: &Aws,
        resource: &Resource,
        _spec: &Spec,
        ops: &Ops,
        _refs: &mut Refs,
        _ctx: &Ctx,
    ) -> Result<(), Error> {
        let sm = &aws.secretsmanager;
        if let Some(create) = &ops.create {
            let generated;
            let value = match &create.value {
                NewValue::None => None,
                NewValue::Known(v) => Some(v),
                NewValue::Generate(g) => {
                    generated = sm.random_password(g).await?;
                    Some(&generated)
                }
            };
            sm.create_secret(&NewSecret {
                name: &resource.name,
                description: create.description.as_deref(),
                kms_key_id: create.kms_key_id.as_deref(),
                tags: &create.tags,
                value,
            })
            .await?;
            return Ok(());
        }
        if ops.description.is_some() || ops.kms_key_id.is_some() {
            sm.update_secret(
                &ops.secret_id,
                ops.description.as_deref(),
                ops.kms_key_id.as_deref(),
            )
            .await?;
        }
        // After a key change, so that the new version is encrypted with the new key.
        if let Some(value) = &ops.put_value {
            sm.put_secret_value(&ops.secret_id, value).await?;
        }
        if !ops.tag.is_empty() {
            sm.tag_secret(&ops.secret_id, &ops.tag).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
impl Spec {
    /// A `createOnly` secret with nothing else set; chain the setters below.
    pub fn test() -> Spec {
        Spec {
            description: None,
            kms_key_id: None,
            tags: Tags::new(),
            initial_value: None,
            value_policy: ValuePolicy::CreateOnly,
            required_keys: Vec::new(),
            recovery_window_days: None,
        }
    }

    pub fn description(mut self, description: &str) -> Spec {
        self.description = Some(description.to_string());
        self
    }

    pub fn kms_key_id(mut self, key: &str) -> Spec {
        self.kms_key_id = Some(key.to_string());
        self
    }

    pub fn tag(mut self, key: &str, value: &str) -> Spec {
        self.tags.insert(key.to_string(), value.to_string());
        self
    }

    /// Sets one field of `initialValue`, keeping those already set.
    fn initial(mut self, f: impl FnOnce(&mut InitialValue)) -> Spec {
        f(self.initial_value.get_or_insert(InitialValue {
            from_env: None,
            from_file: None,
            generate: None,
            placeholder_keys: None,
        }));
        self
    }

    pub fn from_env(self, var: &str) -> Spec {
        self.initial(|i| i.from_env = Some(var.to_string()))
    }

    pub fn from_file(self, path: &std::path::Path) -> Spec {
        self.initial(|i| i.from_file = Some(path.display().to_string()))
    }

    pub fn generate(self, length: i64) -> Spec {
        self.initial(|i| {
            i.generate = Some(Generate {
                length,
                exclude_punctuation: true,
                exclude_numbers: false,
                exclude_uppercase: false,
                exclude_lowercase: false,
                include_space: false,
                exclude_characters: None,
            })
        })
    }

    pub fn placeholder_keys(self, keys: &[&str]) -> Spec {
        self.initial(|i| i.placeholder_keys = Some(keys.iter().map(|k| k.to_string()).collect()))
    }

    pub fn value_policy(mut self, policy: ValuePolicy) -> Spec {
        self.value_policy = policy;
        self
    }

    pub fn required_keys(mut self, keys: &[&str]) -> Spec {
        self.required_keys = keys.iter().map(|k| k.to_string()).collect();
        self
    }

    pub fn recovery_window_days(mut self, days: i64) -> Spec {
        self.recovery_window_days = Some(days);
        self
    }
}

#[cfg(test)]
impl Live {
    /// An existing secret owned by `driftd`, its value not read.
    pub fn test() -> Live {
        Live {
            arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf".to_string(),
            description: None,
            kms_key_id: None,
            tags: Tags::from([
                (super::OWNER_TAG.to_string(), "driftd".to_string()),
                (RECOVERY_WINDOW_TAG.to_string(), "30".to_string()),
            ]),
            deleted_date: None,
            value: None,
        }
    }

    pub fn value(mut self, value: &str) -> Live {
        self.value = Some(CurrentValue::Text(SecretValue::new(value.to_string())));
        self
    }

    pub fn current(mut self, value: CurrentValue) -> Live {
        self.value = Some(value);
        self
    }

    pub fn description(mut self, description: &str) -> Live {
        self.description = Some(description.to_string());
        self
    }

    pub fn kms_key_id(mut self, key: &str) -> Live {
        self.kms_key_id = Some(key.to_string());
        self
    }

    pub fn tag(mut self, key: &str, value: &str) -> Live {
        self.tags.insert(key.to_string(), value.to_string());
        self
    }

    pub fn untagged(mut self) -> Live {
        self.tags.clear();
        self
    }

    pub fn deleted(mut self) -> Live {
        self.deleted_date = Some(aws_smithy_types::DateTime::from_secs(1_700_000_000));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::fake::FakeAws;
    use crate::kinds::{Origin, OWNER_TAG};

    const MARKER: &str = "MARKER-7f3a9c";

    fn known(value: &str) -> Result<NewValue, SourceError> {
        Ok(NewValue::Known(SecretValue::new(value.to_string())))
    }

    /// A change as one line, for comparing with a table.
    fn show(c: &Change) -> String {
        if c.sensitive {
            return format!("{}: (sensitive)", c.field);
        }
        let side = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".to_string());
        format!("{}: {} -> {}", c.field, side(&c.from), side(&c.to))
    }

    /// The action's name, or what blocked it.
    fn action_name(a: &Action) -> String {
        match a {
            Action::InSync => "in_sync".into(),
            Action::Create => "create".into(),
            Action::Update => "update".into(),
            Action::Error(Error::Blocked { why, .. }) => format!("{why:?}"),
            Action::Error(other) => format!("{other:?}"),
        }
    }

    struct Case {
        name: &'static str,
        spec: Spec,
        live: Option<Live>,
        /// What reading the initial value yields; `None`: the diff must not read it.
        source: Option<Result<NewValue, SourceError>>,
        action: &'static str,
        changes: &'static [&'static str],
    }

    impl Case {
        /// In sync, without reading the initial value.
        fn in_sync(name: &'static str, spec: Spec, live: Live) -> Case {
            Case {
                name,
                spec,
                live: Some(live),
                source: None,
                action: "in_sync",
                changes: &[],
            }
        }
    }

    fn cases() -> Vec<Case> {
        const OWNER: &str = "tags.driftd:owner: - -> driftd";
        const WINDOW: &str = "tags.driftd:recovery-window-days: - -> 30";
        // valuePolicy: enforce of the value of variable APP.
        let enforce_app = || {
            Spec::test()
                .from_env("APP")
                .value_policy(ValuePolicy::Enforce)
        };
        vec![
            Case {
                name: "missing without initialValue is created without a value",
                spec: Spec::test(),
                live: None,
                source: Some(Ok(NewValue::None)),
                action: "create",
                changes: &[OWNER, WINDOW],
            },
            Case {
                name: "missing with fromEnv is created with its value, shown as sensitive",
                spec: Spec::test()
                    .from_env("APP")
                    .description("app")
                    .tag("team", "platform"),
                live: None,
                source: Some(known(MARKER)),
                action: "create",
                changes: &[
                    "description: - -> app",
                    OWNER,
                    WINDOW,
                    "tags.team: - -> platform",
                    "value: (sensitive)",
                ],
            },
            Case {
                name: "missing with an unset variable is an error of the resource",
                spec: Spec::test().from_env("APP"),
                live: None,
                source: Some(Err(SourceError::EnvUnset("APP".into()))),
                action: "InitialValueUnavailable",
                changes: &[],
            },
            Case::in_sync(
                "createOnly in sync does not read the initial value",
                Spec::test().from_env("APP"),
                Live::test(),
            ),
            Case::in_sync(
                "createOnly: a rotated value is not drift",
                Spec::test().from_env("APP"),
                Live::test().value("rotated"),
            ),
            Case {
                name: "enforce: a different value is drift, never shown",
                spec: enforce_app(),
                live: Some(Live::test().value("rotated")),
                source: Some(known(MARKER)),
                action: "update",
                changes: &["value: (sensitive)"],
            },
            Case {
                name: "enforce: the same JSON written differently is in sync",
                spec: enforce_app(),
                live: Some(Live::test().value(r#"{"b":"2","a":"1"}"#)),
                source: Some(known("{\n  \"a\": \"1\",\n  \"b\": \"2\"\n}\n")),
                action: "in_sync",
                changes: &[],
            },
            Case {
                name: "enforce: a secret without a value gets one",
                spec: enforce_app(),
                live: Some(Live::test().current(CurrentValue::Absent)),
                source: Some(known(MARKER)),
                action: "update",
                changes: &["value: (sensitive)"],
            },
            Case {
                name: "enforce: an unreadable source is an error naming the file",
                spec: Spec::test()
                    .from_file(std::path::Path::new("secrets/app.json"))
                    .value_policy(ValuePolicy::Enforce),
                live: Some(Live::test().value("x")),
                source: Some(Err(SourceError::FileUnreadable {
                    path: "secrets/app.json".into(),
                    reason: "No such file or directory (os error 2)".into(),
                })),
                action: "InitialValueUnavailable",
                changes: &[],
            },
            Case {
                name: "requiredKeys: a missing key is drift reported by name",
                spec: Spec::test().required_keys(&["user", "password"]),
                live: Some(Live::test().value(r#"{"user":"u"}"#)),
                source: None,
                action: "update",
                changes: &["value.keys.password: missing -> required"],
            },
            Case {
                name: "requiredKeys: a value that is not a JSON object misses every key",
                spec: Spec::test().required_keys(&["user", "password"]),
                live: Some(Live::test().value("plain text")),
                source: None,
                action: "update",
                changes: &[
                    "value.keys.user: missing -> required",
                    "value.keys.password: missing -> required",
                ],
            },
            Case::in_sync(
                "requiredKeys: all present is in sync",
                Spec::test().required_keys(&["user"]),
                Live::test().value(r#"{"user":"u","extra":"x"}"#),
            ),
            Case {
                name: "requiredKeys under enforce: the enforced value fills the key in",
                spec: enforce_app().required_keys(&["password"]),
                live: Some(Live::test().value(r#"{"user":"u"}"#)),
                source: Some(known(r#"{"user":"u","password":"p"}"#)),
                action: "update",
                changes: &[
                    "value: (sensitive)",
                    "value.keys.password: missing -> required",
                ],
            },
            Case {
                name: "requiredKeys under enforce with a value lacking them can never converge",
                spec: enforce_app().required_keys(&["password"]),
                live: Some(Live::test().value(r#"{"user":"u"}"#)),
                source: Some(known(r#"{"user":"u"}"#)),
                action: "InvalidSpec",
                changes: &[],
            },
            Case {
                name: "scheduled for deletion is an error, whatever else differs",
                spec: Spec::test().description("new"),
                live: Some(Live::test().deleted()),
                source: None,
                action: "ScheduledForDeletion",
                changes: &[],
            },
            Case {
                name: "description differs",
                spec: Spec::test().description("new"),
                live: Some(Live::test().description("old")),
                source: None,
                action: "update",
                changes: &["description: old -> new"],
            },
            Case::in_sync(
                "description absent from the spec is not managed",
                Spec::test(),
                Live::test().description("set by hand"),
            ),
            Case::in_sync(
                "kmsKeyId: an alias equals its alias ARN",
                Spec::test().kms_key_id("alias/app"),
                Live::test().kms_key_id("arn:aws:kms:us-east-1:123456789012:alias/app"),
            ),
            Case::in_sync(
                "kmsKeyId: the AWS managed key is what AWS reports as none",
                Spec::test().kms_key_id("alias/aws/secretsmanager"),
                Live::test(),
            ),
            Case {
                name: "kmsKeyId: another key is drift",
                spec: Spec::test().kms_key_id("alias/app"),
                live: Some(Live::test()),
                source: None,
                action: "update",
                changes: &["kmsKeyId: alias/aws/secretsmanager -> alias/app"],
            },
            Case::in_sync(
                "kmsKeyId absent from the spec is not managed",
                Spec::test(),
                Live::test().kms_key_id("1234abcd-12ab-34cd-56ef-1234567890ab"),
            ),
            Case {
                name: "an untagged secret is adopted; tags not in the spec stay",
                spec: Spec::test().tag("team", "platform"),
                live: Some(Live::test().untagged().tag("cost-center", "42")),
                source: None,
                action: "update",
                changes: &[OWNER, WINDOW, "tags.team: - -> platform"],
            },
            Case {
                name: "the recovery window is remembered in a tag",
                spec: Spec::test().recovery_window_days(7),
                live: Some(Live::test()),
                source: None,
                action: "update",
                changes: &["tags.driftd:recovery-window-days: 30 -> 7"],
            },
            Case {
                name: "without recoveryWindowDays the tag holds the AWS default",
                spec: Spec::test(),
                live: Some(Live::test().tag(RECOVERY_WINDOW_TAG, "7")),
                source: None,
                action: "update",
                changes: &["tags.driftd:recovery-window-days: 7 -> 30"],
            },
            Case {
                name: "two initial value sources are a spec error",
                spec: Spec::test().from_env("APP").placeholder_keys(&["A"]),
                live: None,
                source: None,
                action: "InvalidSpec",
                changes: &[],
            },
            Case {
                name: "enforce of a generated value is a spec error",
                spec: Spec::test().generate(32).value_policy(ValuePolicy::Enforce),
                live: Some(Live::test().value("x")),
                source: None,
                action: "InvalidSpec",
                changes: &[],
            },
        ]
    }

    #[test]
    fn diff_table() {
        for case in cases() {
            let may_read = case.source.is_some();
            let source = case.source;
            let diff = diff_secret("app", &case.spec, case.live.as_ref(), &Ctx::test(), || {
                assert!(may_read, "{}: read the initial value", case.name);
                source.unwrap_or(Ok(NewValue::None))
            });
            assert_eq!(action_name(&diff.action), case.action, "{}", case.name);
            let changes: Vec<String> = diff.changes.iter().map(show).collect();
            assert_eq!(changes, case.changes, "{}", case.name);
        }
    }

    #[test]
    fn no_diff_output_shows_a_value() {
        for case in cases() {
            let source = case.source;
            let diff = diff_secret("app", &case.spec, case.live.as_ref(), &Ctx::test(), || {
                source.unwrap_or(Ok(NewValue::None))
            });
            let text = format!("{:?} {:?} {:?}", diff.action, diff.changes, diff.notes);
            let ops = format!("{:?}", diff.ops);
            for shown in [text, ops] {
                assert!(!shown.contains(MARKER), "{}: {shown}", case.name);
                assert!(!shown.contains("rotated"), "{}: {shown}", case.name);
            }
        }
    }

    #[test]
    fn enforce_writes_the_desired_value() {
        let spec = Spec::test()
            .from_env("APP")
            .value_policy(ValuePolicy::Enforce);
        let diff = diff_secret(
            "app",
            &spec,
            Some(&Live::test().value("old")),
            &Ctx::test(),
            || known(MARKER),
        );
        assert_eq!(
            diff.ops.put_value,
            Some(SecretValue::new(MARKER.to_string()))
        );
        assert_eq!(diff.ops.secret_id, Live::test().arn);
        assert!(Secret::corrects_all(&diff.ops));
    }

    #[test]
    fn missing_keys_are_not_filled_in_under_create_only() {
        let spec = Spec::test().from_env("APP").required_keys(&["password"]);
        let diff = diff_secret(
            "app",
            &spec,
            Some(&Live::test().value("{}")),
            &Ctx::test(),
            || panic!("createOnly must not read the initial value of an existing secret"),
        );
        assert_eq!(diff.action, Action::Update);
        assert_eq!(diff.ops.put_value, None);
        assert!(!Secret::corrects_all(&diff.ops));
        assert!(
            diff.notes
                .iter()
                .any(|n| n.contains("only with valuePolicy: enforce")),
            "{:?}",
            diff.notes
        );
    }

    #[test]
    fn scheduled_for_deletion_says_how_to_restore() {
        let diff = diff_secret(
            "app/db",
            &Spec::test(),
            Some(&Live::test().deleted()),
            &Ctx::test(),
            || panic!("must not read"),
        );
        let Action::Error(Error::Blocked { why, message }) = diff.action else {
            panic!("expected an error, got {:?}", diff.action);
        };
        assert_eq!(why, Blocked::ScheduledForDeletion);
        assert!(
            message.contains("restore-secret --secret-id app/db"),
            "{message}"
        );
        assert!(message.contains("2023-11-14T22:13:20Z"), "{message}");
    }

    #[test]
    fn an_unset_variable_is_named_in_the_error() {
        let diff = diff_secret(
            "app",
            &Spec::test().from_env("APP_JSON"),
            None,
            &Ctx::test(),
            || Err(SourceError::EnvUnset("APP_JSON".into())),
        );
        assert_eq!(
            diff.action,
            Action::Error(Error::blocked(
                Blocked::InitialValueUnavailable,
                "initialValue.fromEnv: environment variable APP_JSON is not set"
            ))
        );
    }

    #[test]
    fn create_carries_tags_description_key_and_value() {
        let spec = Spec::test()
            .from_env("APP")
            .description("d")
            .kms_key_id("alias/app")
            .tag("team", "platform")
            .recovery_window_days(0);
        let diff = diff_secret("app", &spec, None, &Ctx::test(), || known(MARKER));
        assert_eq!(
            diff.ops.create,
            Some(Create {
                description: Some("d".into()),
                kms_key_id: Some("alias/app".into()),
                tags: Tags::from([
                    (OWNER_TAG.to_string(), "driftd".to_string()),
                    (RECOVERY_WINDOW_TAG.to_string(), "0".to_string()),
                    ("team".to_string(), "platform".to_string()),
                ]),
                value: NewValue::Known(SecretValue::new(MARKER.into())),
            })
        );
    }

    #[test]
    fn kms_references_are_compared_by_what_they_name() {
        let key = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let key_arn = format!("arn:aws:kms:us-east-1:123456789012:key/{key}");
        let table: &[(&str, Option<&str>, KmsMatch)] = &[
            ("alias/app", Some("alias/app"), KmsMatch::Same),
            (
                "alias/app",
                Some("arn:aws:kms:us-east-1:123456789012:alias/app"),
                KmsMatch::Same,
            ),
            (key, Some(&key_arn), KmsMatch::Same),
            (&key_arn, Some(key), KmsMatch::Same),
            ("alias/aws/secretsmanager", None, KmsMatch::Same),
            ("alias/app", None, KmsMatch::Differs),
            ("alias/app", Some("alias/other"), KmsMatch::Differs),
            (
                key,
                Some("ffffffff-12ab-34cd-56ef-1234567890ab"),
                KmsMatch::Differs,
            ),
            ("alias/app", Some(key), KmsMatch::Unknown),
            (&key_arn, Some("alias/app"), KmsMatch::Unknown),
        ];
        for (desired, live, expected) in table {
            assert_eq!(
                kms_match(desired, *live),
                *expected,
                "{desired} vs {live:?}"
            );
        }
    }

    #[test]
    fn values_are_equal_as_text_or_as_structured_json() {
        let v = |s: &str| SecretValue::new(s.to_string());
        let table = [
            ("abc", "abc", true),
            ("abc", "abd", false),
            (
                r#"{"a":1,"b":[1,2]}"#,
                "{ \"b\": [1, 2], \"a\": 1 }\n",
                true,
            ),
            (r#"{"a":1}"#, r#"{"a":2}"#, false),
            ("[1,2]", "[ 1, 2 ]", true),
            // Scalars compare as text: "5" and "5.0" are different passwords.
            ("5", "5.0", false),
            ("5", " 5", false),
        ];
        for (a, b, equal) in table {
            assert_eq!(values_equal(&v(a), &v(b)), equal, "{a} vs {b}");
        }
    }

    #[test]
    fn sources_read_their_value_or_name_what_is_wrong() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("app.json");
        std::fs::write(&file, MARKER).expect("write");
        let empty = dir.path().join("empty.json");
        std::fs::write(&empty, "").expect("write");
        let missing = dir.path().join("missing.json");
        let path = |p: &std::path::Path| p.display().to_string();

        assert_eq!(
            Source::File(&path(&file)).read(),
            Ok(NewValue::Known(SecretValue::new(MARKER.into())))
        );
        assert_eq!(
            Source::File(&path(&empty)).read(),
            Err(SourceError::FileEmpty(path(&empty)))
        );
        let err = Source::File(&path(&missing))
            .read()
            .expect_err("missing file");
        assert!(
            err.to_string().starts_with(&format!(
                "initialValue.fromFile: cannot read {}: ",
                path(&missing)
            )),
            "{err}"
        );

        // Names no other test uses: the environment is shared by the test threads.
        std::env::set_var("DRIFTD_UNIT_SECRET_SET", MARKER);
        std::env::set_var("DRIFTD_UNIT_SECRET_EMPTY", "");
        std::env::remove_var("DRIFTD_UNIT_SECRET_UNSET");
        assert_eq!(
            Source::Env("DRIFTD_UNIT_SECRET_SET").read(),
            Ok(NewValue::Known(SecretValue::new(MARKER.into())))
        );
        assert_eq!(
            Source::Env("DRIFTD_UNIT_SECRET_EMPTY").read(),
            Err(SourceError::EnvEmpty("DRIFTD_UNIT_SECRET_EMPTY".into()))
        );
        assert_eq!(
            Source::Env("DRIFTD_UNIT_SECRET_UNSET").read(),
            Err(SourceError::EnvUnset("DRIFTD_UNIT_SECRET_UNSET".into()))
        );
    }

    #[test]
    fn placeholder_keys_make_a_json_object_of_change_me() {
        let keys = ["SECRET_KEY".to_string(), "CLIENT_ID".to_string()];
        let Ok(NewValue::Known(value)) = Source::Placeholder(&keys).read() else {
            panic!("placeholder keys yield a known value");
        };
        assert_eq!(
            value.expose(),
            r#"{"SECRET_KEY":"CHANGE_ME","CLIENT_ID":"CHANGE_ME"}"#
        );
    }

    #[test]
    fn secret_values_never_print() {
        let value = SecretValue::new(MARKER.to_string());
        assert_eq!(format!("{value}"), "(sensitive)");
        assert!(!format!("{value:?}").contains(MARKER));
        assert!(!format!("{:?}", Live::test().value(MARKER)).contains(MARKER));
        let ops = Ops {
            put_value: Some(value.clone()),
            create: Some(Create {
                description: None,
                kms_key_id: None,
                tags: Tags::new(),
                value: NewValue::Known(value),
            }),
            ..Ops::default()
        };
        assert!(!format!("{ops:?}").contains(MARKER));
    }

    // --- through the fake backend: observe, diff, apply -------------------

    fn resource(name: &str, spec: &Spec) -> Resource {
        Resource {
            environment: crate::kinds::DEFAULT_ENVIRONMENT.to_string(),
            name: name.to_string(),
            mode: None,
            origin: Origin {
                file: "desired-state/secrets.yaml".into(),
                line: 1,
                column: 1,
            },
            spec: super::super::Spec::Secret(spec.clone()),
        }
    }

    /// One pass over one secret, as the engine runs it; returns the diff.
    async fn pass(fake: &FakeAws, name: &str, spec: &Spec) -> Diff<Ops> {
        let aws = fake.aws();
        let resource = resource(name, spec);
        let mut observed = Secret::observe(&aws, &[(&resource, spec)])
            .await
            .expect("observe");
        let live = observed
            .remove(name)
            .expect("observed every resource")
            .expect("observe this secret");
        let diff = Secret::diff(
            &resource,
            spec,
            live.as_ref(),
            &Secret::inputs(spec, live.as_ref()),
            &Refs::default(),
            &Ctx::test(),
        );
        if matches!(diff.action, Action::Create | Action::Update) {
            Secret::apply(
                &aws,
                &resource,
                spec,
                &diff.ops,
                &mut Refs::default(),
                &Ctx::test(),
            )
            .await
            .expect("apply");
        }
        diff
    }

    fn value_of(fake: &FakeAws, name: &str) -> Option<String> {
        fake.secret(name)
            .and_then(|s| s.value)
            .map(|v| v.expose().to_string())
    }

    #[tokio::test]
    async fn create_only_without_required_keys_never_reads_a_value() {
        let fake = FakeAws::new();
        fake.add_secret("existing", Some("v1"), Tags::new());
        let spec = Spec::test().placeholder_keys(&["A"]);
        pass(&fake, "existing", &spec).await;
        pass(&fake, "new", &spec).await;
        pass(&fake, "new", &spec).await;
        assert_eq!(fake.secret_value_reads(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn required_keys_are_read_and_reported() {
        let fake = FakeAws::new();
        let arn = fake.add_secret("app", Some(r#"{"user":"u"}"#), Tags::new());
        let spec = Spec::test().required_keys(&["user", "password"]);
        let diff = pass(&fake, "app", &spec).await;
        assert_eq!(fake.secret_value_reads(), vec![arn]);
        assert!(diff.changes.contains(&Change::new(
            "value.keys.password",
            Some("missing".into()),
            Some("required".into())
        )));
        // Reported, not filled in: the value is as it was.
        assert_eq!(value_of(&fake, "app").as_deref(), Some(r#"{"user":"u"}"#));
    }

    #[tokio::test]
    async fn a_rotated_value_is_never_overwritten_under_create_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("app.json");
        std::fs::write(&file, r#"{"password":"initial"}"#).expect("write");
        let spec = Spec::test().from_file(&file).required_keys(&["password"]);
        let fake = FakeAws::new();

        assert_eq!(pass(&fake, "app", &spec).await.action, Action::Create);
        assert_eq!(
            value_of(&fake, "app").as_deref(),
            Some(r#"{"password":"initial"}"#)
        );
        fake.edit_secret("app", |s| {
            s.value = Some(SecretValue::new(r#"{"password":"rotated"}"#.into()))
        });
        assert_eq!(pass(&fake, "app", &spec).await.action, Action::InSync);
        assert_eq!(
            value_of(&fake, "app").as_deref(),
            Some(r#"{"password":"rotated"}"#)
        );
        assert_eq!(fake.writes(), vec!["SecretsManager.CreateSecret app"]);
    }

    #[tokio::test]
    async fn enforce_corrects_a_changed_value_then_is_in_sync() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("app.json");
        std::fs::write(&file, MARKER).expect("write");
        let spec = Spec::test()
            .from_file(&file)
            .value_policy(ValuePolicy::Enforce);
        let fake = FakeAws::new();
        let arn = fake.add_secret("app", Some("changed in the console"), Tags::new());

        let diff = pass(&fake, "app", &spec).await;
        assert_eq!(diff.action, Action::Update);
        assert!(diff.changes.contains(&Change::sensitive("value")));
        assert_eq!(value_of(&fake, "app").as_deref(), Some(MARKER));
        assert_eq!(pass(&fake, "app", &spec).await.action, Action::InSync);
        assert_eq!(
            fake.writes(),
            vec![
                format!("SecretsManager.PutSecretValue {arn}"),
                format!("SecretsManager.TagResource {arn}"),
            ]
        );
    }

    #[tokio::test]
    async fn each_initial_value_flavour_creates_its_value() {
        let fake = FakeAws::new();
        pass(
            &fake,
            "placeholders",
            &Spec::test().placeholder_keys(&["A", "B"]),
        )
        .await;
        assert_eq!(
            value_of(&fake, "placeholders").as_deref(),
            Some(r#"{"A":"CHANGE_ME","B":"CHANGE_ME"}"#)
        );
        pass(&fake, "generated", &Spec::test().generate(24)).await;
        assert_eq!(value_of(&fake, "generated").map(|v| v.len()), Some(24));
        pass(&fake, "empty", &Spec::test()).await;
        let empty = fake.secret("empty").expect("created");
        assert_eq!(empty.value, None);
        std::env::set_var("DRIFTD_UNIT_SECRET_FLAVOUR", MARKER);
        pass(
            &fake,
            "env",
            &Spec::test().from_env("DRIFTD_UNIT_SECRET_FLAVOUR"),
        )
        .await;
        assert_eq!(value_of(&fake, "env").as_deref(), Some(MARKER));
        // Writes name the secret, never its value.
        assert!(fake.writes().iter().all(|w| !w.contains(MARKER)));
    }

    #[tokio::test]
    async fn an_untagged_secret_is_adopted() {
        let fake = FakeAws::new();
        let arn = fake.add_secret(
            "legacy",
            Some("v"),
            Tags::from([("cost-center".to_string(), "42".to_string())]),
        );
        let spec = Spec::test().recovery_window_days(7);
        assert_eq!(pass(&fake, "legacy", &spec).await.action, Action::Update);
        let tags = fake.state.lock().unwrap().tags.get(&arn).cloned();
        assert_eq!(
            tags,
            Some(Tags::from([
                ("cost-center".to_string(), "42".to_string()),
                (OWNER_TAG.to_string(), "driftd".to_string()),
                (RECOVERY_WINDOW_TAG.to_string(), "7".to_string()),
            ]))
        );
        assert_eq!(pass(&fake, "legacy", &spec).await.action, Action::InSync);
        assert_eq!(value_of(&fake, "legacy").as_deref(), Some("v"));
    }

    #[tokio::test]
    async fn a_secret_scheduled_for_deletion_is_reported_not_read_nor_written() {
        let fake = FakeAws::new();
        fake.add_secret("gone", Some("v"), Tags::new());
        fake.edit_secret("gone", |s| {
            s.deleted_date = Some(aws_smithy_types::DateTime::from_secs(1_700_000_000))
        });
        let spec = Spec::test()
            .from_env("DRIFTD_UNIT_SECRET_NEVER_SET")
            .value_policy(ValuePolicy::Enforce);
        let diff = pass(&fake, "gone", &spec).await;
        assert!(
            matches!(
                diff.action,
                Action::Error(Error::Blocked {
                    why: Blocked::ScheduledForDeletion,
                    ..
                })
            ),
            "{:?}",
            diff.action
        );
        assert!(fake.secret_value_reads().is_empty());
        assert!(fake.writes().is_empty());
    }

    #[tokio::test]
    async fn description_and_key_are_updated_in_place() {
        let fake = FakeAws::new();
        let arn = fake.add_secret("app", None, Tags::new());
        let spec = Spec::test().description("new").kms_key_id("alias/app");
        pass(&fake, "app", &spec).await;
        let secret = fake.secret("app").expect("exists");
        assert_eq!(secret.description.as_deref(), Some("new"));
        assert_eq!(secret.kms_key_id.as_deref(), Some("alias/app"));
        assert_eq!(
            fake.writes(),
            vec![
                format!("SecretsManager.UpdateSecret {arn}"),
                format!("SecretsManager.TagResource {arn}"),
            ]
        );
        assert_eq!(pass(&fake, "app", &spec).await.action, Action::InSync);
    }

    #[test]
    fn the_initial_value_is_read_before_the_diff_only_when_it_decides_something() {
        let var = "DRIFTD_TEST_INPUTS_NEVER_SET";
        let spec = Spec::test().from_env(var);
        let unset = Some(Err(SourceError::EnvUnset(var.to_string())));
        assert_eq!(
            Secret::inputs(&spec, None).initial_value,
            unset,
            "to create"
        );
        assert_eq!(
            Secret::inputs(&spec, Some(&Live::test())).initial_value,
            None,
            "an existing createOnly secret never needs it"
        );
        let enforced = spec.value_policy(ValuePolicy::Enforce);
        let live = Live::test().value("current");
        assert_eq!(Secret::inputs(&enforced, Some(&live)).initial_value, unset);
        assert_eq!(
            Secret::inputs(&enforced, Some(&live.deleted())).initial_value,
            None,
            "scheduled for deletion: blocked before any value matters"
        );
        let diff = Secret::diff(
            &Resource::test("app", super::super::Spec::Secret(enforced.clone())),
            &enforced,
            Some(&Live::test().value("current")),
            &Inputs::default(),
            &Refs::default(),
            &Ctx::test(),
        );
        assert!(
            matches!(&diff.action, Action::Error(e) if e.to_string().contains("not read")),
            "a diff without its inputs says so: {:?}",
            diff.action
        );
    }
}
