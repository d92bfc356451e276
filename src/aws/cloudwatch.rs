//! CloudWatch metric alarms: describe them in batches, put a definition, tag one.
//!
//! Dashboards, though served by the same API, have their own seam in
//! [`super::dashboards`].

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, Dimension, Metric, MetricDataQuery, StandardUnit, Statistic, Tag,
};
use serde::{Deserialize, Serialize};

use super::pace::{Pace, Paced, Pacer};
use super::Tags;
use super::{Error, ErrorClass};

pub(crate) const SERVICE: &str = "cloudwatch";

/// One entry of a metric-math alarm's `metrics:` (CloudWatch `MetricDataQuery`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
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

/// A metric alarm as `PutMetricAlarm` takes it and `DescribeAlarms` returns it,
/// limited to what an Alarm spec can set. AWS leaves out what was never set, so
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
    pub threshold_metric_id: Option<String>,
    pub comparison_operator: Option<String>,
    pub evaluate_low_sample_count_percentile: Option<String>,
    pub treat_missing_data: Option<String>,
    pub actions_enabled: Option<bool>,
    pub alarm_actions: Vec<String>,
    pub ok_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    /// Metric math; empty for an alarm on a single metric.
    pub metrics: Vec<MetricQuery>,
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

/// `DescribeAlarms` takes at most 100 alarm names per call.
pub const NAMES_PER_CALL: usize = 100;

#[async_trait]
pub trait CloudWatch: Send + Sync {
    /// The metric alarms among these names; a name without one is absent from
    /// the answer. Composite alarms are not read. The [`Live::tags`] are
    /// empty: `DescribeAlarms` does not return tags (see [`super::Tagging`]).
    async fn describe_metric_alarms(&self, names: &[String]) -> Result<Vec<Live>, Error>;

    /// Creates the alarm or replaces its whole definition. `tags` are applied
    /// only when this creates the alarm: CloudWatch ignores them for an
    /// existing one (use [`CloudWatch::tag_alarm`]).
    async fn put_metric_alarm(&self, definition: &Definition, tags: &Tags) -> Result<(), Error>;

    /// Adds or overwrites these tags on the alarm; other tags stay.
    async fn tag_alarm(&self, arn: &str, tags: &Tags) -> Result<(), Error>;

    /// Deletes these alarms in one `DeleteAlarms` call: at most
    /// [`NAMES_PER_CALL`] names. Names that do not exist are ignored.
    async fn delete_alarms(&self, names: &[String]) -> Result<(), Error>;

    /// Every alarm of the account, metric and composite, with the actions it
    /// notifies (alarm, OK and insufficient-data actions together): one
    /// `DescribeAlarms` walk, 100 alarms a page.
    async fn alarm_actions(&self) -> Result<Vec<AlarmActions>, Error>;
}

/// The actions one alarm notifies, whatever the state that triggers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmActions {
    pub name: String,
    pub actions: Vec<String>,
}

pub struct SdkCloudWatch {
    client: aws_sdk_cloudwatch::Client,
    pace: Pace,
}

impl SdkCloudWatch {
    /// Unpaced: [`super::Aws`] gives its clients the process's pacer.
    pub fn new(config: &aws_config::SdkConfig) -> SdkCloudWatch {
        SdkCloudWatch::from_client(aws_sdk_cloudwatch::Client::new(config))
    }

    /// Over a client configured by the caller (e.g. with an interceptor),
    /// less its SDK retries: its calls are retried at their pace ([`Pace::call`]).
    pub fn from_client(client: aws_sdk_cloudwatch::Client) -> SdkCloudWatch {
        SdkCloudWatch {
            client: without_sdk_retries!(aws_sdk_cloudwatch, client),
            pace: Pace::unpaced(SERVICE),
        }
    }

    /// Its calls wait for their turn at the process's pacer (see [`super::pace`]).
    pub fn paced(mut self, pacer: &Arc<Pacer>) -> SdkCloudWatch {
        self.pace = Pace::new(pacer, SERVICE);
        self
    }
}

