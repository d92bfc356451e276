//! The AWS layer: one file per service, the only place that calls the SDK.
//!
//! Each service is a trait (the seam the engine is tested through) with an
//! SDK implementation and an in-memory fake ([`fake`]). Errors are classified
//! here, once, so that retry decisions never parse messages elsewhere.

use std::sync::Arc;
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// `$client` (of crate `$sdk`) as configured, but making no retries of its
/// own: a paced client's calls are retried by [`pace::Pace::call`], each
/// attempt at its turn.
macro_rules! without_sdk_retries {
    ($sdk:ident, $client:expr) => {
        $sdk::Client::from_conf(
            $client
                .config()
                .to_builder()
                .retry_config(aws_config::retry::RetryConfig::disabled())
                .build(),
        )
    };
}

pub mod autoscaling;
pub mod cloudwatch;
pub mod counting;
pub mod dashboards;
pub mod ecs;
#[cfg(test)]
pub mod fake;
pub mod fence;
pub mod lease;
pub mod pace;
pub mod secretsmanager;
pub mod sns;
pub mod sqs;
pub mod sts;
pub mod tagging;

/// Resource tags, ordered so that output is stable.
pub type Tags = std::collections::BTreeMap<String, String>;

pub use autoscaling::AutoScaling;
pub use cloudwatch::CloudWatch;
pub use dashboards::Dashboards;
pub use ecs::Ecs;
pub use secretsmanager::SecretsManager;
pub use sns::Sns;
pub use sts::Sts;
pub use tagging::Tagging;

/// What kind of failure an AWS call ended in; decides whether to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The service asked us to slow down.
    Throttling,
    /// A 5xx, a timeout or a connection failure: worth retrying.
    Transient,
    /// The resource does not exist.
    NotFound,
    /// Credentials or IAM policy do not allow the call.
    AccessDenied,
    /// The request was rejected as invalid: retrying the same thing is pointless.
    Validation,
    /// A write driftd did not send: its lease is not surely its own
    /// ([`fence`]).
    Fenced,
    /// Anything else.
    Other,
}

impl ErrorClass {
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorClass::Throttling | ErrorClass::Transient)
    }
}

/// A failed AWS call: which operation, how it failed, and AWS's own message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service}.{operation}: {message}")]
pub struct Error {
    pub service: &'static str,
    pub operation: &'static str,
    pub class: ErrorClass,
    /// The error code AWS returned, when it returned one.
    pub code: Option<String>,
    pub message: String,
}

impl Error {
    /// An error raised by driftd itself about an AWS answer (e.g. a missing field).
    pub fn new(
        service: &'static str,
        operation: &'static str,
        class: ErrorClass,
        message: impl Into<String>,
    ) -> Error {
        Error {
            service,
            operation,
            class,
            code: None,
            message: message.into(),
        }
    }

    /// Classifies an SDK error by its error code and transport failure kind.
    pub fn from_sdk<E>(
        service: &'static str,
        operation: &'static str,
        err: SdkError<E, HttpResponse>,
    ) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        if fence::is_fenced(&err) {
            return Error {
                service,
                operation,
                class: ErrorClass::Fenced,
                code: None,
                message: source_chain(&err),
            };
        }
        let (class, code, message) = match &err {
            SdkError::TimeoutError(_) => (ErrorClass::Transient, None, "timed out".to_string()),
            SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
                (ErrorClass::Transient, None, source_chain(&err))
            }
            SdkError::ConstructionFailure(_) => (ErrorClass::Other, None, source_chain(&err)),
            SdkError::ServiceError(e) => {
                let code = e.err().code().map(str::to_string);
                let message = e
                    .err()
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| code.clone().unwrap_or_else(|| "unknown error".into()));
                let status = Some(e.raw().status().as_u16());
                (classify(code.as_deref(), status), code, message)
            }
            _ => (ErrorClass::Other, None, source_chain(&err)),
        };
        Error {
            service,
            operation,
            class,
            code,
            message,
        }
    }
}

