//! SNS topics and their subscriptions: the spec, the live view, and the pure diff.
//!
//! What a field left out of the spec means, decided as an operator would want it:
//! * `displayName`: absent means no display name, the SNS default `""`. Absent
//!   and `""` are the same state, so neither drifts against a fresh topic; a
//!   display name set behind driftd's back is drift and is cleared.
//! * `kmsMasterKeyId`: absent means not encrypted, the SNS default; a key set
//!   behind driftd's back is drift and is removed (`KmsMasterKeyId = ""`). The
//!   key is compared as written (an alias and the key's ARN are not resolved).
//! * `policy`: absent means driftd does not manage the access policy. SNS gives
//!   every topic a default policy, and AWS itself adds statements to it when an
//!   EventBridge rule, an S3 notification or a budget is pointed at the topic;
//!   resetting those to a guessed default would silently stop those deliveries,
//!   which for an alerting topic is an outage nobody gets paged for. A declared
//!   policy is enforced and compared semantically ([`policy::equivalent`]).
//! * `subscriptions`: matched by (protocol, endpoint). Missing ones are
//!   subscribed; a pending one counts as present, so an endpoint is never asked
//!   to confirm twice. Extra ones are drift, removed only in a pass that prunes.
//! * `tags`: the spec's tags and `driftd:owner` are enforced; other tags are left alone.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use async_trait::async_trait;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{desired_tags, tag_changes, Change, Kind, Resource, Tags};
use super::{Action, Ctx, Diff, Error, Inputs, Observed, Reconciler, Refs};
pub use crate::aws::sns::Subscription;
use crate::aws::sns::{attr, TopicSubscription};
use crate::aws::{Aws, ErrorClass};

/// `spec:` of a `Topic` document (section 1.3 of the contract).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "TopicSpec")]
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

impl fmt::Display for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.protocol, self.endpoint)
    }
}

/// A topic as it is in AWS.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub arn: String,
    /// `""` when none is set (the SNS default).
    pub display_name: String,
    /// `None` when the topic is not encrypted.
    pub kms_master_key_id: Option<String>,
    /// The access policy as SNS returns it: a default one when none was set.
    pub policy: Option<Value>,
    pub subscriptions: Vec<TopicSubscription>,
    pub tags: Tags,
}

impl Live {
    /// The live view from what `GetTopicAttributes`, `ListSubscriptionsByTopic`
    /// and the tagging API returned.
    pub fn from_aws(
        arn: String,
        attributes: &HashMap<String, String>,
        subscriptions: Vec<TopicSubscription>,
        tags: Tags,
    ) -> Live {
        Live {
            arn,
            display_name: attributes
                .get(attr::DISPLAY_NAME)
                .cloned()
                .unwrap_or_default(),
            kms_master_key_id: attributes
                .get(attr::KMS_MASTER_KEY_ID)
                .filter(|k| !k.is_empty())
                .cloned(),
            // A policy SNS returns is JSON; should it ever not be, keep the text
            // so that it shows in the plan and differs from any declared policy.
            policy: attributes.get(attr::POLICY).map(|text| {
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
            }),
            subscriptions,
            tags,
        }
    }

    fn subscription(&self, key: &Subscription) -> Option<&TopicSubscription> {
        self.subscriptions
            .iter()
            .find(|s| s.protocol == key.protocol && s.endpoint == key.endpoint)
    }
}

/// The writes that bring a topic to its spec, exactly as [`Topic::apply`] makes them.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Ops {
    /// Nothing to write (in sync, or drift that only a pruning pass corrects).
    #[default]
    None,
    /// `CreateTopic` with these attributes and tags, then `Subscribe` each endpoint.
    Create {
        attributes: BTreeMap<String, String>,
        tags: Tags,
        subscribe: Vec<Subscription>,
    },
    Update(Update),
}

impl Ops {
    pub fn is_empty(&self) -> bool {
        *self == Ops::None
    }
}

/// The writes to an existing topic, in the order [`Topic::apply`] makes them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    pub arn: String,
    /// `TagResource` with these tags (the owner tag, on adoption).
    pub tags: Tags,
    /// `SetTopicAttributes`, one call per attribute; `""` clears `DisplayName`
    /// and turns encryption off for `KmsMasterKeyId`.
    pub attributes: BTreeMap<String, String>,
    /// `Subscribe` these endpoints.
    pub subscribe: Vec<Subscription>,
    /// `Unsubscribe` these subscription ARNs: confirmed subscriptions the file
    /// does not name. Only a pass that prunes fills it (contract section 2);
    /// pending ones have no ARN and cannot be removed.
    pub unsubscribe: Vec<String>,
}

impl Update {
    fn is_empty(&self) -> bool {
        self.tags.is_empty()
            && self.attributes.is_empty()
            && self.subscribe.is_empty()
            && self.unsubscribe.is_empty()
    }
}

/// How many topics are read at once: SNS has no batch read, and its read
/// calls share a per-account rate limit with every other client of the account.
const READ_CONCURRENCY: usize = 4;

/// The Topic kind, as the engine drives it.
pub struct Topic;

#[async_trait]
impl Reconciler for Topic {
    const KIND: Kind = Kind::Topic;
    const TAGS_APART: bool = true;
    type Spec = Spec;
    type Live = Live;
    type Ops = Ops;

    /// One `ListTopics` walk for all names, one tagging call per 100 topics,
    /// then `GetTopicAttributes` and `ListSubscriptionsByTopic` per topic.
    async fn observe(aws: &Aws, resources: &[(&Resource, &Spec)]) -> Result<Observed<Live>, Error> {
        observe(aws, resources, &HashMap::new()).await
    }

    /// The tagging call only for the topics whose tags are not given.
    async fn observe_knowing(
        aws: &Aws,
        resources: &[(&Resource, &Spec)],
        tags: &HashMap<String, Tags>,
    ) -> Result<Observed<Live>, Error> {
        observe(aws, resources, tags).await
    }

    fn live_tags(live: &Live) -> Option<&Tags> {
        Some(&live.tags)
    }

