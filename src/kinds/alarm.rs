//! CloudWatch metric alarms: the spec, the live view, and the pure diff.
//!
//! CloudWatch answers with its own defaults filled in or left out, and the diff
//! must never call those drift. Each field is reduced to a canonical display
//! string before comparing (see [`fields`]): unset and empty are the same,
//! `treatMissingData` defaults to `missing`, `actionsEnabled` to `true`,
//! `datapointsToAlarm` to `evaluationPeriods`, a metric query's `returnData` to
//! `true`; dimensions are maps and action lists are sets; numbers are printed
//! in their shortest form, so `85` and `85.0` are one value.
//!
//! `PutMetricAlarm` replaces the whole definition, so any differing field is
//! corrected by writing all of them. Settings a spec cannot express
//! (`EvaluateLowSampleCountPercentile`, `ThresholdMetricId`) are therefore not
//! kept when driftd rewrites an alarm. Tags are set with `TagResource`, except
//! on create, where they ride along with `PutMetricAlarm` (which ignores them
//! for an alarm that already exists).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{desired_tags, tag_changes, Change, Kind, Resource, Tags};
use crate::aws::{self, Aws, ErrorClass};
use crate::engine::{Action, Ctx, Diff, Observed, Reconciler, Refs};

/// `spec:` of an `Alarm` document (section 1.1 of the contract).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Spec {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub metric_name: Option<String>,
    #[serde(default)]
    pub dimensions: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub statistic: Option<Statistic>,
    #[serde(default)]
    pub extended_statistic: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub period: Option<i32>,
    pub evaluation_periods: i32,
    #[serde(default)]
    pub datapoints_to_alarm: Option<i32>,
    pub threshold: f64,
    pub comparison_operator: ComparisonOperator,
    #[serde(default)]
    pub treat_missing_data: Option<TreatMissingData>,
    #[serde(default)]
    pub actions_enabled: Option<bool>,
    #[serde(default)]
    pub alarm_actions: Vec<String>,
    #[serde(default)]
    pub ok_actions: Vec<String>,
    #[serde(default)]
    pub insufficient_data_actions: Vec<String>,
    #[serde(default)]
    pub tags: Tags,
    /// Metric math: replaces namespace/metricName/dimensions/statistic.
    #[serde(default)]
    pub metrics: Option<Vec<MetricQuery>>,
}

/// One entry of a metric-math alarm's `metrics:` (CloudWatch `MetricDataQuery`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricQuery {
    pub id: String,
    #[serde(default)]
    pub expression: Option<String>,
    #[serde(default)]
    pub metric_stat: Option<MetricStat>,
    #[serde(default)]
    pub return_data: Option<bool>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub period: Option<i32>,
}

/// `metricStat` of a metric-math query.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricStat {
    pub namespace: String,
    pub metric_name: String,
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    pub period: i32,
    pub stat: String,
    #[serde(default)]
    pub unit: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Statistic {
    SampleCount,
    Average,
    Sum,
    Minimum,
    Maximum,
}

