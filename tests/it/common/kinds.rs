//! Library-level fixtures for the kinds' tests against the emulator: a
//! resource as the loader makes it, and the engine's context.

use driftd::engine::Ctx;
use driftd::kinds::{Origin, Resource, Spec};

/// The engine's context for the default owner `driftd`, pruning off.
pub fn ctx() -> Ctx {
    Ctx {
        owner: "driftd".into(),
        prune: false,
    }
}

/// The resource `name` of the default environment, declared at line 1 of
/// `desired-state/<file>`.
pub fn resource(file: &str, name: &str, spec: Spec) -> Resource {
    Resource {
        environment: driftd::kinds::DEFAULT_ENVIRONMENT.to_string(),
        name: name.into(),
        mode: None,
        origin: Origin {
            file: format!("desired-state/{file}").into(),
            line: 1,
            column: 1,
        },
        spec,
    }
}
