//! Prometheus metrics of the daemon: one [`Metrics`] owning its own registry,
//! with the names and labels of section 5 of the contract.
//!
//! Every label value is bounded: kinds, states and reasons are fixed sets,
//! services and operations come from the SDK, and resource names from the
//! desired state (a resource's series go when it leaves the desired state).
//! Error texts and ARNs are never labels.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::aws::counting::{Outcome, RequestObserver};
use crate::engine::daemon::Observer;
use crate::engine::events::{EventType, EventsObserver};
use crate::engine::scheduler::Key;
use crate::engine::status::Count;
use crate::engine::{ResourceReport, State};
use crate::kinds::{Kind, DEFAULT_ENVIRONMENT};

/// Buckets of `driftd_reconcile_duration_seconds`: one resource, from a cached
/// in-sync check to a write that waited out the SDK's retries.
const RECONCILE_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Buckets of `driftd_event_to_reconciled_seconds`: EventBridge's delivery
/// (usually well under a second, CloudTrail's minutes at worst) and the
/// reconcile.
const EVENT_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];
/// Buckets of `driftd_pass_duration_seconds`: a whole desired state.
const PASS_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// The daemon's metrics and the registry that serves them.
pub struct Metrics {
    registry: Registry,
    resources: IntGaugeVec,
    resource_in_sync: IntGaugeVec,
    drift_detected: IntCounterVec,
    drift_corrected: IntCounterVec,
    reconcile_errors: IntCounterVec,
    reconcile_duration: HistogramVec,
    pass_duration: Histogram,
    last_pass_timestamp: Gauge,
    aws_requests: IntCounterVec,
    desired_state_valid: IntGauge,
    desired_state_load_errors: IntCounter,
    leader: IntGauge,
    leader_transitions: IntCounter,
    events_received: IntCounterVec,
    event_to_reconciled: HistogramVec,
    drift_flapping: IntGaugeVec,
    aws_throttled: IntCounterVec,
    events_published: IntCounterVec,
    events_publish_errors: IntCounter,
    /// The environments reconciled, whose series exist from the start.
    environments: Vec<String>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// The metrics of a process with the implicit environment alone.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        Metrics::for_environments(&[DEFAULT_ENVIRONMENT.to_string()])
    }

    /// Registers every metric (and the `process_*` collector) in a registry
    /// of its own; the series of every kind of these environments exist from
    /// the start.
    pub fn for_environments(environments: &[String]) -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        fn reg<C: prometheus::core::Collector + Clone + 'static>(
            registry: &Registry,
            c: C,
        ) -> Result<C, prometheus::Error> {
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        }
        let m = Metrics {
            resources: reg(
                &registry,
                IntGaugeVec::new(
                    Opts::new("driftd_resources", "Resources by kind and state."),
                    &["env", "kind", "state"],
                )?,
            )?,
            resource_in_sync: reg(
                &registry,
                IntGaugeVec::new(
                    Opts::new(
                        "driftd_resource_in_sync",
                        "1 when the resource matches its desired state (in sync or corrected), 0 otherwise.",
                    ),
                    &["env", "kind", "name"],
                )?,
            )?,
            drift_detected: reg(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "driftd_drift_detected_total",
                        "Reconciles that found a resource differing from its desired state.",
                    ),
                    &["env", "kind"],
                )?,
            )?,
            drift_corrected: reg(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "driftd_drift_corrected_total",
                        "Drifted resources that driftd corrected.",
                    ),
                    &["env", "kind"],
                )?,
            )?,
            reconcile_errors: reg(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "driftd_reconcile_errors_total",
                        "Reconciles that ended in an error, by reason.",
                    ),
                    &["env", "kind", "reason"],
                )?,
            )?,
            reconcile_duration: reg(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "driftd_reconcile_duration_seconds",
                        "Time to observe (its share of the batch), diff and correct one resource.",
                    )
                    .buckets(RECONCILE_BUCKETS.to_vec()),
                    &["env", "kind"],
                )?,
            )?,
            pass_duration: reg(
                &registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "driftd_pass_duration_seconds",
                        "Time of a full pass over the whole desired state.",
                    )
                    .buckets(PASS_BUCKETS.to_vec()),
                )?,
            )?,
            last_pass_timestamp: reg(
                &registry,
                Gauge::with_opts(Opts::new(
                    "driftd_last_pass_timestamp_seconds",
                    "Unix time at which the last full pass completed.",
                ))?,
            )?,
            aws_requests: reg(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "driftd_aws_requests_total",
                        "AWS requests (each attempt, retries included), by outcome.",
                    ),
                    &["service", "operation", "outcome"],
                )?,
            )?,
            desired_state_valid: reg(
                &registry,
                IntGauge::with_opts(Opts::new(
                    "driftd_desired_state_valid",
                    "1 when the desired-state files last loaded without errors.",
                ))?,
            )?,
            desired_state_load_errors: reg(
                &registry,
                IntCounter::with_opts(Opts::new(
                    "driftd_desired_state_load_errors_total",
                    "Loads of the desired-state files that failed validation.",
                ))?,
            )?,
            leader: reg(
                &registry,
                IntGauge::with_opts(Opts::new(
                    "driftd_leader",
                    "1 when this replica is the one allowed to change AWS.",
                ))?,
            )?,
            events_received: reg(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "driftd_events_received_total",
                        "Messages of the --events-queue: matched (named a declared resource), ignored or invalid.",
                    ),
                    &["outcome"],
                )?,
            )?,
            event_to_reconciled: reg(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "driftd_event_to_reconciled_seconds",
                        "From a change event's time to the end of the reconcile it caused.",
                    )
                    .buckets(EVENT_BUCKETS.to_vec()),
                    &["env", "kind"],
                )?,
            )?,
            leader_transitions: reg(
                &registry,
                IntCounter::with_opts(Opts::new(
                    "driftd_leader_transitions_total",
                    "Times this replica started or stopped leading.",
                ))?,
            )?,
            drift_flapping: reg(
                &registry,
                IntGaugeVec::new(
                    Opts::new(
                        "driftd_drift_flapping",
                        "1 when corrections of the resource do not converge and it is quarantined.",
                    ),
                    &["env", "kind", "name"],
                )?,
            )?,
            aws_throttled: reg(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "driftd_aws_throttled_total",
                        "AWS requests answered with a throttling error.",
                    ),
                    &["service"],
                )?,
            )?,
            events_published: reg(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "driftd_events_published_total",
                        "Drift events published to the --events-topic, by event.",
                    ),
                    &["event"],
                )?,
            )?,
            events_publish_errors: reg(
                &registry,
                IntCounter::with_opts(Opts::new(
                    "driftd_events_publish_errors_total",
                    "Attempts to publish a drift event that failed (it is tried again), or events dropped.",
                ))?,
            )?,
            registry,
            environments: environments.to_vec(),
        };
        let build_info = IntGaugeVec::new(
            Opts::new(
                "driftd_build_info",
                "The running driftd's version; always 1.",
            ),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        m.registry.register(Box::new(build_info))?;
        m.registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        // Series that exist from the start, so that rates and alerts see a 0
        // rather than nothing.
        for env in &m.environments {
            for kind in Kind::ALL {
                m.drift_detected.with_label_values(&[env, kind.as_str()]);
                m.drift_corrected.with_label_values(&[env, kind.as_str()]);
            }
        }
        for outcome in ["matched", "ignored", "invalid"] {
            m.events_received.with_label_values(&[outcome]);
        }
        for event in EventType::ALL {
            m.events_published.with_label_values(&[event.as_str()]);
        }
        m.set_resource_counts(&[]);
        m.set_leader(true);
        Ok(m)
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> Result<String, prometheus::Error> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }

    /// Whether this replica may change AWS (always, without leader election).
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// This replica started or stopped leading.
    pub fn leader_transition(&self, leader: bool) {
        self.set_leader(leader);
        self.leader_transitions.inc();
    }
}

