//! The rules a typed spec must follow beyond its shape: the contract's
//! cross-field rules and AWS's own limits, each problem with its field path.
//! Validation also fills in what the loader derives (defaults, files).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::Hash;
use std::path::Path;

use crate::kinds::alarm::{self, ComparisonOperator, MetricQuery};
use crate::kinds::{dashboard, ecs_service, secret, topic, Kind, Tags, OWNER_TAG};

use crate::files::{self, FileError};

use super::position::{DocIndex, FieldPath};
use super::{quote, suggest};

/// One problem of a document, before it is located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub path: FieldPath,
    pub message: String,
}

/// The problems of one document, in the order they were found.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub Vec<Problem>);

impl Problems {
    pub(crate) fn add(&mut self, path: FieldPath, message: impl Into<String>) {
        self.0.push(Problem {
            path,
            message: message.into(),
        });
    }
}

/// What validation may look at besides the spec.
pub(crate) struct Cx<'a> {
    /// The YAML file, for paths written relative to it.
    pub yaml_file: &'a Path,
    /// The desired-state directory, canonical: files a document points at
    /// must lie inside it.
    pub root: &'a Path,
    /// The document's positions: tells an empty list from an absent one.
    pub index: Option<&'a DocIndex>,
}

impl Cx<'_> {
    fn relative(&self, path: &str) -> std::path::PathBuf {
        match self.yaml_file.parent() {
            Some(dir) => dir.join(path),
            None => Path::new(path).to_path_buf(),
        }
    }

    /// The file a document names (relative to its YAML file), resolved and
    /// confined to the desired-state directory.
    fn inside(&self, path: &str) -> Result<std::path::PathBuf, String> {
        let joined = self.relative(path);
        files::confine(self.root, &joined).map_err(|e| match e {
            FileError::Io(reason) => format!("cannot read {}: {reason}", quote(path)),
            other => format!("{}: {other}", quote(path)),
        })
    }

    fn written(&self, path: &FieldPath) -> bool {
        self.index.is_some_and(|index| index.contains(path))
    }
}