    /// Alarms reference topics as `topic:NAME`.
    fn record_refs(name: &str, live: &Live, refs: &mut Refs) {
        refs.topic_arns.insert(name.to_string(), live.arn.clone());
    }

    fn diff(
        resource: &Resource,
        spec: &Spec,
        live: Option<&Live>,
        _inputs: &Inputs,
        _refs: &Refs,
        ctx: &Ctx,
    ) -> Diff<Ops> {
        // Subscriptions the file does not name go only in a pass that prunes.
        diff(&resource.name, spec, live, ctx, ctx.prune)
    }

    async fn apply(
        aws: &Aws,
        resource: &Resource,
        _spec: &Spec,
        ops: &Ops,
        refs: &mut Refs,
        _ctx: &Ctx,
    ) -> Result<(), Error> {
        match ops {
            Ops::None => {}
            Ops::Create {
                attributes,
                tags,
                subscribe,
            } => {
                let arn = aws
                    .sns
                    .create_topic(&resource.name, attributes, tags)
                    .await?;
                refs.topic_arns.insert(resource.name.clone(), arn.clone());
                for s in subscribe {
                    aws.sns.subscribe(&arn, s).await?;
                }
            }
            Ops::Update(u) => {
                if !u.tags.is_empty() {
                    aws.sns.tag_topic(&u.arn, &u.tags).await?;
                }
                for (name, value) in &u.attributes {
                    aws.sns.set_topic_attribute(&u.arn, name, value).await?;
                }
                for s in &u.subscribe {
                    aws.sns.subscribe(&u.arn, s).await?;
                }
                for arn in &u.unsubscribe {
                    aws.sns.unsubscribe(arn).await?;
                }
            }
        }
        Ok(())
    }
}

/// The pure diff of one topic. `prune`: whether this pass removes
/// subscriptions that the file does not name (`--prune`).
pub fn diff(name: &str, spec: &Spec, live: Option<&Live>, ctx: &Ctx, prune: bool) -> Diff<Ops> {
    let desired_display_name = spec.display_name.as_deref().unwrap_or_default();
    let desired_kms = spec.kms_master_key_id.as_deref().filter(|k| !k.is_empty());
    let wanted: BTreeSet<&Subscription> = spec.subscriptions.iter().collect();
    let tags = desired_tags(&spec.tags, &ctx.owner);

    let Some(live) = live else {
        return create(name, spec, desired_display_name, desired_kms, wanted, tags);
    };

    let mut changes = Vec::new();
    let mut notes = Vec::new();
    let mut update = Update {
        arn: live.arn.clone(),
        ..Update::default()
    };

    if live.display_name != desired_display_name {
        changes.push(Change::new(
            "displayName",
            non_empty(&live.display_name),
            non_empty(desired_display_name),
        ));
        update
            .attributes
            .insert(attr::DISPLAY_NAME.into(), desired_display_name.into());
    }
    if live.kms_master_key_id.as_deref() != desired_kms {
        changes.push(Change::new(
            "kmsMasterKeyId",
            live.kms_master_key_id.clone(),
            desired_kms.map(str::to_string),
        ));
        update.attributes.insert(
            attr::KMS_MASTER_KEY_ID.into(),
            desired_kms.unwrap_or_default().into(),
        );
    }
    if let Some(want) = &spec.policy {
        let same = live
            .policy
            .as_ref()
            .is_some_and(|have| policy::equivalent(have, want));
        if !same {
            changes.push(Change::new(
                "policy",
                live.policy.as_ref().map(Value::to_string),
                Some(want.to_string()),
            ));
            update
                .attributes
                .insert(attr::POLICY.into(), want.to_string());
        }
    }

    for want in &wanted {
        match live.subscription(want) {
            None => {
                changes.push(Change::new("subscriptions", None, Some(want.to_string())));
                update.subscribe.push((*want).clone());
            }
            Some(have) if have.is_pending() => {
                notes.push(format!("subscription {want} is pending confirmation"));
            }
            Some(_) => {}
        }
    }
    let mut kept = 0;
    for have in &live.subscriptions {
        if wanted.contains(&have.key()) {
            continue;
        }
        let shown = match have.arn {
            Some(_) => have.key().to_string(),
            None => format!("{} (pending confirmation)", have.key()),
        };
        changes.push(Change::new("subscriptions", Some(shown), None));
        match &have.arn {
            Some(arn) if prune => update.unsubscribe.push(arn.clone()),
            Some(_) => kept += 1,
            None => notes.push(format!(
                "subscription {} is pending confirmation: SNS cannot remove it, \
                 it expires unless its owner confirms it",
                have.key()
            )),
        }
    }
    if kept > 0 {
        notes.push(format!(
            "{kept} subscription(s) not in the file left in place: only --prune removes them"
        ));
    }

    update.tags = tag_changes(&live.tags, &tags, &mut changes);

    let ops = if update.is_empty() {
        Ops::None
    } else {
        Ops::Update(update)
    };
    Diff::of_changes(changes, notes, ops)
}