impl Statistic {
    pub fn as_str(self) -> &'static str {
        match self {
            Statistic::SampleCount => "SampleCount",
            Statistic::Average => "Average",
            Statistic::Sum => "Sum",
            Statistic::Minimum => "Minimum",
            Statistic::Maximum => "Maximum",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum ComparisonOperator {
    GreaterThanOrEqualToThreshold,
    GreaterThanThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
    LessThanLowerOrGreaterThanUpperThreshold,
    LessThanLowerThreshold,
    GreaterThanUpperThreshold,
}

impl ComparisonOperator {
    pub fn as_str(self) -> &'static str {
        match self {
            ComparisonOperator::GreaterThanOrEqualToThreshold => "GreaterThanOrEqualToThreshold",
            ComparisonOperator::GreaterThanThreshold => "GreaterThanThreshold",
            ComparisonOperator::LessThanThreshold => "LessThanThreshold",
            ComparisonOperator::LessThanOrEqualToThreshold => "LessThanOrEqualToThreshold",
            ComparisonOperator::LessThanLowerOrGreaterThanUpperThreshold => {
                "LessThanLowerOrGreaterThanUpperThreshold"
            }
            ComparisonOperator::LessThanLowerThreshold => "LessThanLowerThreshold",
            ComparisonOperator::GreaterThanUpperThreshold => "GreaterThanUpperThreshold",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum TreatMissingData {
    #[default]
    #[serde(rename = "missing")]
    Missing,
    #[serde(rename = "notBreaching")]
    NotBreaching,
    #[serde(rename = "breaching")]
    Breaching,
    #[serde(rename = "ignore")]
    Ignore,
}

impl TreatMissingData {
    pub fn as_str(self) -> &'static str {
        match self {
            TreatMissingData::Missing => "missing",
            TreatMissingData::NotBreaching => "notBreaching",
            TreatMissingData::Breaching => "breaching",
            TreatMissingData::Ignore => "ignore",
        }
    }
}

/// The units CloudWatch accepts (`StandardUnit`).
pub const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// A metric alarm as `PutMetricAlarm` takes it and `DescribeAlarms` returns it,
/// limited to what a [`Spec`] can set. AWS leaves out what was never set, so
/// most fields are optional; AWS's defaults are the diff's business, not this
/// type's.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Definition {
    pub name: String,
    pub description: Option<String>,
    pub namespace: Option<String>,
    pub metric_name: Option<String>,
    pub dimensions: BTreeMap<String, String>,
    pub statistic: Option<String>,
    pub extended_statistic: Option<String>,
    pub unit: Option<String>,
    pub period: Option<i32>,
    pub evaluation_periods: Option<i32>,
    pub datapoints_to_alarm: Option<i32>,
    pub threshold: Option<f64>,
    pub comparison_operator: Option<String>,
    pub treat_missing_data: Option<String>,
    pub actions_enabled: Option<bool>,
    pub alarm_actions: Vec<String>,
    pub ok_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    /// Metric math; empty for an alarm on a single metric.
    pub metrics: Vec<MetricQuery>,
}

impl Definition {
    /// The definition a spec asks for, each action reference turned into an
    /// ARN by `resolve`.
    fn from_spec<E>(
        name: &str,
        spec: &Spec,
        mut resolve: impl FnMut(&str) -> Result<String, E>,
    ) -> Result<Definition, E> {
        let mut actions = |references: &[String]| {
            references
                .iter()
                .map(|r| resolve(r))
                .collect::<Result<Vec<_>, E>>()
        };
        Ok(Definition {
            name: name.to_string(),
            description: spec.description.clone(),
            namespace: spec.namespace.clone(),
            metric_name: spec.metric_name.clone(),
            dimensions: spec.dimensions.clone().unwrap_or_default(),
            statistic: spec.statistic.map(|s| s.as_str().to_string()),
            extended_statistic: spec.extended_statistic.clone(),
            unit: spec.unit.clone(),
            period: spec.period,
            evaluation_periods: Some(spec.evaluation_periods),
            datapoints_to_alarm: spec.datapoints_to_alarm,
            threshold: Some(spec.threshold),
            comparison_operator: Some(spec.comparison_operator.as_str().to_string()),
            treat_missing_data: spec.treat_missing_data.map(|t| t.as_str().to_string()),
            actions_enabled: spec.actions_enabled,
            alarm_actions: actions(&spec.alarm_actions)?,
            ok_actions: actions(&spec.ok_actions)?,
            insufficient_data_actions: actions(&spec.insufficient_data_actions)?,
            metrics: spec.metrics.clone().unwrap_or_default(),
        })
    }

    /// The definition as a plan shows it: a `topic:` reference to a topic that
    /// does not exist yet stays visible as such (and so always differs from
    /// what AWS holds).
    pub fn planned(name: &str, spec: &Spec, refs: &Refs) -> Definition {
        let Ok(definition) =
            Definition::from_spec(name, spec, |r| Ok::<_, Infallible>(refs.display(r)));
        definition
    }

    /// The definition to write: every reference must name an existing topic.
    pub fn resolved(name: &str, spec: &Spec, refs: &Refs) -> Result<Definition, aws::Error> {
        Definition::from_spec(name, spec, |r| {
            refs.resolve(r).ok_or_else(|| {
                aws::Error::new(
                    crate::aws::cloudwatch::SERVICE,
                    "PutMetricAlarm",
                    ErrorClass::NotFound,
                    format!("alarm {name}: action {r} names a topic that does not exist"),
                )
            })
        })
    }
}

/// A metric alarm as observed.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub arn: String,
    pub definition: Definition,
    /// From the tagging API: `DescribeAlarms` does not return tags, so
    /// [`crate::aws::CloudWatch::describe_metric_alarms`] leaves this empty.
    pub tags: Tags,
}

/// The writes an alarm needs, as the diff decided them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ops {
    /// `PutMetricAlarm` with the whole definition.
    pub put: Option<Put>,
    /// `TagResource` on the existing alarm: the tags to add or change.
    pub tag: Option<TagAlarm>,
}

