//! The loader against real files: good documents of every kind, and a corpus
//! of bad ones, each with the exact error lines it must produce.

use std::fs;
use std::path::{Path, PathBuf};

use super::*;
use crate::kinds::{alarm, dashboard, ecs_service, secret, topic, Mode};

/// A directory of desired-state files, removed when dropped.
struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    fn new(files: &[(&str, &str)]) -> Dir {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        for (name, text) in files {
            let path = tmp.path().join(name);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).expect("create directories");
            }
            fs::write(&path, text).expect("write a file");
        }
        Dir { tmp }
    }

    fn path(&self) -> &Path {
        self.tmp.path()
    }

    fn load(&self) -> Result<DesiredState, LoadErrors> {
        load(self.path())
    }

    /// The rendered error lines, with the temporary directory left out.
    fn errors(&self) -> Vec<String> {
        error_lines(self.path(), self.load())
    }

    fn state(&self) -> DesiredState {
        match self.load() {
            Ok(state) => state,
            Err(errors) => panic!("expected a valid state, got:\n{errors}"),
        }
    }
}

/// The rendered error lines of a load of `dir` that must fail, with `dir` left out.
fn error_lines(dir: &Path, loaded: Result<DesiredState, LoadErrors>) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    match loaded {
        Ok(state) => panic!(
            "expected errors, loaded {} resources",
            state.resources.len()
        ),
        Err(errors) => errors
            .0
            .iter()
            .map(|e| e.to_string().replace(&prefix, ""))
            .collect(),
    }
}

const TOPIC: &str = "\
apiVersion: driftd/v1
kind: Topic
metadata:
  name: alerts
spec:
  displayName: Alerts
  subscriptions:
    - {protocol: email, endpoint: ops@example.com}
";

struct Case {
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    errors: &'static [&'static str],
}

