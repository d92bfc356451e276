//! Counts every AWS request: an SDK interceptor attached to every client
//! reports each attempt's service, operation and outcome to an observer
//! (the daemon's metrics).
//!
//! Attempts are counted, not calls: a call retried twice (by the pace layer,
//! [`super::pace::Pace::call`], or by the SDK) is three requests, which is
//! what AWS bills and throttles. The outcome of a failed attempt is decided
//! by the SDK's own retry classifiers (which run whether or not the SDK
//! retries), so a throttling error is recognised whatever the protocol
//! spells it as (an XML `<Code>` for CloudWatch and SNS, `__type` for the
//! JSON services, or HTTP 429).

use std::fmt;
use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    FinalizerInterceptorContextRef, InterceptorContext,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryReason,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::retry::ErrorKind;

/// How one request attempt ended: the `outcome` label of `driftd_aws_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Success,
    /// The service asked us to slow down (also counted in `driftd_aws_throttled_total`).
    Throttled,
    /// A 4xx other than throttling: validation, access denied, not found.
    ClientError,
    /// A 5xx.
    ServerError,
    /// No answer in time (connect or attempt timeout).
    Timeout,
    /// The connection failed (refused, reset, DNS).
    NetworkError,
    /// Anything else (e.g. an answer that could not be parsed).
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Throttled => "throttled",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
            Outcome::Timeout => "timeout",
            Outcome::NetworkError => "network_error",
            Outcome::Error => "error",
        }
    }
}

/// Receives one report per AWS request attempt.
pub trait RequestObserver: Send + Sync {
    /// `service` is driftd's name of the service (`cloudwatch`, `sns`, ...),
    /// `operation` the API operation (`DescribeAlarms`).
    fn request(&self, service: &'static str, operation: &str, outcome: Outcome);
}

/// The SDK interceptor of one service's client.
pub struct CountingInterceptor {
    service: &'static str,
    observer: Arc<dyn RequestObserver>,
}

impl CountingInterceptor {
    /// The interceptor of the client of `service`, for `config::Builder::interceptor`.
    pub fn new(service: &'static str, observer: Arc<dyn RequestObserver>) -> CountingInterceptor {
        CountingInterceptor { service, observer }
    }
}

impl fmt::Debug for CountingInterceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingInterceptor")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "driftd::CountingInterceptor"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
        let outcome = outcome_of(context.inner(), runtime_components);
        self.observer.request(self.service, operation, outcome);
        Ok(())
    }
}

/// What is known about a failed attempt, for [`Outcome::of_failure`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Failure {
    /// The attempt or connect timeout fired.
    timeout: bool,
    /// The connection itself failed.
    network: bool,
    /// The SDK's retry classifiers call it a throttling error.
    throttling: bool,
    /// The HTTP status, when an answer came.
    status: Option<u16>,
}

impl Outcome {
    fn of_failure(f: Failure) -> Outcome {
        if f.throttling || f.status == Some(429) {
            Outcome::Throttled
        } else if f.timeout {
            Outcome::Timeout
        } else if f.network {
            Outcome::NetworkError
        } else {
            match f.status {
                Some(s) if s >= 500 => Outcome::ServerError,
                Some(s) if s >= 400 => Outcome::ClientError,
                _ => Outcome::Error,
            }
        }
    }
}

fn outcome_of(ctx: &InterceptorContext, rc: &RuntimeComponents) -> Outcome {
    let error = match ctx.output_or_error() {
        Some(Ok(_)) => return Outcome::Success,
        Some(Err(e)) => e,
        // The attempt ended before it had a result (e.g. an interceptor failed).
        None => return Outcome::Error,
    };
    let connector = error.as_connector_error();
    Outcome::of_failure(Failure {
        timeout: error.is_timeout_error() || connector.is_some_and(|c| c.is_timeout()),
        network: connector.is_some(),
        throttling: matches!(
            classify(rc, ctx),
            RetryAction::RetryIndicated(RetryReason::RetryableError {
                kind: ErrorKind::ThrottlingError,
                ..
            })
        ),
        status: ctx.response().map(|r| r.status().as_u16()),
    })
}

/// Runs the client's retry classifiers the way the SDK's retry strategy does
/// (`aws_smithy_runtime::client::retries::classifiers::run_classifiers_on_ctx`,
/// not a dependency of ours): each refines the previous verdict, and
/// `RetryForbidden` ends the classification.
fn classify(rc: &RuntimeComponents, ctx: &InterceptorContext) -> RetryAction {
    let mut result = RetryAction::NoActionIndicated;
    for classifier in rc.retry_classifiers() {
        let next = classifier.classify_retry_v2(ctx, &result);
        if next == RetryAction::NoActionIndicated {
            continue;
        }
        result = next;
        if result == RetryAction::RetryForbidden {
            break;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_told_apart() {
        let status = |code| Failure {
            status: Some(code),
            ..Failure::default()
        };
        let cases = [
            (
                Failure {
                    throttling: true,
                    ..status(400)
                },
                Outcome::Throttled,
            ),
            (status(429), Outcome::Throttled),
            (status(400), Outcome::ClientError),
            (status(403), Outcome::ClientError),
            (status(503), Outcome::ServerError),
            (
                Failure {
                    timeout: true,
                    network: true,
                    ..Failure::default()
                },
                Outcome::Timeout,
            ),
            (
                Failure {
                    network: true,
                    ..Failure::default()
                },
                Outcome::NetworkError,
            ),
            (Failure::default(), Outcome::Error),
        ];
        for (failure, expected) in cases {
            assert_eq!(Outcome::of_failure(failure), expected, "{failure:?}");
        }
    }
}
