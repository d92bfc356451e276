//! CloudWatch metric alarms: the spec, the live view, and the pure diff.
//!
//! CloudWatch answers with its own defaults filled in or left out, and the diff
//! must never call those drift. Each field is reduced to a canonical display
//! string before comparing: unset and empty are the same,
//! `treatMissingData` defaults to `missing`, `actionsEnabled` to `true`,
//! `datapointsToAlarm` to `evaluationPeriods`, a metric query's `returnData` to
//! `true`; dimensions are maps and action lists are sets; numbers are printed
//! in their shortest form, so `85` and `85.0` are one value.
//!
//! `PutMetricAlarm` replaces the whole definition, so any differing field is
//! corrected by writing all of them. A spec that leaves
//! `evaluateLowSampleCountPercentile` unset keeps the live alarm's setting on
//! such a write (it is not drift either), so a correction never drops it;
//! `thresholdMetricId` (an anomaly-detection band) replaces `threshold`, and
//! one of the two is always declared. Tags are set with `TagResource`, except
//! on create, where they ride along with `PutMetricAlarm` (which ignores them
//! for an alarm that already exists).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{desired_tags, tag_changes, Change, Kind, Resource, Tags};
use super::{Action, Ctx, Diff, Error, Inputs, Observed, Reconciler, Refs};
pub use crate::aws::cloudwatch::{Definition, Live, MetricQuery, MetricStat};
use crate::aws::Aws;

/// `spec:` of an `Alarm` document (section 1.1 of the contract).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "AlarmSpec")]
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
    /// A static threshold; exactly one of `threshold` / `thresholdMetricId`.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// The id of the `metrics:` query (an `ANOMALY_DETECTION_BAND`
    /// expression) whose band is the threshold.
    #[serde(default)]
    pub threshold_metric_id: Option<String>,
    pub comparison_operator: ComparisonOperator,
    /// Percentile alarms only: whether a period with too few samples is
    /// evaluated or ignored. Unset: whatever the live alarm has is kept.
    #[serde(default)]
    pub evaluate_low_sample_count_percentile: Option<LowSampleCount>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
pub enum Statistic {
    SampleCount,
    Average,
    Sum,
    Minimum,
    Maximum,
}

labels!(Statistic {
    SampleCount => "SampleCount",
    Average => "Average",
    Sum => "Sum",
    Minimum => "Minimum",
    Maximum => "Maximum",
});

/// `EvaluateLowSampleCountPercentile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LowSampleCount {
    Evaluate,
    Ignore,
}

labels!(LowSampleCount {
    Evaluate => "evaluate",
    Ignore => "ignore",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
pub enum ComparisonOperator {
    GreaterThanOrEqualToThreshold,
    GreaterThanThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
    LessThanLowerOrGreaterThanUpperThreshold,
    LessThanLowerThreshold,
    GreaterThanUpperThreshold,
}

labels!(ComparisonOperator {
    GreaterThanOrEqualToThreshold => "GreaterThanOrEqualToThreshold",
    GreaterThanThreshold => "GreaterThanThreshold",
    LessThanThreshold => "LessThanThreshold",
    LessThanOrEqualToThreshold => "LessThanOrEqualToThreshold",
    LessThanLowerOrGreaterThanUpperThreshold => "LessThanLowerOrGreaterThanUpperThreshold",
    LessThanLowerThreshold => "LessThanLowerThreshold",
    GreaterThanUpperThreshold => "GreaterThanUpperThreshold",
});

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, schemars::JsonSchema,
)]
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

labels!(TreatMissingData {
    Missing => "missing",
    NotBreaching => "notBreaching",
    Breaching => "breaching",
    Ignore => "ignore",
});

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
            threshold: spec.threshold,
            threshold_metric_id: spec.threshold_metric_id.clone(),
            comparison_operator: Some(spec.comparison_operator.as_str().to_string()),
            evaluate_low_sample_count_percentile: spec
                .evaluate_low_sample_count_percentile
                .map(|e| e.as_str().to_string()),
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
    pub fn resolved(name: &str, spec: &Spec, refs: &Refs) -> Result<Definition, Error> {
        Definition::from_spec(name, spec, |r| {
            refs.resolve(r).ok_or_else(|| {
                Error::DanglingReference(format!(
                    "alarm {name}: action {r} names a topic that does not exist"
                ))
            })
        })
    }
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
    /// The alarm exists and its definition differs; what the spec leaves
    /// unset and the live alarm has is written back as it is.
    Update { kept: Kept },
}

/// Live settings a spec may leave unset, kept on a rewrite.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Kept {
    pub evaluate_low_sample_count_percentile: Option<String>,
}

impl Kept {
    /// What of `live` the spec leaves unset.
    fn of(spec: &Spec, live: &Definition) -> Kept {
        Kept {
            evaluate_low_sample_count_percentile: match spec.evaluate_low_sample_count_percentile {
                Some(_) => None,
                None => live.evaluate_low_sample_count_percentile.clone(),
            },
        }
    }

    fn apply_to(&self, definition: &mut Definition) {
        if let Some(kept) = &self.evaluate_low_sample_count_percentile {
            definition.evaluate_low_sample_count_percentile = Some(kept.clone());
        }
    }
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
        // Unset means all of evaluationPeriods (an N out of N alarm): compare
        // the M that takes effect.
        (
            "datapointsToAlarm".into(),
            d.datapoints_to_alarm
                .or(d.evaluation_periods)
                .map(|m| m.to_string()),
        ),
        ("threshold".into(), d.threshold.map(number)),
        ("thresholdMetricId".into(), text(&d.threshold_metric_id)),
        ("comparisonOperator".into(), text(&d.comparison_operator)),
        (
            "evaluateLowSampleCountPercentile".into(),
            text(&d.evaluate_low_sample_count_percentile),
        ),
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
    const TAGS_APART: bool = true;
    type Spec = Spec;
    type Live = Live;
    type Ops = Ops;