/// Bad documents, each with every line its load must report, exactly.
const BAD: &[Case] = &[
    // ------------------------------------------------------------ envelope
    Case {
        name: "a document that is not a mapping",
        files: &[("a.yaml", "- apiVersion: driftd/v1\n- kind: Topic\n")],
        errors: &["a.yaml:1:1: a document must be a mapping of apiVersion, kind, metadata and spec"],
    },
    Case {
        name: "kind is missing",
        files: &[("a.yaml", "apiVersion: driftd/v1\nmetadata: {name: x}\nspec: {}\n")],
        errors: &["a.yaml:1:1: kind: missing required field"],
    },
    Case {
        name: "an unknown kind suggests the closest",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Alrm\nmetadata: {name: x}\nspec: {}\n",
        )],
        errors: &["a.yaml:2:1: kind: unknown kind \"Alrm\" (did you mean Alarm?)"],
    },
    Case {
        name: "a far-off kind lists the kinds",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Bucket\nmetadata: {name: x}\nspec: {}\n",
        )],
        errors: &["a.yaml:2:1: kind: unknown kind \"Bucket\" (expected one of: Alarm, Dashboard, Topic, Secret, EcsService)"],
    },
    Case {
        name: "another apiVersion",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v2\nkind: Topic\nmetadata: {name: alerts}\nspec: {}\n",
        )],
        errors: &["a.yaml:1:1: Topic alerts: apiVersion: unsupported apiVersion \"driftd/v2\" (expected driftd/v1)"],
    },
    Case {
        name: "an unknown envelope field lists the allowed ones",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Topic\nmetadata: {name: alerts}\nlabels: {team: x}\nspec: {}\n",
        )],
        errors: &["a.yaml:4:1: Topic alerts: labels: unknown field (expected one of: apiVersion, kind, metadata, spec)"],
    },
    Case {
        name: "metadata without a name",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Topic\nmetadata:\n  mode: observe\nspec: {}\n",
        )],
        errors: &["a.yaml:3:1: Topic: metadata.name: missing required field"],
    },
    Case {
        name: "a mode in the wrong case",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Topic\nmetadata:\n  name: alerts\n  mode: Observe\nspec: {}\n",
        )],
        errors: &["a.yaml:5:3: Topic alerts: metadata.mode: unknown value \"Observe\" (did you mean observe?)"],
    },
    Case {
        name: "an empty name",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Topic\nmetadata: {name: \"\"}\nspec: {}\n",
        )],
        errors: &["a.yaml:3:12: Topic: metadata.name: must not be empty"],
    },
    Case {
        name: "spec is missing",
        files: &[("a.yaml", "apiVersion: driftd/v1\nkind: Topic\nmetadata: {name: alerts}\n")],
        errors: &["a.yaml:1:1: Topic alerts: spec: missing required field"],
    },
    Case {
        name: "spec is not a mapping",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: EcsService\nmetadata: {name: app}\nspec: [1]\n",
        )],
        errors: &["a.yaml:4:1: EcsService app: spec: invalid type: sequence, expected a mapping"],
    },
    Case {
        name: "a YAML syntax error",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Topic\nmetadata: {name: alerts\nspec: {}\n",
        )],
        errors: &["a.yaml:4:5: invalid YAML: did not find expected ',' or '}', while parsing a flow mapping at line 3 column 11"],
    },
    Case {
        name: "a key written twice",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: EcsService\nmetadata: {name: app}\nspec:\n  cluster: dev\n  desiredCount: 1\n  cluster: prod\n",
        )],
        errors: &["a.yaml:7:3: spec.cluster: duplicate key (first at line 5 column 3)"],
    },
    Case {
        name: "the same resource twice in one file",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Topic\nmetadata: {name: alerts}\nspec: {}\n---\napiVersion: driftd/v1\nkind: Topic\nmetadata: {name: alerts}\nspec: {}\n",
        )],
        errors: &["a.yaml:8:12: Topic alerts: metadata.name: Topic alerts declared twice, first at a.yaml:3:12"],
    },
    // --------------------------------------------------------------- Alarm
    Case {
        name: "an alarm field typo",
        files: &[(
            "alarms.yaml",
            "\
apiVersion: driftd/v1
kind: Alarm
metadata:
  name: cpu-high
spec:
  namespace: AWS/ECS
  metricName: CPUUtilization
  statistic: Average
  period: 300
  evaluationPeriods: 1
  threshhold: 85
  comparisonOperator: GreaterThanThreshold
",
        )],
        errors: &["alarms.yaml:11:3: Alarm cpu-high: spec.threshhold: unknown field (did you mean threshold?)"],
    },
    Case {
        name: "a missing threshold",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: x}\nspec:\n  namespace: AWS/ECS\n  metricName: CPUUtilization\n  statistic: Average\n  period: 60\n  evaluationPeriods: 1\n  comparisonOperator: GreaterThanThreshold\n",
        )],
        errors: &["a.yaml:4:1: Alarm x: spec.threshold: missing required field (or thresholdMetricId, for an anomaly-detection band)"],
    },
    Case {
        name: "a threshold that is not a number",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: x}\nspec:\n  threshold: high\n",
        )],
        errors: &["a.yaml:5:3: Alarm x: spec.threshold: invalid type: string \"high\", expected a number"],
    },
    Case {
        name: "an unknown statistic",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: x}\nspec:\n  statistic: Avg\n",
        )],
        errors: &["a.yaml:5:3: Alarm x: spec.statistic: unknown value \"Avg\" (expected one of: SampleCount, Average, Sum, Minimum, Maximum)"],
    },
    Case {
        name: "the simple form without its metric, statistic and period",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: x}\nspec:\n  evaluationPeriods: 1\n  threshold: 1\n  comparisonOperator: GreaterThanThreshold\n",
        )],
        errors: &[
            "a.yaml:4:1: Alarm x: spec.namespace: required (unless the alarm uses metrics: for metric math)",
            "a.yaml:4:1: Alarm x: spec.metricName: required (unless the alarm uses metrics: for metric math)",
            "a.yaml:4:1: Alarm x: spec.statistic: one of statistic or extendedStatistic is required",
            "a.yaml:4:1: Alarm x: spec.period: required (unless the alarm uses metrics: for metric math)",
        ],
    },
    Case {
        name: "statistic and extendedStatistic together",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: x}\nspec:\n  namespace: AWS/ECS\n  metricName: CPUUtilization\n  statistic: Average\n  extendedStatistic: p99\n  period: 60\n  evaluationPeriods: 1\n  threshold: 1\n  comparisonOperator: GreaterThanThreshold\n",
        )],
        errors: &["a.yaml:8:3: Alarm x: spec.extendedStatistic: set either statistic or extendedStatistic, not both"],
    },
    Case {
        name: "an extended statistic that is not one",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: x}\nspec:\n  namespace: AWS/ECS\n  metricName: CPUUtilization\n  extendedStatistic: p999\n  period: 60\n  evaluationPeriods: 1\n  threshold: 1\n  comparisonOperator: GreaterThanThreshold\n",
        )],
        errors: &["a.yaml:7:3: Alarm x: spec.extendedStatistic: \"p999\" is not an extended statistic (e.g. p99, p99.9, tm90, wm99, tc90, ts90, IQM, TM(10%:90%))"],
    },
    Case {
        name: "period, evaluation periods, datapoints and unit out of bounds",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: x}\nspec:\n  namespace: AWS/ECS\n  metricName: CPUUtilization\n  statistic: Average\n  unit: percent\n  period: 45\n  evaluationPeriods: 0\n  datapointsToAlarm: 2\n  threshold: 1\n  comparisonOperator: GreaterThanThreshold\n",
        )],
        errors: &[
            "a.yaml:8:3: Alarm x: spec.unit: unknown unit \"percent\" (did you mean Percent?)",
            "a.yaml:9:3: Alarm x: spec.period: 45 is not a valid period: use 10, 20, 30 or a multiple of 60",
            "a.yaml:10:3: Alarm x: spec.evaluationPeriods: must be at least 1",
            "a.yaml:11:3: Alarm x: spec.datapointsToAlarm: must be between 1 and evaluationPeriods (0)",
        ],
    },
    Case {
        name: "more datapoints than evaluation periods",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: x}\nspec:\n  namespace: AWS/ECS\n  metricName: CPUUtilization\n  statistic: Average\n  period: 60\n  evaluationPeriods: 2\n  datapointsToAlarm: 3\n  threshold: 1\n  comparisonOperator: GreaterThanThreshold\n",
        )],
        errors: &["a.yaml:10:3: Alarm x: spec.datapointsToAlarm: must be between 1 and evaluationPeriods (2)"],
    },
    Case {
        name: "an evaluation window longer than CloudWatch allows",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: x}\nspec:\n  namespace: AWS/ECS\n  metricName: CPUUtilization\n  statistic: Average\n  period: 300\n  evaluationPeriods: 300\n  threshold: 1\n  comparisonOperator: GreaterThanThreshold\n",
        )],
        errors: &["a.yaml:9:3: Alarm x: spec.evaluationPeriods: period × evaluationPeriods is 90000 s; CloudWatch allows at most 86400 s for periods under an hour"],
    },
    Case {
        name: "an anomaly-detection operator",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: x}\nspec:\n  namespace: AWS/ECS\n  metricName: CPUUtilization\n  statistic: Average\n  period: 60\n  evaluationPeriods: 1\n  threshold: 1\n  comparisonOperator: GreaterThanUpperThreshold\n",
        )],
        errors: &["a.yaml:11:3: Alarm x: spec.comparisonOperator: GreaterThanUpperThreshold compares with an anomaly-detection band: give thresholdMetricId instead of threshold, or use a static threshold operator"],
    },
    Case {
        name: "thresholdMetricId naming no query, with a static operator",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: x}\nspec:\n  metrics:\n    - {id: m1, metricStat: {namespace: AWS/ECS, metricName: CPUUtilization, period: 60, stat: Average}}\n    - {id: ad1, expression: \"ANOMALY_DETECTION_BAND(m1, 2)\"}\n  evaluationPeriods: 1\n  thresholdMetricId: ad2\n  comparisonOperator: GreaterThanThreshold\n",
        )],
        errors: &["a.yaml:9:3: Alarm x: spec.thresholdMetricId: names no query of metrics (ids: m1, ad1)",
            "a.yaml:10:3: Alarm x: spec.comparisonOperator: GreaterThanThreshold compares with a static threshold; with thresholdMetricId use LessThanLowerOrGreaterThanUpperThreshold, LessThanLowerThreshold or GreaterThanUpperThreshold"],
    },
    Case {
        name: "thresholdMetricId and threshold both, and a low-sample setting without a percentile",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: x}\nspec:\n  namespace: AWS/ECS\n  metricName: CPUUtilization\n  statistic: Average\n  period: 60\n  evaluationPeriods: 1\n  threshold: 1\n  thresholdMetricId: ad1\n  comparisonOperator: GreaterThanUpperThreshold\n  evaluateLowSampleCountPercentile: ignore\n",
        )],
        errors: &["a.yaml:11:3: Alarm x: spec.thresholdMetricId: not allowed with threshold: an alarm compares with a static threshold or a band, not both",
            "a.yaml:13:3: Alarm x: spec.evaluateLowSampleCountPercentile: only for percentile alarms: set extendedStatistic (e.g. p99), or use metrics"],
    },
    Case {
        name: "actions that are neither ARNs nor topics, and too many",
        files: &[(
            "a.yaml",
            "\
apiVersion: driftd/v1
kind: Alarm
metadata: {name: x}
spec:
  namespace: AWS/ECS
  metricName: CPUUtilization
  statistic: Average
  period: 60
  evaluationPeriods: 1
  threshold: 1
  comparisonOperator: GreaterThanThreshold
  alarmActions:
    - ops@example.com
    - arn:aws:sns
    - 'topic:'
  okActions: [x1, x2, x3, x4, x5, x6]
  insufficientDataActions:
    - arn:aws:sns:us-east-1:123456789012:alerts
    - arn:aws:sns:us-east-1:123456789012:alerts
",
        )],
        errors: &[
            "a.yaml:13:7: Alarm x: spec.alarmActions[0]: \"ops@example.com\" is neither an ARN nor topic:<name>",
            "a.yaml:14:7: Alarm x: spec.alarmActions[1]: \"arn:aws:sns\" is not an ARN (arn:partition:service:region:account:resource)",
            "a.yaml:15:7: Alarm x: spec.alarmActions[2]: topic: needs a Topic name, e.g. topic:alerts",
            "a.yaml:16:3: Alarm x: spec.okActions: too many actions: 6 (at most 5)",
            "a.yaml:16:15: Alarm x: spec.okActions[0]: \"x1\" is neither an ARN nor topic:<name>",
            "a.yaml:16:19: Alarm x: spec.okActions[1]: \"x2\" is neither an ARN nor topic:<name>",
            "a.yaml:16:23: Alarm x: spec.okActions[2]: \"x3\" is neither an ARN nor topic:<name>",
            "a.yaml:16:27: Alarm x: spec.okActions[3]: \"x4\" is neither an ARN nor topic:<name>",
            "a.yaml:16:31: Alarm x: spec.okActions[4]: \"x5\" is neither an ARN nor topic:<name>",
            "a.yaml:16:35: Alarm x: spec.okActions[5]: \"x6\" is neither an ARN nor topic:<name>",
            "a.yaml:19:7: Alarm x: spec.insufficientDataActions[1]: duplicate action (also at index 0)",
        ],
    },
    Case {
        name: "a topic reference to an undeclared topic",
        files: &[
            ("topics.yaml", TOPIC),
            (
                "alarms.yaml",
                "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: x}\nspec:\n  namespace: AWS/ECS\n  metricName: CPUUtilization\n  statistic: Average\n  period: 60\n  evaluationPeriods: 1\n  threshold: 1\n  comparisonOperator: GreaterThanThreshold\n  alarmActions: [topic:alerts]\n  okActions: [topic:alert, topic:pager]\n",
            ),
        ],
        errors: &[
            "alarms.yaml:13:15: Alarm x: spec.okActions[0]: no Topic named \"alert\" is declared (did you mean topic:alerts?)",
            "alarms.yaml:13:28: Alarm x: spec.okActions[1]: no Topic named \"pager\" is declared",
        ],
    },
    Case {
        name: "metric math mixed with the simple form",
        files: &[(
            "a.yaml",
            "\
apiVersion: driftd/v1
kind: Alarm
metadata: {name: x}
spec:
  namespace: AWS/ApplicationELB
  statistic: Sum
  evaluationPeriods: 1
  threshold: 1
  comparisonOperator: GreaterThanThreshold
  metrics:
    - id: e1
      expression: m1 / m2
",
        )],
        errors: &[
            "a.yaml:5:3: Alarm x: spec.namespace: not allowed with metrics (metric math): set it in metrics[].metricStat",
            "a.yaml:6:3: Alarm x: spec.statistic: not allowed with metrics (metric math): set it in metrics[].metricStat",
        ],
    },
    Case {
        name: "metric math queries with bad ids, sources and return data",
        files: &[(
            "a.yaml",
            "\
apiVersion: driftd/v1
kind: Alarm
metadata: {name: x}
spec:
  evaluationPeriods: 1
  threshold: 1
  comparisonOperator: GreaterThanThreshold
  metrics:
    - id: e1
      expression: m1 * 100
    - id: E2
      expression: m1
    - id: e1
      label: both
      expression: m1
      metricStat: {namespace: AWS/ECS, metricName: CPUUtilization, period: 60, stat: Average}
    - id: m1
      returnData: false
    - id: m2
      returnData: false
      metricStat: {namespace: AWS/ECS, metricName: CPUUtilization, period: 45, stat: avg, unit: percent}
",
        )],
        errors: &[
            "a.yaml:8:3: Alarm x: spec.metrics: exactly one entry must return data (returnData true or absent), found 3",
            "a.yaml:11:7: Alarm x: spec.metrics[1].id: \"E2\" is not a valid id: it starts with a lowercase letter and holds only letters, digits and _",
            "a.yaml:13:7: Alarm x: spec.metrics[2].id: duplicate id \"e1\" (also metrics[0])",
            "a.yaml:13:7: Alarm x: spec.metrics[2]: set either expression or metricStat, not both",
            "a.yaml:17:7: Alarm x: spec.metrics[3]: one of expression or metricStat is required",
            "a.yaml:21:68: Alarm x: spec.metrics[4].metricStat.period: 45 is not a valid period: use 10, 20, 30 or a multiple of 60",
            "a.yaml:21:80: Alarm x: spec.metrics[4].metricStat.stat: unknown statistic \"avg\" (use SampleCount, Average, Sum, Minimum, Maximum or e.g. p99)",
            "a.yaml:21:91: Alarm x: spec.metrics[4].metricStat.unit: unknown unit \"percent\" (did you mean Percent?)",
        ],
    },
    Case {
        name: "an unknown field deep in a metric query",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: x}\nspec:\n  evaluationPeriods: 1\n  threshold: 1\n  comparisonOperator: GreaterThanThreshold\n  metrics:\n    - id: e1\n      expression: m1\n    - id: m1\n      metricStat: {namespace: AWS/ECS, metricName: CPUUtilization, period: 60, statistic: Average}\n",
        )],
        errors: &["a.yaml:12:80: Alarm x: spec.metrics[1].metricStat.statistic: unknown field (expected one of: namespace, metricName, dimensions, period, stat, unit)"],
    },
    Case {
        name: "alarm tags that driftd or AWS reserve",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: x}\nspec:\n  namespace: AWS/ECS\n  metricName: CPUUtilization\n  statistic: Average\n  period: 60\n  evaluationPeriods: 1\n  threshold: 1\n  comparisonOperator: GreaterThanThreshold\n  tags:\n    driftd:owner: me\n    aws:team: x\n",
        )],
        errors: &[
            "a.yaml:13:5: Alarm x: spec.tags.driftd:owner: set by driftd itself (--owner); remove it from the spec",
            "a.yaml:14:5: Alarm x: spec.tags.aws:team: the aws: prefix is reserved for AWS",
        ],
    },
    Case {
        name: "an alarm name with a control character",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: \"cpu\\thigh\"}\nspec:\n  namespace: AWS/ECS\n  metricName: CPUUtilization\n  statistic: Average\n  period: 60\n  evaluationPeriods: 1\n  threshold: 1\n  comparisonOperator: GreaterThanThreshold\n",
        )],
        errors: &["a.yaml:3:12: Alarm cpu\\thigh: metadata.name: must not contain control characters"],
    },
    // --------------------------------------------------------------- Topic
    Case {
        name: "a subscription protocol typo and bad endpoints",
        files: &[(
            "a.yaml",
            "\
apiVersion: driftd/v1
kind: Topic
metadata: {name: alerts}
spec:
  subscriptions:
    - {protocol: emial, endpoint: ops@example.com}
    - {protocol: email, endpoint: ops}
    - {protocol: https, endpoint: http://hooks.example.com}
    - {protocol: sqs, endpoint: alerts-queue}
    - {protocol: sms, endpoint: call-me}
",
        )],
        errors: &[
            "a.yaml:6:8: Topic alerts: spec.subscriptions[0].protocol: unknown protocol \"emial\" (did you mean email?)",
            "a.yaml:7:25: Topic alerts: spec.subscriptions[1].endpoint: \"ops\" is not an email address (protocol email)",
            "a.yaml:8:25: Topic alerts: spec.subscriptions[2].endpoint: \"http://hooks.example.com\" is not an https:// URL (protocol https)",
            "a.yaml:9:23: Topic alerts: spec.subscriptions[3].endpoint: \"alerts-queue\" is not an ARN (protocol sqs)",
            "a.yaml:10:23: Topic alerts: spec.subscriptions[4].endpoint: \"call-me\" is not a phone number such as +15555550100 (protocol sms)",
        ],
    },
    Case {
        name: "the same subscription twice",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Topic\nmetadata: {name: alerts}\nspec:\n  subscriptions:\n    - {protocol: email, endpoint: ops@example.com}\n    - {protocol: email, endpoint: ops@example.com}\n",
        )],
        errors: &["a.yaml:7:7: Topic alerts: spec.subscriptions[1]: duplicate subscription (same protocol and endpoint as subscriptions[0])"],
    },
    Case {
        name: "a policy that is not a JSON object",
        files: &[
            (
                "a.yaml",
                "apiVersion: driftd/v1\nkind: Topic\nmetadata: {name: alerts}\nspec:\n  policy: '{\"Version\": \"2012-10-17\",'\n",
            ),
            (
                "b.yaml",
                "apiVersion: driftd/v1\nkind: Topic\nmetadata: {name: pager}\nspec:\n  policy: [Statement]\n",
            ),
            (
                "c.yaml",
                "apiVersion: driftd/v1\nkind: Topic\nmetadata: {name: audit}\nspec:\n  policy: '[1, 2]'\n",
            ),
        ],
        errors: &[
            "a.yaml:5:3: Topic alerts: spec.policy: not valid JSON: EOF while parsing a value at line 1 column 25",
            "b.yaml:5:3: Topic pager: spec.policy: must be a JSON object (a mapping or a JSON string)",
            "c.yaml:5:3: Topic audit: spec.policy: must be a JSON object (a mapping or a JSON string)",
        ],
    },
    Case {
        name: "topic names SNS refuses",
        files: &[
            ("a.yaml", "apiVersion: driftd/v1\nkind: Topic\nmetadata: {name: alerts.fifo}\nspec: {}\n"),
            ("b.yaml", "apiVersion: driftd/v1\nkind: Topic\nmetadata: {name: ops alerts}\nspec: {displayName: '   '}\n"),
        ],
        errors: &[
            "a.yaml:3:12: Topic alerts.fifo: metadata.name: FIFO topics are not supported",
            "b.yaml:3:12: Topic ops alerts: metadata.name: invalid character ' ' (allowed: letters, digits, - and _)",
        ],
    },
    // ----------------------------------------------------------- Dashboard
    Case {
        name: "a dashboard with body and bodyFile, and one with neither",
        files: &[
            (
                "a.yaml",
                "apiVersion: driftd/v1\nkind: Dashboard\nmetadata: {name: main}\nspec:\n  body: {widgets: []}\n  bodyFile: main.json\n",
            ),
            ("b.yaml", "apiVersion: driftd/v1\nkind: Dashboard\nmetadata: {name: other}\nspec: {}\n"),
        ],
        errors: &[
            "a.yaml:6:3: Dashboard main: spec.bodyFile: set either body or bodyFile, not both",
            "b.yaml:4:1: Dashboard other: spec.body: one of body or bodyFile is required",
        ],
    },
    Case {
        name: "dashboard bodies without widgets",
        files: &[
            (
                "a.yaml",
                "apiVersion: driftd/v1\nkind: Dashboard\nmetadata: {name: main}\nspec:\n  body:\n    start: -PT6H\n",
            ),
            (
                "b.yaml",
                "apiVersion: driftd/v1\nkind: Dashboard\nmetadata: {name: other}\nspec:\n  body:\n    widgets:\n      - {type: text, properties: {markdown: hi}}\n      - {x: 0, y: 0}\n      - text\n",
            ),
        ],
        errors: &[
            "a.yaml:5:3: Dashboard main: spec.body: must have a widgets list",
            "b.yaml:8:9: Dashboard other: spec.body.widgets[1].type: a widget needs a type (e.g. metric, text, alarm)",
            "b.yaml:9:9: Dashboard other: spec.body.widgets[2]: a widget must be an object",
        ],
    },
    Case {
        name: "a bodyFile that is missing, not JSON, or without widgets",
        files: &[
            ("a.yaml", "apiVersion: driftd/v1\nkind: Dashboard\nmetadata: {name: a}\nspec: {bodyFile: missing.json}\n"),
            ("b.yaml", "apiVersion: driftd/v1\nkind: Dashboard\nmetadata: {name: b}\nspec: {bodyFile: boards/b.json}\n"),
            ("boards/b.json", "{\"widgets\": [}\n"),
            ("c.yaml", "apiVersion: driftd/v1\nkind: Dashboard\nmetadata: {name: c}\nspec: {bodyFile: c.json}\n"),
            ("c.json", "{\"widgets\": [{\"width\": 6}]}\n"),
        ],
        errors: &[
            "a.yaml:4:8: Dashboard a: spec.bodyFile: cannot read \"missing.json\": No such file or directory (os error 2)",
            "b.yaml:4:8: Dashboard b: spec.bodyFile: \"boards/b.json\": not valid JSON: expected value at line 1 column 14",
            "c.yaml:4:8: Dashboard c: spec.bodyFile: \"c.json\": widgets[0].type: a widget needs a type (e.g. metric, text, alarm)",
        ],
    },
    Case {
        name: "a dashboard name CloudWatch refuses",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Dashboard\nmetadata: {name: tiktimer.dev}\nspec: {body: {widgets: []}}\n",
        )],
        errors: &["a.yaml:3:12: Dashboard tiktimer.dev: metadata.name: invalid character '.' (allowed: letters, digits, - and _)"],
    },
    // -------------------------------------------------------------- Secret
    Case {
        name: "two initial value sources",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Secret\nmetadata: {name: app}\nspec:\n  initialValue:\n    fromEnv: APP_SECRET\n    placeholderKeys: [A]\n",
        )],
        errors: &["a.yaml:7:5: Secret app: spec.initialValue.placeholderKeys: set only one of fromEnv, placeholderKeys"],
    },
    Case {
        name: "an initial value without a source",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Secret\nmetadata: {name: app}\nspec:\n  initialValue: {}\n",
        )],
        errors: &["a.yaml:5:3: Secret app: spec.initialValue: one of fromEnv, fromFile, generate or placeholderKeys is required"],
    },
    Case {
        name: "enforce without a value to enforce",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Secret\nmetadata: {name: app}\nspec:\n  valuePolicy: enforce\n  initialValue:\n    generate: {length: 0}\n",
        )],
        errors: &[
            "a.yaml:5:3: Secret app: spec.valuePolicy: enforce needs initialValue.fromEnv or initialValue.fromFile (the value to enforce)",
            "a.yaml:7:16: Secret app: spec.initialValue.generate.length: 0 is out of range: 1 to 4096",
        ],
    },
    Case {
        name: "a generator with every character excluded",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Secret\nmetadata: {name: app}\nspec:\n  initialValue:\n    generate:\n      excludeLowercase: true\n      excludeUppercase: true\n      excludeNumbers: true\n      excludePunctuation: true\n",
        )],
        errors: &["a.yaml:6:5: Secret app: spec.initialValue.generate: every kind of character is excluded: nothing is left to generate from"],
    },
    Case {
        name: "a value policy typo",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Secret\nmetadata: {name: app}\nspec:\n  valuePolicy: createonly\n",
        )],
        errors: &["a.yaml:5:3: Secret app: spec.valuePolicy: unknown value \"createonly\" (did you mean createOnly?)"],
    },
    Case {
        name: "key lists: empty, repeated, and required keys the placeholders lack",
        files: &[
            (
                "a.yaml",
                "apiVersion: driftd/v1\nkind: Secret\nmetadata: {name: app}\nspec:\n  requiredKeys: []\n  initialValue:\n    placeholderKeys: [A, B, A, '']\n",
            ),
            (
                "b.yaml",
                "apiVersion: driftd/v1\nkind: Secret\nmetadata: {name: db}\nspec:\n  requiredKeys: [username, password, password]\n  initialValue: {placeholderKeys: [username]}\n",
            ),
        ],
        errors: &[
            "a.yaml:5:3: Secret app: spec.requiredKeys: must not be empty (leave it out instead)",
            "a.yaml:7:29: Secret app: spec.initialValue.placeholderKeys[2]: duplicate key \"A\" (also at index 0)",
            "a.yaml:7:32: Secret app: spec.initialValue.placeholderKeys[3]: must not be empty",
            "b.yaml:5:28: Secret db: spec.requiredKeys[1]: \"password\" is missing from initialValue.placeholderKeys, so a new secret would lack it",
            "b.yaml:5:38: Secret db: spec.requiredKeys[2]: duplicate key \"password\" (also at index 1)",
            "b.yaml:5:38: Secret db: spec.requiredKeys[2]: \"password\" is missing from initialValue.placeholderKeys, so a new secret would lack it",
        ],
    },
    Case {
        name: "a recovery window Secrets Manager refuses",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Secret\nmetadata: {name: app}\nspec:\n  recoveryWindowDays: 3\n",
        )],
        errors: &["a.yaml:5:3: Secret app: spec.recoveryWindowDays: 3 is not allowed: use 0 (delete at once) or 7 to 30 days"],
    },
    Case {
        name: "a secret name with a space",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Secret\nmetadata: {name: db credentials}\nspec: {}\n",
        )],
        errors: &["a.yaml:3:12: Secret db credentials: metadata.name: invalid character ' ' (allowed: letters, digits and /_+=.@-)"],
    },
    // ---------------------------------------------------------- EcsService
    Case {
        name: "a count and a range together, and neither",
        files: &[
            (
                "a.yaml",
                "apiVersion: driftd/v1\nkind: EcsService\nmetadata: {name: app}\nspec:\n  cluster: dev\n  desiredCount: 1\n  maxCount: 4\n",
            ),
            ("b.yaml", "apiVersion: driftd/v1\nkind: EcsService\nmetadata: {name: worker}\nspec: {cluster: dev}\n"),
        ],
        errors: &[
            "a.yaml:6:3: EcsService app: spec.desiredCount: set either desiredCount or a range (minCount/maxCount), not both",
            "b.yaml:4:1: EcsService worker: spec.desiredCount: one of desiredCount or a range (minCount and/or maxCount) is required",
        ],
    },
    Case {
        name: "an inverted and a negative range",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: EcsService\nmetadata: {name: app}\nspec:\n  cluster: dev\n  minCount: -1\n  maxCount: -2\n",
        )],
        errors: &[
            "a.yaml:6:3: EcsService app: spec.minCount: -1 is negative",
            "a.yaml:6:3: EcsService app: spec.minCount: minCount -1 is greater than maxCount -2",
            "a.yaml:7:3: EcsService app: spec.maxCount: -2 is negative",
        ],
    },
    Case {
        name: "a count field in the wrong case",
        files: &[(
            "a.yaml",
            "apiVersion: driftd/v1\nkind: EcsService\nmetadata: {name: app}\nspec:\n  cluster: dev\n  desiredcount: 1\n",
        )],
        errors: &["a.yaml:6:3: EcsService app: spec.desiredcount: unknown field (did you mean desiredCount?)"],
    },
    Case {
        name: "a count out of range and a cluster name ECS refuses",
        files: &[
            (
                "a.yaml",
                "apiVersion: driftd/v1\nkind: EcsService\nmetadata: {name: app}\nspec:\n  cluster: dev\n  desiredCount: 3000000000\n",
            ),
            (
                "b.yaml",
                "apiVersion: driftd/v1\nkind: EcsService\nmetadata: {name: app/worker}\nspec:\n  cluster: tiktimer dev\n  service: ''\n  desiredCount: 1\n",
            ),
        ],
        errors: &[
            "a.yaml:6:3: EcsService app: spec.desiredCount: 3000000000 is out of range",
            "b.yaml:3:12: EcsService app/worker: metadata.name: invalid character '/' (allowed: letters, digits, - and _)",
            "b.yaml:5:3: EcsService app/worker: spec.cluster: invalid character ' ' (allowed: letters, digits, - and _)",
            "b.yaml:6:3: EcsService app/worker: spec.service: must not be empty (leave it out to use metadata.name)",
        ],
    },
];