fn create(
    name: &str,
    spec: &Spec,
    display_name: &str,
    kms: Option<&str>,
    wanted: BTreeSet<&Subscription>,
    tags: Tags,
) -> Diff<Ops> {
    let mut changes = Vec::new();
    let mut attributes = BTreeMap::new();
    if !display_name.is_empty() {
        changes.push(Change::new("displayName", None, Some(display_name.into())));
        attributes.insert(attr::DISPLAY_NAME.into(), display_name.into());
    }
    if let Some(kms) = kms {
        changes.push(Change::new("kmsMasterKeyId", None, Some(kms.into())));
        attributes.insert(attr::KMS_MASTER_KEY_ID.into(), kms.into());
    }
    if let Some(policy) = &spec.policy {
        changes.push(Change::new("policy", None, Some(policy.to_string())));
        attributes.insert(attr::POLICY.into(), policy.to_string());
    }
    // SNS only creates a `.fifo` name as a FIFO topic, and only when told so.
    if name.ends_with(".fifo") {
        attributes.insert(attr::FIFO_TOPIC.into(), "true".into());
    }
    for s in &wanted {
        changes.push(Change::new("subscriptions", None, Some(s.to_string())));
    }
    tag_changes(&Tags::new(), &tags, &mut changes);
    Diff {
        action: Action::Create,
        changes,
        notes: Vec::new(),
        ops: Ops::Create {
            attributes,
            tags,
            subscribe: wanted.into_iter().cloned().collect(),
        },
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Access policies compared as IAM evaluates them, not as text.
pub mod policy {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::Value;

    /// Whether two policies mean the same. Equal when they differ only in:
    /// key order; a single value written as a string or as a one-element list
    /// (`Action`, `Resource`, principals, condition values); the order and
    /// duplicates of such lists; the order of statements, and one statement
    /// written without its list; the case of action names and condition keys
    /// (IAM ignores it); `"Principal": "*"` vs `{"AWS": "*"}` (IAM treats them
    /// alike); an account ID vs its root ARN as an AWS principal (SNS may return
    /// either); a condition value written as a number or a boolean vs a string.
    /// Anything else (`Sid`, `Effect`, `Version`, `Id`, resources) is compared exactly.
    pub fn equivalent(a: &Value, b: &Value) -> bool {
        canonical(a) == canonical(b)
    }

    /// The canonical form of a policy: equal forms mean equal policies.
    pub fn canonical(policy: &Value) -> Value {
        map_object(policy, |key, value| match key {
            "Statement" => statements(value),
            _ => value.clone(),
        })
    }

    /// An object with each value mapped, keys sorted; anything else unchanged.
    fn map_object(value: &Value, f: impl Fn(&str, &Value) -> Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), f(k, v)))
                    .collect::<BTreeMap<_, _>>()
                    .into_iter()
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn statements(value: &Value) -> Value {
        let mut list: Vec<Value> = match value {
            Value::Array(items) => items.iter().map(statement).collect(),
            single => vec![statement(single)],
        };
        list.sort_by_cached_key(Value::to_string);
        Value::Array(list)
    }

    fn statement(value: &Value) -> Value {
        map_object(value, |key, value| match key {
            "Action" | "NotAction" => string_set(value, str::to_ascii_lowercase),
            "Resource" | "NotResource" => string_set(value, str::to_string),
            "Principal" | "NotPrincipal" => principal(value),
            "Condition" => map_object(value, |_operator, block| condition_block(block)),
            _ => value.clone(),
        })
    }

    fn principal(value: &Value) -> Value {
        match value {
            Value::String(s) if s == "*" => principal(&serde_json::json!({ "AWS": "*" })),
            other => map_object(other, |kind, ids| match kind {
                "AWS" => string_set(ids, account_of_root),
                _ => string_set(ids, str::to_string),
            }),
        }
    }

    /// Condition keys are case-insensitive; values are compared as written.
    fn condition_block(block: &Value) -> Value {
        match block {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), string_set(v, str::to_string)))
                    .collect::<BTreeMap<_, _>>()
                    .into_iter()
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// `arn:<partition>:iam::<account>:root` -> `<account>`; anything else unchanged.
    fn account_of_root(principal: &str) -> String {
        let parts: Vec<&str> = principal.split(':').collect();
        match parts.as_slice() {
            ["arn", _, "iam", "", account, "root"]
                if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) =>
            {
                account.to_string()
            }
            _ => principal.to_string(),
        }
    }

    /// A string or a list of scalars as a sorted list without duplicates;
    /// anything else (a nested object) unchanged.
    fn string_set(value: &Value, norm: impl Fn(&str) -> String) -> Value {
        let items = match value {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        let mut set = BTreeSet::new();
        for item in items {
            let text = match item {
                Value::String(s) => norm(s),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return value.clone(),
            };
            set.insert(text);
        }
        Value::Array(set.into_iter().map(Value::String).collect())
    }
}

/// The topics of `resources`, the tags of those in `known` (by name) as
/// given: one `ListTopics` walk for all names, one tagging call per 100
/// topics, the subscriptions ([`crate::aws::sns::Sns::subscriptions_of`]:
/// the account's list, or one walk per topic, whichever takes fewer calls),
/// then `GetTopicAttributes` per topic.
async fn observe(
    aws: &Aws,
    resources: &[(&Resource, &Spec)],
    known: &HashMap<String, Tags>,
) -> Result<Observed<Live>, Error> {
    let names: BTreeSet<String> = resources.iter().map(|(r, _)| r.name.clone()).collect();
    let mut observed: Observed<Live> = names.iter().map(|n| (n.clone(), Ok(None))).collect();
    let arns = aws.sns.topic_arns(&names).await?;
    if arns.is_empty() {
        return Ok(observed);
    }
    let unknown: Vec<String> = arns
        .iter()
        .filter(|(name, _)| !known.contains_key(*name))
        .map(|(_, arn)| arn.clone())
        .collect();
    let mut tags = if unknown.is_empty() {
        HashMap::new()
    } else {
        aws.tagging.tags_of(&unknown).await?
    };
    for (name, arn) in &arns {
        if let Some(t) = known.get(name) {
            tags.insert(arn.clone(), t.clone());
        }
    }
    let topics: Vec<String> = arns.values().cloned().collect();
    let mut subscriptions = aws.sns.subscriptions_of(&topics).await?;
    let reads: Vec<_> = stream::iter(arns)
        .map(|(name, arn)| async move {
            let read = aws.sns.topic_attributes(&arn).await;
            (name, arn, read)
        })
        .buffer_unordered(READ_CONCURRENCY)
        .collect()
        .await;
    for (name, arn, read) in reads {
        let subs = subscriptions.remove(&arn).unwrap_or_else(|| Ok(Vec::new()));
        let entry = match read.and_then(|attributes| Ok((attributes, subs?))) {
            Ok((attributes, subscriptions)) => {
                let tags = tags.remove(&arn).unwrap_or_default();
                Ok(Some(Live::from_aws(arn, &attributes, subscriptions, tags)))
            }
            // Deleted between ListTopics and this read: it does not exist.
            Err(e) if e.class == ErrorClass::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        };
        observed.insert(name, entry);
    }
    Ok(observed)
}

