//! Client-side pacing of AWS calls: every operation is held a bit below the
//! request quota AWS documents for it, and a service that still ends calls
//! throttled is slowed down for a while.
//!
//! # Rates
//!
//! AWS throttles per account and Region, per operation (or per group of
//! operations). driftd spaces the calls of each (service, operation) evenly at
//! the rate of [`LIMITS`], without bursts: at `r` calls a second no 1-second
//! window ever holds more than `⌊r⌋ + 1` of them, which [`LIMITS`] keeps
//! within the documented quota (a unit test checks it). Operations without a
//! line of their own share their service's default pace. The sources:
//!
//! * CloudWatch service quotas (docs.aws.amazon.com/AmazonCloudWatch/latest/
//!   monitoring/cloudwatch_limits.html): `PutMetricAlarm` 3 TPS,
//!   `DescribeAlarms` 9 TPS, `DeleteAlarms` 3 TPS, `PutDashboard`,
//!   `GetDashboard`, `ListDashboards` and `DeleteDashboards` 10 TPS each.
//!   `TagResource` has no documented quota: paced like the alarm writes.
//! * Amazon ECS request throttling (docs.aws.amazon.com/AmazonECS/latest/
//!   APIReference/request-throttling.html): service modify actions
//!   (`UpdateService`) refill at 5 a second (bucket of 50), service read
//!   actions (`DescribeServices`) at 20 (bucket of 100); driftd keeps to the
//!   sustained rate. The slowest category (cluster and task definition
//!   modify actions) refills at 1 a second: the default for anything else.
//! * The Amazon SNS API reference: `ListTopics`, `ListSubscriptions` and
//!   `ListSubscriptionsByTopic` are "throttled at 30 transactions per second", `Subscribe` and
//!   `Unsubscribe` at 100. The topic calls driftd also makes (`CreateTopic`,
//!   `GetTopicAttributes`, `SetTopicAttributes`, `TagResource`, `DeleteTopic`)
//!   have no per-operation figure there: paced below the list calls.
//! * AWS Secrets Manager quotas (docs.aws.amazon.com/secretsmanager/latest/
//!   userguide/reference_limits.html): 50 a second for the control-plane
//!   calls (`CreateSecret`, `UpdateSecret` with `PutSecretValue`,
//!   `TagResource`, `DeleteSecret`, ...), 10,000 for `GetSecretValue` with
//!   `DescribeSecret`; `ListSecrets` was raised to 100 a second (AWS What's
//!   New, November 2022).
//! * Tag Editor service quotas (docs.aws.amazon.com/tag-editor/latest/
//!   userguide/reference.html): `GetResources`, 15 calls a second.
//! * Application Auto Scaling documents no request rate for
//!   `DescribeScalableTargets`: a modest default.
//!
//! # Retries
//!
//! The SDK clients behind a [`Pace`] make no retries of their own (each
//! service's `from_client` turns the SDK's retries off): a call is retried
//! here, and every attempt, the first and each retry, waits for its turn
//! like any other call, so a throttling storm never sends more than the pace.
//! A call that failed with a retryable error (throttling, a 5xx, a timeout, a
//! connection failure: [`ErrorClass::is_retryable`]) is tried again after an
//! exponential backoff with jitter ([`RETRY_MIN_DELAY`], doubling up to
//! [`RETRY_MAX_DELAY`], each delay lengthened by a random share of up to
//! itself), and then its turn, [`super::MAX_ATTEMPTS`] attempts in all. Any
//! other error (validation, access denied, not found, a fenced write) ends
//! the call at once. Only STS, DynamoDB (the lease) and SQS (change events)
//! keep the SDK's own retries: they are not paced.
//!
//! # Backoff
//!
//! A throttled attempt means the account's quota is spent faster than it
//! refills (by driftd or by whatever else shares the account), so the
//! [`Pacer`] halves the pace of that whole service (down to [`MIN_FACTOR`] of
//! it) and lets it recover linearly, by [`RECOVERY_PER_SECOND`] of the full
//! pace each second without another throttled attempt. Attempts that were
//! already under way when the service was slowed down do not slow it down
//! again: they were sent at the old pace.
//!
//! Each attempt is counted, in `driftd_aws_requests_total` and when throttled
//! in `driftd_aws_throttled_total{service}`, by the daemon's request-counting
//! interceptor, not here.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use backon::{ExponentialBuilder, Retryable};
use tokio::time::Instant;

