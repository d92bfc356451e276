//! The resource kinds driftd manages: one file per kind with its spec, its live
//! view, the pure diff between them, and how to observe and correct it.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// An enum's fixed label per variant: `as_str`, and a `Display` that writes it.
macro_rules! labels {
    ($ty:ident { $($variant:ident => $label:literal,)* }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $label,)*
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use labels;

pub mod alarm;
pub mod dashboard;
pub mod ecs_service;
mod error;
pub mod reconciler;
pub mod secret;
pub mod topic;

pub use error::{Blocked, Error};
pub use reconciler::{Action, Ctx, Diff, Inputs, Observed, Reconciler, Refs};

/// A kind of resource, in the order a pass applies them: a Topic comes before
/// the Alarms that notify it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    Topic,
    Secret,
    Dashboard,
    Alarm,
    EcsService,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Topic,
        Kind::Secret,
        Kind::Dashboard,
        Kind::Alarm,
        Kind::EcsService,
    ];

    /// The kinds in the order the contract lists them, for messages.
    pub const LISTED: [Kind; 5] = [
        Kind::Alarm,
        Kind::Dashboard,
        Kind::Topic,
        Kind::Secret,
        Kind::EcsService,
    ];

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

labels!(Kind {
    Topic => "Topic",
    Secret => "Secret",
    Dashboard => "Dashboard",
    Alarm => "Alarm",
    EcsService => "EcsService",
});

/// Whether driftd may change a resource, or only report its drift.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Correct drift.
    #[default]
    Enforce,
    /// Only detect and report drift; never change AWS.
    Observe,
}

labels!(Mode {
    Enforce => "enforce",
    Observe => "observe",
});

/// Where a resource was declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// The spec of one resource, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    Alarm(alarm::Spec),
    Dashboard(dashboard::Spec),
    Topic(topic::Spec),
    Secret(secret::Spec),
    EcsService(ecs_service::Spec),
}

/// A kind's own spec, found in a resource's [`Spec`].
pub trait SpecOf: Sized {
    /// The kind's spec, if the resource is of this kind.
    fn of(spec: &Spec) -> Option<&Self>;
}

macro_rules! spec_of {
    ($($variant:ident => $spec:ty),* $(,)?) => {$(
        impl SpecOf for $spec {
            fn of(spec: &Spec) -> Option<&Self> {
                match spec {
                    Spec::$variant(s) => Some(s),
                    _ => None,
                }
            }
        }
    )*};
}

spec_of!(
    Alarm => alarm::Spec,
    Dashboard => dashboard::Spec,
    Topic => topic::Spec,
    Secret => secret::Spec,
    EcsService => ecs_service::Spec,
);

impl Spec {
    pub fn kind(&self) -> Kind {
        match self {
            Spec::Alarm(_) => Kind::Alarm,
            Spec::Dashboard(_) => Kind::Dashboard,
            Spec::Topic(_) => Kind::Topic,
            Spec::Secret(_) => Kind::Secret,
            Spec::EcsService(_) => Kind::EcsService,
        }
    }
}

/// One validated resource of the desired state.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// The environment it is declared in (`default` without Environment
    /// documents): part of its key, with its kind and name.
    pub environment: String,
    pub name: String,
    /// `metadata.mode`, when the file sets one.
    pub mode: Option<Mode>,
    pub origin: Origin,
    pub spec: Spec,
}

impl Resource {
    pub fn kind(&self) -> Kind {
        self.spec.kind()
    }

    /// The mode in force for this resource: the global `--mode observe` wins,
    /// otherwise the resource's own `metadata.mode`, otherwise enforce.
    pub fn effective_mode(&self, global: Mode) -> Mode {
        match (global, self.mode) {
            (Mode::Observe, _) => Mode::Observe,
            (Mode::Enforce, Some(m)) => m,
            (Mode::Enforce, None) => Mode::Enforce,
        }
    }
}

pub use crate::aws::Tags;

/// The tag key that marks what driftd created or adopted.
pub const OWNER_TAG: &str = "driftd:owner";

/// The name of the one implicit environment of a desired state that
/// declares none.
pub const DEFAULT_ENVIRONMENT: &str = "default";

/// One field that differs between desired and live, as shown in a plan.
///
/// `from`/`to` are display strings; a sensitive field never carries values,
/// only the fact that it differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
}

impl Change {
    /// A field whose old and new values can be shown.
    pub fn new(field: impl Into<String>, from: Option<String>, to: Option<String>) -> Change {
        Change {
            field: field.into(),
            from,
            to,
            sensitive: false,
        }
    }

    /// A field whose values must never be shown (secret values).
    pub fn sensitive(field: impl Into<String>) -> Change {
        Change {
            field: field.into(),
            from: None,
            to: None,
            sensitive: true,
        }
    }

    /// A change when the two sides differ, `None` when they are equal.
    pub fn if_differs<T: PartialEq + fmt::Debug>(
        field: &str,
        live: &T,
        desired: &T,
        show: impl Fn(&T) -> Option<String>,
    ) -> Option<Change> {
        (live != desired).then(|| Change::new(field, show(live), show(desired)))
    }
}

/// The changes to tags: keys to set (added or changed) and nothing else, since
/// tags that the spec does not name are left alone.
pub fn tag_changes(live: &Tags, desired: &Tags, changes: &mut Vec<Change>) -> Tags {
    let mut set = Tags::new();
    for (k, v) in desired {
        if live.get(k) != Some(v) {
            changes.push(Change::new(
                format!("tags.{k}"),
                live.get(k).cloned(),
                Some(v.clone()),
            ));
            set.insert(k.clone(), v.clone());
        }
    }
    set
}

/// The tags a resource must carry: those of its spec plus the owner tag.
pub fn desired_tags(spec_tags: &Tags, owner: &str) -> Tags {
    let mut tags = spec_tags.clone();
    tags.insert(OWNER_TAG.to_string(), owner.to_string());
    tags
}

#[cfg(test)]
impl Resource {
    /// A resource declared at line 1 of a test file, with no mode of its own.
    pub fn test(name: &str, spec: Spec) -> Resource {
        Resource {
            environment: DEFAULT_ENVIRONMENT.to_string(),
            name: name.into(),
            mode: None,
            origin: Origin {
                file: format!("desired-state/{}.yaml", spec.kind()).into(),
                line: 1,
                column: 1,
            },
            spec,
        }
    }

    pub fn mode(mut self, mode: Mode) -> Resource {
        self.mode = Some(mode);
        self
    }
}
