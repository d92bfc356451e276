//! The seam between the engine and a kind: observe in batches, diff purely,
//! apply what the diff decided. One implementation per kind, in `kinds/`.

use std::collections::HashMap;

use async_trait::async_trait;

use super::secret::{NewValue, SourceError};
use super::{Blocked, Change, Error, Kind, Resource, Spec, SpecOf, Tags};
use crate::aws::Aws;

/// What a pass knows about other resources, for references between kinds.
#[derive(Debug, Clone, Default)]
pub struct Refs {
    /// Topic name -> ARN, for `topic:<name>` references; filled by the Topic
    /// kind from what it observed or created.
    pub topic_arns: HashMap<String, String>,
}

impl Refs {
    /// Resolves an action reference: a full ARN stays as it is, `topic:<name>`
    /// becomes that topic's ARN, or `None` while the topic does not exist yet.
    pub fn resolve(&self, reference: &str) -> Option<String> {
        match reference.strip_prefix("topic:") {
            Some(name) => self.topic_arns.get(name).cloned(),
            None => Some(reference.to_string()),
        }
    }

    /// How a reference is shown in a plan: its ARN, or a note that it will be
    /// known once the topic is created.
    pub fn display(&self, reference: &str) -> String {
        self.resolve(reference)
            .unwrap_or_else(|| format!("{reference} (known after apply)"))
    }
}

/// Settings every diff and apply sees.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The value of the `driftd:owner` tag this process writes and honours.
    pub owner: String,
    /// Whether this pass removes what the desired state no longer names
    /// inside a resource it still declares (a Topic's subscriptions): `--prune`,
    /// and only while the desired state loads.
    pub prune: bool,
}

#[cfg(test)]
impl Ctx {
    /// The settings of a test: owner `driftd`, no pruning.
    pub fn test() -> Ctx {
        Ctx {
            owner: "driftd".into(),
            prune: false,
        }
    }
}

/// What a diff needs from outside AWS, read right before it so that the
/// diff stays pure: a secret's initial value (`fromEnv`, `fromFile`), when
/// the diff decides something with it (see [`Reconciler::inputs`]).
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub initial_value: Option<Result<NewValue, SourceError>>,
}

/// What a resource needs, as the pure diff decided it.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Live equals desired.
    InSync,
    /// It does not exist and will be created.
    Create,
    /// It exists and these fields differ (the diff's `changes`).
    Update,
    /// It cannot be reconciled (e.g. a secret scheduled for deletion).
    Error(Error),
}

/// The result of diffing one resource: what to show and what to do.
#[derive(Debug, Clone)]
pub struct Diff<P> {
    pub action: Action,
    /// Field by field, for the plan. For a create: the fields being set.
    pub changes: Vec<Change>,
    /// Facts worth showing that are not changes (e.g. "autoscaled: range 1..4").
    pub notes: Vec<String>,
    /// The kind's own description of the writes to make; [`Reconciler::apply`] executes it.
    pub ops: P,
}

impl<P: Default> Diff<P> {
    pub fn in_sync() -> Diff<P> {
        Diff {
            action: Action::InSync,
            changes: Vec::new(),
            notes: Vec::new(),
            ops: P::default(),
        }
    }

    /// An update of these changes, or in sync when there are none (the
    /// ops may still write something on the side, such as a tag).
    pub fn of_changes(changes: Vec<Change>, notes: Vec<String>, ops: P) -> Diff<P> {
        Diff {
            action: if changes.is_empty() {
                Action::InSync
            } else {
                Action::Update
            },
            changes,
            notes,
            ops,
        }
    }

    /// It may not be reconciled as it stands (see [`Blocked`]).
    pub fn blocked(why: Blocked, message: impl Into<String>) -> Diff<P> {
        Diff::error(Error::blocked(why, message))
    }

    /// It does not exist, and driftd never creates it.
    pub fn missing(message: impl Into<String>) -> Diff<P> {
        Diff::error(Error::Missing(message.into()))
    }

    pub fn error(error: Error) -> Diff<P> {
        Diff {
            action: Action::Error(error),
            changes: Vec::new(),
            notes: Vec::new(),
            ops: P::default(),
        }
    }
}

