//! Secrets Manager secrets: the spec, the live view, and the pure diff.
//! Secret values only ever live in [`SecretValue`], which never prints them.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Tags;

/// `spec:` of a `Secret` document (section 1.4 of the contract).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
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
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
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

/// Parameters of a generated value (Secrets Manager `GetRandomPassword`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Generate {
    #[serde(default = "default_length")]
    pub length: i64,
    #[serde(default)]
    pub exclude_punctuation: bool,
    #[serde(default)]
    pub exclude_numbers: bool,
    #[serde(default)]
    pub exclude_uppercase: bool,
    #[serde(default)]
    pub exclude_lowercase: bool,
    #[serde(default)]
    pub include_space: bool,
    #[serde(default)]
    pub exclude_characters: Option<String>,
}

fn default_length() -> i64 {
    32
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ValuePolicy {
    #[default]
    CreateOnly,
    Enforce,
}

/// A secret value. `Debug` and `Display` redact it; the only way to the text
/// is [`SecretValue::expose`], called where the value goes to AWS or is compared.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: String) -> SecretValue {
        SecretValue(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(sensitive)")
    }
}