/// A spec's rules; `name` is `metadata.name`.
pub(crate) trait Validate {
    fn validate(&mut self, name: &str, cx: &Cx<'_>, problems: &mut Problems);
}

fn spec_path() -> FieldPath {
    FieldPath::root().key("spec")
}

// ---------------------------------------------------------------- names

/// `metadata.name` must be a valid AWS name for the kind.
pub(crate) fn check_name(kind: Kind, name: &str, problems: &mut Problems) {
    let path = FieldPath::root().key("metadata").key("name");
    if name.is_empty() {
        problems.add(path, "must not be empty");
        return;
    }
    let rule = match kind {
        Kind::Alarm => check_text(name, 255),
        Kind::Dashboard => check_charset(name, 255, "letters, digits, - and _", |c| {
            c.is_ascii_alphanumeric() || c == '-' || c == '_'
        }),
        Kind::Topic => {
            if name.ends_with(".fifo") {
                Err("FIFO topics are not supported".to_string())
            } else {
                check_charset(name, 256, "letters, digits, - and _", |c| {
                    c.is_ascii_alphanumeric() || c == '-' || c == '_'
                })
            }
        }
        Kind::Secret => check_charset(name, 512, "letters, digits and /_+=.@-", |c| {
            c.is_ascii_alphanumeric() || "/_+=.@-".contains(c)
        }),
        Kind::EcsService => check_ecs_name(name),
    };
    if let Err(message) = rule {
        problems.add(path, message);
    }
}

/// Free text of at most `max` characters without control characters.
fn check_text(value: &str, max: usize) -> Result<(), String> {
    let len = value.chars().count();
    if len > max {
        return Err(format!("too long: {len} characters (at most {max})"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".to_string());
    }
    Ok(())
}

fn check_charset(
    value: &str,
    max: usize,
    allowed: &str,
    ok: impl Fn(char) -> bool,
) -> Result<(), String> {
    let len = value.chars().count();
    if len > max {
        return Err(format!("too long: {len} characters (at most {max})"));
    }
    match value.chars().find(|c| !ok(*c)) {
        Some(c) => Err(format!("invalid character {c:?} (allowed: {allowed})")),
        None => Ok(()),
    }
}

/// An ECS cluster or service: a name (letters, digits, `-`, `_`, at most 255) or an ARN.
fn check_ecs_name(value: &str) -> Result<(), String> {
    if value.starts_with("arn:") {
        return check_arn(value);
    }
    check_charset(value, 255, "letters, digits, - and _", |c| {
        c.is_ascii_alphanumeric() || c == '-' || c == '_'
    })
}

/// `arn:partition:service:region:account:resource`.
fn check_arn(value: &str) -> Result<(), String> {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let well_formed = parts.len() == 6
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && !parts[2].is_empty()
        && !parts[5].is_empty();
    if !well_formed {
        return Err(format!(
            "{value:?} is not an ARN (arn:partition:service:region:account:resource)"
        ));
    }
    if value.len() > 1024 {
        return Err("too long: an ARN has at most 1024 characters".to_string());
    }
    Ok(())
}

fn check_non_empty(problems: &mut Problems, path: FieldPath, value: &str, max: usize) {
    if value.is_empty() {
        problems.add(path, "must not be empty");
    } else if let Err(message) = check_text(value, max) {
        problems.add(path, message);
    }
}

fn check_optional_text(problems: &mut Problems, path: FieldPath, value: Option<&str>, max: usize) {
    if let Some(value) = value {
        check_non_empty(problems, path, value, max);
    }
}

/// Tags as AWS accepts them, without the owner tag that driftd sets itself.
fn check_tags(problems: &mut Problems, path: FieldPath, tags: &Tags) {
    if tags.len() > 50 {
        problems.add(
            path.clone(),
            format!("too many tags: {} (at most 50)", tags.len()),
        );
    }
    for (key, value) in tags {
        let at = path.key(key);
        if key == OWNER_TAG {
            problems.add(
                at,
                "set by driftd itself (--owner); remove it from the spec",
            );
        } else if key.to_ascii_lowercase().starts_with("aws:") {
            problems.add(at, "the aws: prefix is reserved for AWS");
        } else if key.is_empty() || key.chars().count() > 128 {
            problems.add(at, "a tag key has 1 to 128 characters");
        } else if value.chars().count() > 256 {
            problems.add(at, "a tag value has at most 256 characters");
        }
    }
}

/// The index where `key` was first seen, or `None` (and `index` recorded)
/// when this is its first time.
fn seen_before<K: Eq + Hash>(seen: &mut HashMap<K, usize>, key: K, index: usize) -> Option<usize> {
    match seen.entry(key) {
        Entry::Occupied(first) => Some(*first.get()),
        Entry::Vacant(slot) => {
            slot.insert(index);
            None
        }
    }
}

/// A list of strings that must be non-empty and without repeats.
fn check_key_list(problems: &mut Problems, path: FieldPath, keys: &[String]) {
    if keys.is_empty() {
        problems.add(path, "must not be empty (leave it out instead)");
        return;
    }
    let mut seen = HashMap::new();
    for (i, key) in keys.iter().enumerate() {
        if key.is_empty() {
            problems.add(path.index(i), "must not be empty");
        } else if let Some(first) = seen_before(&mut seen, key.as_str(), i) {
            problems.add(
                path.index(i),
                format!("duplicate key {key:?} (also at index {first})"),
            );
        }
    }
}

// ---------------------------------------------------------------- Alarm

/// 10, 20, 30 (high resolution) or a positive multiple of 60.
fn check_period(problems: &mut Problems, path: FieldPath, period: i32) {
    if !matches!(period, 10 | 20 | 30) && (period <= 0 || period % 60 != 0) {
        problems.add(
            path,
            format!("{period} is not a valid period: use 10, 20, 30 or a multiple of 60"),
        );
    }
}

fn check_unit(problems: &mut Problems, path: FieldPath, unit: Option<&str>) {
    if let Some(unit) = unit {
        if !alarm::UNITS.contains(&unit) {
            let hint = match suggest(unit, alarm::UNITS.iter().copied()) {
                Some(s) => format!(" (did you mean {s}?)"),
                None => String::new(),
            };
            problems.add(path, format!("unknown unit {unit:?}{hint}"));
        }
    }
}

fn check_dimensions(
    problems: &mut Problems,
    path: FieldPath,
    dimensions: &std::collections::BTreeMap<String, String>,
) {
    if dimensions.len() > 30 {
        problems.add(
            path.clone(),
            format!("too many dimensions: {} (at most 30)", dimensions.len()),
        );
    }
    for (name, value) in dimensions {
        let at = path.key(name);
        if name.is_empty() || name.chars().count() > 255 {
            problems.add(at, "a dimension name has 1 to 255 characters");
        } else if name.starts_with(':') {
            problems.add(at, "a dimension name must not start with ':'");
        } else if value.is_empty() || value.chars().count() > 1024 {
            problems.add(at, "a dimension value has 1 to 1024 characters");
        }
    }
}

/// A number from 0 to 100 with at most 10 decimals, as in `p99.9`.
fn is_percentile(text: &str) -> bool {
    let (int, frac) = match text.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || int.len() > 3 {
        return false;
    }
    if let Some(frac) = frac {
        if !digits(frac) || frac.len() > 10 {
            return false;
        }
    }
    text.parse::<f64>()
        .is_ok_and(|v| (0.0..=100.0).contains(&v))
}

/// One bound of a range statistic: `X%` (a percentile) or an absolute value.
#[derive(PartialEq)]
enum Bound {
    Empty,
    Percent,
    Absolute,
    Bad,
}

fn bound(text: &str) -> Bound {
    if text.is_empty() {
        Bound::Empty
    } else if let Some(pct) = text.strip_suffix('%') {
        if is_percentile(pct) {
            Bound::Percent
        } else {
            Bound::Bad
        }
    } else if text.parse::<f64>().is_ok_and(f64::is_finite) {
        Bound::Absolute
    } else {
        Bound::Bad
    }
}

/// CloudWatch's extended statistics: `p99`, `p99.9`, `tm90`, `wm99`, `tc90`,
/// `ts90`, `IQM`, and the ranges `TM(10%:90%)`, `TM(150:1000)`, `PR(:300)`
/// (likewise `TC`, `TS`, `WM`).
pub(crate) fn is_extended_statistic(stat: &str) -> bool {
    if stat == "IQM" {
        return true;
    }
    for prefix in ["p", "tm", "tc", "ts", "wm"] {
        if let Some(rest) = stat.strip_prefix(prefix) {
            if is_percentile(rest) {
                return true;
            }
        }
    }
    for prefix in ["TM(", "TC(", "TS(", "WM(", "PR("] {
        let Some(inner) = stat.strip_prefix(prefix).and_then(|r| r.strip_suffix(')')) else {
            continue;
        };
        let Some((lo, hi)) = inner.split_once(':') else {
            return false;
        };
        let (lo, hi) = (bound(lo), bound(hi));
        let kinds: Vec<&Bound> = [&lo, &hi]
            .into_iter()
            .filter(|b| **b != Bound::Empty)
            .collect();
        return match kinds.as_slice() {
            [] => false,
            [one] => **one != Bound::Bad && !(prefix == "PR(" && **one == Bound::Percent),
            [a, b] => a == b && **a != Bound::Bad && !(prefix == "PR(" && **a == Bound::Percent),
            _ => false,
        };
    }
    false
}

const STANDARD_STATISTICS: [&str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

/// An action: an ARN, or `topic:<name>` (checked against the Topics later).
fn check_actions(problems: &mut Problems, path: FieldPath, actions: &[String]) {
    if actions.len() > 5 {
        problems.add(
            path.clone(),
            format!("too many actions: {} (at most 5)", actions.len()),
        );
    }
    let mut seen = HashMap::new();
    for (i, action) in actions.iter().enumerate() {
        let at = path.index(i);
        if let Some(name) = action.strip_prefix("topic:") {
            if name.is_empty() {
                problems.add(at, "topic: needs a Topic name, e.g. topic:alerts");
                continue;
            }
        } else if action.starts_with("arn:") {
            if let Err(message) = check_arn(action) {
                problems.add(at, message);
                continue;
            }
        } else {
            problems.add(at, format!("{action:?} is neither an ARN nor topic:<name>"));
            continue;
        }
        if let Some(first) = seen_before(&mut seen, action.as_str(), i) {
            problems.add(at, format!("duplicate action (also at index {first})"));
        }
    }
}

impl alarm::Spec {
    /// Exactly one of `threshold` (a static threshold) and
    /// `thresholdMetricId` (the band of an `ANOMALY_DETECTION_BAND` query),
    /// each with the comparison operators CloudWatch allows for it.
    fn validate_threshold(&self, problems: &mut Problems) {
        let spec = spec_path();
        let band_operator = matches!(
            self.comparison_operator,
            ComparisonOperator::LessThanLowerOrGreaterThanUpperThreshold
                | ComparisonOperator::LessThanLowerThreshold
                | ComparisonOperator::GreaterThanUpperThreshold
        );
        match (self.threshold, &self.threshold_metric_id) {
            (Some(threshold), None) => {
                if !threshold.is_finite() {
                    problems.add(spec.key("threshold"), "must be a finite number");
                }
                if band_operator {
                    problems.add(
                        spec.key("comparisonOperator"),
                        format!(
                            "{} compares with an anomaly-detection band: give thresholdMetricId instead of threshold, or use a static threshold operator",
                            self.comparison_operator.as_str()
                        ),
                    );
                }
            }
            (None, Some(id)) => {
                let ids: Vec<&str> = self
                    .metrics
                    .iter()
                    .flatten()
                    .map(|q| q.id.as_str())
                    .collect();
                if self.metrics.is_none() {
                    problems.add(
                        spec.key("thresholdMetricId"),
                        "needs metrics: the band is one of its queries (an ANOMALY_DETECTION_BAND expression)",
                    );
                } else if !ids.contains(&id.as_str()) {
                    problems.add(
                        spec.key("thresholdMetricId"),
                        format!(
                            "names no query of metrics (ids: {})",
                            ids.join(", ")
                        ),
                    );
                }
                if !band_operator {
                    problems.add(
                        spec.key("comparisonOperator"),
                        format!(
                            "{} compares with a static threshold; with thresholdMetricId use LessThanLowerOrGreaterThanUpperThreshold, LessThanLowerThreshold or GreaterThanUpperThreshold",
                            self.comparison_operator.as_str()
                        ),
                    );
                }
            }
            (Some(_), Some(_)) => problems.add(
                spec.key("thresholdMetricId"),
                "not allowed with threshold: an alarm compares with a static threshold or a band, not both",
            ),
            (None, None) => problems.add(
                spec.key("threshold"),
                "missing required field (or thresholdMetricId, for an anomaly-detection band)",
            ),
        }
    }
}

impl Validate for alarm::Spec {
    fn validate(&mut self, _name: &str, _cx: &Cx<'_>, problems: &mut Problems) {
        let spec = spec_path();
        check_optional_text(
            problems,
            spec.key("description"),
            self.description.as_deref(),
            1024,
        );
        match &self.metrics {
            None => self.validate_simple(problems),
            Some(metrics) => {
                let forbidden = [
                    ("namespace", self.namespace.is_some()),
                    ("metricName", self.metric_name.is_some()),
                    ("dimensions", self.dimensions.is_some()),
                    ("statistic", self.statistic.is_some()),
                    ("extendedStatistic", self.extended_statistic.is_some()),
                    ("period", self.period.is_some()),
                    ("unit", self.unit.is_some()),
                ];
                for (field, set) in forbidden {
                    if set {
                        problems.add(
                            spec.key(field),
                            "not allowed with metrics (metric math): set it in metrics[].metricStat",
                        );
                    }
                }
                validate_metrics(
                    problems,
                    &spec.key("metrics"),
                    metrics,
                    self.threshold_metric_id.as_deref(),
                );
            }
        }
        if self.evaluation_periods < 1 {
            problems.add(spec.key("evaluationPeriods"), "must be at least 1");
        } else if let Some(period) = self.period.filter(|p| *p > 0) {
            // AWS: at most 7 days of evaluation, 1 day for periods under an hour.
            let total = i64::from(period) * i64::from(self.evaluation_periods);
            let limit = if period < 3600 { 86_400 } else { 604_800 };
            if total > limit {
                problems.add(
                    spec.key("evaluationPeriods"),
                    format!(
                        "period × evaluationPeriods is {total} s; CloudWatch allows at most {limit} s{}",
                        if period < 3600 { " for periods under an hour" } else { "" }
                    ),
                );
            }
        }
        if let Some(datapoints) = self.datapoints_to_alarm {
            if datapoints < 1 || datapoints > self.evaluation_periods.max(1) {
                problems.add(
                    spec.key("datapointsToAlarm"),
                    format!(
                        "must be between 1 and evaluationPeriods ({})",
                        self.evaluation_periods
                    ),
                );
            }
        }
        self.validate_threshold(problems);
        if self.evaluate_low_sample_count_percentile.is_some()
            && self.extended_statistic.is_none()
            && self.metrics.is_none()
        {
            problems.add(
                spec.key("evaluateLowSampleCountPercentile"),
                "only for percentile alarms: set extendedStatistic (e.g. p99), or use metrics",
            );
        }
        check_actions(problems, spec.key("alarmActions"), &self.alarm_actions);
        check_actions(problems, spec.key("okActions"), &self.ok_actions);
        check_actions(
            problems,
            spec.key("insufficientDataActions"),
            &self.insufficient_data_actions,
        );
        check_tags(problems, spec.key("tags"), &self.tags);
    }
}

impl alarm::Spec {
    /// The single-metric form: namespace, metricName, period and exactly one statistic.
    fn validate_simple(&self, problems: &mut Problems) {
        let spec = spec_path();
        const REQUIRED: &str = "required (unless the alarm uses metrics: for metric math)";
        match &self.namespace {
            None => problems.add(spec.key("namespace"), REQUIRED),
            Some(ns) if ns.starts_with(':') => {
                problems.add(spec.key("namespace"), "must not start with ':'")
            }
            Some(ns) => check_non_empty(problems, spec.key("namespace"), ns, 255),
        }
        match &self.metric_name {
            None => problems.add(spec.key("metricName"), REQUIRED),
            Some(name) => check_non_empty(problems, spec.key("metricName"), name, 255),
        }
        if let Some(dimensions) = &self.dimensions {
            check_dimensions(problems, spec.key("dimensions"), dimensions);
        }
        match (&self.statistic, &self.extended_statistic) {
            (None, None) => problems.add(
                spec.key("statistic"),
                "one of statistic or extendedStatistic is required",
            ),
            (Some(_), Some(_)) => problems.add(
                spec.key("extendedStatistic"),
                "set either statistic or extendedStatistic, not both",
            ),
            (None, Some(ext)) if !is_extended_statistic(ext) => problems.add(
                spec.key("extendedStatistic"),
                format!(
                    "{ext:?} is not an extended statistic (e.g. p99, p99.9, tm90, wm99, tc90, ts90, IQM, TM(10%:90%))"
                ),
            ),
            _ => {}
        }
        match self.period {
            None => problems.add(spec.key("period"), REQUIRED),
            Some(period) => check_period(problems, spec.key("period"), period),
        }
        check_unit(problems, spec.key("unit"), self.unit.as_deref());
    }
}

/// A metric-math alarm's queries, as CloudWatch's `Metrics` parameter.
/// `band`: the alarm's `thresholdMetricId`, whose query returns data next to
/// the metric it bands.
fn validate_metrics(
    problems: &mut Problems,
    path: &FieldPath,
    metrics: &[MetricQuery],
    band: Option<&str>,
) {
    if metrics.is_empty() {
        problems.add(path.clone(), "must not be empty");
        return;
    }
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for (i, query) in metrics.iter().enumerate() {
        let at = path.index(i);
        let id = &query.id;
        let id_ok = id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && id.len() <= 255;
        if !id_ok {
            problems.add(
                at.key("id"),
                format!("{id:?} is not a valid id: it starts with a lowercase letter and holds only letters, digits and _"),
            );
        } else if let Some(first) = seen_before(&mut ids, id.as_str(), i) {
            problems.add(
                at.key("id"),
                format!("duplicate id {id:?} (also metrics[{first}])"),
            );
        }
        match (&query.expression, &query.metric_stat) {
            (Some(_), Some(_)) => {
                problems.add(at.clone(), "set either expression or metricStat, not both")
            }
            (None, None) => problems.add(at.clone(), "one of expression or metricStat is required"),
            (Some(expression), None) => {
                check_non_empty(problems, at.key("expression"), expression, 2048)
            }
            (None, Some(stat)) => {
                let at = at.key("metricStat");
                check_non_empty(problems, at.key("namespace"), &stat.namespace, 255);
                check_non_empty(problems, at.key("metricName"), &stat.metric_name, 255);
                check_dimensions(problems, at.key("dimensions"), &stat.dimensions);
                check_period(problems, at.key("period"), stat.period);
                if !STANDARD_STATISTICS.contains(&stat.stat.as_str())
                    && !is_extended_statistic(&stat.stat)
                {
                    let hint = match suggest(&stat.stat, STANDARD_STATISTICS.into_iter()) {
                        Some(s) => format!(" (did you mean {s}?)"),
                        None => " (use SampleCount, Average, Sum, Minimum, Maximum or e.g. p99)"
                            .to_string(),
                    };
                    problems.add(
                        at.key("stat"),
                        format!("unknown statistic {:?}{hint}", stat.stat),
                    );
                }
                check_unit(problems, at.key("unit"), stat.unit.as_deref());
            }
        }
        if let Some(period) = query.period {
            check_period(problems, at.key("period"), period);
        }
    }
    // CloudWatch: an absent ReturnData counts as true.
    let returned = metrics
        .iter()
        .filter(|q| q.return_data.unwrap_or(true))
        .count();
    match band {
        None if returned != 1 => problems.add(
            path.clone(),
            format!(
                "exactly one entry must return data (returnData true or absent), found {returned}"
            ),
        ),
        Some(band) if returned != 2 => problems.add(
            path.clone(),
            format!(
                "with thresholdMetricId, exactly two entries must return data (the band {band} and the metric it bands), found {returned}"
            ),
        ),
        _ => {}
    }
}

// ---------------------------------------------------------------- Topic

fn check_subscription(problems: &mut Problems, at: &FieldPath, sub: &topic::Subscription) {
    let endpoint = &sub.endpoint;
    if !topic::PROTOCOLS.contains(&sub.protocol.as_str()) {
        let hint = match suggest(&sub.protocol, topic::PROTOCOLS.iter().copied()) {
            Some(s) => format!("did you mean {s}?"),
            None => format!("one of {}", topic::PROTOCOLS.join(", ")),
        };
        problems.add(
            at.key("protocol"),
            format!("unknown protocol {:?} ({hint})", sub.protocol),
        );
        return;
    }
    let endpoint_ok = match sub.protocol.as_str() {
        "email" | "email-json" => {
            let (local, domain) = endpoint.split_once('@').unwrap_or_default();
            !local.is_empty() && domain.contains('.') && !endpoint.contains(char::is_whitespace)
        }
        "http" => endpoint.starts_with("http://"),
        "https" => endpoint.starts_with("https://"),
        "sms" => {
            let digits = endpoint.strip_prefix('+').unwrap_or(endpoint);
            !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
        }
        _ => check_arn(endpoint).is_ok(),
    };
    if !endpoint_ok {
        let expected = match sub.protocol.as_str() {
            "email" | "email-json" => "an email address",
            "http" => "an http:// URL",
            "https" => "an https:// URL",
            "sms" => "a phone number such as +15555550100",
            _ => "an ARN",
        };
        problems.add(
            at.key("endpoint"),
            format!("{endpoint:?} is not {expected} (protocol {})", sub.protocol),
        );
    }
}

impl Validate for topic::Spec {
    fn validate(&mut self, _name: &str, _cx: &Cx<'_>, problems: &mut Problems) {
        let spec = spec_path();
        check_optional_text(
            problems,
            spec.key("displayName"),
            self.display_name.as_deref(),
            100,
        );
        check_optional_text(
            problems,
            spec.key("kmsMasterKeyId"),
            self.kms_master_key_id.as_deref(),
            2048,
        );
        if let Some(policy) = &mut self.policy {
            let at = spec.key("policy");
            if let serde_json::Value::String(text) = policy {
                match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(value) => *policy = value,
                    Err(e) => {
                        problems.add(at.clone(), format!("not valid JSON: {e}"));
                    }
                }
            }
            if !policy.is_string() {
                if !policy.is_object() {
                    problems.add(at, "must be a JSON object (a mapping or a JSON string)");
                } else if policy.to_string().len() > 30 * 1024 {
                    problems.add(at, "too large: an SNS topic policy has at most 30 KiB");
                }
            }
        }
        let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
        for (i, sub) in self.subscriptions.iter().enumerate() {
            let at = spec.key("subscriptions").index(i);
            check_subscription(problems, &at, sub);
            let key = (sub.protocol.as_str(), sub.endpoint.as_str());
            if let Some(first) = seen_before(&mut seen, key, i) {
                problems.add(
                    at,
                    format!("duplicate subscription (same protocol and endpoint as subscriptions[{first}])"),
                );
            }
        }
        check_tags(problems, spec.key("tags"), &self.tags);
    }
}

// ---------------------------------------------------------------- Dashboard

/// A body must be an object with a `widgets` list of objects that have a `type`.
fn check_body(body: &serde_json::Value) -> Vec<(FieldPath, String)> {
    let mut out = Vec::new();
    let Some(object) = body.as_object() else {
        out.push((
            FieldPath::root(),
            "must be an object with a widgets list".to_string(),
        ));
        return out;
    };
    let Some(widgets) = object.get("widgets") else {
        out.push((FieldPath::root(), "must have a widgets list".to_string()));
        return out;
    };
    let Some(widgets) = widgets.as_array() else {
        out.push((
            FieldPath::root().key("widgets"),
            "must be a list".to_string(),
        ));
        return out;
    };
    if widgets.len() > 500 {
        out.push((
            FieldPath::root().key("widgets"),
            format!("too many widgets: {} (at most 500)", widgets.len()),
        ));
    }
    for (i, widget) in widgets.iter().enumerate() {
        let at = FieldPath::root().key("widgets").index(i);
        match widget.as_object() {
            None => out.push((at, "a widget must be an object".to_string())),
            Some(w) if !w.get("type").is_some_and(|t| t.is_string()) => out.push((
                at.key("type"),
                "a widget needs a type (e.g. metric, text, alarm)".to_string(),
            )),
            Some(_) => {}
        }
    }
    out
}

impl Validate for dashboard::Spec {
    fn validate(&mut self, _name: &str, cx: &Cx<'_>, problems: &mut Problems) {
        let spec = spec_path();
        match (&self.body, &self.body_file) {
            (Some(_), Some(_)) => problems.add(
                spec.key("bodyFile"),
                "set either body or bodyFile, not both",
            ),
            (None, None) => problems.add(spec.key("body"), "one of body or bodyFile is required"),
            (Some(body), None) => {
                for (sub, message) in check_body(body) {
                    let mut at = spec.key("body");
                    for seg in sub.segments() {
                        at.push(seg.clone());
                    }
                    problems.add(at, message);
                }
            }
            (None, Some(file)) => {
                let at = spec.key("bodyFile");
                let path = match cx.inside(file) {
                    Ok(path) => path,
                    Err(message) => {
                        problems.add(at, message);
                        return;
                    }
                };
                let text = match files::read_text(&path, files::MAX_DASHBOARD_BODY_BYTES) {
                    Ok(text) => text,
                    Err(e) => {
                        problems.add(at, format!("{}: {e}", quote(file)));
                        return;
                    }
                };
                match serde_json::from_str::<serde_json::Value>(&text) {
                    Err(e) => problems.add(at, format!("{}: not valid JSON: {e}", quote(file))),
                    Ok(body) => {
                        let found = check_body(&body);
                        if found.is_empty() {
                            self.body = Some(body);
                        }
                        for (sub, message) in found {
                            let place = if sub.is_root() {
                                quote(file)
                            } else {
                                format!("{}: {sub}", quote(file))
                            };
                            problems.add(at.clone(), format!("{place}: {message}"));
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- Secret

impl Validate for secret::Spec {
    fn validate(&mut self, _name: &str, cx: &Cx<'_>, problems: &mut Problems) {
        let spec = spec_path();
        check_optional_text(
            problems,
            spec.key("description"),
            self.description.as_deref(),
            2048,
        );
        check_optional_text(
            problems,
            spec.key("kmsKeyId"),
            self.kms_key_id.as_deref(),
            2048,
        );
        check_tags(problems, spec.key("tags"), &self.tags);

        let value_from_source = match &mut self.initial_value {
            None => false,
            Some(initial) => validate_initial_value(initial, cx, problems),
        };
        if self.value_policy == secret::ValuePolicy::Enforce && !value_from_source {
            problems.add(
                spec.key("valuePolicy"),
                "enforce needs initialValue.fromEnv or initialValue.fromFile (the value to enforce)",
            );
        }

        let required = spec.key("requiredKeys");
        if !self.required_keys.is_empty() || cx.written(&required) {
            check_key_list(problems, required.clone(), &self.required_keys);
        }
        if let Some(placeholders) = self
            .initial_value
            .as_ref()
            .and_then(|v| v.placeholder_keys.as_ref())
        {
            for (i, key) in self.required_keys.iter().enumerate() {
                if !key.is_empty() && !placeholders.contains(key) {
                    problems.add(
                        required.index(i),
                        format!("{key:?} is missing from initialValue.placeholderKeys, so a new secret would lack it"),
                    );
                }
            }
        }

        if let Some(days) = self.recovery_window_days {
            if days != 0 && !(7..=30).contains(&days) {
                problems.add(
                    spec.key("recoveryWindowDays"),
                    format!("{days} is not allowed: use 0 (delete at once) or 7 to 30 days"),
                );
            }
        }
    }
}

/// Exactly one source; returns whether it is one whose value can be enforced
/// (fromEnv, fromFile). Resolves `fromFile` against the YAML file, and never
/// reads the file or the variable: values are needed only when a secret is written.
fn validate_initial_value(
    initial: &mut secret::InitialValue,
    cx: &Cx<'_>,
    problems: &mut Problems,
) -> bool {
    let at = spec_path().key("initialValue");
    let set: Vec<&str> = [
        ("fromEnv", initial.from_env.is_some()),
        ("fromFile", initial.from_file.is_some()),
        ("generate", initial.generate.is_some()),
        ("placeholderKeys", initial.placeholder_keys.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, set)| set.then_some(field))
    .collect();
    match set.as_slice() {
        [] => {
            problems.add(
                at,
                "one of fromEnv, fromFile, generate or placeholderKeys is required",
            );
            return false;
        }
        [_] => {}
        [_, second, ..] => {
            problems.add(
                at.key(second),
                format!("set only one of {}", set.join(", ")),
            );
            return false;
        }
    }
    if let Some(var) = &initial.from_env {
        if var.is_empty() || var.contains(['=', '\0']) {
            problems.add(
                at.key("fromEnv"),
                format!("{var:?} is not an environment variable name"),
            );
        }
        return true;
    }
    if let Some(file) = &mut initial.from_file {
        if file.is_empty() {
            problems.add(at.key("fromFile"), "must not be empty");
            return true;
        }
        // Checked now, read only when a value is needed (and checked again then).
        let checked = cx.inside(file).and_then(|path| {
            files::check_regular(&path, files::MAX_SECRET_BYTES)
                .map(|()| path)
                .map_err(|e| format!("{}: {e}", quote(file)))
        });
        match checked {
            Ok(path) => *file = path.to_string_lossy().into_owned(),
            Err(message) => problems.add(at.key("fromFile"), message),
        }
        return true;
    }
    if let Some(generate) = &initial.generate {
        let at = at.key("generate");
        if !(1..=4096).contains(&generate.length) {
            problems.add(
                at.key("length"),
                format!("{} is out of range: 1 to 4096", generate.length),
            );
        }
        if generate.exclude_lowercase
            && generate.exclude_uppercase
            && generate.exclude_numbers
            && generate.exclude_punctuation
            && !generate.include_space
        {
            problems.add(
                at.clone(),
                "every kind of character is excluded: nothing is left to generate from",
            );
        }
        if let Some(chars) = &generate.exclude_characters {
            if chars.chars().count() > 4096 {
                problems.add(
                    at.key("excludeCharacters"),
                    "too long: at most 4096 characters",
                );
            }
        }
    }
    if let Some(keys) = &initial.placeholder_keys {
        check_key_list(problems, at.key("placeholderKeys"), keys);
    }
    false
}

// ---------------------------------------------------------------- EcsService

impl Validate for ecs_service::Spec {
    fn validate(&mut self, name: &str, _cx: &Cx<'_>, problems: &mut Problems) {
        let spec = spec_path();
        if self.cluster.is_empty() {
            problems.add(spec.key("cluster"), "must not be empty");
        } else if let Err(message) = check_ecs_name(&self.cluster) {
            problems.add(spec.key("cluster"), message);
        }
        match &self.service {
            Some(service) if service.is_empty() => problems.add(
                spec.key("service"),
                "must not be empty (leave it out to use metadata.name)",
            ),
            Some(service) => {
                if let Err(message) = check_ecs_name(service) {
                    problems.add(spec.key("service"), message);
                }
            }
            None => self.service = Some(name.to_string()),
        }
        let range = self.min_count.is_some() || self.max_count.is_some();
        match (self.desired_count, range) {
            (Some(_), true) => problems.add(
                spec.key("desiredCount"),
                "set either desiredCount or a range (minCount/maxCount), not both",
            ),
            (None, false) => problems.add(
                spec.key("desiredCount"),
                "one of desiredCount or a range (minCount and/or maxCount) is required",
            ),
            _ => {}
        }
        for (field, count) in [
            ("desiredCount", self.desired_count),
            ("minCount", self.min_count),
            ("maxCount", self.max_count),
        ] {
            if let Some(count) = count.filter(|c| *c < 0) {
                problems.add(spec.key(field), format!("{count} is negative"));
            }
        }
        if let (Some(min), Some(max)) = (self.min_count, self.max_count) {
            if min > max {
                problems.add(
                    spec.key("minCount"),
                    format!("minCount {min} is greater than maxCount {max}"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_statistics_follow_cloudwatch() {
        for good in [
            "p99",
            "p99.9",
            "p0",
            "p100",
            "p50.1234567891",
            "tm90",
            "wm99",
            "tc90",
            "ts90",
            "IQM",
            "TM(10%:90%)",
            "TM(150:1000)",
            "TS(80%:)",
            "WM(:95%)",
            "PR(:300)",
            "PR(100:2000)",
            "TC(0.005:0.030)",
        ] {
            assert!(is_extended_statistic(good), "{good} should be accepted");
        }
        for bad in [
            "p",
            "p101",
            "p99.",
            "P99",
            "pp99",
            "iqm",
            "Average",
            "tm",
            "TM(:)",
            "TM(10%:90)",
            "PR(10%:20%)",
            "TM(10%-90%)",
            "p99.12345678901",
            "x99",
        ] {
            assert!(!is_extended_statistic(bad), "{bad} should be refused");
        }
    }

    #[test]
    fn arns_need_six_parts() {
        assert!(check_arn("arn:aws:sns:us-east-1:123456789012:alerts").is_ok());
        assert!(check_arn("arn:aws:s3:::bucket").is_ok());
        assert!(check_arn("arn:aws:sns").is_err());
        assert!(check_arn("arn::sns:us-east-1:1:x").is_err());
    }
}