use super::{Error, ErrorClass};

/// How fast driftd calls one AWS operation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// driftd's name of the service (the `service` label of the metrics).
    pub service: &'static str,
    /// `None`: every operation of the service without a line of its own.
    pub operation: Option<&'static str>,
    /// driftd's pace: calls a second, evenly spaced.
    pub per_second: f64,
    /// The request quota AWS documents for it, calls a second.
    pub quota: Option<f64>,
}

const fn limit(
    service: &'static str,
    operation: Option<&'static str>,
    per_second: f64,
    quota: Option<f64>,
) -> Limit {
    Limit {
        service,
        operation,
        per_second,
        quota,
    }
}

/// The pace of every operation driftd calls (see the module documentation
/// for the sources of the quotas).
pub const LIMITS: &[Limit] = &[
    limit("cloudwatch", Some("PutMetricAlarm"), 2.5, Some(3.0)),
    limit("cloudwatch", Some("DescribeAlarms"), 7.5, Some(9.0)),
    limit("cloudwatch", Some("DeleteAlarms"), 2.5, Some(3.0)),
    limit("cloudwatch", Some("PutDashboard"), 8.0, Some(10.0)),
    limit("cloudwatch", Some("GetDashboard"), 8.0, Some(10.0)),
    limit("cloudwatch", Some("ListDashboards"), 8.0, Some(10.0)),
    limit("cloudwatch", Some("DeleteDashboards"), 8.0, Some(10.0)),
    limit("cloudwatch", None, 2.5, None),
    limit("ecs", Some("UpdateService"), 4.0, Some(5.0)),
    limit("ecs", Some("DescribeServices"), 16.0, Some(20.0)),
    limit("ecs", None, 0.8, Some(1.0)),
    limit("sns", Some("ListTopics"), 25.0, Some(30.0)),
    limit("sns", Some("ListSubscriptions"), 25.0, Some(30.0)),
    limit("sns", Some("ListSubscriptionsByTopic"), 25.0, Some(30.0)),
    limit("sns", Some("Subscribe"), 80.0, Some(100.0)),
    limit("sns", Some("Unsubscribe"), 80.0, Some(100.0)),
    limit("sns", None, 20.0, None),
    limit("secretsmanager", Some("ListSecrets"), 80.0, Some(100.0)),
    limit(
        "secretsmanager",
        Some("GetSecretValue"),
        1000.0,
        Some(10_000.0),
    ),
    limit("secretsmanager", None, 40.0, Some(50.0)),
    limit("tagging", Some("GetResources"), 12.0, Some(15.0)),
    limit("tagging", None, 12.0, None),
    limit("autoscaling", None, 8.0, None),
];

/// What a call that ends throttled multiplies its service's pace by.
pub const DECREASE: f64 = 0.5;
/// The slowest a service gets: this share of its pace.
pub const MIN_FACTOR: f64 = 1.0 / 16.0;
/// How much of its full pace a slowed-down service regains each second.
pub const RECOVERY_PER_SECOND: f64 = 0.05;
/// The backoff before a call's first retry (before jitter); each next one doubles.
pub const RETRY_MIN_DELAY: Duration = Duration::from_secs(1);
/// The longest backoff before a retry (before jitter).
pub const RETRY_MAX_DELAY: Duration = Duration::from_secs(20);

/// `--aws-max-rps service[.operation]=N`: a pace of the operator's own, for
/// an account with raised quotas (or an emulator). One for an operation
/// wins over one for its service, which wins over [`LIMITS`].
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    pub service: String,
    pub operation: Option<String>,
    pub per_second: f64,
}