impl Observer for Metrics {
    fn observe_prune_error(&self, environment: &str, kind: Kind, reason: &str) {
        self.reconcile_errors
            .with_label_values(&[environment, kind.as_str(), reason])
            .inc();
    }

    fn observe_reconcile(&self, report: &ResourceReport) {
        let labels = [report.environment.as_str(), report.kind.as_str()];
        self.reconcile_duration
            .with_label_values(&labels)
            .observe(report.duration.as_secs_f64());
        if report.drifted() {
            self.drift_detected.with_label_values(&labels).inc();
        }
        if report.state == State::Corrected {
            self.drift_corrected.with_label_values(&labels).inc();
        }
        if report.state == State::Error {
            let reason = report
                .error
                .as_ref()
                .map_or("unknown", |e| e.reason.as_str());
            self.reconcile_errors
                .with_label_values(&[labels[0], labels[1], reason])
                .inc();
        }
    }

    fn set_resource(&self, key: &Key, in_sync: bool, flapping: bool) {
        let labels = [key.environment.as_str(), key.kind.as_str(), &key.name];
        self.resource_in_sync
            .with_label_values(&labels)
            .set(i64::from(in_sync));
        self.drift_flapping
            .with_label_values(&labels)
            .set(i64::from(flapping));
    }

    fn forget_resource(&self, key: &Key) {
        let labels = [key.environment.as_str(), key.kind.as_str(), &key.name];
        // Absent when the resource was never reconciled: nothing to remove.
        let _ = self.resource_in_sync.remove_label_values(&labels);
        let _ = self.drift_flapping.remove_label_values(&labels);
    }