    /// One `DescribeAlarms` per 100 names, then one tagging call for the tags
    /// of every alarm found.
    async fn observe(aws: &Aws, resources: &[(&Resource, &Spec)]) -> Result<Observed<Live>, Error> {
        observe(aws, resources, Some(&HashMap::new())).await
    }

    /// The tagging call only for the alarms whose tags are not given.
    async fn observe_knowing(
        aws: &Aws,
        resources: &[(&Resource, &Spec)],
        tags: &HashMap<String, Tags>,
    ) -> Result<Observed<Live>, Error> {
        observe(aws, resources, Some(tags)).await
    }

    /// The read-back does not check tags: `DescribeAlarms` alone.
    async fn observe_again(
        aws: &Aws,
        resources: &[(&Resource, &Spec)],
    ) -> Result<Observed<Live>, Error> {
        observe(aws, resources, None).await
    }

    fn live_tags(live: &Live) -> Option<&Tags> {
        Some(&live.tags)
    }

    fn diff(
        resource: &Resource,
        spec: &Spec,
        live: Option<&Live>,
        _inputs: &Inputs,
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
        let kept = Kept::of(spec, &live.definition);
        let mut desired = desired;
        kept.apply_to(&mut desired);
        let mut changes = field_changes(&live.definition, &desired);
        let put = (!changes.is_empty()).then_some(Put::Update { kept });
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
    ) -> Result<(), Error> {
        if let Some(put) = &ops.put {
            // Resolved now, not at diff time: a topic created earlier in this
            // pass has an ARN by now.
            let mut definition = Definition::resolved(&resource.name, spec, refs)?;
            let no_tags = Tags::new();
            let tags = match put {
                Put::Create { tags } => tags,
                Put::Update { kept } => {
                    kept.apply_to(&mut definition);
                    &no_tags
                }
            };
            aws.cloudwatch.put_metric_alarm(&definition, tags).await?;
        }
        if let Some(tag) = &ops.tag {
            aws.cloudwatch.tag_alarm(&tag.arn, &tag.tags).await?;
        }
        Ok(())
    }
}