/// The live state of each observed resource, by name: `Ok(None)` when it does
/// not exist, `Err` when reading it failed (for that resource only).
pub type Observed<L> = HashMap<String, Result<Option<L>, Error>>;

/// One kind of resource, as the engine drives it.
#[async_trait]
pub trait Reconciler: Send + Sync + 'static {
    const KIND: Kind;
    type Spec: SpecOf + Send + Sync;
    type Live: Send + Sync;
    type Ops: Send + Sync + Default + PartialEq;
    /// Its tags take a call of their own (the tagging API), which
    /// [`Self::observe_knowing`] leaves out for the tags it is given.
    const TAGS_APART: bool = false;

    /// This kind's spec, if the resource is of this kind.
    fn spec(spec: &Spec) -> Option<&Self::Spec> {
        Self::Spec::of(spec)
    }

    /// Reads the live state of all these resources in as few calls as the
    /// AWS APIs allow. A failure that concerns every resource (the batch call
    /// failed) is returned as `Err`; a failure of one resource goes in its entry.
    async fn observe(
        aws: &Aws,
        resources: &[(&Resource, &Self::Spec)],
    ) -> Result<Observed<Self::Live>, Error>;

    /// What the read-back after a correction observes
    /// (`engine::converge`): what a pass observes, unless the kind can leave
    /// out what the read-back does not check (tags, eventually consistent).
    async fn observe_again(
        aws: &Aws,
        resources: &[(&Resource, &Self::Spec)],
    ) -> Result<Observed<Self::Live>, Error> {
        Self::observe(aws, resources).await
    }

    /// What the reconcile a change event started observes: what a pass
    /// observes, except that a kind whose tags take a call of their own
    /// ([`Self::TAGS_APART`]) takes the tags in `tags` (by name: as last read, and the event's
    /// call cannot have changed them) instead of reading those again.
    async fn observe_knowing(
        aws: &Aws,
        resources: &[(&Resource, &Self::Spec)],
        _tags: &HashMap<String, Tags>,
    ) -> Result<Observed<Self::Live>, Error> {
        Self::observe(aws, resources).await
    }

    /// The tags the live resource carries, for the ownership check; `None`
    /// where the service cannot tag this kind (then ownership is the kind's
    /// own business).
    fn live_tags(live: &Self::Live) -> Option<&Tags>;

    /// Records what other kinds may reference (e.g. a topic's ARN).
    fn record_refs(_name: &str, _live: &Self::Live, _refs: &mut Refs) {}

    /// Whether these ops write nothing: drift that driftd reports but may not
    /// correct (e.g. an extra subscription without `--prune`).
    fn writes_nothing(ops: &Self::Ops) -> bool {
        *ops == Self::Ops::default()
    }

    /// Reads what the diff of this resource needs from outside AWS (the
    /// environment, files); called right before [`Self::diff`]. Most kinds
    /// need nothing.
    fn inputs(_spec: &Self::Spec, _live: Option<&Self::Live>) -> Inputs {
        Inputs::default()
    }

    /// The pure diff: what differs and what to write. Never calls AWS, never
    /// reads the environment or files (that is [`Self::inputs`]).
    fn diff(
        resource: &Resource,
        spec: &Self::Spec,
        live: Option<&Self::Live>,
        inputs: &Inputs,
        refs: &Refs,
        ctx: &Ctx,
    ) -> Diff<Self::Ops>;

    /// Makes the writes the diff decided. Records new references (a created
    /// topic's ARN) in `refs`.
    async fn apply(
        aws: &Aws,
        resource: &Resource,
        spec: &Self::Spec,
        ops: &Self::Ops,
        refs: &mut Refs,
        ctx: &Ctx,
    ) -> Result<(), Error>;

    /// Whether applying `ops` corrects every change its diff reported. A kind
    /// that reports drift it must leave alone (a secret missing a required
    /// key under `valuePolicy: createOnly`) answers `false`: the resource
    /// then stays `drifted` once its other corrections are made.
    fn corrects_all(_ops: &Self::Ops) -> bool {
        true
    }
}