#[test]
fn every_bad_document_reports_its_exact_errors() {
    assert!(BAD.len() >= 30, "the corpus has {} cases", BAD.len());
    let mut failures = Vec::new();
    for case in BAD {
        let dir = Dir::new(case.files);
        let got = dir.errors();
        if got != case.errors {
            failures.push(format!(
                "case {:?}\n  expected:\n    {}\n  got:\n    {}",
                case.name,
                case.errors.join("\n    "),
                got.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

const GOOD_ALARMS: &str = "\
# Alarms in a .yml file, one per document.
apiVersion: driftd/v1
kind: Alarm
metadata:
  name: app-cpu-high
  mode: observe
spec:
  description: ECS CPU above 85% for 5 minutes
  namespace: AWS/ECS
  metricName: CPUUtilization
  dimensions: {ClusterName: dev, ServiceName: app}
  statistic: Average
  unit: Percent
  period: 300
  evaluationPeriods: 1
  datapointsToAlarm: 1
  threshold: 85
  comparisonOperator: GreaterThanThreshold
  treatMissingData: notBreaching
  alarmActions: [topic:alerts, 'arn:aws:sns:us-east-1:123456789012:pager']
  okActions: [topic:alerts]
  tags: {team: platform}
---
apiVersion: driftd/v1
kind: Alarm
metadata: {name: alb-p99-latency}
spec:
  namespace: AWS/ApplicationELB
  metricName: TargetResponseTime
  dimensions: {LoadBalancer: app/dev-alb/0123456789abcdef}
  extendedStatistic: p99.9
  period: 60
  evaluationPeriods: 3
  threshold: 2
  comparisonOperator: GreaterThanThreshold
---
apiVersion: driftd/v1
kind: Alarm
metadata: {name: alb-5xx-ratio}
spec:
  evaluationPeriods: 3
  threshold: 5
  comparisonOperator: GreaterThanThreshold
  metrics:
    - id: ratio
      expression: 100 * errors / requests
      label: 5xx %
    - id: errors
      returnData: false
      metricStat:
        namespace: AWS/ApplicationELB
        metricName: HTTPCode_Target_5XX_Count
        dimensions: {LoadBalancer: app/dev-alb/0123456789abcdef}
        period: 60
        stat: Sum
    - id: requests
      returnData: false
      metricStat: {namespace: AWS/ApplicationELB, metricName: RequestCount, period: 60, stat: Sum}
";

const GOOD_TOPIC: &str = r#"apiVersion: driftd/v1
kind: Topic
metadata: {name: alerts}
spec:
  displayName: Alerts
  kmsMasterKeyId: alias/aws/sns
  policy: '{"Version": "2012-10-17", "Statement": []}'
  subscriptions:
    - {protocol: email, endpoint: ops@example.com}
    - {protocol: sqs, endpoint: 'arn:aws:sqs:us-east-1:123456789012:archive'}
    - {protocol: https, endpoint: 'https://hooks.example.com/alerts'}
    - {protocol: sms, endpoint: '+15555550100'}
"#;

const GOOD_DASHBOARDS: &str = "\
apiVersion: driftd/v1
kind: Dashboard
metadata: {name: from-file}
spec:
  bodyFile: json/main.json
---
apiVersion: driftd/v1
kind: Dashboard
metadata: {name: inline}
spec:
  body:
    widgets:
      - {type: text, x: 0, y: 0, width: 6, height: 2, properties: {markdown: '# dev'}}
";

const GOOD_SECRETS: &str = "\
apiVersion: driftd/v1
kind: Secret
metadata: {name: /dev/app}
spec:
  description: App secrets
  valuePolicy: enforce
  initialValue: {fromFile: secrets/app.json}
  requiredKeys: [SECRET_KEY]
  recoveryWindowDays: 7
---
apiVersion: driftd/v1
kind: Secret
metadata: {name: /dev/env}
spec:
  initialValue: {fromEnv: DRIFTD_TEST_SURELY_UNSET_VARIABLE}
  valuePolicy: enforce
---
apiVersion: driftd/v1
kind: Secret
metadata: {name: /dev/token}
spec:
  initialValue: {generate: {length: 48, excludePunctuation: true}}
  recoveryWindowDays: 0
---
apiVersion: driftd/v1
kind: Secret
metadata: {name: /dev/db}
spec:
  initialValue: {placeholderKeys: [username, password]}
  requiredKeys: [username, password]
";

const GOOD_SERVICES: &str = "\
apiVersion: driftd/v1
kind: EcsService
metadata: {name: worker}
spec: {cluster: dev, desiredCount: 0}
---
apiVersion: driftd/v1
kind: EcsService
metadata: {name: app}
spec: {cluster: 'arn:aws:ecs:us-east-1:123456789012:cluster/dev', service: dev-app, minCount: 1, maxCount: 4}
";

#[test]
fn good_documents_of_every_kind_load_with_what_the_loader_derives() {
    let body = r#"{"widgets": [{"type": "metric", "x": 0, "y": 0, "width": 12, "height": 6,
        "properties": {"metrics": [["AWS/ECS", "CPUUtilization"]], "region": "us-east-1"}}]}"#;
    let dir = Dir::new(&[
        ("alarms.yml", GOOD_ALARMS),
        ("topics.yaml", GOOD_TOPIC),
        ("dashboards/main.yaml", GOOD_DASHBOARDS),
        ("dashboards/json/main.json", body),
        ("secrets.yaml", GOOD_SECRETS),
        (
            "secrets/app.json",
            r#"{"SECRET_KEY": "not read by the loader"}"#,
        ),
        ("services.yaml", GOOD_SERVICES),
    ]);
    let state = dir.state();

    // Sorted file order, document order within a file.
    let names: Vec<String> = state
        .resources
        .iter()
        .map(|r| format!("{} {}", r.kind(), r.name))
        .collect();
    assert_eq!(
        names,
        [
            "Alarm app-cpu-high",
            "Alarm alb-p99-latency",
            "Alarm alb-5xx-ratio",
            "Dashboard from-file",
            "Dashboard inline",
            "Secret /dev/app",
            "Secret /dev/env",
            "Secret /dev/token",
            "Secret /dev/db",
            "EcsService worker",
            "EcsService app",
            "Topic alerts",
        ]
    );

    let cpu = state.get(Kind::Alarm, "app-cpu-high").expect("the alarm");
    assert_eq!(cpu.mode, Some(Mode::Observe));
    assert_eq!(cpu.origin.file, dir.path().join("alarms.yml"));
    assert_eq!((cpu.origin.line, cpu.origin.column), (2, 1));
    let Spec::Alarm(spec) = &cpu.spec else {
        panic!("an alarm spec")
    };
    assert_eq!(spec.statistic, Some(alarm::Statistic::Average));
    assert_eq!(
        spec.treat_missing_data,
        Some(alarm::TreatMissingData::NotBreaching)
    );
    assert_eq!(
        spec.alarm_actions,
        ["topic:alerts", "arn:aws:sns:us-east-1:123456789012:pager"]
    );
    let math = state.get(Kind::Alarm, "alb-5xx-ratio").expect("the alarm");
    assert_eq!((math.origin.line, math.origin.column), (37, 1));
    let Spec::Alarm(math) = &math.spec else {
        panic!("an alarm spec")
    };
    assert_eq!(math.metrics.as_ref().map(Vec::len), Some(3));

    // A policy written as a JSON string is stored as its value.
    let Some(Spec::Topic(topic)) = state.get(Kind::Topic, "alerts").map(|r| &r.spec) else {
        panic!("the topic")
    };
    assert_eq!(
        topic.policy,
        Some(serde_json::json!({"Version": "2012-10-17", "Statement": []}))
    );
    assert_eq!(
        topic.subscriptions[0],
        topic::Subscription {
            protocol: "email".to_string(),
            endpoint: "ops@example.com".to_string()
        }
    );

    // bodyFile is read relative to its YAML file, parsed, stored as the body.
    let Some(Spec::Dashboard(board)) = state.get(Kind::Dashboard, "from-file").map(|r| &r.spec)
    else {
        panic!("the dashboard")
    };
    let expected: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(board.body(), &expected);
    assert_eq!(board.body_file.as_deref(), Some("json/main.json"));
    let Some(Spec::Dashboard(inline)) = state.get(Kind::Dashboard, "inline").map(|r| &r.spec)
    else {
        panic!("the dashboard")
    };
    assert_eq!(
        inline.body()["widgets"][0]["properties"]["markdown"],
        "# dev"
    );

    // fromFile is resolved against the YAML file, links and all, and checked
    // to be a regular file inside the directory, but not read; fromEnv is
    // not read either.
    let Some(Spec::Secret(app)) = state.get(Kind::Secret, "/dev/app").map(|r| &r.spec) else {
        panic!("the secret")
    };
    let from_file = app.initial_value.as_ref().and_then(|v| v.from_file.clone());
    assert_eq!(
        from_file.map(std::path::PathBuf::from),
        Some(
            fs::canonicalize(dir.path())
                .unwrap()
                .join("secrets/app.json")
        )
    );
    assert_eq!(app.value_policy, secret::ValuePolicy::Enforce);
    assert_eq!(app.recovery_window_days, Some(7));

    // The service defaults to metadata.name.
    let Some(Spec::EcsService(worker)) = state.get(Kind::EcsService, "worker").map(|r| &r.spec)
    else {
        panic!("the service")
    };
    assert_eq!(
        worker,
        &ecs_service::Spec {
            cluster: "dev".to_string(),
            service: Some("worker".to_string()),
            desired_count: Some(0),
            min_count: None,
            max_count: None,
        }
    );
    let Some(Spec::EcsService(app)) = state.get(Kind::EcsService, "app").map(|r| &r.spec) else {
        panic!("the service")
    };
    assert_eq!(app.service.as_deref(), Some("dev-app"));
    assert_eq!((app.min_count, app.max_count), (Some(1), Some(4)));
}

#[test]
fn anomaly_band_and_low_sample_count_alarms_load() {
    let dir = Dir::new(&[("a.yaml", "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: band}\nspec:\n  metrics:\n    - {id: m1, metricStat: {namespace: AWS/ECS, metricName: CPUUtilization, period: 60, stat: Average}}\n    - {id: ad1, expression: \"ANOMALY_DETECTION_BAND(m1, 2)\"}\n  evaluationPeriods: 1\n  thresholdMetricId: ad1\n  comparisonOperator: LessThanLowerOrGreaterThanUpperThreshold\n---\napiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: p99}\nspec:\n  namespace: AWS/ApplicationELB\n  metricName: TargetResponseTime\n  extendedStatistic: p99\n  period: 60\n  evaluationPeriods: 1\n  threshold: 1\n  comparisonOperator: GreaterThanThreshold\n  evaluateLowSampleCountPercentile: ignore\n")]);
    let state = dir.state();
    let spec = |name: &str| match &state
        .resources
        .iter()
        .find(|r| r.name == name)
        .expect(name)
        .spec
    {
        Spec::Alarm(spec) => spec.clone(),
        other => panic!("{other:?}"),
    };
    let band = spec("band");
    assert_eq!(
        (band.threshold, band.threshold_metric_id.as_deref()),
        (None, Some("ad1"))
    );
    assert_eq!(
        spec("p99").evaluate_low_sample_count_percentile,
        Some(crate::kinds::alarm::LowSampleCount::Ignore)
    );
}

#[test]
fn multi_document_files_skip_empty_documents() {
    let text = "\
# a comment before the first document
---
---
# a document of comments only
---
apiVersion: driftd/v1
kind: EcsService
metadata: {name: a}
spec: {cluster: dev, desiredCount: 1}
---
~
---
apiVersion: driftd/v1
kind: EcsService
metadata: {name: b}
spec: {cluster: dev, desiredCount: 2}
...
---
apiVersion: driftd/v1
kind: EcsService
metadata: {name: c}
spec: {cluster: dev, minCount: 1}
";
    let dir = Dir::new(&[
        ("services.yaml", text),
        ("empty.yaml", ""),
        ("comments.yaml", "# nothing yet\n"),
    ]);
    let state = dir.state();
    let found: Vec<(&str, usize)> = state
        .resources
        .iter()
        .map(|r| (r.name.as_str(), r.origin.line))
        .collect();
    assert_eq!(found, [("a", 6), ("b", 13), ("c", 19)]);
}

#[test]
fn an_error_in_a_later_document_is_located_in_the_whole_file() {
    let text = "\
apiVersion: driftd/v1
kind: EcsService
metadata: {name: a}
spec: {cluster: dev, desiredCount: 1}
---

apiVersion: driftd/v1
kind: EcsService
metadata: {name: b}
spec: {cluster: dev, desiredCount: 2, maxcount: 3}
";
    let dir = Dir::new(&[("services.yaml", text)]);
    assert_eq!(
        dir.errors(),
        ["services.yaml:10:39: EcsService b: spec.maxcount: unknown field (did you mean maxCount?)"]
    );
}

#[test]
fn hidden_files_directories_and_other_extensions_are_skipped() {
    let broken = "this: is: not: valid: yaml\n";
    let dir = Dir::new(&[
        ("topics.yaml", TOPIC),
        (".hidden.yaml", broken),
        (".git/config.yaml", broken),
        ("sub/.cache/x.yml", broken),
        ("README.md", broken),
        ("topics.yaml.bak", broken),
        ("notes.txt", broken),
    ]);
    let state = dir.state();
    assert_eq!(state.resources.len(), 1);
    assert_eq!(state.of_kind(Kind::Topic).count(), 1);
}

#[cfg(unix)]
#[test]
fn symlinked_files_are_followed_as_in_a_configmap_mount() {
    // Kubernetes mounts a ConfigMap as `name -> ..data/name`, `..data -> ..2024_x`.
    let dir = Dir::new(&[("..2024_01_01/topics.yaml", TOPIC)]);
    std::os::unix::fs::symlink("..2024_01_01", dir.path().join("..data")).expect("symlink");
    std::os::unix::fs::symlink("..data/topics.yaml", dir.path().join("topics.yaml"))
        .expect("symlink");
    // A directory link back to the root is visited once.
    std::os::unix::fs::symlink(".", dir.path().join("loop")).expect("symlink");
    let state = dir.state();
    let names: Vec<&str> = state.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["alerts"]);
}

#[test]
fn duplicates_across_two_files_name_both_places() {
    let alarm = |threshold: u32| {
        format!(
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata:\n  name: cpu-high\nspec:\n  namespace: AWS/ECS\n  metricName: CPUUtilization\n  statistic: Average\n  period: 60\n  evaluationPeriods: 1\n  threshold: {threshold}\n  comparisonOperator: GreaterThanThreshold\n"
        )
    };
    let first = alarm(80);
    let second = format!("# copied by mistake\n{}", alarm(90));
    let dir = Dir::new(&[("a/alarms.yaml", &first), ("b/alarms.yaml", &second)]);
    assert_eq!(
        dir.errors(),
        ["b/alarms.yaml:5:3: Alarm cpu-high: metadata.name: Alarm cpu-high declared twice, first at a/alarms.yaml:4:3"]
    );
    // The same name in two kinds is no duplicate.
    let dir = Dir::new(&[
        ("a.yaml", TOPIC),
        (
            "b.yaml",
            "apiVersion: driftd/v1\nkind: Secret\nmetadata: {name: alerts}\nspec: {}\n",
        ),
    ]);
    assert_eq!(dir.state().resources.len(), 2);
}

#[test]
fn every_problem_of_a_load_is_reported_together() {
    let dir = Dir::new(&[
        // A syntax error stops its own file after the documents before it.
        (
            "a.yaml",
            "apiVersion: driftd/v1\nkind: Topic\nmetadata: {name: ok}\nspec: {sbuscriptions: []}\n---\nkind: [\n",
        ),
        // Each document of a file is checked.
        (
            "b.yaml",
            "apiVersion: driftd/v1\nkind: EcsService\nmetadata: {name: x}\nspec: {cluster: dev}\n---\napiVersion: driftd/v1\nkind: Secret\nmetadata: {name: y}\nspec: {recoveryWindowDays: 1, initialValue: {fromEnv: ''}}\n",
        ),
        // A reference to a topic whose own document is broken is no extra error.
        (
            "c.yaml",
            "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {name: z}\nspec:\n  namespace: AWS/ECS\n  metricName: CPUUtilization\n  statistic: Average\n  period: 60\n  evaluationPeriods: 1\n  threshold: 1\n  comparisonOperator: GreaterThanThreshold\n  alarmActions: [topic:ok, topic:missing]\n",
        ),
    ]);
    assert_eq!(
        dir.errors(),
        [
            "a.yaml:4:8: Topic ok: spec.sbuscriptions: unknown field (did you mean subscriptions?)",
            "a.yaml:7:1: invalid YAML: did not find expected node content, while parsing a flow node",
            "b.yaml:4:1: EcsService x: spec.desiredCount: one of desiredCount or a range (minCount and/or maxCount) is required",
            "b.yaml:9:8: Secret y: spec.recoveryWindowDays: 1 is not allowed: use 0 (delete at once) or 7 to 30 days",
            "b.yaml:9:46: Secret y: spec.initialValue.fromEnv: \"\" is not an environment variable name",
            "c.yaml:12:28: Alarm z: spec.alarmActions[1]: no Topic named \"missing\" is declared",
        ]
    );
}

#[test]
fn yaml_merge_keys_share_settings_between_documents() {
    let text = "\
apiVersion: driftd/v1
kind: Alarm
metadata: {name: cpu}
spec: &ecs
  namespace: AWS/ECS
  metricName: CPUUtilization
  statistic: Average
  period: 300
  evaluationPeriods: 1
  threshold: 85
  comparisonOperator: GreaterThanThreshold
  dimensions: {ClusterName: dev, ServiceName: app}
---
apiVersion: driftd/v1
kind: Alarm
metadata: {name: memory}
spec:
  <<: *ecs
  metricName: MemoryUtilization
";
    // Anchors do not cross documents in YAML: the second document must fail.
    let dir = Dir::new(&[("a.yaml", text)]);
    let errors = dir.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("a.yaml:18:7: invalid YAML: unknown anchor"),
        "{errors:?}"
    );

    let text = "\
apiVersion: driftd/v1
kind: Alarm
metadata: {name: memory}
spec:
  <<: &ecs {namespace: AWS/ECS, statistic: Average, period: 300, evaluationPeriods: 1,
            comparisonOperator: GreaterThanThreshold}
  metricName: MemoryUtilization
  threshold: 85
";
    let dir = Dir::new(&[("a.yaml", text)]);
    let state = dir.state();
    let Spec::Alarm(spec) = &state.resources[0].spec else {
        panic!("an alarm")
    };
    assert_eq!(spec.namespace.as_deref(), Some("AWS/ECS"));
    assert_eq!(spec.metric_name.as_deref(), Some("MemoryUtilization"));
    assert_eq!(spec.period, Some(300));
}