/// Chainable fixtures: `Spec::test().display_name("x").subscription("email", "a@b")`.
#[cfg(test)]
impl Spec {
    pub fn test() -> Spec {
        Spec {
            display_name: None,
            kms_master_key_id: None,
            policy: None,
            subscriptions: Vec::new(),
            tags: Tags::new(),
        }
    }

    pub fn display_name(mut self, name: &str) -> Spec {
        self.display_name = Some(name.into());
        self
    }

    pub fn kms_master_key_id(mut self, key: &str) -> Spec {
        self.kms_master_key_id = Some(key.into());
        self
    }

    pub fn policy(mut self, policy: Value) -> Spec {
        self.policy = Some(policy);
        self
    }

    pub fn subscription(mut self, protocol: &str, endpoint: &str) -> Spec {
        self.subscriptions.push(Subscription {
            protocol: protocol.into(),
            endpoint: endpoint.into(),
        });
        self
    }

    pub fn tag(mut self, key: &str, value: &str) -> Spec {
        self.tags.insert(key.into(), value.into());
        self
    }
}

/// Chainable fixtures for a live topic: by default as SNS creates it (empty
/// display name, default policy), owned by `driftd`.
#[cfg(test)]
impl Live {
    pub fn test(name: &str) -> Live {
        let arn = format!("{}:{name}", crate::aws::sns::fake::FAKE_ARN_PREFIX);
        Live {
            policy: Some(crate::aws::sns::fake::default_policy(&arn)),
            arn,
            display_name: String::new(),
            kms_master_key_id: None,
            subscriptions: Vec::new(),
            tags: Tags::from([(super::OWNER_TAG.into(), "driftd".into())]),
        }
    }

    pub fn display_name(mut self, name: &str) -> Live {
        self.display_name = name.into();
        self
    }

    pub fn kms_master_key_id(mut self, key: &str) -> Live {
        self.kms_master_key_id = Some(key.into());
        self
    }

    pub fn policy(mut self, policy: Value) -> Live {
        self.policy = Some(policy);
        self
    }

    /// A confirmed subscription; its ARN is `<topic ARN>:sub-<n>`.
    pub fn confirmed(mut self, protocol: &str, endpoint: &str) -> Live {
        let arn = format!("{}:sub-{}", self.arn, self.subscriptions.len() + 1);
        self.subscriptions
            .push(TopicSubscription::new(protocol, endpoint, Some(&arn)));
        self
    }

    pub fn pending(mut self, protocol: &str, endpoint: &str) -> Live {
        self.subscriptions.push(TopicSubscription::new(
            protocol,
            endpoint,
            Some(crate::aws::sns::PENDING_CONFIRMATION),
        ));
        self
    }