/// Why the definition is written.
#[derive(Debug, Clone, PartialEq)]
pub enum Put {
    /// The alarm does not exist; it is created carrying these tags.
    Create { tags: Tags },
    /// The alarm exists and its definition differs.
    Update,
}

/// Tags to set on an existing alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct TagAlarm {
    pub arn: String,
    pub tags: Tags,
}

/// One field of a definition in canonical form: its name as the spec spells
/// it, and its value as shown in a plan, `None` when unset. Two definitions
/// mean the same alarm exactly when their fields are equal.
type Field = (String, Option<String>);

/// The fields of a definition, canonical: AWS's defaults filled in, empty
/// strings and collections unset, sets sorted, numbers in shortest form.
fn fields(d: &Definition) -> Vec<Field> {
    let mut out: Vec<Field> = vec![
        ("description".into(), text(&d.description)),
        ("namespace".into(), text(&d.namespace)),
        ("metricName".into(), text(&d.metric_name)),
        ("dimensions".into(), map(&d.dimensions)),
        ("statistic".into(), text(&d.statistic)),
        ("extendedStatistic".into(), text(&d.extended_statistic)),
        ("unit".into(), text(&d.unit)),
        ("period".into(), d.period.map(|p| p.to_string())),
        (
            "evaluationPeriods".into(),
            d.evaluation_periods.map(|n| n.to_string()),
        ),
        // Unset means "all of evaluationPeriods" (an N out of N alarm).
        (
            "datapointsToAlarm".into(),
            d.datapoints_to_alarm
                .filter(|&m| Some(m) != d.evaluation_periods)
                .map(|m| m.to_string()),
        ),
        ("threshold".into(), d.threshold.map(number)),
        ("comparisonOperator".into(), text(&d.comparison_operator)),
        (
            "treatMissingData".into(),
            Some(
                text(&d.treat_missing_data)
                    .unwrap_or_else(|| TreatMissingData::default().as_str().to_string()),
            ),
        ),
        (
            "actionsEnabled".into(),
            Some(d.actions_enabled.unwrap_or(true).to_string()),
        ),
        ("alarmActions".into(), set(&d.alarm_actions)),
        ("okActions".into(), set(&d.ok_actions)),
        (
            "insufficientDataActions".into(),
            set(&d.insufficient_data_actions),
        ),
    ];
    // Queries reference each other by id; their order carries no meaning.
    let queries: BTreeMap<&str, &MetricQuery> =
        d.metrics.iter().map(|q| (q.id.as_str(), q)).collect();
    for (id, q) in queries {
        let field = |name: &str| format!("metrics[{id}].{name}");
        let stat = q.metric_stat.as_ref();
        out.extend([
            (field("expression"), text(&q.expression)),
            (
                field("metricStat.namespace"),
                stat.and_then(|s| non_empty(&s.namespace)),
            ),
            (
                field("metricStat.metricName"),
                stat.and_then(|s| non_empty(&s.metric_name)),
            ),
            (
                field("metricStat.dimensions"),
                stat.and_then(|s| map(&s.dimensions)),
            ),
            (
                field("metricStat.period"),
                stat.map(|s| s.period.to_string()),
            ),
            (
                field("metricStat.stat"),
                stat.and_then(|s| non_empty(&s.stat)),
            ),
            (field("metricStat.unit"), stat.and_then(|s| text(&s.unit))),
            (
                field("returnData"),
                Some(q.return_data.unwrap_or(true).to_string()),
            ),
            (field("label"), text(&q.label)),
            (field("period"), q.period.map(|p| p.to_string())),
        ]);
    }
    out
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn text(s: &Option<String>) -> Option<String> {
    s.as_deref().and_then(non_empty)
}

/// A float in its shortest form: `85`, `85.5`; `-0` is `0`.
fn number(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else {
        v.to_string()
    }
}

/// A map as a JSON object with sorted keys, unset when empty.
fn map(m: &BTreeMap<String, String>) -> Option<String> {
    (!m.is_empty()).then(|| {
        serde_json::Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        )
        .to_string()
    })
}

/// A list compared as a set: a sorted JSON array without duplicates, unset when empty.
fn set(items: &[String]) -> Option<String> {
    let sorted: std::collections::BTreeSet<&String> = items.iter().collect();
    (!sorted.is_empty()).then(|| {
        serde_json::Value::Array(
            sorted
                .into_iter()
                .map(|s| serde_json::Value::String(s.clone()))
                .collect(),
        )
        .to_string()
    })
}

