//! The desired count of an existing ECS service: the spec, the live view, and the pure diff.

use serde::{Deserialize, Serialize};

/// `spec:` of an `EcsService` document (section 1.5 of the contract).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Spec {
    pub cluster: String,
    /// The service name; defaults to `metadata.name` (the loader fills it in).
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub desired_count: Option<i32>,
    #[serde(default)]
    pub min_count: Option<i32>,
    #[serde(default)]
    pub max_count: Option<i32>,
}