/// The alarms of `resources`, with their tags unless `known` is `None`:
/// those `known` holds (by name) as given, the others read.
async fn observe(
    aws: &Aws,
    resources: &[(&Resource, &Spec)],
    known: Option<&HashMap<String, Tags>>,
) -> Result<Observed<Live>, Error> {
    let names: Vec<String> = resources.iter().map(|(r, _)| r.name.clone()).collect();
    let found = aws.cloudwatch.describe_metric_alarms(&names).await?;
    let mut tags = HashMap::new();
    if let Some(known) = known {
        let unknown: Vec<String> = found
            .iter()
            .filter(|l| !known.contains_key(&l.definition.name))
            .map(|l| l.arn.clone())
            .collect();
        if !unknown.is_empty() {
            tags = aws.tagging.tags_of(&unknown).await?;
        }
        for live in &found {
            if let Some(t) = known.get(&live.definition.name) {
                tags.insert(live.arn.clone(), t.clone());
            }
        }
    }
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

/// Chainable fixtures for tests, in the style of kube-rs controller-rs:
/// `Spec::test().threshold(90.0)`.
#[cfg(test)]
impl Spec {
    /// The contract's example alarm (section 1.1).
    pub fn test() -> Spec {
        Spec {
            description: Some("ECS CPU above 85% for 5 minutes".into()),
            namespace: Some("AWS/ECS".into()),
            metric_name: Some("CPUUtilization".into()),
            dimensions: Some(BTreeMap::from([
                ("ClusterName".into(), "tiktimer-dev".into()),
                ("ServiceName".into(), "tiktimer-dev-app".into()),
            ])),
            statistic: Some(Statistic::Average),
            extended_statistic: None,
            unit: Some("Percent".into()),
            period: Some(300),
            evaluation_periods: 1,
            datapoints_to_alarm: Some(1),
            threshold: Some(85.0),
            threshold_metric_id: None,
            comparison_operator: ComparisonOperator::GreaterThanThreshold,
            evaluate_low_sample_count_percentile: None,
            treat_missing_data: Some(TreatMissingData::Missing),
            actions_enabled: Some(true),
            alarm_actions: vec!["topic:tiktimer-dev-alerts".into()],
            ok_actions: Vec::new(),
            insufficient_data_actions: Vec::new(),
            tags: Tags::from([("team".into(), "platform".into())]),
            metrics: None,
        }
    }

    /// A metric-math alarm: CPU as a share of the reservation, in percent.
    pub fn test_math() -> Spec {
        Spec::test().metrics(vec![
            MetricQuery::expression("e1", "m1 / m2 * 100"),
            MetricQuery::stat("m1", "CPUUtilization").return_data(false),
            MetricQuery::stat("m2", "CPUReservation").return_data(false),
        ])
    }

    pub fn description(mut self, v: Option<&str>) -> Spec {
        self.description = v.map(str::to_string);
        self
    }
    pub fn dimensions(mut self, v: Option<&[(&str, &str)]>) -> Spec {
        self.dimensions = v.map(|d| {
            d.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        });
        self
    }
    pub fn statistic(mut self, v: Option<Statistic>) -> Spec {
        self.statistic = v;
        self
    }
    /// Replaces `statistic`.
    pub fn extended_statistic(mut self, v: &str) -> Spec {
        self.statistic = None;
        self.extended_statistic = Some(v.into());
        self
    }
    pub fn unit(mut self, v: Option<&str>) -> Spec {
        self.unit = v.map(str::to_string);
        self
    }
    pub fn period(mut self, v: i32) -> Spec {
        self.period = Some(v);
        self
    }
    pub fn evaluation_periods(mut self, v: i32) -> Spec {
        self.evaluation_periods = v;
        self
    }
    pub fn datapoints_to_alarm(mut self, v: Option<i32>) -> Spec {
        self.datapoints_to_alarm = v;
        self
    }
    pub fn threshold(mut self, v: f64) -> Spec {
        self.threshold = Some(v);
        self
    }
    pub fn comparison_operator(mut self, v: ComparisonOperator) -> Spec {
        self.comparison_operator = v;
        self
    }
    pub fn treat_missing_data(mut self, v: Option<TreatMissingData>) -> Spec {
        self.treat_missing_data = v;
        self
    }
    pub fn actions_enabled(mut self, v: Option<bool>) -> Spec {
        self.actions_enabled = v;
        self
    }
    pub fn alarm_actions(mut self, v: &[&str]) -> Spec {
        self.alarm_actions = v.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn ok_actions(mut self, v: &[&str]) -> Spec {
        self.ok_actions = v.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn insufficient_data_actions(mut self, v: &[&str]) -> Spec {
        self.insufficient_data_actions = v.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn tag(mut self, k: &str, v: &str) -> Spec {
        self.tags.insert(k.into(), v.into());
        self
    }
    /// Replaces namespace, metricName, dimensions, statistic and period.
    pub fn metrics(mut self, v: Vec<MetricQuery>) -> Spec {
        self.namespace = None;
        self.metric_name = None;
        self.dimensions = None;
        self.statistic = None;
        self.extended_statistic = None;
        self.unit = None;
        self.period = None;
        self.metrics = Some(v);
        self
    }
}

#[cfg(test)]
impl MetricQuery {
    pub fn expression(id: &str, expression: &str) -> MetricQuery {
        MetricQuery {
            id: id.into(),
            expression: Some(expression.into()),
            metric_stat: None,
            return_data: None,
            label: None,
            period: None,
        }
    }
    /// An `AWS/ECS` metric of the example service, averaged over 5 minutes.
    pub fn stat(id: &str, metric_name: &str) -> MetricQuery {
        MetricQuery {
            id: id.into(),
            expression: None,
            metric_stat: Some(MetricStat {
                namespace: "AWS/ECS".into(),
                metric_name: metric_name.into(),
                dimensions: BTreeMap::from([
                    ("ClusterName".into(), "tiktimer-dev".into()),
                    ("ServiceName".into(), "tiktimer-dev-app".into()),
                ]),
                period: 300,
                stat: "Average".into(),
                unit: None,
            }),
            return_data: None,
            label: None,
            period: None,
        }
    }
    pub fn return_data(mut self, v: bool) -> MetricQuery {
        self.return_data = Some(v);
        self
    }
    pub fn label(mut self, v: &str) -> MetricQuery {
        self.label = Some(v.into());
        self
    }
    pub fn stat_of(mut self, f: impl FnOnce(&mut MetricStat)) -> MetricQuery {
        if let Some(s) = self.metric_stat.as_mut() {
            f(s);
        }
        self
    }
}

#[cfg(test)]
impl Live {
    /// What CloudWatch returns for [`Spec::test`] once driftd created it:
    /// the topic resolved, the owner tag set.
    pub fn test() -> Live {
        Live {
            arn: crate::aws::cloudwatch::fake::fake_alarm_arn(tests::NAME),
            definition: Definition {
                name: tests::NAME.into(),
                description: Some("ECS CPU above 85% for 5 minutes".into()),
                namespace: Some("AWS/ECS".into()),
                metric_name: Some("CPUUtilization".into()),
                dimensions: BTreeMap::from([
                    ("ClusterName".into(), "tiktimer-dev".into()),
                    ("ServiceName".into(), "tiktimer-dev-app".into()),
                ]),
                statistic: Some("Average".into()),
                extended_statistic: None,
                unit: Some("Percent".into()),
                period: Some(300),
                evaluation_periods: Some(1),
                datapoints_to_alarm: Some(1),
                threshold: Some(85.0),
                threshold_metric_id: None,
                comparison_operator: Some("GreaterThanThreshold".into()),
                evaluate_low_sample_count_percentile: None,
                treat_missing_data: Some("missing".into()),
                actions_enabled: Some(true),
                alarm_actions: vec![tests::TOPIC_ARN.into()],
                ok_actions: Vec::new(),
                insufficient_data_actions: Vec::new(),
                metrics: Vec::new(),
            },
            tags: Tags::from([
                ("team".into(), "platform".into()),
                (super::OWNER_TAG.into(), "driftd".into()),
            ]),
        }
    }

    /// What CloudWatch returns for [`Spec::test_math`]: no single-metric
    /// fields, `ReturnData` spelled out, queries in the order given.
    pub fn test_math() -> Live {
        Live::test().with(|d| {
            d.namespace = None;
            d.metric_name = None;
            d.dimensions = BTreeMap::new();
            d.statistic = None;
            d.unit = None;
            d.period = None;
            d.metrics = vec![
                MetricQuery::expression("e1", "m1 / m2 * 100").return_data(true),
                MetricQuery::stat("m1", "CPUUtilization").return_data(false),
                MetricQuery::stat("m2", "CPUReservation").return_data(false),
            ];
        })
    }

    pub fn with(mut self, f: impl FnOnce(&mut Definition)) -> Live {
        f(&mut self.definition);
        self
    }

    pub fn tags(mut self, tags: &[(&str, &str)]) -> Live {
        self.tags = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::cloudwatch::fake::fake_alarm_arn;
    use crate::aws::fake::FakeAws;
    use crate::kinds::{Origin, OWNER_TAG};

    pub(super) const NAME: &str = "tiktimer-dev-ecs-cpu-high";
    pub(super) const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:123456789012:tiktimer-dev-alerts";
    const OTHER_ARN: &str = "arn:aws:sns:us-east-1:123456789012:other";

    fn refs() -> Refs {
        Refs {
            topic_arns: [("tiktimer-dev-alerts".to_string(), TOPIC_ARN.to_string())].into(),
        }
    }

    fn resource(name: &str, spec: &Spec) -> Resource {
        Resource {
            environment: crate::kinds::DEFAULT_ENVIRONMENT.to_string(),
            name: name.into(),
            mode: None,
            origin: Origin {
                file: "desired-state/alarms.yaml".into(),
                line: 1,
                column: 1,
            },
            spec: super::super::Spec::Alarm(spec.clone()),
        }
    }

    fn diff(spec: &Spec, live: Option<&Live>, refs: &Refs) -> Diff<Ops> {
        Alarm::diff(
            &resource(NAME, spec),
            spec,
            live,
            &Inputs::default(),
            refs,
            &Ctx::test(),
        )
    }

    type Expected = (&'static str, Option<&'static str>, Option<&'static str>);

    fn shown(changes: &[Change]) -> Vec<(String, Option<String>, Option<String>)> {
        changes
            .iter()
            .map(|c| (c.field.clone(), c.from.clone(), c.to.clone()))
            .collect()
    }

    fn expected(changes: &[Expected]) -> Vec<(String, Option<String>, Option<String>)> {
        changes
            .iter()
            .map(|(f, a, b)| (f.to_string(), a.map(str::to_string), b.map(str::to_string)))
            .collect()
    }

    fn update() -> Ops {
        Ops {
            put: Some(Put::Update {
                kept: Kept::default(),
            }),
            tag: None,
        }
    }

    fn tag_only(tags: &[(&str, &str)]) -> Ops {
        Ops {
            put: None,
            tag: Some(TagAlarm {
                arn: fake_alarm_arn(NAME),
                tags: tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            }),
        }
    }

    const DIMS: &str = r#"{"ClusterName":"tiktimer-dev","ServiceName":"tiktimer-dev-app"}"#;
    const TOPIC_SET: &str = r#"["arn:aws:sns:us-east-1:123456789012:tiktimer-dev-alerts"]"#;

    /// Existing alarms: the spec, what AWS returns, the changes and the writes.
    #[test]
    fn diff_of_an_existing_alarm() {
        let cases: Vec<(&str, Spec, Live, Vec<Expected>, Ops)> = vec![
            (
                "in sync",
                Spec::test(),
                Live::test(),
                vec![],
                Ops::default(),
            ),
            (
                "threshold drifts",
                Spec::test(),
                Live::test().with(|d| d.threshold = Some(90.0)),
                vec![("threshold", Some("90"), Some("85"))],
                update(),
            ),
            (
                "a low-sample setting the spec leaves unset is no drift",
                Spec::test(),
                Live::test()
                    .with(|d| d.evaluate_low_sample_count_percentile = Some("ignore".into())),
                vec![],
                Ops::default(),
            ),
            (
                "and is kept when another field is corrected",
                Spec::test(),
                Live::test().with(|d| {
                    d.evaluate_low_sample_count_percentile = Some("ignore".into());
                    d.threshold = Some(90.0);
                }),
                vec![("threshold", Some("90"), Some("85"))],
                Ops {
                    put: Some(Put::Update {
                        kept: Kept {
                            evaluate_low_sample_count_percentile: Some("ignore".into()),
                        },
                    }),
                    tag: None,
                },
            ),
            (
                "a declared low-sample setting is enforced",
                Spec {
                    evaluate_low_sample_count_percentile: Some(LowSampleCount::Evaluate),
                    ..Spec::test()
                },
                Live::test()
                    .with(|d| d.evaluate_low_sample_count_percentile = Some("ignore".into())),
                vec![(
                    "evaluateLowSampleCountPercentile",
                    Some("ignore"),
                    Some("evaluate"),
                )],
                update(),
            ),
            (
                "a band instead of a static threshold",
                Spec {
                    threshold: None,
                    threshold_metric_id: Some("ad1".into()),
                    ..Spec::test()
                },
                Live::test(),
                vec![
                    ("threshold", Some("85"), None),
                    ("thresholdMetricId", None, Some("ad1")),
                ],
                update(),
            ),
            (
                "a band in sync",
                Spec {
                    threshold: None,
                    threshold_metric_id: Some("ad1".into()),
                    ..Spec::test()
                },
                Live::test().with(|d| {
                    d.threshold = None;
                    d.threshold_metric_id = Some("ad1".into());
                }),
                vec![],
                Ops::default(),
            ),
            (
                "threshold with a fraction drifts",
                Spec::test().threshold(85.5),
                Live::test(),
                vec![("threshold", Some("85"), Some("85.5"))],
                update(),
            ),
            (
                "threshold with a fraction in sync",
                Spec::test().threshold(0.1),
                Live::test().with(|d| d.threshold = Some(0.1)),
                vec![],
                Ops::default(),
            ),
            (
                "description drifts",
                Spec::test(),
                Live::test().with(|d| d.description = Some("old".into())),
                vec![(
                    "description",
                    Some("old"),
                    Some("ECS CPU above 85% for 5 minutes"),
                )],
                update(),
            ),
            (
                "description absent equals empty",
                Spec::test().description(None),
                Live::test().with(|d| d.description = Some(String::new())),
                vec![],
                Ops::default(),
            ),
            (
                "description empty equals absent",
                Spec::test().description(Some("")),
                Live::test().with(|d| d.description = None),
                vec![],
                Ops::default(),
            ),
            (
                "description removed from the spec",
                Spec::test().description(None),
                Live::test(),
                vec![("description", Some("ECS CPU above 85% for 5 minutes"), None)],
                update(),
            ),
            (
                "dimensions absent equal empty",
                Spec::test().dimensions(None),
                Live::test().with(|d| d.dimensions.clear()),
                vec![],
                Ops::default(),
            ),
            (
                "dimensions empty equal absent",
                Spec::test().dimensions(Some(&[])),
                Live::test().with(|d| d.dimensions.clear()),
                vec![],
                Ops::default(),
            ),
            (
                "dimension value drifts",
                Spec::test(),
                Live::test().with(|d| {
                    d.dimensions
                        .insert("ServiceName".into(), "tiktimer-dev-worker".into());
                }),
                vec![(
                    "dimensions",
                    Some(r#"{"ClusterName":"tiktimer-dev","ServiceName":"tiktimer-dev-worker"}"#),
                    Some(DIMS),
                )],
                update(),
            ),
            (
                "dimension added outside driftd",
                Spec::test(),
                Live::test().with(|d| {
                    d.dimensions.insert("Extra".into(), "x".into());
                }),
                vec![(
                    "dimensions",
                    Some(
                        r#"{"ClusterName":"tiktimer-dev","Extra":"x","ServiceName":"tiktimer-dev-app"}"#,
                    ),
                    Some(DIMS),
                )],
                update(),
            ),
            (
                "statistic drifts",
                Spec::test(),
                Live::test().with(|d| d.statistic = Some("Maximum".into())),
                vec![("statistic", Some("Maximum"), Some("Average"))],
                update(),
            ),
            (
                "extendedStatistic in sync",
                Spec::test().extended_statistic("p99"),
                Live::test().with(|d| {
                    d.statistic = None;
                    d.extended_statistic = Some("p99".into());
                }),
                vec![],
                Ops::default(),
            ),
            (
                "extendedStatistic drifts",
                Spec::test().extended_statistic("p99"),
                Live::test().with(|d| {
                    d.statistic = None;
                    d.extended_statistic = Some("p95".into());
                }),
                vec![("extendedStatistic", Some("p95"), Some("p99"))],
                update(),
            ),
            (
                "statistic replaced by extendedStatistic",
                Spec::test().extended_statistic("p99"),
                Live::test(),
                vec![
                    ("statistic", Some("Average"), None),
                    ("extendedStatistic", None, Some("p99")),
                ],
                update(),
            ),
            (
                "unit drifts",
                Spec::test(),
                Live::test().with(|d| d.unit = Some("Count".into())),
                vec![("unit", Some("Count"), Some("Percent"))],
                update(),
            ),
            (
                "unit absent on both sides",
                Spec::test().unit(None),
                Live::test().with(|d| d.unit = None),
                vec![],
                Ops::default(),
            ),
            (
                "unit removed from the spec",
                Spec::test().unit(None),
                Live::test(),
                vec![("unit", Some("Percent"), None)],
                update(),
            ),
            (
                "period drifts",
                Spec::test(),
                Live::test().with(|d| d.period = Some(60)),
                vec![("period", Some("60"), Some("300"))],
                update(),
            ),
            (
                "evaluationPeriods drifts, datapointsToAlarm set on both",
                Spec::test(),
                Live::test().with(|d| d.evaluation_periods = Some(3)),
                vec![("evaluationPeriods", Some("3"), Some("1"))],
                update(),
            ),
            (
                "evaluationPeriods drifts, datapointsToAlarm follows it",
                Spec::test().evaluation_periods(3).datapoints_to_alarm(None),
                Live::test().with(|d| {
                    d.evaluation_periods = Some(5);
                    d.datapoints_to_alarm = None;
                }),
                vec![
                    ("evaluationPeriods", Some("5"), Some("3")),
                    ("datapointsToAlarm", Some("5"), Some("3")),
                ],
                update(),
            ),
            (
                "datapointsToAlarm absent equals evaluationPeriods (spec)",
                Spec::test().evaluation_periods(3).datapoints_to_alarm(None),
                Live::test().with(|d| {
                    d.evaluation_periods = Some(3);
                    d.datapoints_to_alarm = Some(3);
                }),
                vec![],
                Ops::default(),
            ),
            (
                "datapointsToAlarm absent equals evaluationPeriods (AWS)",
                Spec::test()
                    .evaluation_periods(3)
                    .datapoints_to_alarm(Some(3)),
                Live::test().with(|d| {
                    d.evaluation_periods = Some(3);
                    d.datapoints_to_alarm = None;
                }),
                vec![],
                Ops::default(),
            ),
            (
                "datapointsToAlarm drifts",
                Spec::test()
                    .evaluation_periods(3)
                    .datapoints_to_alarm(Some(3)),
                Live::test().with(|d| {
                    d.evaluation_periods = Some(3);
                    d.datapoints_to_alarm = Some(2);
                }),
                vec![("datapointsToAlarm", Some("2"), Some("3"))],
                update(),
            ),
            (
                "comparisonOperator drifts",
                Spec::test(),
                Live::test()
                    .with(|d| d.comparison_operator = Some("GreaterThanOrEqualToThreshold".into())),
                vec![(
                    "comparisonOperator",
                    Some("GreaterThanOrEqualToThreshold"),
                    Some("GreaterThanThreshold"),
                )],
                update(),
            ),
            (
                "treatMissingData absent in the spec equals missing",
                Spec::test().treat_missing_data(None),
                Live::test(),
                vec![],
                Ops::default(),
            ),
            (
                "treatMissingData absent in AWS equals missing",
                Spec::test(),
                Live::test().with(|d| d.treat_missing_data = None),
                vec![],
                Ops::default(),
            ),
            (
                "treatMissingData drifts",
                Spec::test(),
                Live::test().with(|d| d.treat_missing_data = Some("breaching".into())),
                vec![("treatMissingData", Some("breaching"), Some("missing"))],
                update(),
            ),
            (
                "treatMissingData set where AWS has the default",
                Spec::test().treat_missing_data(Some(TreatMissingData::NotBreaching)),
                Live::test().with(|d| d.treat_missing_data = None),
                vec![("treatMissingData", Some("missing"), Some("notBreaching"))],
                update(),
            ),
            (
                "actionsEnabled absent in the spec equals true",
                Spec::test().actions_enabled(None),
                Live::test(),
                vec![],
                Ops::default(),
            ),
            (
                "actionsEnabled absent in AWS equals true",
                Spec::test(),
                Live::test().with(|d| d.actions_enabled = None),
                vec![],
                Ops::default(),
            ),
            (
                "actions disabled outside driftd",
                Spec::test().actions_enabled(None),
                Live::test().with(|d| d.actions_enabled = Some(false)),
                vec![("actionsEnabled", Some("false"), Some("true"))],
                update(),
            ),
            (
                "alarm actions are a set: order does not matter",
                Spec::test().alarm_actions(&[OTHER_ARN, "topic:tiktimer-dev-alerts"]),
                Live::test().with(|d| d.alarm_actions = vec![TOPIC_ARN.into(), OTHER_ARN.into()]),
                vec![],
                Ops::default(),
            ),
            (
                "alarm action added outside driftd",
                Spec::test(),
                Live::test().with(|d| d.alarm_actions.insert(0, OTHER_ARN.into())),
                vec![(
                    "alarmActions",
                    Some(
                        r#"["arn:aws:sns:us-east-1:123456789012:other","arn:aws:sns:us-east-1:123456789012:tiktimer-dev-alerts"]"#,
                    ),
                    Some(TOPIC_SET),
                )],
                update(),
            ),
            (
                "alarm actions removed outside driftd",
                Spec::test(),
                Live::test().with(|d| d.alarm_actions.clear()),
                vec![("alarmActions", None, Some(TOPIC_SET))],
                update(),
            ),
            (
                "okActions drift, topic reference resolved",
                Spec::test().ok_actions(&["topic:tiktimer-dev-alerts"]),
                Live::test(),
                vec![("okActions", None, Some(TOPIC_SET))],
                update(),
            ),
            (
                "insufficientDataActions drift",
                Spec::test(),
                Live::test().with(|d| d.insufficient_data_actions = vec![OTHER_ARN.into()]),
                vec![(
                    "insufficientDataActions",
                    Some(r#"["arn:aws:sns:us-east-1:123456789012:other"]"#),
                    None,
                )],
                update(),
            ),
            (
                "a spec tag drifts: tagged, not rewritten",
                Spec::test(),
                Live::test().tags(&[("team", "web"), (OWNER_TAG, "driftd")]),
                vec![("tags.team", Some("web"), Some("platform"))],
                tag_only(&[("team", "platform")]),
            ),
            (
                "tags the spec does not name are left alone",
                Spec::test(),
                Live::test().tags(&[("team", "platform"), (OWNER_TAG, "driftd"), ("cost", "1")]),
                vec![],
                Ops::default(),
            ),
            (
                "an untagged alarm is adopted by tagging it",
                Spec::test(),
                Live::test().tags(&[]),
                vec![
                    ("tags.driftd:owner", None, Some("driftd")),
                    ("tags.team", None, Some("platform")),
                ],
                tag_only(&[(OWNER_TAG, "driftd"), ("team", "platform")]),
            ),
            (
                "definition and tags both drift",
                Spec::test().tag("env", "dev"),
                Live::test().with(|d| d.period = Some(60)),
                vec![
                    ("period", Some("60"), Some("300")),
                    ("tags.env", None, Some("dev")),
                ],
                Ops {
                    put: Some(Put::Update {
                        kept: Kept::default(),
                    }),
                    ..tag_only(&[("env", "dev")])
                },
            ),
            (
                "metric math in sync: returnData absent equals true, query order irrelevant",
                Spec::test_math(),
                Live::test_math().with(|d| d.metrics.reverse()),
                vec![],
                Ops::default(),
            ),
            (
                "metric math: empty label equals absent",
                Spec::test_math(),
                Live::test_math().with(|d| d.metrics[0] = d.metrics[0].clone().label("")),
                vec![],
                Ops::default(),
            ),
            (
                "metric math expression drifts",
                Spec::test_math(),
                Live::test_math().with(|d| d.metrics[0].expression = Some("m1 / m2".into())),
                vec![(
                    "metrics[e1].expression",
                    Some("m1 / m2"),
                    Some("m1 / m2 * 100"),
                )],
                update(),
            ),
            (
                "metric math stat and its dimensions drift",
                Spec::test_math(),
                Live::test_math().with(|d| {
                    d.metrics[1] = d.metrics[1].clone().stat_of(|s| {
                        s.stat = "Maximum".into();
                        s.dimensions.remove("ServiceName");
                    })
                }),
                vec![
                    (
                        "metrics[m1].metricStat.dimensions",
                        Some(r#"{"ClusterName":"tiktimer-dev"}"#),
                        Some(DIMS),
                    ),
                    (
                        "metrics[m1].metricStat.stat",
                        Some("Maximum"),
                        Some("Average"),
                    ),
                ],
                update(),
            ),
            (
                "metric math returnData drifts",
                Spec::test_math(),
                Live::test_math().with(|d| d.metrics[0].return_data = Some(false)),
                vec![("metrics[e1].returnData", Some("false"), Some("true"))],
                update(),
            ),
            (
                "metric math query the spec no longer has",
                Spec::test_math(),
                Live::test_math().with(|d| {
                    d.metrics
                        .push(MetricQuery::expression("e2", "m1 * 2").return_data(false))
                }),
                vec![
                    ("metrics[e2].expression", Some("m1 * 2"), None),
                    ("metrics[e2].returnData", Some("false"), None),
                ],
                update(),
            ),
            (
                "metric math label added",
                Spec::test_math().metrics(vec![
                    MetricQuery::expression("e1", "m1 / m2 * 100").label("CPU share"),
                    MetricQuery::stat("m1", "CPUUtilization").return_data(false),
                    MetricQuery::stat("m2", "CPUReservation").return_data(false),
                ]),
                Live::test_math(),
                vec![("metrics[e1].label", None, Some("CPU share"))],
                update(),
            ),
        ];
        assert!(cases.len() >= 20);
        for (name, spec, live, changes, ops) in cases {
            let d = diff(&spec, Some(&live), &refs());
            assert_eq!(shown(&d.changes), expected(&changes), "{name}: changes");
            assert_eq!(d.ops, ops, "{name}: ops");
            let action = if changes.is_empty() {
                Action::InSync
            } else {
                Action::Update
            };
            assert_eq!(d.action, action, "{name}: action");
        }
    }

    #[test]
    fn a_missing_alarm_is_created_with_its_fields_and_tags() {
        let d = diff(&Spec::test(), None, &refs());
        assert_eq!(d.action, Action::Create);
        assert_eq!(
            shown(&d.changes),
            expected(&[
                ("description", None, Some("ECS CPU above 85% for 5 minutes")),
                ("namespace", None, Some("AWS/ECS")),
                ("metricName", None, Some("CPUUtilization")),
                ("dimensions", None, Some(DIMS)),
                ("statistic", None, Some("Average")),
                ("unit", None, Some("Percent")),
                ("period", None, Some("300")),
                ("evaluationPeriods", None, Some("1")),
                ("datapointsToAlarm", None, Some("1")),
                ("threshold", None, Some("85")),
                ("comparisonOperator", None, Some("GreaterThanThreshold")),
                // treatMissingData and actionsEnabled are at their defaults.
                ("alarmActions", None, Some(TOPIC_SET)),
                ("tags.driftd:owner", None, Some("driftd")),
                ("tags.team", None, Some("platform")),
            ])
        );
        assert_eq!(
            d.ops,
            Ops {
                put: Some(Put::Create {
                    tags: Tags::from([
                        (OWNER_TAG.into(), "driftd".into()),
                        ("team".into(), "platform".into()),
                    ])
                }),
                tag: None,
            }
        );
    }

    #[test]
    fn a_metric_math_alarm_is_created_with_its_queries() {
        let d = diff(&Spec::test_math(), None, &refs());
        let fields: Vec<&str> = d.changes.iter().map(|c| c.field.as_str()).collect();
        for field in [
            "metrics[e1].expression",
            "metrics[e1].returnData",
            "metrics[m1].metricStat.metricName",
            "metrics[m2].metricStat.period",
        ] {
            assert!(fields.contains(&field), "{field} in {fields:?}");
        }
        for field in [
            "namespace",
            "metricName",
            "dimensions",
            "statistic",
            "period",
        ] {
            assert!(!fields.contains(&field), "{field} in {fields:?}");
        }
    }

    #[test]
    fn a_single_metric_alarm_turned_into_metric_math_drops_its_metric() {
        let d = diff(&Spec::test_math(), Some(&Live::test()), &refs());
        let changes = shown(&d.changes);
        for (field, from) in [
            ("namespace", "AWS/ECS"),
            ("metricName", "CPUUtilization"),
            ("dimensions", DIMS),
            ("statistic", "Average"),
            ("unit", "Percent"),
            ("period", "300"),
        ] {
            assert!(
                changes.contains(&(field.to_string(), Some(from.to_string()), None)),
                "{field} in {changes:?}"
            );
        }
        assert!(changes.contains(&(
            "metrics[e1].expression".into(),
            None,
            Some("m1 / m2 * 100".into())
        )));
        assert_eq!(d.ops, update());
    }

    #[test]
    fn an_unresolved_topic_reference_is_drift_shown_as_known_after_apply() {
        let d = diff(&Spec::test(), Some(&Live::test()), &Refs::default());
        assert_eq!(d.action, Action::Update);
        assert_eq!(
            shown(&d.changes),
            expected(&[(
                "alarmActions",
                Some(TOPIC_SET),
                Some(r#"["topic:tiktimer-dev-alerts (known after apply)"]"#)
            )])
        );
        assert_eq!(d.ops, update());

        let created = diff(&Spec::test(), None, &Refs::default());
        assert!(created.changes.contains(&Change::new(
            "alarmActions",
            None,
            Some(r#"["topic:tiktimer-dev-alerts (known after apply)"]"#.into())
        )));
    }

    #[test]
    fn a_full_arn_needs_no_reference() {
        let spec = Spec::test().alarm_actions(&[TOPIC_ARN]);
        let d = diff(&spec, Some(&Live::test()), &Refs::default());
        assert_eq!(d.action, Action::InSync);
    }

    #[test]
    fn numbers_are_shown_in_shortest_form() {
        assert_eq!(number(85.0), "85");
        assert_eq!(number(85.5), "85.5");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(0.000_001), "0.000001");
    }

    // --- Through the seam, against the in-memory fake ---

    fn seed(fake: &FakeAws, live: &Live) {
        let mut state = fake.state.lock().unwrap();
        state
            .cloudwatch
            .alarms
            .insert(live.definition.name.clone(), live.definition.clone());
        if !live.tags.is_empty() {
            state.tags.insert(live.arn.clone(), live.tags.clone());
        }
    }

    async fn observe_one(aws: &Aws, spec: &Spec) -> Option<Live> {
        let r = resource(NAME, spec);
        let mut observed = Alarm::observe(aws, &[(&r, spec)]).await.expect("observe");
        observed.remove(NAME).expect("entry").expect("no error")
    }

    async fn apply(aws: &Aws, spec: &Spec, ops: &Ops, refs: &mut Refs) -> Result<(), Error> {
        Alarm::apply(aws, &resource(NAME, spec), spec, ops, refs, &Ctx::test()).await
    }

    #[tokio::test]
    async fn observe_reads_every_alarm_with_one_describe_and_one_tag_call() {
        let fake = FakeAws::new();
        let a = Live::test();
        let b = Live::test()
            .with(|d| d.name = "b".into())
            .tags(&[("team", "b")]);
        let b = Live {
            arn: fake_alarm_arn("b"),
            ..b
        };
        seed(&fake, &a);
        seed(&fake, &b);
        let spec = Spec::test();
        let resources = [
            resource(NAME, &spec),
            resource("b", &spec),
            resource("absent", &spec),
        ];
        let pairs: Vec<(&Resource, &Spec)> = resources.iter().map(|r| (r, &spec)).collect();

        let observed = Alarm::observe(&fake.aws(), &pairs).await.expect("observe");

        assert_eq!(observed.len(), 3);
        assert_eq!(observed[NAME], Ok(Some(a)));
        assert_eq!(observed["b"], Ok(Some(b)));
        assert_eq!(observed["absent"], Ok(None));
        assert_eq!(fake.state.lock().unwrap().cloudwatch.describe_calls, 1);
        assert!(fake.writes().is_empty());
    }

    #[tokio::test]
    async fn a_failed_describe_fails_the_whole_observe() {
        let fake = FakeAws::new();
        fake.fail_cloudwatch("DescribeAlarms", crate::aws::ErrorClass::Throttling);
        let spec = Spec::test();
        let r = resource(NAME, &spec);
        let err = Alarm::observe(&fake.aws(), &[(&r, &spec)])
            .await
            .expect_err("observe fails");
        assert_eq!(err.aws_class(), Some(crate::aws::ErrorClass::Throttling));
    }

    #[tokio::test]
    async fn a_created_alarm_reads_back_in_sync() {
        let fake = FakeAws::new();
        let aws = fake.aws();
        let spec = Spec::test().treat_missing_data(None).actions_enabled(None);
        let mut refs = refs();

        let d = diff(&spec, None, &refs);
        assert_eq!(d.action, Action::Create);
        apply(&aws, &spec, &d.ops, &mut refs).await.expect("apply");

        assert_eq!(fake.writes(), [format!("cloudwatch.PutMetricAlarm {NAME}")]);
        let live = observe_one(&aws, &spec).await.expect("created");
        assert_eq!(live.definition.alarm_actions, [TOPIC_ARN]);
        assert_eq!(live.tags.get(OWNER_TAG).map(String::as_str), Some("driftd"));
        assert_eq!(diff(&spec, Some(&live), &refs).action, Action::InSync);
    }

    #[tokio::test]
    async fn a_drifted_alarm_is_rewritten_without_retagging() {
        let fake = FakeAws::new();
        let aws = fake.aws();
        seed(&fake, &Live::test().with(|d| d.threshold = Some(99.0)));
        let spec = Spec::test();
        let mut refs = refs();

        let live = observe_one(&aws, &spec).await;
        let d = diff(&spec, live.as_ref(), &refs);
        assert_eq!(d.ops, update());
        apply(&aws, &spec, &d.ops, &mut refs).await.expect("apply");

        assert_eq!(fake.writes(), [format!("cloudwatch.PutMetricAlarm {NAME}")]);
        let live = observe_one(&aws, &spec).await;
        assert_eq!(diff(&spec, live.as_ref(), &refs).action, Action::InSync);
    }

    #[tokio::test]
    async fn an_untagged_alarm_is_adopted_and_keeps_its_other_tags() {
        let fake = FakeAws::new();
        let aws = fake.aws();
        seed(&fake, &Live::test().tags(&[("cost-center", "42")]));
        let spec = Spec::test();
        let mut refs = refs();

        let live = observe_one(&aws, &spec).await;
        let d = diff(&spec, live.as_ref(), &refs);
        assert_eq!(
            d.ops,
            tag_only(&[(OWNER_TAG, "driftd"), ("team", "platform")])
        );
        apply(&aws, &spec, &d.ops, &mut refs).await.expect("apply");

        assert_eq!(fake.writes(), [format!("cloudwatch.TagResource {NAME}")]);
        let live = observe_one(&aws, &spec).await.expect("exists");
        assert_eq!(live.tags.get("cost-center").map(String::as_str), Some("42"));
        assert_eq!(diff(&spec, Some(&live), &refs).action, Action::InSync);
    }

    #[tokio::test]
    async fn a_topic_created_after_the_plan_is_resolved_at_apply() {
        let fake = FakeAws::new();
        let aws = fake.aws();
        let spec = Spec::test();

        // Planned before the topic existed...
        let d = diff(&spec, None, &Refs::default());
        // ...applied after the Topic kind created it and recorded its ARN.
        let mut refs = refs();
        apply(&aws, &spec, &d.ops, &mut refs).await.expect("apply");

        let live = observe_one(&aws, &spec).await.expect("created");
        assert_eq!(live.definition.alarm_actions, [TOPIC_ARN]);
        assert_eq!(diff(&spec, Some(&live), &refs).action, Action::InSync);
    }

    #[tokio::test]
    async fn a_reference_still_unresolved_at_apply_fails_without_writing() {
        let fake = FakeAws::new();
        let spec = Spec::test();
        let d = diff(&spec, None, &Refs::default());

        let err = apply(&fake.aws(), &spec, &d.ops, &mut Refs::default())
            .await
            .expect_err("unresolved");

        assert!(matches!(err, Error::DanglingReference(_)), "{err:?}");
        assert!(
            err.to_string().contains("topic:tiktimer-dev-alerts"),
            "{err}"
        );
        assert!(fake.writes().is_empty());
    }

    #[tokio::test]
    async fn the_fake_ignores_tags_when_putting_an_existing_alarm_like_cloudwatch() {
        let fake = FakeAws::new();
        let aws = fake.aws();
        seed(&fake, &Live::test().tags(&[]));
        let definition = Definition::resolved(NAME, &Spec::test(), &refs()).expect("resolved");
        aws.cloudwatch
            .put_metric_alarm(&definition, &Tags::from([("a".into(), "b".into())]))
            .await
            .expect("put");
        let live = observe_one(&aws, &Spec::test()).await.expect("exists");
        assert!(live.tags.is_empty());
    }

    #[test]
    fn yaml_of_the_contract_example_parses_into_the_fixture() {
        let yaml = r#"
description: ECS CPU above 85% for 5 minutes
namespace: AWS/ECS
metricName: CPUUtilization
dimensions: {ClusterName: tiktimer-dev, ServiceName: tiktimer-dev-app}
statistic: Average
unit: Percent
period: 300
evaluationPeriods: 1
datapointsToAlarm: 1
threshold: 85
comparisonOperator: GreaterThanThreshold
treatMissingData: missing
actionsEnabled: true
alarmActions: [topic:tiktimer-dev-alerts]
okActions: []
insufficientDataActions: []
tags: {team: platform}
"#;
        let spec: Spec = serde_yaml::from_str(yaml).expect("parse");
        assert_eq!(spec, Spec::test());
    }
}