    fn set_resource_counts(&self, counts: &[Count]) {
        for env in &self.environments {
            for kind in Kind::ALL {
                for state in State::ALL {
                    let n = counts
                        .iter()
                        .filter(|c| c.environment == *env && c.kind == kind && c.state == state)
                        .map(|c| c.resources)
                        .sum::<usize>();
                    self.resources
                        .with_label_values(&[env, kind.as_str(), state.as_str()])
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
            }
        }
    }

    fn pass_completed(&self, duration: Duration, at: SystemTime) {
        self.pass_duration.observe(duration.as_secs_f64());
        self.last_pass_timestamp.set(
            at.duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        );
    }

    fn desired_state_loaded(&self, valid: bool) {
        self.desired_state_valid.set(i64::from(valid));
        if !valid {
            self.desired_state_load_errors.inc();
        }
    }

    fn event_reconciled(&self, environment: &str, kind: Kind, took: Duration) {
        self.event_to_reconciled
            .with_label_values(&[environment, kind.as_str()])
            .observe(took.as_secs_f64());
    }
}

impl crate::engine::changes::Observer for Metrics {
    fn received(&self, outcome: &'static str) {
        self.events_received.with_label_values(&[outcome]).inc();
    }
}

impl EventsObserver for Metrics {
    fn published(&self, event: EventType) {
        self.events_published
            .with_label_values(&[event.as_str()])
            .inc();
    }

    fn publish_failed(&self) {
        self.events_publish_errors.inc();
    }
}

impl RequestObserver for Metrics {
    fn request(&self, service: &'static str, operation: &str, outcome: Outcome) {
        self.aws_requests
            .with_label_values(&[service, operation, outcome.as_str()])
            .inc();
        if outcome == Outcome::Throttled {
            self.aws_throttled.with_label_values(&[service]).inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Planned, Reason, ResourceError};
    use crate::kinds::Mode;

    fn report(state: State, action: Planned) -> ResourceReport {
        ResourceReport {
            environment: crate::kinds::DEFAULT_ENVIRONMENT.to_string(),
            kind: Kind::Alarm,
            name: "cpu-high".into(),
            mode: Mode::Enforce,
            action,
            state,
            changes: Vec::new(),
            notes: Vec::new(),
            error: (state == State::Error).then(|| ResourceError {
                reason: Reason::Throttled,
                message: "Rate exceeded".into(),
                retryable: true,
            }),
            duration: Duration::from_millis(20),
        }
    }

    /// The value of the series of `name` whose labels are exactly `labels`.
    fn value(text: &str, name: &str, labels: &str) -> Option<f64> {
        let prefix = if labels.is_empty() {
            format!("{name} ")
        } else {
            format!("{name}{{{labels}}} ")
        };
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
    }

    #[test]
    fn every_metric_of_the_contract_is_exposed() {
        let m = Metrics::new().unwrap();
        m.observe_reconcile(&report(State::Corrected, Planned::Update));
        m.set_resource(
            &Key::new(DEFAULT_ENVIRONMENT, Kind::Alarm, "cpu-high"),
            true,
            false,
        );
        m.pass_completed(Duration::from_secs(1), SystemTime::now());
        m.desired_state_loaded(true);
        m.event_reconciled(DEFAULT_ENVIRONMENT, Kind::Alarm, Duration::from_millis(300));
        m.request("cloudwatch", "DescribeAlarms", Outcome::Throttled);
        m.observe_reconcile(&report(State::Error, Planned::Error));
        let text = m.encode().unwrap();
        for (name, kind) in [
            ("driftd_resources", "gauge"),
            ("driftd_resource_in_sync", "gauge"),
            ("driftd_drift_detected_total", "counter"),
            ("driftd_drift_corrected_total", "counter"),
            ("driftd_reconcile_errors_total", "counter"),
            ("driftd_reconcile_duration_seconds", "histogram"),
            ("driftd_pass_duration_seconds", "histogram"),
            ("driftd_last_pass_timestamp_seconds", "gauge"),
            ("driftd_aws_requests_total", "counter"),
            ("driftd_desired_state_valid", "gauge"),
            ("driftd_desired_state_load_errors_total", "counter"),
            ("driftd_leader", "gauge"),
            ("driftd_leader_transitions_total", "counter"),
            ("driftd_events_received_total", "counter"),
            ("driftd_event_to_reconciled_seconds", "histogram"),
            ("driftd_build_info", "gauge"),
            ("driftd_drift_flapping", "gauge"),
            ("driftd_aws_throttled_total", "counter"),
            ("driftd_events_published_total", "counter"),
            ("driftd_events_publish_errors_total", "counter"),
        ] {
            assert!(
                text.contains(&format!("# TYPE {name} {kind}\n")),
                "{name} ({kind}) missing from:\n{text}"
            );
        }
        assert!(text.contains("process_resident_memory_bytes"), "{text}");
        assert_eq!(
            value(
                &text,
                "driftd_build_info",
                &format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))
            ),
            Some(1.0)
        );
        assert_eq!(value(&text, "driftd_leader", ""), Some(1.0));
    }