#[async_trait]
impl CloudWatch for SdkCloudWatch {
    async fn describe_metric_alarms(&self, names: &[String]) -> Result<Vec<Live>, Error> {
        let mut out = Vec::new();
        for chunk in names.chunks(NAMES_PER_CALL) {
            let mut token: Option<String> = None;
            loop {
                let resp = self
                    .client
                    .describe_alarms()
                    .set_alarm_names(Some(chunk.to_vec()))
                    .alarm_types(AlarmType::MetricAlarm)
                    .max_records(NAMES_PER_CALL as i32)
                    .set_next_token(token.take())
                    .paced(&self.pace, "DescribeAlarms", |r| r.send())
                    .await?;
                for alarm in resp.metric_alarms() {
                    out.push(live_from_sdk(alarm)?);
                }
                match resp.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        Ok(out)
    }

    async fn put_metric_alarm(&self, definition: &Definition, tags: &Tags) -> Result<(), Error> {
        let d = definition;
        self.client
            .put_metric_alarm()
            .alarm_name(&d.name)
            .set_alarm_description(d.description.clone())
            .set_namespace(d.namespace.clone())
            .set_metric_name(d.metric_name.clone())
            .set_dimensions(non_empty(dimensions_to_sdk(&d.dimensions)))
            .set_statistic(d.statistic.as_deref().map(Statistic::from))
            .set_extended_statistic(d.extended_statistic.clone())
            .set_unit(d.unit.as_deref().map(StandardUnit::from))
            .set_period(d.period)
            .set_evaluation_periods(d.evaluation_periods)
            .set_datapoints_to_alarm(d.datapoints_to_alarm)
            .set_threshold(d.threshold)
            .set_threshold_metric_id(d.threshold_metric_id.clone())
            .set_evaluate_low_sample_count_percentile(
                d.evaluate_low_sample_count_percentile.clone(),
            )
            .set_comparison_operator(
                d.comparison_operator
                    .as_deref()
                    .map(ComparisonOperator::from),
            )
            .set_treat_missing_data(d.treat_missing_data.clone())
            .set_actions_enabled(d.actions_enabled)
            // Omitted lists are cleared: the call replaces the whole definition.
            .set_alarm_actions(non_empty(d.alarm_actions.clone()))
            .set_ok_actions(non_empty(d.ok_actions.clone()))
            .set_insufficient_data_actions(non_empty(d.insufficient_data_actions.clone()))
            .set_metrics(non_empty(d.metrics.iter().map(query_to_sdk).collect()))
            .set_tags(non_empty(tags_to_sdk(tags)))
            .paced(&self.pace, "PutMetricAlarm", |r| r.send())
            .await?;
        Ok(())
    }

    async fn tag_alarm(&self, arn: &str, tags: &Tags) -> Result<(), Error> {
        self.client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags_to_sdk(tags)))
            .paced(&self.pace, "TagResource", |r| r.send())
            .await?;
        Ok(())
    }

    async fn delete_alarms(&self, names: &[String]) -> Result<(), Error> {
        if names.is_empty() {
            return Ok(());
        }
        self.client
            .delete_alarms()
            .set_alarm_names(Some(names.to_vec()))
            .paced(&self.pace, "DeleteAlarms", |r| r.send())
            .await?;
        Ok(())
    }