    pub fn tag(mut self, key: &str, value: &str) -> Live {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Made outside driftd: no owner tag.
    pub fn unowned(mut self) -> Live {
        self.tags.remove(super::OWNER_TAG);
        self
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::aws::fake::FakeAws;
    use crate::kinds::{Origin, OWNER_TAG};

    const ARN: &str = "arn:aws:sns:us-east-1:123456789012:alerts";

    fn change(field: &str, from: Option<&str>, to: Option<&str>) -> Change {
        Change::new(field, from.map(str::to_string), to.map(str::to_string))
    }

    fn sub(protocol: &str, endpoint: &str) -> Subscription {
        Subscription {
            protocol: protocol.into(),
            endpoint: endpoint.into(),
        }
    }

    fn owner_tags() -> Tags {
        Tags::from([(OWNER_TAG.into(), "driftd".into())])
    }

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn update() -> Update {
        Update {
            arn: ARN.into(),
            ..Update::default()
        }
    }

    /// A policy as an operator would write it for this topic.
    fn publish_policy() -> Value {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "AlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": ["cloudwatch.amazonaws.com"]},
                "Action": ["sns:Publish"],
                "Resource": [ARN],
                "Condition": {"StringEquals": {"aws:SourceAccount": ["123456789012"]}}
            }]
        })
    }

    struct Case {
        name: &'static str,
        spec: Spec,
        live: Option<Live>,
        prune: bool,
        action: Action,
        changes: Vec<Change>,
        ops: Ops,
        notes: usize,
    }

    impl Case {
        fn new(name: &'static str, spec: Spec, live: Option<Live>) -> Case {
            Case {
                name,
                spec,
                live,
                prune: false,
                action: Action::InSync,
                changes: Vec::new(),
                ops: Ops::None,
                notes: 0,
            }
        }

        fn pruning(mut self) -> Case {
            self.prune = true;
            self
        }

        fn expect(mut self, action: Action, changes: Vec<Change>, ops: Ops) -> Case {
            self.action = action;
            self.changes = changes;
            self.ops = ops;
            self
        }

        /// Expects an Update that changes `field` and writes one attribute.
        fn sets(
            self,
            field: &str,
            (from, to): (Option<&str>, Option<&str>),
            (attribute, value): (&str, &str),
        ) -> Case {
            self.expect(
                Action::Update,
                vec![change(field, from, to)],
                Ops::Update(Update {
                    attributes: attrs(&[(attribute, value)]),
                    ..update()
                }),
            )
        }

        fn notes(mut self, n: usize) -> Case {
            self.notes = n;
            self
        }
    }

    #[test]
    fn diff_table() {
        let live = || Live::test("alerts");
        let cases = vec![
            Case::new("create: nothing but the owner tag", Spec::test(), None).expect(
                Action::Create,
                vec![change("tags.driftd:owner", None, Some("driftd"))],
                Ops::Create {
                    attributes: BTreeMap::new(),
                    tags: owner_tags(),
                    subscribe: vec![],
                },
            ),
            Case::new(
                "create: every field",
                Spec::test()
                    .display_name("Alerts")
                    .kms_master_key_id("alias/aws/sns")
                    .policy(publish_policy())
                    .subscription("sqs", "arn:aws:sqs:us-east-1:123456789012:archive")
                    .subscription("email", "ops@example.com")
                    .tag("team", "platform"),
                None,
            )
            .expect(
                Action::Create,
                vec![
                    change("displayName", None, Some("Alerts")),
                    change("kmsMasterKeyId", None, Some("alias/aws/sns")),
                    change("policy", None, Some(&publish_policy().to_string())),
                    change("subscriptions", None, Some("email:ops@example.com")),
                    change(
                        "subscriptions",
                        None,
                        Some("sqs:arn:aws:sqs:us-east-1:123456789012:archive"),
                    ),
                    change("tags.driftd:owner", None, Some("driftd")),
                    change("tags.team", None, Some("platform")),
                ],
                Ops::Create {
                    attributes: attrs(&[
                        ("DisplayName", "Alerts"),
                        ("KmsMasterKeyId", "alias/aws/sns"),
                        ("Policy", &publish_policy().to_string()),
                    ]),
                    tags: Tags::from([
                        (OWNER_TAG.into(), "driftd".into()),
                        ("team".into(), "platform".into()),
                    ]),
                    subscribe: vec![
                        sub("email", "ops@example.com"),
                        sub("sqs", "arn:aws:sqs:us-east-1:123456789012:archive"),
                    ],
                },
            ),
            Case::new(
                "create: an empty display name is no display name",
                Spec::test().display_name("").kms_master_key_id(""),
                None,
            )
            .expect(
                Action::Create,
                vec![change("tags.driftd:owner", None, Some("driftd"))],
                Ops::Create {
                    attributes: BTreeMap::new(),
                    tags: owner_tags(),
                    subscribe: vec![],
                },
            ),
            Case::new(
                "create: a subscription listed twice is subscribed once",
                Spec::test()
                    .subscription("email", "ops@example.com")
                    .subscription("email", "ops@example.com"),
                None,
            )
            .expect(
                Action::Create,
                vec![
                    change("subscriptions", None, Some("email:ops@example.com")),
                    change("tags.driftd:owner", None, Some("driftd")),
                ],
                Ops::Create {
                    attributes: BTreeMap::new(),
                    tags: owner_tags(),
                    subscribe: vec![sub("email", "ops@example.com")],
                },
            ),
            Case::new(
                "in sync: a fresh topic with its default policy against a minimal spec",
                Spec::test(),
                Some(live()),
            ),
            Case::new(
                "in sync: display name absent in the spec, \"\" in AWS",
                Spec::test(),
                Some(live().display_name("")),
            ),
            Case::new(
                "in sync: display name \"\" in the spec, \"\" in AWS",
                Spec::test().display_name(""),
                Some(live()),
            ),
            Case::new(
                "display name changed behind our back",
                Spec::test().display_name("Alerts"),
                Some(live().display_name("Alarms!")),
            )
            .sets(
                "displayName",
                (Some("Alarms!"), Some("Alerts")),
                ("DisplayName", "Alerts"),
            ),
            Case::new(
                "display name set behind our back while the spec has none",
                Spec::test(),
                Some(live().display_name("Alarms!")),
            )
            .sets("displayName", (Some("Alarms!"), None), ("DisplayName", "")),
            Case::new(
                "in sync: the same KMS key",
                Spec::test().kms_master_key_id("alias/aws/sns"),
                Some(live().kms_master_key_id("alias/aws/sns")),
            ),
            Case::new(
                "encryption missing",
                Spec::test().kms_master_key_id("alias/alerts"),
                Some(live()),
            )
            .sets(
                "kmsMasterKeyId",
                (None, Some("alias/alerts")),
                ("KmsMasterKeyId", "alias/alerts"),
            ),
            Case::new(
                "another KMS key",
                Spec::test().kms_master_key_id("alias/alerts"),
                Some(live().kms_master_key_id("alias/aws/sns")),
            )
            .sets(
                "kmsMasterKeyId",
                (Some("alias/aws/sns"), Some("alias/alerts")),
                ("KmsMasterKeyId", "alias/alerts"),
            ),
            Case::new(
                "encryption turned on behind our back is turned off",
                Spec::test(),
                Some(live().kms_master_key_id("alias/aws/sns")),
            )
            .sets(
                "kmsMasterKeyId",
                (Some("alias/aws/sns"), None),
                ("KmsMasterKeyId", ""),
            ),
            Case::new(
                "in sync: no policy in the spec leaves a changed policy alone",
                Spec::test(),
                Some(live().policy(publish_policy())),
            ),
            Case::new(
                "in sync: the default policy declared with keys in another order",
                Spec::test().policy(json!({
                    "Statement": [{
                        "Condition": {"StringEquals": {"AWS:SourceOwner": "123456789012"}},
                        "Resource": ARN,
                        "Action": [
                            "SNS:Publish",
                            "SNS:GetTopicAttributes",
                            "SNS:SetTopicAttributes",
                            "SNS:AddPermission",
                            "SNS:RemovePermission",
                            "SNS:DeleteTopic",
                            "SNS:Subscribe",
                            "SNS:ListSubscriptionsByTopic"
                        ],
                        "Principal": {"AWS": "*"},
                        "Effect": "Allow",
                        "Sid": "__default_statement_ID"
                    }],
                    "Id": "__default_policy_ID",
                    "Version": "2008-10-17"
                })),
                Some(live()),
            ),
            Case::new(
                "in sync: a policy as SNS may normalise it",
                Spec::test().policy(publish_policy()),
                Some(live().policy(json!({
                    "Version": "2012-10-17",
                    "Statement": {
                        "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
                        "Resource": ARN,
                        "Action": "SNS:Publish",
                        "Principal": {"Service": "cloudwatch.amazonaws.com"},
                        "Effect": "Allow",
                        "Sid": "AlarmsPublish"
                    }
                }))),
            ),
            Case::new(
                "policy changed behind our back",
                Spec::test().policy(publish_policy()),
                Some(live()),
            )
            .sets(
                "policy",
                (
                    Some(&crate::aws::sns::fake::default_policy(ARN).to_string()),
                    Some(&publish_policy().to_string()),
                ),
                ("Policy", &publish_policy().to_string()),
            ),
            Case::new(
                "a missing subscription is subscribed",
                Spec::test()
                    .subscription("email", "ops@example.com")
                    .subscription("sqs", "arn:aws:sqs:us-east-1:123456789012:archive"),
                Some(live().confirmed("sqs", "arn:aws:sqs:us-east-1:123456789012:archive")),
            )
            .expect(
                Action::Update,
                vec![change("subscriptions", None, Some("email:ops@example.com"))],
                Ops::Update(Update {
                    subscribe: vec![sub("email", "ops@example.com")],
                    ..update()
                }),
            ),
            Case::new(
                "in sync: a pending subscription counts as present (no second confirmation mail)",
                Spec::test().subscription("email", "ops@example.com"),
                Some(live().pending("email", "ops@example.com")),
            )
            .notes(1),
            Case::new(
                "in sync: confirmed subscriptions, listed in another order",
                Spec::test()
                    .subscription("sqs", "arn:aws:sqs:us-east-1:123456789012:archive")
                    .subscription("email", "ops@example.com"),
                Some(
                    live()
                        .confirmed("email", "ops@example.com")
                        .confirmed("sqs", "arn:aws:sqs:us-east-1:123456789012:archive"),
                ),
            ),
            Case::new(
                "in sync: a subscription listed twice in the spec is present once",
                Spec::test()
                    .subscription("email", "ops@example.com")
                    .subscription("email", "ops@example.com"),
                Some(live().pending("email", "ops@example.com")),
            )
            .notes(1),
            Case::new(
                "the same endpoint under another protocol is another subscription",
                Spec::test().subscription("email-json", "ops@example.com"),
                Some(live().confirmed("email", "ops@example.com")),
            )
            .expect(
                Action::Update,
                vec![
                    change("subscriptions", None, Some("email-json:ops@example.com")),
                    change("subscriptions", Some("email:ops@example.com"), None),
                ],
                Ops::Update(Update {
                    subscribe: vec![sub("email-json", "ops@example.com")],
                    ..update()
                }),
            )
            .notes(1),
            Case::new(
                "an extra subscription is drift, left in place without prune",
                Spec::test(),
                Some(live().confirmed("email", "old@example.com")),
            )
            .expect(
                Action::Update,
                vec![change("subscriptions", Some("email:old@example.com"), None)],
                Ops::None,
            )
            .notes(1),
            Case::new(
                "an extra subscription is unsubscribed when pruning",
                Spec::test(),
                Some(live().confirmed("email", "old@example.com")),
            )
            .pruning()
            .expect(
                Action::Update,
                vec![change("subscriptions", Some("email:old@example.com"), None)],
                Ops::Update(Update {
                    unsubscribe: vec![format!("{ARN}:sub-1")],
                    ..update()
                }),
            ),
            Case::new(
                "an extra pending subscription cannot be unsubscribed, even when pruning",
                Spec::test(),
                Some(live().pending("email", "old@example.com")),
            )
            .pruning()
            .expect(
                Action::Update,
                vec![change(
                    "subscriptions",
                    Some("email:old@example.com (pending confirmation)"),
                    None,
                )],
                Ops::None,
            )
            .notes(1),
            Case::new(
                "a spec tag is missing",
                Spec::test().tag("team", "platform"),
                Some(live()),
            )
            .expect(
                Action::Update,
                vec![change("tags.team", None, Some("platform"))],
                Ops::Update(Update {
                    tags: Tags::from([("team".into(), "platform".into())]),
                    ..update()
                }),
            ),
            Case::new(
                "a spec tag changed behind our back",
                Spec::test().tag("team", "platform"),
                Some(live().tag("team", "payments")),
            )
            .expect(
                Action::Update,
                vec![change("tags.team", Some("payments"), Some("platform"))],
                Ops::Update(Update {
                    tags: Tags::from([("team".into(), "platform".into())]),
                    ..update()
                }),
            ),
            Case::new(
                "in sync: tags the spec does not name are left alone",
                Spec::test().tag("team", "platform"),
                Some(live().tag("team", "platform").tag("cost-center", "42")),
            ),
            Case::new(
                "adoption: an existing topic without the owner tag is tagged and corrected",
                Spec::test().display_name("Alerts"),
                Some(live().unowned().tag("team", "platform")),
            )
            .expect(
                Action::Update,
                vec![
                    change("displayName", None, Some("Alerts")),
                    change("tags.driftd:owner", None, Some("driftd")),
                ],
                Ops::Update(Update {
                    tags: owner_tags(),
                    attributes: attrs(&[("DisplayName", "Alerts")]),
                    ..update()
                }),
            ),
        ];
        assert!(cases.len() >= 20);
        for case in cases {
            let d = diff(
                "alerts",
                &case.spec,
                case.live.as_ref(),
                &Ctx::test(),
                case.prune,
            );
            assert_eq!(d.action, case.action, "{}: action", case.name);
            assert_eq!(d.changes, case.changes, "{}: changes", case.name);
            assert_eq!(d.ops, case.ops, "{}: ops", case.name);
            assert_eq!(
                d.notes.len(),
                case.notes,
                "{}: notes {:?}",
                case.name,
                d.notes
            );
        }
    }

    #[test]
    fn a_fifo_name_is_created_as_a_fifo_topic() {
        let d = diff("alerts.fifo", &Spec::test(), None, &Ctx::test(), false);
        let Ops::Create { attributes, .. } = d.ops else {
            panic!("expected a create, got {:?}", d.ops);
        };
        assert_eq!(attributes, attrs(&[("FifoTopic", "true")]));
    }

    #[test]
    fn the_owner_tag_follows_the_configured_owner() {
        let ctx = Ctx {
            owner: "team-a".into(),
            prune: false,
        };
        let live = Live::test("alerts").tag(OWNER_TAG, "team-a");
        let d = diff("alerts", &Spec::test(), Some(&live), &ctx, false);
        assert_eq!(d.action, Action::InSync);
    }

    #[test]
    fn policy_equivalence() {
        let cases: &[(&str, Value, Value, bool)] = &[
            (
                "key order",
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}]}),
                json!({"Statement": [{"Resource": "*", "Action": "sns:Publish", "Effect": "Allow"}], "Version": "2012-10-17"}),
                true,
            ),
            (
                "one action as a string or a list",
                json!({"Statement": [{"Effect": "Allow", "Action": "sns:Publish"}]}),
                json!({"Statement": [{"Effect": "Allow", "Action": ["sns:Publish"]}]}),
                true,
            ),
            (
                "action order, duplicates and case",
                json!({"Statement": [{"Effect": "Allow", "Action": ["sns:Publish", "SNS:Subscribe", "sns:publish"]}]}),
                json!({"Statement": [{"Effect": "Allow", "Action": ["sns:subscribe", "SNS:Publish"]}]}),
                true,
            ),
            (
                "one statement with or without its list",
                json!({"Statement": {"Effect": "Allow", "Action": "sns:Publish"}}),
                json!({"Statement": [{"Effect": "Allow", "Action": "sns:Publish"}]}),
                true,
            ),
            (
                "statement order",
                json!({"Statement": [{"Sid": "a", "Effect": "Allow"}, {"Sid": "b", "Effect": "Deny"}]}),
                json!({"Statement": [{"Sid": "b", "Effect": "Deny"}, {"Sid": "a", "Effect": "Allow"}]}),
                true,
            ),
            (
                "principal * and {AWS: *}",
                json!({"Statement": [{"Effect": "Allow", "Principal": "*"}]}),
                json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["*"]}}]}),
                true,
            ),
            (
                "an account ID and its root ARN",
                json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "123456789012"}}]}),
                json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}),
                true,
            ),
            (
                "condition values: string, list, number; key case",
                json!({"Statement": [{"Effect": "Allow", "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}}}]}),
                json!({"Statement": [{"Effect": "Allow", "Condition": {"NumericLessThan": {"AWS:multifactorauthage": ["3600"]}}}]}),
                true,
            ),
            (
                "another action",
                json!({"Statement": [{"Effect": "Allow", "Action": "sns:Publish"}]}),
                json!({"Statement": [{"Effect": "Allow", "Action": "sns:Subscribe"}]}),
                false,
            ),
            (
                "one more action",
                json!({"Statement": [{"Effect": "Allow", "Action": "sns:Publish"}]}),
                json!({"Statement": [{"Effect": "Allow", "Action": ["sns:Publish", "sns:Subscribe"]}]}),
                false,
            ),
            (
                "effect",
                json!({"Statement": [{"Effect": "Allow", "Action": "sns:Publish"}]}),
                json!({"Statement": [{"Effect": "Deny", "Action": "sns:Publish"}]}),
                false,
            ),
            (
                "resource case matters",
                json!({"Statement": [{"Effect": "Allow", "Resource": "arn:aws:sns:us-east-1:123456789012:Alerts"}]}),
                json!({"Statement": [{"Effect": "Allow", "Resource": "arn:aws:sns:us-east-1:123456789012:alerts"}]}),
                false,
            ),
            (
                "another account",
                json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "123456789012"}}]}),
                json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"}}]}),
                false,
            ),
            (
                "a role is not its account",
                json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "123456789012"}}]}),
                json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/ops"}}]}),
                false,
            ),
            (
                "an extra statement",
                json!({"Statement": [{"Sid": "a", "Effect": "Allow"}]}),
                json!({"Statement": [{"Sid": "a", "Effect": "Allow"}, {"Sid": "b", "Effect": "Allow"}]}),
                false,
            ),
            (
                "version",
                json!({"Version": "2008-10-17", "Statement": []}),
                json!({"Version": "2012-10-17", "Statement": []}),
                false,
            ),
            (
                "condition value",
                json!({"Statement": [{"Effect": "Allow", "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}]}),
                json!({"Statement": [{"Effect": "Allow", "Condition": {"StringEquals": {"aws:SourceAccount": "210987654321"}}}]}),
                false,
            ),
        ];
        for (name, a, b, equal) in cases {
            assert_eq!(policy::equivalent(a, b), *equal, "{name}");
            assert_eq!(policy::equivalent(b, a), *equal, "{name} (reversed)");
        }
    }

    // Through the fake: observe -> diff -> apply, as the engine drives a kind.

    fn resource(name: &str, spec: Spec) -> Resource {
        Resource {
            environment: crate::kinds::DEFAULT_ENVIRONMENT.to_string(),
            name: name.into(),
            mode: None,
            origin: Origin {
                file: "desired-state/topics.yaml".into(),
                line: 1,
                column: 1,
            },
            spec: super::super::Spec::Topic(spec),
        }
    }

    /// One pass over these topics; returns the diffs and what it recorded.
    async fn pass(fake: &FakeAws, resources: &[Resource], prune: bool) -> (Vec<Diff<Ops>>, Refs) {
        let aws = fake.aws();
        let pairs: Vec<(&Resource, &Spec)> = resources
            .iter()
            .filter_map(|r| Topic::spec(&r.spec).map(|s| (r, s)))
            .collect();
        let observed = Topic::observe(&aws, &pairs).await.expect("observe");
        let mut refs = Refs::default();
        let mut diffs = Vec::new();
        for (r, spec) in pairs {
            let live = observed[&r.name].as_ref().expect("read").as_ref();
            if let Some(live) = live {
                Topic::record_refs(&r.name, live, &mut refs);
            }
            let d = diff(&r.name, spec, live, &Ctx::test(), prune);
            Topic::apply(&aws, r, spec, &d.ops, &mut refs, &Ctx::test())
                .await
                .expect("apply");
            diffs.push(d);
        }
        (diffs, refs)
    }

    fn alerts() -> Resource {
        resource(
            "alerts",
            Spec::test()
                .display_name("Alerts")
                .subscription("email", "ops@example.com")
                .subscription("sqs", "arn:aws:sqs:us-east-1:123456789012:archive")
                .tag("team", "platform"),
        )
    }

    #[tokio::test]
    async fn a_created_topic_is_in_sync_on_the_next_pass_and_nobody_is_mailed_twice() {
        let fake = FakeAws::new();
        let (diffs, refs) = pass(&fake, &[alerts()], false).await;
        assert_eq!(diffs[0].action, Action::Create);
        assert_eq!(refs.topic_arns.get("alerts").map(String::as_str), Some(ARN));
        assert_eq!(
            fake.writes(),
            [
                "sns.CreateTopic alerts",
                "sns.Subscribe alerts email:ops@example.com",
                "sns.Subscribe alerts sqs:arn:aws:sqs:us-east-1:123456789012:archive",
            ]
        );
        let topic = fake.topic("alerts").expect("created");
        assert_eq!(topic.attributes["DisplayName"], "Alerts");
        assert!(
            !topic.subscriptions[0].confirmed,
            "email waits for its owner"
        );

        // The email subscription is still pending: it counts as present.
        let (diffs, refs) = pass(&fake, &[alerts()], false).await;
        assert_eq!(diffs[0].action, Action::InSync, "{:?}", diffs[0].changes);
        assert_eq!(
            diffs[0].notes,
            ["subscription email:ops@example.com is pending confirmation"]
        );
        assert_eq!(refs.topic_arns.get("alerts").map(String::as_str), Some(ARN));
        assert_eq!(fake.writes().len(), 3, "no write on an in-sync pass");

        fake.confirm_subscription("alerts", "email", "ops@example.com");
        let (diffs, _) = pass(&fake, &[alerts()], false).await;
        assert_eq!(diffs[0].action, Action::InSync);
        assert!(diffs[0].notes.is_empty(), "{:?}", diffs[0].notes);
        assert_eq!(fake.writes().len(), 3);
    }

    #[tokio::test]
    async fn an_untagged_topic_is_adopted_with_one_tag_write() {
        let fake = FakeAws::new();
        fake.put_topic(
            "alerts",
            &[("DisplayName", "Alerts")],
            &[("team", "platform")],
        );
        fake.put_subscription("alerts", "email", "ops@example.com");
        fake.put_subscription(
            "alerts",
            "sqs",
            "arn:aws:sqs:us-east-1:123456789012:archive",
        );
        let (diffs, _) = pass(&fake, &[alerts()], false).await;
        assert_eq!(diffs[0].action, Action::Update);
        assert_eq!(
            diffs[0].changes,
            [change("tags.driftd:owner", None, Some("driftd"))]
        );
        assert_eq!(fake.writes(), ["sns.TagResource alerts"]);
        let (diffs, _) = pass(&fake, &[alerts()], false).await;
        assert_eq!(diffs[0].action, Action::InSync);
    }

    #[tokio::test]
    async fn drift_is_corrected_field_by_field() {
        let fake = FakeAws::new();
        pass(&fake, &[alerts()], false).await;
        fake.put_topic_attribute("alerts", "DisplayName", "Alarms!");
        fake.put_topic_attribute("alerts", "KmsMasterKeyId", "alias/aws/sns");
        let before = fake.writes().len();
        let (diffs, _) = pass(&fake, &[alerts()], false).await;
        assert_eq!(
            diffs[0].changes,
            [
                change("displayName", Some("Alarms!"), Some("Alerts")),
                change("kmsMasterKeyId", Some("alias/aws/sns"), None),
            ]
        );
        assert_eq!(
            fake.writes()[before..],
            [
                "sns.SetTopicAttributes alerts DisplayName",
                "sns.SetTopicAttributes alerts KmsMasterKeyId",
            ]
        );
        let (diffs, _) = pass(&fake, &[alerts()], false).await;
        assert_eq!(diffs[0].action, Action::InSync, "{:?}", diffs[0].changes);
    }

    #[tokio::test]
    async fn extra_subscriptions_stay_unless_pruning_and_pending_ones_always_stay() {
        let fake = FakeAws::new();
        pass(&fake, &[alerts()], false).await;
        fake.put_subscription("alerts", "sqs", "arn:aws:sqs:us-east-1:123456789012:old");
        fake.put_subscription("alerts", "email", "someone@example.com");
        let before = fake.writes().len();

        let (diffs, _) = pass(&fake, &[alerts()], false).await;
        assert_eq!(diffs[0].action, Action::Update);
        assert_eq!(diffs[0].ops, Ops::None);
        assert_eq!(fake.writes().len(), before, "nothing removed without prune");

        let (diffs, _) = pass(&fake, &[alerts()], true).await;
        assert_eq!(diffs[0].changes.len(), 2);
        assert_eq!(
            fake.writes()[before..],
            [format!("sns.Unsubscribe {ARN}:sub-0003")]
        );
        let left: Vec<_> = fake
            .topic("alerts")
            .expect("topic")
            .subscriptions
            .into_iter()
            .map(|s| s.endpoint)
            .collect();
        assert_eq!(
            left,
            [
                "ops@example.com",
                "arn:aws:sqs:us-east-1:123456789012:archive",
                "someone@example.com",
            ]
        );
    }

    #[tokio::test]
    async fn observe_reports_missing_topics_and_failed_reads_per_topic() {
        let fake = FakeAws::new();
        fake.put_topic("alerts", &[], &[(OWNER_TAG, "driftd")]);
        fake.put_topic("billing", &[], &[]);
        fake.put_topic("unrelated", &[], &[]);
        fake.state
            .lock()
            .unwrap()
            .sns
            .failing_reads
            .insert("billing".into(), ErrorClass::AccessDenied);
        let resources = [
            resource("alerts", Spec::test()),
            resource("billing", Spec::test()),
            resource("absent", Spec::test()),
        ];
        let pairs: Vec<(&Resource, &Spec)> = resources
            .iter()
            .filter_map(|r| Topic::spec(&r.spec).map(|s| (r, s)))
            .collect();
        let observed = Topic::observe(&fake.aws(), &pairs).await.expect("observe");
        assert_eq!(observed.len(), 3, "only the declared topics");
        let alerts = observed["alerts"]
            .as_ref()
            .expect("read")
            .as_ref()
            .expect("exists");
        assert_eq!(alerts.arn, ARN);
        assert_eq!(alerts.tags, owner_tags());
        assert_eq!(
            alerts.policy,
            Some(crate::aws::sns::fake::default_policy(ARN))
        );
        assert_eq!(
            observed["billing"].as_ref().map_err(|e| e.aws_class()),
            Err(Some(ErrorClass::AccessDenied))
        );
        assert_eq!(observed["absent"], Ok(None));
    }
}