    #[test]
    fn a_reconcile_is_counted_by_what_it_found() {
        let m = Metrics::new().unwrap();
        m.observe_reconcile(&report(State::Corrected, Planned::Update));
        m.observe_reconcile(&report(State::Drifted, Planned::Update));
        m.observe_reconcile(&report(State::InSync, Planned::InSync));
        m.observe_reconcile(&report(State::Error, Planned::Error));
        let text = m.encode().unwrap();
        assert_eq!(
            value(
                &text,
                "driftd_drift_detected_total",
                "env=\"default\",kind=\"Alarm\""
            ),
            Some(2.0)
        );
        assert_eq!(
            value(
                &text,
                "driftd_drift_corrected_total",
                "env=\"default\",kind=\"Alarm\""
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                "driftd_drift_corrected_total",
                "env=\"default\",kind=\"Topic\""
            ),
            Some(0.0)
        );
        assert_eq!(
            value(
                &text,
                "driftd_reconcile_errors_total",
                "env=\"default\",kind=\"Alarm\",reason=\"throttled\""
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                "driftd_reconcile_duration_seconds_count",
                "env=\"default\",kind=\"Alarm\""
            ),
            Some(4.0)
        );
    }

    #[test]
    fn a_resource_that_leaves_the_desired_state_loses_its_series() {
        let m = Metrics::new().unwrap();
        let alerts = Key::new(DEFAULT_ENVIRONMENT, Kind::Topic, "alerts");
        m.set_resource(&alerts, false, true);
        let text = m.encode().unwrap();
        let labels = "env=\"default\",kind=\"Topic\",name=\"alerts\"";
        assert_eq!(value(&text, "driftd_resource_in_sync", labels), Some(0.0));
        assert_eq!(value(&text, "driftd_drift_flapping", labels), Some(1.0));
        m.forget_resource(&alerts);
        m.forget_resource(&Key::new(DEFAULT_ENVIRONMENT, Kind::Topic, "never-seen"));
        let text = m.encode().unwrap();
        assert_eq!(value(&text, "driftd_resource_in_sync", labels), None);
        assert_eq!(value(&text, "driftd_drift_flapping", labels), None);
    }

    #[test]
    fn resource_counts_cover_every_kind_and_state() {
        let m = Metrics::new().unwrap();
        let count = |state, resources| Count {
            environment: DEFAULT_ENVIRONMENT.to_string(),
            kind: Kind::Alarm,
            state,
            resources,
        };
        m.set_resource_counts(&[count(State::InSync, 3), count(State::Error, 1)]);
        let text = m.encode().unwrap();
        assert_eq!(
            value(
                &text,
                "driftd_resources",
                "env=\"default\",kind=\"Alarm\",state=\"in_sync\""
            ),
            Some(3.0)
        );
        assert_eq!(
            value(
                &text,
                "driftd_resources",
                "env=\"default\",kind=\"Alarm\",state=\"error\""
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                "driftd_resources",
                "env=\"default\",kind=\"Secret\",state=\"drifted\""
            ),
            Some(0.0)
        );
        assert_eq!(text.matches("driftd_resources{").count(), 25);
    }

    #[test]
    fn throttled_requests_are_counted_twice_over() {
        let m = Metrics::new().unwrap();
        m.request("sns", "ListTopics", Outcome::Success);
        m.request("sns", "ListTopics", Outcome::Throttled);
        m.request("sns", "ListTopics", Outcome::Throttled);
        let text = m.encode().unwrap();
        assert_eq!(
            value(
                &text,
                "driftd_aws_requests_total",
                "operation=\"ListTopics\",outcome=\"throttled\",service=\"sns\""
            ),
            Some(2.0)
        );
        assert_eq!(
            value(&text, "driftd_aws_throttled_total", "service=\"sns\""),
            Some(2.0)
        );
    }

    #[test]
    fn failed_loads_are_counted_and_flip_validity() {
        let m = Metrics::new().unwrap();
        m.desired_state_loaded(false);
        m.desired_state_loaded(false);
        let text = m.encode().unwrap();
        assert_eq!(value(&text, "driftd_desired_state_valid", ""), Some(0.0));
        assert_eq!(
            value(&text, "driftd_desired_state_load_errors_total", ""),
            Some(2.0)
        );
        m.desired_state_loaded(true);
        let text = m.encode().unwrap();
        assert_eq!(value(&text, "driftd_desired_state_valid", ""), Some(1.0));
    }
}