impl std::str::FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Rate, String> {
        let (target, value) = text.split_once('=').ok_or_else(|| {
            format!("{text:?}: expected service[.Operation]=N, e.g. cloudwatch.PutMetricAlarm=20")
        })?;
        let (service, operation) = match target.split_once('.') {
            Some((s, o)) => (s, Some(o)),
            None => (target, None),
        };
        let services: Vec<&str> = {
            let mut v: Vec<&str> = LIMITS.iter().map(|l| l.service).collect();
            v.dedup();
            v
        };
        if !services.contains(&service) {
            return Err(format!(
                "{text:?}: unknown service {service:?} (paced services: {})",
                services.join(", ")
            ));
        }
        if let Some(op) = operation {
            let ok = op.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && op.chars().all(|c| c.is_ascii_alphanumeric());
            if !ok {
                return Err(format!(
                    "{text:?}: {op:?} is not an operation name (as AWS spells it: PutMetricAlarm)"
                ));
            }
        }
        let per_second: f64 = value
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite() && *n > 0.0)
            .ok_or_else(|| {
                format!("{text:?}: {value:?} is not a positive number of calls a second")
            })?;
        Ok(Rate {
            service: service.to_string(),
            operation: operation.map(str::to_string),
            per_second,
        })
    }
}

/// The pace of every AWS call of one process, shared by all its clients.
pub struct Pacer {
    limits: &'static [Limit],
    /// The operator's paces ([`Rate`]), over `limits`.
    rates: Vec<Rate>,
    /// A std `Mutex`: held for a few arithmetic operations, never across an
    /// `.await`.
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// When each (service, operation) may be called next.
    next: HashMap<(&'static str, &'static str), Instant>,
    /// Services slowed down because AWS throttled them.
    slowed: HashMap<&'static str, Slowdown>,
}

/// A service's pace is multiplied by `factor` as of `since`, and recovers
/// linearly from there.
#[derive(Debug, Clone, Copy)]
struct Slowdown {
    factor: f64,
    since: Instant,
}

impl Slowdown {
    fn factor_at(&self, now: Instant) -> f64 {
        let recovered =
            RECOVERY_PER_SECOND * now.saturating_duration_since(self.since).as_secs_f64();
        (self.factor + recovered).min(1.0)
    }
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer")
            .field("limits", &self.limits.len())
            .finish_non_exhaustive()
    }
}

impl Default for Pacer {
    fn default() -> Pacer {
        Pacer::new(LIMITS)
    }
}

impl Pacer {
    /// A pacer keeping to these limits (the process's is [`Pacer::default`]).
    /// Panics unless every rate is positive and finite.
    pub fn new(limits: &'static [Limit]) -> Pacer {
        if let Some(bad) = limits
            .iter()
            .find(|l| !(l.per_second.is_finite() && l.per_second > 0.0))
        {
            panic!("a pace must be a positive number of calls a second: {bad:?}");
        }
        Pacer {
            limits,
            rates: Vec::new(),
            state: Mutex::new(State::default()),
        }
    }

    /// [`LIMITS`], with the operator's own paces over them.
    pub fn with_rates(rates: &[Rate]) -> Pacer {
        Pacer {
            rates: rates.to_vec(),
            ..Pacer::default()
        }
    }

    /// A pacer that never waits: for clients built outside [`super::Aws`]
    /// (tests of one service against the emulator).
    pub fn unlimited() -> Pacer {
        Pacer::new(&[])
    }

    /// The pace of this operation at full speed, calls a second; `None`: not paced.
    pub fn rate(&self, service: &str, operation: &str) -> Option<f64> {
        let given = |op: Option<&str>| {
            self.rates
                .iter()
                .rev() // the last one given wins
                .find(|r| r.service == service && r.operation.as_deref() == op)
                .map(|r| r.per_second)
        };
        if let Some(rate) = given(Some(operation)).or_else(|| given(None)) {
            return Some(rate);
        }
        let of_service = || self.limits.iter().filter(|l| l.service == service);
        of_service()
            .find(|l| l.operation == Some(operation))
            .or_else(|| of_service().find(|l| l.operation.is_none()))
            .map(|l| l.per_second)
    }

    /// The share of its full pace this service is held to now (1: not slowed down).
    pub fn factor(&self, service: &str) -> f64 {
        let now = Instant::now();
        self.lock()
            .slowed
            .get(service)
            .map_or(1.0, |s| s.factor_at(now))
    }