/// Error codes AWS services use, by class. Codes differ by protocol and service.
fn classify(code: Option<&str>, status: Option<u16>) -> ErrorClass {
    match code.unwrap_or_default() {
        "Throttling"
        | "ThrottlingException"
        | "ThrottledException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "SlowDown"
        | "LimitExceededException"
        | "Rate exceeded" => ErrorClass::Throttling,
        "ResourceNotFound"
        | "ResourceNotFoundException"
        | "NotFound"
        | "NotFoundException"
        | "ResourceNotFoundFault"
        | "ServiceNotFoundException"
        | "ClusterNotFoundException"
        | "ObjectNotFoundException" => ErrorClass::NotFound,
        "AccessDenied"
        | "AccessDeniedException"
        | "AuthorizationError"
        | "UnauthorizedOperation"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "SignatureDoesNotMatch" => ErrorClass::AccessDenied,
        "ValidationError"
        | "ValidationException"
        | "InvalidParameterValue"
        | "InvalidParameterValueException"
        | "InvalidParameterException"
        | "InvalidParameter"
        | "InvalidParameterCombination"
        | "InvalidRequestException"
        | "MissingParameter"
        | "InvalidParameters"
        | "InvalidFormat"
        | "MalformedPolicyDocumentException"
        | "ResourceExistsException"
        | "LimitExceeded"
        | "InvalidDashboardBody"
        // CloudWatch's DashboardInvalidInputError (PutDashboard rejected the body).
        | "InvalidParameterInput" => ErrorClass::Validation,
        "InternalFailure"
        | "InternalError"
        | "InternalErrorException"
        | "InternalServiceError"
        | "InternalServiceFault"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "ServerException"
        | "RequestTimeout"
        | "RequestTimeoutException" => ErrorClass::Transient,
        _ => match status {
            Some(429) => ErrorClass::Throttling,
            Some(s) if s >= 500 => ErrorClass::Transient,
            Some(403) => ErrorClass::AccessDenied,
            Some(404) => ErrorClass::NotFound,
            _ => ErrorClass::Other,
        },
    }
}

fn source_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

/// Connect timeout of every AWS call.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time limit of one attempt of an AWS call.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time limit of an AWS call that the SDK retries itself (STS, DynamoDB,
/// SQS), all its attempts included. The paced clients make one attempt per
/// SDK call, which [`ATTEMPT_TIMEOUT`] bounds first.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts per AWS call, on throttling, 5xx and transport errors only (never
/// on validation or access-denied errors), with exponential backoff and
/// jitter between them: made by [`pace::Pace::call`] for the paced clients,
/// each attempt at its turn, and by the SDK's standard retry mode for the
/// others.
pub const MAX_ATTEMPTS: u32 = 3;

/// The one SDK configuration every client of the process shares: the
/// standard credential and region chain, with `--region`/`--endpoint-url`
/// overrides, explicit timeouts and the standard retry mode (which the paced
/// clients turn off: they retry through [`pace::Pace::call`]).
pub async fn sdk_config(
    region: Option<String>,
    endpoint_url: Option<String>,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// A role an environment's calls are made as: assumed with
/// `sts:AssumeRole` from the process's own credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub arn: String,
    /// Given to AssumeRole when the role's trust policy asks for one.
    pub external_id: Option<String>,
    /// The role session name, as CloudTrail shows it.
    pub session_name: String,
}

/// The configuration of one environment's clients: the process's own one
/// (timeouts, retries, `--endpoint-url`), in the environment's region when
/// it names one, and with the credentials of its role when it has one.
/// aws-config's `AssumeRoleProvider` behind the SDK's identity cache
/// assumes the role on first use and again before the credentials expire.
pub async fn environment_config(
    base: &aws_config::SdkConfig,
    region: Option<&str>,
    role: Option<&Role>,
) -> aws_config::SdkConfig {
    let mut builder = base.to_builder();
    if let Some(region) = region {
        builder.set_region(Some(aws_config::Region::new(region.to_string())));
    }
    if let Some(role) = role {
        let mut provider = aws_config::sts::AssumeRoleProvider::builder(&role.arn)
            .session_name(&role.session_name)
            .configure(base);
        if let Some(region) = region {
            provider = provider.region(aws_config::Region::new(region.to_string()));
        }
        if let Some(id) = &role.external_id {
            provider = provider.external_id(id);
        }
        let provider = provider.build().await;
        builder.set_credentials_provider(Some(
            aws_sdk_sts::config::SharedCredentialsProvider::new(provider),
        ));
    }
    builder.build()
}

/// The AWS clients of one driftd process, behind their seams.
#[derive(Clone)]
pub struct Aws {
    pub cloudwatch: Arc<dyn CloudWatch>,
    pub dashboards: Arc<dyn Dashboards>,
    pub sns: Arc<dyn Sns>,
    pub tagging: Arc<dyn Tagging>,
    pub secretsmanager: Arc<dyn SecretsManager>,
    pub ecs: Arc<dyn Ecs>,
    pub autoscaling: Arc<dyn AutoScaling>,
    pub sts: Arc<dyn Sts>,
}