/// The fields that differ, in the spec's order; fields only `live` has (metric
/// queries no longer declared) come last.
fn field_changes(live: &Definition, desired: &Definition) -> Vec<Change> {
    let live_fields = fields(live);
    let desired_fields = fields(desired);
    let have: HashMap<&str, &Option<String>> =
        live_fields.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let wanted: HashSet<&str> = desired_fields.iter().map(|(k, _)| k.as_str()).collect();
    let mut changes = Vec::new();
    for (name, want) in &desired_fields {
        let now = have.get(name.as_str()).copied().cloned().flatten();
        if now != *want {
            changes.push(Change::new(name.clone(), now, want.clone()));
        }
    }
    for (name, now) in &live_fields {
        if now.is_some() && !wanted.contains(name.as_str()) {
            changes.push(Change::new(name.clone(), now.clone(), None));
        }
    }
    changes
}

/// The Alarm kind, as the engine drives it.
pub struct Alarm;

#[async_trait]
impl Reconciler for Alarm {
    const KIND: Kind = Kind::Alarm;
    type Spec = Spec;
    type Live = Live;
    type Ops = Ops;

    fn spec(spec: &super::Spec) -> Option<&Spec> {
        match spec {
            super::Spec::Alarm(s) => Some(s),
            _ => None,
        }
    }

    /// One `DescribeAlarms` per 100 names, then one tagging call for the tags
    /// of every alarm found.
    async fn observe(
        aws: &Aws,
        resources: &[(&Resource, &Spec)],
    ) -> Result<Observed<Live>, aws::Error> {
        let names: Vec<String> = resources.iter().map(|(r, _)| r.name.clone()).collect();
        let found = aws.cloudwatch.describe_metric_alarms(&names).await?;
        let arns: Vec<String> = found.iter().map(|l| l.arn.clone()).collect();
        let mut tags = if arns.is_empty() {
            HashMap::new()
        } else {
            aws.tagging.tags_of(&arns).await?
        };
        let mut by_name: HashMap<String, Live> = found
            .into_iter()
            .map(|mut live| {
                live.tags = tags.remove(&live.arn).unwrap_or_default();
                (live.definition.name.clone(), live)
            })
            .collect();
        Ok(names
            .into_iter()
            .map(|name| {
                let live = by_name.remove(&name);
                (name, Ok(live))
            })
            .collect())
    }

    fn live_tags(live: &Live) -> Option<&Tags> {
        Some(&live.tags)
    }

    fn diff(
        resource: &Resource,
        spec: &Spec,
        live: Option<&Live>,
        refs: &Refs,
        ctx: &Ctx,
    ) -> Diff<Ops> {
        let desired = Definition::planned(&resource.name, spec, refs);
        let tags = desired_tags(&spec.tags, &ctx.owner);
        let Some(live) = live else {
            let mut changes = field_changes(&Definition::default(), &desired);
            tag_changes(&Tags::new(), &tags, &mut changes);
            return Diff {
                action: Action::Create,
                changes,
                notes: Vec::new(),
                ops: Ops {
                    put: Some(Put::Create { tags }),
                    tag: None,
                },
            };
        };
        let mut changes = field_changes(&live.definition, &desired);
        let put = (!changes.is_empty()).then_some(Put::Update);
        let set = tag_changes(&live.tags, &tags, &mut changes);
        if changes.is_empty() {
            return Diff::in_sync();
        }
        Diff {
            action: Action::Update,
            changes,
            notes: Vec::new(),
            ops: Ops {
                put,
                tag: (!set.is_empty()).then(|| TagAlarm {
                    arn: live.arn.clone(),
                    tags: set,
                }),
            },
        }
    }

    async fn apply(
        aws: &Aws,
        resource: &Resource,
        spec: &Spec,
        ops: &Ops,
        refs: &mut Refs,
        _ctx: &Ctx,
    ) -> Result<(), aws::Error> {
        if let Some(put) = &ops.put {
            // Resolved now, not at diff time: a topic created earlier in this
            // pass has an ARN by now.
            let definition = Definition::resolved(&resource.name, spec, refs)?;
            let no_tags = Tags::new();
            let tags = match put {
                Put::Create { tags } => tags,
                Put::Update => &no_tags,
            };
            aws.cloudwatch.put_metric_alarm(&definition, tags).await?;
        }
        if let Some(tag) = &ops.tag {
            aws.cloudwatch.tag_alarm(&tag.arn, &tag.tags).await?;
        }
        Ok(())
    }
}