    async fn alarm_actions(&self) -> Result<Vec<AlarmActions>, Error> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let resp = self
                .client
                .describe_alarms()
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .max_records(NAMES_PER_CALL as i32)
                .set_next_token(token.take())
                .paced(&self.pace, "DescribeAlarms", |r| r.send())
                .await?;
            // The two alarm types share these fields but no trait.
            macro_rules! actions_of {
                ($alarms:expr) => {
                    out.extend($alarms.iter().map(|a| {
                        AlarmActions {
                            name: a.alarm_name().unwrap_or_default().to_string(),
                            actions: [
                                a.alarm_actions(),
                                a.ok_actions(),
                                a.insufficient_data_actions(),
                            ]
                            .concat(),
                        }
                    }))
                };
            }
            actions_of!(resp.metric_alarms());
            actions_of!(resp.composite_alarms());
            match resp.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

/// The live view of one alarm of a `DescribeAlarms` answer.
fn live_from_sdk(a: &aws_sdk_cloudwatch::types::MetricAlarm) -> Result<Live, Error> {
    let missing = |field: &str| {
        Error::new(
            SERVICE,
            "DescribeAlarms",
            ErrorClass::Other,
            format!("a metric alarm without {field} in the answer"),
        )
    };
    let name = a.alarm_name().ok_or_else(|| missing("AlarmName"))?;
    let arn = a.alarm_arn().ok_or_else(|| missing("AlarmArn"))?;
    Ok(Live {
        arn: arn.to_string(),
        definition: Definition {
            name: name.to_string(),
            description: a.alarm_description().map(str::to_string),
            namespace: a.namespace().map(str::to_string),
            metric_name: a.metric_name().map(str::to_string),
            dimensions: dimensions_from_sdk(a.dimensions()),
            statistic: a.statistic().map(|s| s.as_str().to_string()),
            extended_statistic: a.extended_statistic().map(str::to_string),
            unit: a.unit().map(|u| u.as_str().to_string()),
            period: a.period(),
            evaluation_periods: a.evaluation_periods(),
            datapoints_to_alarm: a.datapoints_to_alarm(),
            threshold: a.threshold(),
            threshold_metric_id: a.threshold_metric_id().map(str::to_string),
            comparison_operator: a.comparison_operator().map(|c| c.as_str().to_string()),
            evaluate_low_sample_count_percentile: a
                .evaluate_low_sample_count_percentile()
                .map(str::to_string),
            treat_missing_data: a.treat_missing_data().map(str::to_string),
            actions_enabled: a.actions_enabled(),
            alarm_actions: a.alarm_actions().to_vec(),
            ok_actions: a.ok_actions().to_vec(),
            insufficient_data_actions: a.insufficient_data_actions().to_vec(),
            metrics: a.metrics().iter().map(query_from_sdk).collect(),
        },
        tags: Tags::new(),
    })
}

fn dimensions_from_sdk(dimensions: &[Dimension]) -> BTreeMap<String, String> {
    dimensions
        .iter()
        .map(|d| {
            (
                d.name().unwrap_or_default().to_string(),
                d.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn dimensions_to_sdk(dimensions: &BTreeMap<String, String>) -> Vec<Dimension> {
    dimensions
        .iter()
        .map(|(k, v)| Dimension::builder().name(k).value(v).build())
        .collect()
}

/// A metric query as AWS returned it. Parts AWS left out become empty
/// strings and zeros, which the diff shows as differing from any spec.
fn query_from_sdk(q: &MetricDataQuery) -> MetricQuery {
    MetricQuery {
        id: q.id().unwrap_or_default().to_string(),
        expression: q.expression().map(str::to_string),
        metric_stat: q.metric_stat().map(|s| {
            let metric = s.metric();
            MetricStat {
                namespace: metric
                    .and_then(|m| m.namespace())
                    .unwrap_or_default()
                    .to_string(),
                metric_name: metric
                    .and_then(|m| m.metric_name())
                    .unwrap_or_default()
                    .to_string(),
                dimensions: dimensions_from_sdk(metric.map(|m| m.dimensions()).unwrap_or_default()),
                period: s.period().unwrap_or_default(),
                stat: s.stat().unwrap_or_default().to_string(),
                unit: s.unit().map(|u| u.as_str().to_string()),
            }
        }),
        return_data: q.return_data(),
        label: q.label().map(str::to_string),
        period: q.period(),
    }
}

fn query_to_sdk(q: &MetricQuery) -> MetricDataQuery {
    MetricDataQuery::builder()
        .id(&q.id)
        .set_expression(q.expression.clone())
        .set_metric_stat(q.metric_stat.as_ref().map(|s| {
            aws_sdk_cloudwatch::types::MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(&s.namespace)
                        .metric_name(&s.metric_name)
                        .set_dimensions(non_empty(dimensions_to_sdk(&s.dimensions)))
                        .build(),
                )
                .period(s.period)
                .stat(&s.stat)
                .set_unit(s.unit.as_deref().map(StandardUnit::from))
                .build()
        }))
        .set_return_data(q.return_data)
        .set_label(q.label.clone())
        .set_period(q.period)
        .build()
}

fn tags_to_sdk(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The in-memory fake of this service (test builds only).
#[cfg(test)]
#[path = "fake/cloudwatch.rs"]
pub mod fake;

#[cfg(test)]
mod tests {
    use super::fake::*;
    use super::*;
    use aws_sdk_cloudwatch::types::MetricAlarm;

    fn dimension(name: &str, value: &str) -> Dimension {
        Dimension::builder().name(name).value(value).build()
    }

    #[test]
    fn an_alarm_from_describe_alarms_becomes_a_definition() {
        let alarm = MetricAlarm::builder()
            .alarm_name("cpu")
            .alarm_arn("arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu")
            .alarm_description("CPU")
            .namespace("AWS/ECS")
            .metric_name("CPUUtilization")
            // AWS returns dimensions in the order they were put.
            .dimensions(dimension("ServiceName", "app"))
            .dimensions(dimension("ClusterName", "dev"))
            .extended_statistic("p99")
            .evaluate_low_sample_count_percentile("ignore")
            .unit(StandardUnit::Percent)
            .period(60)
            .evaluation_periods(3)
            .datapoints_to_alarm(2)
            .threshold(85.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .treat_missing_data("breaching")
            .actions_enabled(false)
            .alarm_actions("arn:aws:sns:us-east-1:123456789012:a")
            .ok_actions("arn:aws:sns:us-east-1:123456789012:b")
            .insufficient_data_actions("arn:aws:sns:us-east-1:123456789012:c")
            .build();

        let live = live_from_sdk(&alarm).expect("convert");

        assert_eq!(
            live.arn,
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu"
        );
        assert!(live.tags.is_empty());
        assert_eq!(
            live.definition,
            Definition {
                name: "cpu".into(),
                description: Some("CPU".into()),
                namespace: Some("AWS/ECS".into()),
                metric_name: Some("CPUUtilization".into()),
                dimensions: BTreeMap::from([
                    ("ClusterName".into(), "dev".into()),
                    ("ServiceName".into(), "app".into()),
                ]),
                statistic: None,
                extended_statistic: Some("p99".into()),
                unit: Some("Percent".into()),
                period: Some(60),
                evaluation_periods: Some(3),
                datapoints_to_alarm: Some(2),
                threshold: Some(85.0),
                threshold_metric_id: None,
                comparison_operator: Some("GreaterThanThreshold".into()),
                evaluate_low_sample_count_percentile: Some("ignore".into()),
                treat_missing_data: Some("breaching".into()),
                actions_enabled: Some(false),
                alarm_actions: vec!["arn:aws:sns:us-east-1:123456789012:a".into()],
                ok_actions: vec!["arn:aws:sns:us-east-1:123456789012:b".into()],
                insufficient_data_actions: vec!["arn:aws:sns:us-east-1:123456789012:c".into()],
                metrics: Vec::new(),
            }
        );
    }

    #[test]
    fn an_alarm_without_a_name_is_an_error_not_a_panic() {
        let alarm = MetricAlarm::builder().alarm_arn("arn").build();
        let err = live_from_sdk(&alarm).expect_err("no name");
        assert_eq!(err.operation, "DescribeAlarms");
        assert!(err.message.contains("AlarmName"), "{err}");
    }

    #[test]
    fn metric_queries_survive_the_round_trip_through_sdk_types() {
        let queries = [
            MetricQuery {
                id: "e1".into(),
                expression: Some("m1 * 2".into()),
                metric_stat: None,
                return_data: Some(true),
                label: Some("double".into()),
                period: Some(300),
            },
            MetricQuery {
                id: "m1".into(),
                expression: None,
                metric_stat: Some(MetricStat {
                    namespace: "AWS/ECS".into(),
                    metric_name: "CPUUtilization".into(),
                    dimensions: BTreeMap::from([
                        ("ClusterName".into(), "dev".into()),
                        ("ServiceName".into(), "app".into()),
                    ]),
                    period: 60,
                    stat: "p90".into(),
                    unit: Some("Percent".into()),
                }),
                return_data: Some(false),
                label: None,
                period: None,
            },
        ];
        for q in queries {
            assert_eq!(query_from_sdk(&query_to_sdk(&q)), q);
        }
    }

    #[test]
    fn a_metric_query_with_parts_missing_converts_to_empty_values() {
        let q = MetricDataQuery::builder()
            .id("m1")
            .metric_stat(aws_sdk_cloudwatch::types::MetricStat::builder().build())
            .build();
        let stat = query_from_sdk(&q).metric_stat.expect("metric stat");
        assert_eq!((stat.namespace.as_str(), stat.period), ("", 0));
    }

    #[tokio::test]
    async fn the_fake_tags_alarms_by_arn_and_refuses_unknown_ones() {
        let fake = super::super::fake::FakeAws::new();
        let definition = Definition {
            name: "team:cpu".into(),
            ..Definition::default()
        };
        fake.put_metric_alarm(&definition, &Tags::new())
            .await
            .expect("put");
        let tags = Tags::from([("team".into(), "platform".into())]);

        fake.tag_alarm(&fake_alarm_arn("team:cpu"), &tags)
            .await
            .expect("tag");
        let err = fake
            .tag_alarm(&fake_alarm_arn("absent"), &tags)
            .await
            .expect_err("unknown alarm");

        assert_eq!(err.class, ErrorClass::NotFound);
        let state = fake.state.lock().unwrap();
        assert_eq!(state.tags[&fake_alarm_arn("team:cpu")], tags);
        assert_eq!(
            state.writes,
            [
                "cloudwatch.PutMetricAlarm team:cpu",
                "cloudwatch.TagResource team:cpu",
                "cloudwatch.TagResource absent",
            ]
        );
    }
}