#[test]
fn an_empty_directory_is_an_empty_state_and_a_missing_one_an_error() {
    let dir = Dir::new(&[]);
    assert_eq!(dir.state(), DesiredState::default());

    let missing = dir.path().join("nope");
    let errors = load(&missing).expect_err("a missing directory");
    assert_eq!(errors.0.len(), 1);
    assert_eq!(
        errors.0[0].to_string(),
        format!(
            "{}: cannot read directory: No such file or directory (os error 2)",
            missing.display()
        )
    );
}

#[test]
fn a_dashboard_body_file_is_relative_to_its_yaml_file() {
    let dir = Dir::new(&[
        ("dev/boards.yaml", "apiVersion: driftd/v1\nkind: Dashboard\nmetadata: {name: main}\nspec: {bodyFile: ../shared/main.json}\n"),
        ("shared/main.json", "{\"widgets\": []}"),
    ]);
    let state = dir.state();
    let Spec::Dashboard(board) = &state.resources[0].spec else {
        panic!("a dashboard")
    };
    assert_eq!(board.body(), &serde_json::json!({"widgets": []}));
}

#[test]
fn load_errors_render_what_is_known() {
    let error = LoadError::test(
        "desired-state/alarms.yaml",
        (14, 5),
        "Alarm tiktimer-dev-ecs-cpu-high",
        "spec.threshhold",
        "unknown field (did you mean threshold?)",
    );
    assert_eq!(
        error.to_string(),
        "desired-state/alarms.yaml:14:5: Alarm tiktimer-dev-ecs-cpu-high: spec.threshhold: unknown field (did you mean threshold?)"
    );
    let bare = LoadError {
        line: None,
        column: None,
        resource: None,
        field: None,
        message: "cannot read file".to_string(),
        ..error.clone()
    };
    assert_eq!(
        bare.to_string(),
        "desired-state/alarms.yaml: cannot read file"
    );
    assert_eq!(
        LoadErrors(vec![bare.clone(), bare]).to_string(),
        "desired-state/alarms.yaml: cannot read file\ndesired-state/alarms.yaml: cannot read file"
    );
}