impl Aws {
    /// Clients for real AWS (or an emulator at `--endpoint-url`), all sharing
    /// one SDK config and one [`pace::Pacer`]: every call waits for its turn
    /// below AWS's request quotas.
    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Aws {
        Aws::paced_by(config, Arc::new(pace::Pacer::default()))
    }

    /// Like [`Aws::from_sdk_config`], paced by `pacer` (e.g. with the
    /// operator's `--aws-max-rps`).
    pub fn paced_by(config: &aws_config::SdkConfig, pacer: Arc<pace::Pacer>) -> Aws {
        Aws {
            cloudwatch: Arc::new(cloudwatch::SdkCloudWatch::new(config).paced(&pacer)),
            dashboards: Arc::new(dashboards::SdkDashboards::new(config).paced(&pacer)),
            sns: Arc::new(sns::SdkSns::new(config).paced(&pacer)),
            tagging: Arc::new(tagging::SdkTagging::new(config).paced(&pacer)),
            secretsmanager: Arc::new(secretsmanager::SdkSecretsManager::new(config).paced(&pacer)),
            ecs: Arc::new(ecs::SdkEcs::new(config).paced(&pacer)),
            autoscaling: Arc::new(autoscaling::SdkAutoScaling::new(config).paced(&pacer)),
            sts: Arc::new(sts::SdkSts::new(config)),
        }
    }

    /// Like [`Aws::from_sdk_config`], and every request of every client is
    /// reported to `observer` (the daemon's metrics) by a
    /// [`counting::CountingInterceptor`] labelled with driftd's service name;
    /// with a `fence`, no write is sent while it is closed
    /// ([`fence::FenceInterceptor`]).
    pub fn counted(
        config: &aws_config::SdkConfig,
        observer: Arc<dyn counting::RequestObserver>,
        fence: Option<Arc<dyn fence::Fence>>,
        pacer: Arc<pace::Pacer>,
    ) -> Aws {
        macro_rules! client {
            ($sdk:ident, $service:literal) => {{
                let mut builder = $sdk::config::Builder::from(config).interceptor(
                    counting::CountingInterceptor::new($service, observer.clone()),
                );
                if let Some(fence) = &fence {
                    builder = builder.interceptor(fence::FenceInterceptor::new(fence.clone()));
                }
                $sdk::Client::from_conf(builder.build())
            }};
        }
        Aws {
            cloudwatch: Arc::new(
                cloudwatch::SdkCloudWatch::from_client(client!(aws_sdk_cloudwatch, "cloudwatch"))
                    .paced(&pacer),
            ),
            dashboards: Arc::new(
                dashboards::SdkDashboards::from_client(client!(aws_sdk_cloudwatch, "cloudwatch"))
                    .paced(&pacer),
            ),
            sns: Arc::new(sns::SdkSns::from_client(client!(aws_sdk_sns, "sns")).paced(&pacer)),
            tagging: Arc::new(
                tagging::SdkTagging::from_client(client!(aws_sdk_resourcegroupstagging, "tagging"))
                    .paced(&pacer),
            ),
            secretsmanager: Arc::new(
                secretsmanager::SdkSecretsManager::from_client(client!(
                    aws_sdk_secretsmanager,
                    "secretsmanager"
                ))
                .paced(&pacer),
            ),
            ecs: Arc::new(ecs::SdkEcs::from_client(client!(aws_sdk_ecs, "ecs")).paced(&pacer)),
            autoscaling: Arc::new(
                autoscaling::SdkAutoScaling::from_client(client!(
                    aws_sdk_applicationautoscaling,
                    "autoscaling"
                ))
                .paced(&pacer),
            ),
            sts: Arc::new(sts::SdkSts::from_client(client!(aws_sdk_sts, "sts"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_codes_of_every_protocol_are_throttling() {
        for code in [
            "Throttling",
            "ThrottlingException",
            "TooManyRequestsException",
        ] {
            assert_eq!(
                classify(Some(code), Some(400)),
                ErrorClass::Throttling,
                "{code}"
            );
        }
        assert_eq!(classify(None, Some(429)), ErrorClass::Throttling);
    }

    #[test]
    fn validation_and_access_denied_are_not_retryable() {
        assert!(!classify(Some("ValidationError"), Some(400)).is_retryable());
        assert!(!classify(Some("AccessDenied"), Some(403)).is_retryable());
        assert!(classify(Some("InternalFailure"), Some(500)).is_retryable());
        assert!(classify(Some("Whatever"), Some(503)).is_retryable());
    }
}
