//! SNS topics and their subscriptions: the spec, the live view, and the pure diff.

use serde::{Deserialize, Serialize};

use super::Tags;

/// `spec:` of a `Topic` document (section 1.3 of the contract).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Spec {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub kms_master_key_id: Option<String>,
    /// The access policy, written as YAML or as a JSON string; the loader
    /// turns a JSON string into its value, so this is always a JSON object.
    #[serde(default)]
    pub policy: Option<serde_json::Value>,
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    #[serde(default)]
    pub tags: Tags,
}

/// A subscription, identified by (protocol, endpoint).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Subscription {
    pub protocol: String,
    pub endpoint: String,
}

/// The protocols SNS accepts.
pub const PROTOCOLS: &[&str] = &[
    "http",
    "https",
    "email",
    "email-json",
    "sms",
    "sqs",
    "application",
    "lambda",
    "firehose",
];