#[test]
fn suggestions_only_for_close_words() {
    let fields = ["threshold", "period", "statistic", "unit"];
    assert_eq!(suggest("threshhold", fields.into_iter()), Some("threshold"));
    assert_eq!(suggest("Threshold", fields.into_iter()), Some("threshold"));
    assert_eq!(suggest("peroid", fields.into_iter()), Some("period"));
    assert_eq!(suggest("units", fields.into_iter()), Some("unit"));
    assert_eq!(suggest("colour", fields.into_iter()), None);
    assert_eq!(suggest("x", fields.into_iter()), None);
}

#[test]
fn dashboard_spec_type_is_the_kinds_own() {
    // The loader fills `body` from `bodyFile`; a spec built by hand keeps None.
    let spec = dashboard::Spec {
        body: None,
        body_file: None,
        notice: false,
    };
    assert_eq!(spec.body(), &serde_json::Value::Null);
}

/// The example desired state shipped in `desired-state/`.
fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("desired-state")
}

#[test]
fn the_example_desired_state_loads() {
    let state = match load(&example_dir()) {
        Ok(state) => state,
        Err(errors) => panic!("the example must be valid:\n{errors}"),
    };
    let count = |kind| state.of_kind(kind).count();
    assert_eq!(count(Kind::Topic), 1);
    assert_eq!(count(Kind::Alarm), 9);
    assert_eq!(count(Kind::Dashboard), 1);
    assert_eq!(count(Kind::Secret), 2);
    assert_eq!(count(Kind::EcsService), 2);
    assert_eq!(state.resources.len(), 15);

    assert!(state.get(Kind::Topic, "tiktimer-dev-alerts").is_some());
    for alarm in state.of_kind(Kind::Alarm) {
        let Spec::Alarm(spec) = &alarm.spec else {
            panic!("an alarm spec")
        };
        assert_eq!(
            spec.alarm_actions,
            ["topic:tiktimer-dev-alerts"],
            "{}",
            alarm.name
        );
    }
    let Some(Spec::Alarm(p99)) = state
        .get(Kind::Alarm, "tiktimer-dev-alb-p99-latency-high")
        .map(|r| &r.spec)
    else {
        panic!("the latency alarm")
    };
    assert_eq!(p99.extended_statistic.as_deref(), Some("p99"));
    let Some(Spec::Alarm(tasks)) = state
        .get(Kind::Alarm, "tiktimer-dev-ecs-no-running-tasks")
        .map(|r| &r.spec)
    else {
        panic!("the running tasks alarm")
    };
    assert_eq!(
        tasks.treat_missing_data,
        Some(alarm::TreatMissingData::Breaching)
    );

    let Some(Spec::Secret(db)) = state
        .get(Kind::Secret, "/tiktimer/dev/db-credentials")
        .map(|r| &r.spec)
    else {
        panic!("the database secret")
    };
    let keys = ["username", "password", "host", "port", "dbname", "url"];
    assert_eq!(db.required_keys, keys);
    assert_eq!(
        db.initial_value
            .as_ref()
            .and_then(|v| v.placeholder_keys.clone()),
        Some(keys.map(String::from).to_vec())
    );

    let Some(Spec::EcsService(worker)) = state
        .get(Kind::EcsService, "tiktimer-dev-worker")
        .map(|r| &r.spec)
    else {
        panic!("the worker")
    };
    assert_eq!(worker.cluster, "tiktimer-dev");
    assert_eq!(worker.service.as_deref(), Some("tiktimer-dev-worker"));
    assert_eq!(worker.desired_count, Some(0));
    let Some(Spec::EcsService(app)) = state
        .get(Kind::EcsService, "tiktimer-dev-app")
        .map(|r| &r.spec)
    else {
        panic!("the app")
    };
    assert_eq!((app.min_count, app.max_count), (Some(1), Some(4)));

    let Some(Spec::Dashboard(board)) = state.get(Kind::Dashboard, "tiktimer-dev").map(|r| &r.spec)
    else {
        panic!("the dashboard")
    };
    let widgets = board.body()["widgets"].as_array().expect("widgets");
    assert_eq!(widgets.len(), 11);
}

