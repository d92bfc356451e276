//! CloudWatch dashboards: the spec, the live view, and the pure diff.

use serde::{Deserialize, Serialize};

/// `spec:` of a `Dashboard` document (section 1.2 of the contract).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Spec {
    /// The body as written in YAML. After loading, the loader has filled it
    /// from `bodyFile` too, so it is always set on a validated resource.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// A JSON file holding the body, relative to the YAML file.
    #[serde(default)]
    pub body_file: Option<String>,
}

impl Spec {
    /// The dashboard body; always present once the desired state is loaded.
    pub fn body(&self) -> &serde_json::Value {
        static EMPTY: serde_json::Value = serde_json::Value::Null;
        self.body.as_ref().unwrap_or(&EMPTY)
    }
}
