//! CloudWatch alarms put straight into moto, the way someone at the console
//! would, and read back.

use aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, Statistic, Tag};
use aws_sdk_cloudwatch::Client;

/// A `PutMetricAlarm` of `name`: `Errors` in `namespace`, summed over a
/// minute, above `threshold` for one period. Send it, or add to it first.
pub fn errors_alarm(
    cw: &Client,
    name: &str,
    namespace: &str,
    threshold: f64,
) -> PutMetricAlarmFluentBuilder {
    cw.put_metric_alarm()
        .alarm_name(name)
        .namespace(namespace)
        .metric_name("Errors")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(threshold)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
}

/// A `PutMetricAlarm` of `name`: average ECS CPU over `period` seconds,
/// above `threshold` for one period. Send it, or add to it first.
pub fn cpu_alarm(
    cw: &Client,
    name: &str,
    period: i32,
    threshold: f64,
) -> PutMetricAlarmFluentBuilder {
    cw.put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/ECS")
        .metric_name("CPUUtilization")
        .statistic(Statistic::Average)
        .period(period)
        .evaluation_periods(1)
        .threshold(threshold)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
}

/// The Alarm document of [`errors_alarm`] (`threshold` a YAML scalar).
pub fn errors_alarm_yaml(name: &str, namespace: &str, threshold: impl std::fmt::Display) -> String {
    format!(
        "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {{name: {name}}}\nspec:\n  \
         namespace: {namespace}\n  metricName: Errors\n  statistic: Sum\n  period: 60\n  \
         evaluationPeriods: 1\n  threshold: {threshold}\n  \
         comparisonOperator: GreaterThanThreshold\n"
    )
}

/// A [`cpu_alarm`] over a minute, described, on the ECS cluster `cluster`.
pub fn cluster_cpu_alarm(
    cw: &Client,
    name: &str,
    cluster: &str,
    threshold: f64,
) -> PutMetricAlarmFluentBuilder {
    cpu_alarm(cw, name, 60, threshold)
        .alarm_description("CPU above the threshold")
        .dimensions(dimension("ClusterName", cluster))
}

/// The Alarm document of [`cpu_alarm`] over a minute (`threshold` a YAML
/// scalar).
pub fn cpu_alarm_yaml(name: &str, threshold: &str) -> String {
    format!(
        "apiVersion: driftd/v1
kind: Alarm
metadata:
  name: {name}
spec:
  namespace: AWS/ECS
  metricName: CPUUtilization
  statistic: Average
  period: 60
  evaluationPeriods: 1
  threshold: {threshold}
  comparisonOperator: GreaterThanThreshold
"
    )
}

/// The Alarm document of [`cluster_cpu_alarm`] (`threshold` a YAML scalar).
pub fn cluster_cpu_alarm_yaml(name: &str, cluster: &str, threshold: &str) -> String {
    format!(
        "{}  description: CPU above the threshold\n  dimensions: {{ClusterName: {cluster}}}\n",
        cpu_alarm_yaml(name, threshold)
    )
}

/// The dimension `name=value`.
pub fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

/// The tag `key=value`.
pub fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

/// The alarms `DescribeAlarms` gives for `name`.
pub async fn described(cw: &Client, name: &str) -> Vec<MetricAlarm> {
    cw.describe_alarms()
        .alarm_names(name)
        .send()
        .await
        .expect("describe alarms")
        .metric_alarms()
        .to_vec()
}

/// The first alarm `DescribeAlarms` gives for `name`, if any.
pub async fn find_alarm(cw: &Client, name: &str) -> Option<MetricAlarm> {
    described(cw, name).await.into_iter().next()
}

/// The one alarm named `name`; fails the test when there is none or more.
pub async fn alarm(cw: &Client, name: &str) -> MetricAlarm {
    match described(cw, name).await.as_slice() {
        [alarm] => alarm.clone(),
        other => panic!("expected one alarm named {name}, got {other:?}"),
    }
}

/// The threshold of the alarm `name`; `None` when it does not exist.
pub async fn threshold(cw: &Client, name: &str) -> Option<f64> {
    find_alarm(cw, name).await.and_then(|a| a.threshold())
}

/// The names of every alarm, in the order `DescribeAlarms` gives them.
pub async fn alarm_names(cw: &Client) -> Vec<String> {
    cw.describe_alarms()
        .send()
        .await
        .expect("describe alarms")
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name().map(str::to_string))
        .collect()
}

/// Puts the dashboard `name` with this body straight into CloudWatch, the way
/// someone at the console would.
pub async fn put_dashboard(cw: &Client, name: &str, body: &str) {
    cw.put_dashboard()
        .dashboard_name(name)
        .dashboard_body(body)
        .send()
        .await
        .expect("put dashboard");
}

/// A CloudWatch client on `config` whose requests pass through `interceptor`
/// (the tests count them with one).
pub fn intercepted(
    config: &aws_config::SdkConfig,
    interceptor: impl aws_smithy_runtime_api::client::interceptors::Intercept + 'static,
) -> Client {
    Client::from_conf(
        aws_sdk_cloudwatch::config::Builder::from(config)
            .interceptor(interceptor)
            .build(),
    )
}