#[test]
fn a_typo_in_the_example_reports_the_contracts_line() {
    // The contract's own example: a typo on line 14 of desired-state/alarms.yaml.
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let copy = tmp.path().join("desired-state");
    fs::create_dir(&copy).expect("create the copy");
    for entry in fs::read_dir(example_dir()).expect("the example") {
        let entry = entry.expect("an entry");
        let mut text = fs::read_to_string(entry.path()).expect("a file");
        if entry.file_name() == "alarms.yaml" {
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines[13], "    threshold: 85");
            text = text.replacen("    threshold: 85", "    threshhold: 85", 1);
        }
        fs::write(copy.join(entry.file_name()), text).expect("write the copy");
    }
    let errors = load(&copy).expect_err("the typo");
    let prefix = format!("{}/", tmp.path().display());
    let lines: Vec<String> = errors
        .0
        .iter()
        .map(|e| e.to_string().replace(&prefix, ""))
        .collect();
    assert_eq!(
        lines,
        ["desired-state/alarms.yaml:14:5: Alarm tiktimer-dev-ecs-cpu-high: spec.threshhold: unknown field (did you mean threshold?)"]
    );
}

#[cfg(unix)]
#[test]
fn a_dangling_link_to_yaml_is_an_error_and_other_files_still_load() {
    let dir = Dir::new(&[("topics.yaml", TOPIC)]);
    std::os::unix::fs::symlink("gone.yaml", dir.path().join("alarms.yaml")).expect("symlink");
    std::os::unix::fs::symlink("gone", dir.path().join("notes")).expect("symlink");
    assert_eq!(
        dir.errors(),
        ["alarms.yaml: cannot read: No such file or directory (os error 2)"]
    );
}

