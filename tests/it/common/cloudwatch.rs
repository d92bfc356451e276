//! CloudWatch alarms put straight into moto, the way someone at the console
//! would, and read back.

use aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, Statistic, Tag};
use aws_sdk_cloudwatch::Client;
use driftd::aws::counting::{CountingInterceptor, Outcome, RequestObserver};
use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::{Arc, Mutex};

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
pub fn errors_alarm_yaml(name: &str, namespace: &str, threshold: impl Display) -> String {
    AlarmDoc::errors(name, namespace, threshold).to_string()
}

/// A Dashboard document: one text widget showing `markdown`.
pub fn text_dashboard_yaml(name: &str, markdown: &str) -> String {
    format!(
        "apiVersion: driftd/v1\nkind: Dashboard\nmetadata: {{name: {name}}}\nspec:\n  body:\n    \
         widgets:\n      - {{type: text, x: 0, y: 0, width: 6, height: 2, \
         properties: {{markdown: {markdown}}}}}\n"
    )
}

/// An Alarm document built field by field, so that the tests share one way
/// of writing one: `AlarmDoc::cpu("x", 85).set("period", 300).to_string()`.
#[derive(Clone, Debug)]
pub struct AlarmDoc {
    name: String,
    mode: Option<String>,
    spec: Vec<(String, String)>,
}

impl AlarmDoc {
    /// `metric` of `namespace` by `statistic` over `period` seconds, above
    /// `threshold` for one period.
    pub fn metric(
        name: &str,
        namespace: &str,
        metric: &str,
        statistic: &str,
        period: i32,
        threshold: impl Display,
    ) -> AlarmDoc {
        let spec = [
            ("namespace", namespace.to_string()),
            ("metricName", metric.to_string()),
            ("statistic", statistic.to_string()),
            ("period", period.to_string()),
            ("evaluationPeriods", "1".to_string()),
            ("threshold", threshold.to_string()),
            ("comparisonOperator", "GreaterThanThreshold".to_string()),
        ];
        AlarmDoc {
            name: name.to_string(),
            mode: None,
            spec: spec.map(|(k, v)| (k.to_string(), v)).to_vec(),
        }
    }

    /// The document of [`errors_alarm`].
    pub fn errors(name: &str, namespace: &str, threshold: impl Display) -> AlarmDoc {
        AlarmDoc::metric(name, namespace, "Errors", "Sum", 60, threshold)
    }

    /// The document of [`cpu_alarm`] over a minute.
    pub fn cpu(name: &str, threshold: impl Display) -> AlarmDoc {
        AlarmDoc::metric(name, "AWS/ECS", "CPUUtilization", "Average", 60, threshold)
    }

    /// The contract's example: the CPU of the ECS service `service` of
    /// `cluster` above 85% for 5 minutes.
    pub fn cpu_high(name: &str, cluster: &str, service: &str) -> AlarmDoc {
        let dimensions = format!("{{ClusterName: {cluster}, ServiceName: {service}}}");
        AlarmDoc::cpu(name, 85)
            .set("description", "ECS CPU above 85% for 5 minutes")
            .set("dimensions", dimensions)
            .set("unit", "Percent")
            .set("period", 300)
            .set("datapointsToAlarm", 1)
    }

    /// The spec field `field` set to `value` (YAML): in its place when it is
    /// there already, else last.
    pub fn set(mut self, field: &str, value: impl Display) -> AlarmDoc {
        let value = value.to_string();
        match self.spec.iter_mut().find(|(k, _)| k == field) {
            Some((_, old)) => *old = value,
            None => self.spec.push((field.to_string(), value)),
        }
        self
    }

    /// The spec field `field` spelt `misspelt`, in its place (for the tests
    /// of validation).
    pub fn misspell(mut self, field: &str, misspelt: &str) -> AlarmDoc {
        let (key, _) = self
            .spec
            .iter_mut()
            .find(|(k, _)| k == field)
            .unwrap_or_else(|| panic!("no field {field} to misspell"));
        *key = misspelt.to_string();
        self
    }

    /// `metadata.mode` set to `mode`.
    pub fn mode(mut self, mode: &str) -> AlarmDoc {
        self.mode = Some(mode.to_string());
        self
    }

    /// The spec alone, as a YAML mapping.
    pub fn spec_yaml(&self) -> String {
        self.spec
            .iter()
            .map(|(k, v)| format!("{k}: {v}\n"))
            .collect()
    }
}

impl Display for AlarmDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata:\n  name: {}",
            self.name
        )?;
        if let Some(mode) = &self.mode {
            writeln!(f, "  mode: {mode}")?;
        }
        writeln!(f, "spec:")?;
        for (field, value) in &self.spec {
            writeln!(f, "  {field}: {value}")?;
        }
        Ok(())
    }
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
    AlarmDoc::cpu(name, threshold).to_string()
}

/// The Alarm document of [`cluster_cpu_alarm`] (`threshold` a YAML scalar).
pub fn cluster_cpu_alarm_yaml(name: &str, cluster: &str, threshold: &str) -> String {
    AlarmDoc::cpu(name, threshold)
        .set("description", "CPU above the threshold")
        .set("dimensions", format!("{{ClusterName: {cluster}}}"))
        .to_string()
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

/// The tags of the alarm (or dashboard) `arn`, by key.
pub async fn tags_of(cw: &Client, arn: &str) -> BTreeMap<String, String> {
    cw.list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .expect("list tags")
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
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

/// Records the operation and outcome of every request a client sends over
/// HTTP (retries included), as driftd's own counting interceptor reports them,
/// so that "read once" or "not fetched again" is measured, not taken on trust.
#[derive(Debug, Clone, Default)]
pub struct Requests(Arc<Mutex<Vec<(String, Outcome)>>>);

impl Requests {
    /// The interceptor of a CloudWatch client that reports here.
    pub fn interceptor(&self) -> CountingInterceptor {
        CountingInterceptor::new("cloudwatch", Arc::new(self.clone()))
    }

    /// How many requests of `operation` were sent, retries included.
    pub fn count(&self, operation: &str) -> usize {
        self.counted(|op, _| op == operation)
    }

    /// How many requests of `operation` succeeded: one per call that
    /// succeeded, whatever its retries.
    pub fn succeeded(&self, operation: &str) -> usize {
        self.counted(|op, outcome| op == operation && outcome == Outcome::Success)
    }

    /// Forgets what was recorded so far.
    pub fn reset(&self) {
        self.0.lock().unwrap().clear();
    }

    fn counted(&self, which: impl Fn(&str, Outcome) -> bool) -> usize {
        let requests = self.0.lock().unwrap();
        requests.iter().filter(|(op, o)| which(op, *o)).count()
    }
}

impl RequestObserver for Requests {
    fn request(&self, _service: &'static str, operation: &str, outcome: Outcome) {
        self.0
            .lock()
            .unwrap()
            .push((operation.to_string(), outcome));
    }
}