    /// Waits for this operation's next turn and returns when it came. Turns
    /// are handed out in the order of the calls; one that is given up
    /// (its future dropped) is not handed out again.
    pub async fn until_ready(&self, service: &'static str, operation: &'static str) -> Instant {
        let Some(per_second) = self.rate(service, operation) else {
            return Instant::now();
        };
        let turn = {
            let mut state = self.lock();
            let now = Instant::now();
            let factor = state.slowed.get(service).map_or(1.0, |s| s.factor_at(now));
            let interval = Duration::from_secs_f64(1.0 / (per_second * factor));
            let next = state.next.entry((service, operation)).or_insert(now);
            let turn = (*next).max(now);
            *next = turn + interval;
            turn
        };
        tokio::time::sleep_until(turn).await;
        turn
    }

    /// An attempt of a call of `service` that started at `started` was
    /// throttled: halves the service's pace unless the attempt was already
    /// under way when it was last slowed down. Returns the new factor when it
    /// slowed down.
    pub fn throttled(&self, service: &'static str, started: Instant) -> Option<f64> {
        let now = Instant::now();
        let mut state = self.lock();
        let current = match state.slowed.get(service) {
            Some(s) if started <= s.since => return None,
            Some(s) => s.factor_at(now),
            None => 1.0,
        };
        let factor = (current * DECREASE).max(MIN_FACTOR);
        state
            .slowed
            .insert(service, Slowdown { factor, since: now });
        Some(factor)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state consistent (a few assignments, no
        // panicking call in between), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One service's handle on the process's [`Pacer`], held by its SDK client.
#[derive(Debug, Clone)]
pub struct Pace {
    pacer: Arc<Pacer>,
    service: &'static str,
}

impl Pace {
    pub fn new(pacer: &Arc<Pacer>, service: &'static str) -> Pace {
        Pace {
            pacer: Arc::clone(pacer),
            service,
        }
    }

    /// A handle that never waits (see [`Pacer::unlimited`]).
    pub fn unpaced(service: &'static str) -> Pace {
        Pace::new(&Arc::new(Pacer::unlimited()), service)
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Waits for this operation's turn; returns when it came, for [`Pace::ended`].
    pub async fn ready(&self, operation: &'static str) -> Instant {
        self.pacer.until_ready(self.service, operation).await
    }

    /// Tells the pacer how an attempt that started at `started` ended: a
    /// throttling error slows the service down.
    pub fn ended<T>(&self, started: Instant, result: &Result<T, Error>) {
        let Err(e) = result else { return };
        if e.class != ErrorClass::Throttling {
            return;
        }
        if let Some(factor) = self.pacer.throttled(self.service, started) {
            tracing::warn!(
                service = self.service,
                operation = e.operation,
                pace = factor,
                "AWS throttled a call: slowing this service down"
            );
        }
    }

    /// Makes one call of `operation`, each attempt of which is
    /// `attempt()`: every attempt waits for its turn first, and one that
    /// failed with a retryable error is tried again after a backoff (see the
    /// module documentation), [`super::MAX_ATTEMPTS`] attempts at most.
    pub async fn call<T, F, Fut>(&self, operation: &'static str, mut attempt: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T, Error>> + Send,
        T: Send,
    {
        let once = || {
            let request = attempt();
            async move {
                // An SDK request does nothing until polled: it leaves only now.
                let started = self.ready(operation).await;
                let result = request.await;
                self.ended(started, &result);
                result
            }
        };
        once.retry(backoff())
            .when(|e: &Error| e.class.is_retryable())
            .notify(|e: &Error, delay: Duration| {
                tracing::debug!(
                    service = self.service,
                    operation,
                    class = ?e.class,
                    code = e.code.as_deref(),
                    ?delay,
                    "retrying an AWS call"
                );
            })
            .await
    }
}

/// The delays between the attempts of one call.
fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(RETRY_MIN_DELAY)
        .with_max_delay(RETRY_MAX_DELAY)
        .with_max_times(super::MAX_ATTEMPTS as usize - 1)
        .with_jitter()
}

/// Sends an SDK request through [`Pace::call`]:
/// `client.op()...paced(&self.pace, "Op", |r| r.send()).await` sends a
/// clone of the request (a fluent builder) at each attempt, and classifies a
/// failure as [`Error`]. A request that is not idempotent carries its own
/// idempotency token, set before: the SDK fills one in per attempt otherwise.
pub trait Paced: Clone + Send + Sync {
    fn paced<'a, T, E, F, Fut>(
        self,
        pace: &'a Pace,
        operation: &'static str,
        send: F,
    ) -> impl Future<Output = Result<T, Error>> + Send + 'a
    where
        Self: 'a,
        F: Fn(Self) -> Fut + Send + Sync + 'a,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>> + Send + 'a,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        T: Send + 'a;
}

impl<R: Clone + Send + Sync> Paced for R {
    // Spelled out: the trait's signature names the future's bounds.
    #[allow(clippy::manual_async_fn)]
    fn paced<'a, T, E, F, Fut>(
        self,
        pace: &'a Pace,
        operation: &'static str,
        send: F,
    ) -> impl Future<Output = Result<T, Error>> + Send + 'a
    where
        Self: 'a,
        F: Fn(Self) -> Fut + Send + Sync + 'a,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>> + Send + 'a,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        T: Send + 'a,
    {
        async move {
            pace.call(operation, || {
                let request = send(self.clone());
                async move {
                    request
                        .await
                        .map_err(|e| Error::from_sdk(pace.service, operation, e))
                }
            })
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use aws_sdk_cloudwatch::operation::put_metric_alarm::PutMetricAlarmError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::super::MAX_ATTEMPTS;
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    /// The most calls any window of this length holds (both ends included).
    fn most_in_window(times: &[Instant], window: Duration) -> usize {
        times
            .iter()
            .map(|start| {
                times
                    .iter()
                    .filter(|t| **t >= *start && **t <= *start + window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// Seconds since `origin`, rounded to milliseconds, for readable asserts.
    fn secs(origin: Instant, times: &[Instant]) -> Vec<f64> {
        times
            .iter()
            .map(|t| ((*t - origin).as_secs_f64() * 1000.0).round() / 1000.0)
            .collect()
    }

    async fn calls(
        pacer: &Pacer,
        service: &'static str,
        op: &'static str,
        n: usize,
    ) -> Vec<Instant> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(pacer.until_ready(service, op).await);
        }
        out
    }

    #[test]
    fn the_operators_paces_go_over_the_documented_ones() {
        let rates: Vec<Rate> = ["cloudwatch=50", "cloudwatch.PutMetricAlarm=20", "sns=100"]
            .iter()
            .map(|r| r.parse().expect(r))
            .collect();
        let pacer = Pacer::with_rates(&rates);
        assert_eq!(pacer.rate("cloudwatch", "PutMetricAlarm"), Some(20.0));
        assert_eq!(pacer.rate("cloudwatch", "GetDashboard"), Some(50.0));
        assert_eq!(pacer.rate("sns", "ListTopics"), Some(100.0));
        assert_eq!(
            pacer.rate("ecs", "UpdateService"),
            Some(4.0),
            "as documented"
        );
        for bad in [
            "cloudwatch",
            "ec2=5",
            "cloudwatch.put_metric_alarm=5",
            "cloudwatch=0",
            "cloudwatch=-1",
            "cloudwatch=fast",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
        assert_eq!(
            "ec2=5".parse::<Rate>().unwrap_err(),
            "\"ec2=5\": unknown service \"ec2\" (paced services: cloudwatch, ecs, sns, \
             secretsmanager, tagging, autoscaling)"
        );
    }

    #[test]
    fn no_second_ever_holds_more_calls_than_the_documented_quota() {
        for l in LIMITS {
            assert!(l.per_second > 0.0, "{l:?}");
            if let Some(quota) = l.quota {
                // Evenly spaced at r a second, a 1-second window holds at most ⌊r⌋ + 1.
                assert!(l.per_second.floor() + 1.0 <= quota, "{l:?}");
                assert!(l.per_second < quota, "{l:?}");
            }
        }
    }

    #[test]
    fn every_service_has_a_default_and_no_operation_two_lines() {
        let services: BTreeSet<&str> = LIMITS.iter().map(|l| l.service).collect();
        assert_eq!(
            services,
            BTreeSet::from([
                "autoscaling",
                "cloudwatch",
                "ecs",
                "secretsmanager",
                "sns",
                "tagging"
            ])
        );
        for service in &services {
            assert_eq!(
                LIMITS
                    .iter()
                    .filter(|l| l.service == *service && l.operation.is_none())
                    .count(),
                1,
                "{service}"
            );
        }
        let mut seen = BTreeSet::new();
        for l in LIMITS {
            assert!(seen.insert((l.service, l.operation)), "twice: {l:?}");
        }
    }

    #[test]
    fn an_operation_without_its_own_line_takes_its_services_default() {
        let pacer = Pacer::default();
        let table = [
            ("cloudwatch", "PutMetricAlarm", Some(2.5)),
            ("cloudwatch", "DescribeAlarms", Some(7.5)),
            ("cloudwatch", "TagResource", Some(2.5)),
            ("ecs", "UpdateService", Some(4.0)),
            ("ecs", "DescribeServices", Some(16.0)),
            ("ecs", "ListClusters", Some(0.8)),
            ("sns", "ListTopics", Some(25.0)),
            ("sns", "SetTopicAttributes", Some(20.0)),
            ("secretsmanager", "CreateSecret", Some(40.0)),
            ("tagging", "GetResources", Some(12.0)),
            ("autoscaling", "DescribeScalableTargets", Some(8.0)),
            ("dynamodb", "GetItem", None),
        ];
        for (service, op, expected) in table {
            assert_eq!(pacer.rate(service, op), expected, "{service}.{op}");
        }
        assert_eq!(
            Pacer::unlimited().rate("cloudwatch", "PutMetricAlarm"),
            None
        );
    }

    #[tokio::test(start_paused = true)]
    async fn calls_of_one_operation_are_spaced_evenly() {
        let pacer = Pacer::default();
        let origin = Instant::now();
        let times = calls(&pacer, "cloudwatch", "PutMetricAlarm", 6).await;
        assert_eq!(secs(origin, &times), [0.0, 0.4, 0.8, 1.2, 1.6, 2.0]);
        assert_eq!(most_in_window(&times, SECOND), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_spell_earns_no_burst() {
        let pacer = Pacer::default();
        let first = calls(&pacer, "ecs", "UpdateService", 1).await[0];
        tokio::time::sleep(Duration::from_secs(60)).await;
        let later = calls(&pacer, "ecs", "UpdateService", 5).await;
        assert_eq!(
            secs(first, &later),
            [60.0, 60.25, 60.5, 60.75, 61.0],
            "no more than the pace after an idle minute"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_take_turns_in_order() {
        let pacer = Arc::new(Pacer::default());
        let origin = Instant::now();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let pacer = Arc::clone(&pacer);
                tokio::spawn(async move { pacer.until_ready("cloudwatch", "PutMetricAlarm").await })
            })
            .collect();
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.expect("task"));
        }
        times.sort();
        assert_eq!(
            secs(origin, &times),
            [0.0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.4, 2.8]
        );
        assert_eq!(most_in_window(&times, SECOND), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn operations_and_services_are_paced_apart() {
        let pacer = Pacer::default();
        let origin = Instant::now();
        calls(&pacer, "cloudwatch", "PutMetricAlarm", 3).await;
        let describe = pacer.until_ready("cloudwatch", "DescribeAlarms").await;
        let ecs = pacer.until_ready("ecs", "UpdateService").await;
        let unpaced = pacer.until_ready("dynamodb", "GetItem").await;
        // The third PutMetricAlarm went at 0.8 s; the others waited for no one.
        assert_eq!(secs(origin, &[describe, ecs, unpaced]), [0.8, 0.8, 0.8]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_call_halves_its_services_pace_and_it_recovers() {
        let pacer = Pacer::default();
        let started = pacer.until_ready("cloudwatch", "PutMetricAlarm").await;
        assert_eq!(pacer.throttled("cloudwatch", started), Some(0.5));
        assert_eq!(pacer.factor("cloudwatch"), 0.5);
        assert_eq!(
            pacer.factor("ecs"),
            1.0,
            "other services go on at full pace"
        );

        // Every operation of the service goes at half pace: 1.25 a second.
        let origin = Instant::now();
        let slow = calls(&pacer, "cloudwatch", "DescribeAlarms", 3).await;
        assert_eq!(secs(origin, &slow), [0.0, 0.267, 0.533]);

        // It regains 5% of its pace a second: full again 10 s after the slow-down.
        tokio::time::sleep_until(origin + Duration::from_secs(4)).await;
        assert!((pacer.factor("cloudwatch") - 0.7).abs() < 1e-9);
        tokio::time::sleep_until(origin + Duration::from_secs(10)).await;
        assert_eq!(pacer.factor("cloudwatch"), 1.0);
        tokio::time::sleep(Duration::from_secs(100)).await;
        assert_eq!(pacer.factor("cloudwatch"), 1.0, "never above full pace");
    }

    #[tokio::test(start_paused = true)]
    async fn calls_sent_before_a_slow_down_do_not_slow_it_down_again() {
        let pacer = Pacer::default();
        let in_flight: Vec<Instant> = calls(&pacer, "ecs", "UpdateService", 4).await;
        // All four come back throttled, one after the other.
        assert_eq!(pacer.throttled("ecs", in_flight[0]), Some(0.5));
        for started in &in_flight[1..] {
            assert_eq!(pacer.throttled("ecs", *started), None);
        }
        assert_eq!(pacer.factor("ecs"), 0.5);
        // A call sent after the slow-down that ends throttled halves it again
        // (as recovered by then: 0.25 s at 5% a second).
        let later = pacer.until_ready("ecs", "UpdateService").await;
        let factor = pacer.throttled("ecs", later).expect("slowed down");
        assert!(
            (factor - (0.5 + 0.05 * 0.25) / 2.0).abs() < 1e-9,
            "{factor}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_pace_never_falls_below_its_floor() {
        let pacer = Pacer::default();
        for _ in 0..10 {
            let started = pacer.until_ready("sns", "CreateTopic").await;
            pacer.throttled("sns", started);
        }
        assert_eq!(pacer.factor("sns"), MIN_FACTOR);
        let origin = Instant::now();
        let times = calls(&pacer, "sns", "CreateTopic", 2).await;
        // 20 a second at a sixteenth: one every 0.8 s.
        assert!(times[0] >= origin);
        assert_eq!(times[1] - times[0], Duration::from_millis(800));
    }

    fn throttling(code: &str) -> SdkError<PutMetricAlarmError, HttpResponse> {
        let status = 400.try_into().expect("status");
        SdkError::service_error(
            PutMetricAlarmError::generic(ErrorMetadata::builder().code(code).build()),
            HttpResponse::new(status, SdkBody::empty()),
        )
    }

    /// A request (as cloneable as a fluent builder) whose attempts answer in
    /// turn with `answers`, an error code or `None` for success (the last
    /// answer again once they run out), and which records when each attempt
    /// was sent, its clones included.
    #[derive(Clone)]
    struct Scripted {
        answers: Arc<Vec<Option<&'static str>>>,
        sent: Arc<Mutex<Vec<Instant>>>,
    }

    impl Scripted {
        fn new(answers: &[Option<&'static str>]) -> Scripted {
            Scripted {
                answers: Arc::new(answers.to_vec()),
                sent: Arc::default(),
            }
        }

        async fn send(self) -> Result<(), SdkError<PutMetricAlarmError, HttpResponse>> {
            let attempt = {
                let mut sent = self.sent.lock().expect("sent");
                sent.push(Instant::now());
                sent.len() - 1
            };
            match self.answers[attempt.min(self.answers.len() - 1)] {
                None => Ok(()),
                Some(code) => Err(throttling(code)),
            }
        }

        fn sent(&self) -> Vec<Instant> {
            self.sent.lock().expect("sent").clone()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_call_is_retried_after_a_backoff_and_slows_its_service_down() {
        let pacer = Arc::new(Pacer::default());
        let pace = Pace::new(&pacer, "cloudwatch");
        let request = Scripted::new(&[Some("Throttling"), Some("Throttling"), None]);

        let result = request
            .clone()
            .paced(&pace, "PutMetricAlarm", Scripted::send)
            .await;
        assert_eq!(result, Ok(()));
        let sent = request.sent();
        assert_eq!(sent.len(), 3);
        // 1 s, then 2 s, each lengthened by up to itself (the jitter); the
        // turns at the slowed-down pace (0.8 s, then 1.6 s) come sooner.
        let (first, second) = (sent[1] - sent[0], sent[2] - sent[1]);
        assert!(first >= SECOND && first <= 2 * SECOND, "{first:?}");
        assert!(second >= 2 * SECOND && second <= 4 * SECOND, "{second:?}");
        // Halved by each throttled attempt (a little recovered in between).
        let factor = pacer.factor("cloudwatch");
        assert!(factor > 0.25 && factor < 0.5, "{factor}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttling_storm_never_exceeds_the_pace() {
        let pacer = Arc::new(Pacer::default());
        let pace = Pace::new(&pacer, "cloudwatch");
        // Every attempt of 12 concurrent calls is throttled.
        let request = Scripted::new(&[Some("Throttling")]);
        let calls: Vec<_> = (0..12)
            .map(|_| {
                let (pace, request) = (pace.clone(), request.clone());
                tokio::spawn(
                    async move { request.paced(&pace, "PutMetricAlarm", Scripted::send).await },
                )
            })
            .collect();
        for call in calls {
            let err = call.await.expect("task").unwrap_err();
            assert_eq!(err.class, ErrorClass::Throttling);
        }
        let mut sent = request.sent();
        assert_eq!(sent.len(), 12 * MAX_ATTEMPTS as usize, "every call gave up");
        // Retries included, no two attempts closer than the full pace's
        // 0.4 s, and no second holding more than AWS's quota of 3.
        sent.sort();
        let closest = sent.windows(2).map(|w| w[1] - w[0]).min().expect("gaps");
        assert!(closest >= Duration::from_millis(400), "{closest:?}");
        assert!(most_in_window(&sent, SECOND) <= 3);
        // Slowed down to its floor, the storm took a while.
        assert_eq!(pacer.factor("cloudwatch"), MIN_FACTOR);
        let span = *sent.last().expect("sent") - sent[0];
        assert!(span > Duration::from_secs(60), "{span:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn only_throttling_and_transient_errors_are_retried() {
        let pacer = Arc::new(Pacer::default());
        let pace = Pace::new(&pacer, "cloudwatch");
        let table = [
            ("ValidationError", ErrorClass::Validation, 1),
            ("AccessDenied", ErrorClass::AccessDenied, 1),
            ("ResourceNotFoundException", ErrorClass::NotFound, 1),
            ("ServiceUnavailable", ErrorClass::Transient, 2),
        ];
        for (code, class, attempts) in table {
            let request = Scripted::new(&[Some(code), None]);
            let result = request
                .clone()
                .paced(&pace, "PutMetricAlarm", Scripted::send)
                .await;
            assert_eq!(request.sent().len(), attempts, "{code}");
            match attempts {
                1 => assert_eq!(result.map_err(|e| e.class), Err(class), "{code}"),
                _ => assert_eq!(result, Ok(()), "{code}"),
            }
        }
        assert_eq!(
            pacer.factor("cloudwatch"),
            1.0,
            "only throttling slows down"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_gives_up_after_max_attempts() {
        let pace = Pace::new(&Arc::new(Pacer::default()), "cloudwatch");
        let request = Scripted::new(&[Some("Throttling")]);
        let err = request
            .clone()
            .paced(&pace, "PutMetricAlarm", Scripted::send)
            .await
            .unwrap_err();
        assert_eq!(
            (err.service, err.operation, err.class, err.code.as_deref()),
            (
                "cloudwatch",
                "PutMetricAlarm",
                ErrorClass::Throttling,
                Some("Throttling")
            )
        );
        assert_eq!(request.sent().len(), MAX_ATTEMPTS as usize);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_waits_for_its_turn_before_it_is_sent() {
        let pace = Pace::new(&Arc::new(Pacer::default()), "cloudwatch");
        let origin = Instant::now();
        let request = Scripted::new(&[None]);
        for _ in 0..3 {
            request
                .clone()
                .paced(&pace, "DeleteAlarms", Scripted::send)
                .await
                .expect("ok");
        }
        assert_eq!(secs(origin, &request.sent()), [0.0, 0.4, 0.8]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unpaced_handle_never_waits() {
        let pace = Pace::unpaced("cloudwatch");
        let origin = Instant::now();
        for _ in 0..100 {
            pace.ready("PutMetricAlarm").await;
        }
        assert_eq!(Instant::now(), origin);
    }
}