#[test]
fn aws_length_and_count_limits() {
    let dimensions: Vec<String> = (0..31).map(|i| format!("D{i}: v")).collect();
    let alarm = format!(
        "apiVersion: driftd/v1\nkind: Alarm\nmetadata: {{name: {name}}}\nspec:\n  description: {description}\n  namespace: Custom\n  metricName: m\n  dimensions: {{{dims}}}\n  statistic: Sum\n  period: 60\n  evaluationPeriods: 1\n  threshold: 1\n  comparisonOperator: GreaterThanThreshold\n",
        name = "a".repeat(256),
        description = "d".repeat(1025),
        dims = dimensions.join(", "),
    );
    let topic = format!(
        "apiVersion: driftd/v1\nkind: Topic\nmetadata: {{name: t}}\nspec: {{displayName: {}}}\n",
        "n".repeat(101)
    );
    let dir = Dir::new(&[("a.yaml", &alarm), ("b.yaml", &topic)]);
    let long_name = "a".repeat(256);
    assert_eq!(
        dir.errors(),
        [
            format!("a.yaml:3:12: Alarm {long_name}: metadata.name: too long: 256 characters (at most 255)"),
            format!("a.yaml:5:3: Alarm {long_name}: spec.description: too long: 1025 characters (at most 1024)"),
            format!("a.yaml:8:3: Alarm {long_name}: spec.dimensions: too many dimensions: 31 (at most 30)"),
            "b.yaml:4:8: Topic t: spec.displayName: too long: 101 characters (at most 100)".to_string(),
        ]
    );
}

mod environments;
mod fuzz;
mod hostile;
