//! ECS: services' desired counts (DescribeServices, UpdateService).
//!
//! driftd manages one number of an ECS service, its desired count, and
//! nothing else: it never creates, deletes, redeploys or tags services.
//!
//! Why no ownership tag: the contract tags what driftd creates or adopts
//! "where the service can tag it", and the tag exists so that `--prune` can
//! prove ownership. ECS services are never pruned, so the tag would prove
//! nothing, while writing it would reach into a service driftd does not own:
//! a service with `propagateTags: SERVICE` copies its tags onto every task it
//! starts from then on, the call needs `ecs:TagResource` on someone else's
//! workload, and services created before the account opted into the long ARN
//! format cannot be tagged at all (TagResource fails with
//! InvalidParameterException), which would turn an old but healthy service
//! into a permanent error. So this seam has no tag operations.

use std::sync::Arc;

use async_trait::async_trait;

use super::pace::{Pace, Paced, Pacer};
use super::{Error, ErrorClass};

const SERVICE: &str = "ecs";

/// DescribeServices accepts at most 10 services per call.
pub const SERVICES_PER_CALL: usize = 10;

/// The lifecycle state ECS reports for a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceStatus {
    Active,
    /// Deleted, while its tasks stop.
    Draining,
    /// Deleted; ECS keeps describing it for a while.
    Inactive,
    /// A status this version of driftd does not know.
    Other(String),
}

impl ServiceStatus {
    pub fn parse(s: &str) -> ServiceStatus {
        match s {
            "ACTIVE" => ServiceStatus::Active,
            "DRAINING" => ServiceStatus::Draining,
            "INACTIVE" => ServiceStatus::Inactive,
            other => ServiceStatus::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ServiceStatus::Active => "ACTIVE",
            ServiceStatus::Draining => "DRAINING",
            ServiceStatus::Inactive => "INACTIVE",
            ServiceStatus::Other(s) => s,
        }
    }

    /// How much a description in this state says about the service a name
    /// stands for now: after a delete and re-create, ECS may describe the
    /// old INACTIVE service and the new ACTIVE one under the same name.
    fn rank(&self) -> u8 {
        match self {
            ServiceStatus::Active => 3,
            ServiceStatus::Draining => 2,
            ServiceStatus::Other(_) => 1,
            ServiceStatus::Inactive => 0,
        }
    }
}

/// One service as DescribeServices reports it (the parts driftd reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    pub name: String,
    pub arn: Option<String>,
    pub status: ServiceStatus,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
}

/// A service DescribeServices could not describe (its `failures` list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The service name, taken from the failure's ARN.
    pub service: String,
    /// `MISSING` when the service does not exist.
    pub reason: String,
    pub detail: Option<String>,
}

impl Failure {
    pub fn is_missing(&self) -> bool {
        self.reason == "MISSING"
    }
}

/// The answer of one DescribeServices call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Described {
    pub services: Vec<ServiceInfo>,
    pub failures: Vec<Failure>,
}

impl Described {
    /// The description of `name`: the service, the failure that names it, or
    /// `None` when the answer mentions neither. When several services carry
    /// the name, the one in the most current state wins.
    pub fn lookup(&self, name: &str) -> Option<Result<&ServiceInfo, &Failure>> {
        let best = self
            .services
            .iter()
            .filter(|s| s.name == name)
            .max_by_key(|s| s.status.rank());
        match best {
            Some(s) => Some(Ok(s)),
            None => self.failures.iter().find(|f| f.service == name).map(Err),
        }
    }
}

/// The service name in a service ARN: the last path segment of either ARN
/// format (`service/<name>` and `service/<cluster>/<name>`). Service names
/// cannot contain `/`; anything without one is taken as a name already.
pub fn service_name_of(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

#[async_trait]
pub trait Ecs: Send + Sync {
    /// One DescribeServices call for at most [`SERVICES_PER_CALL`] services
    /// (names or ARNs) of one cluster. A cluster that does not exist is an
    /// `Err` of class NotFound (code `ClusterNotFoundException`).
    async fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Result<Described, Error>;

    /// UpdateService with the desired count and nothing else, so that the task
    /// definition, deployment and everything else about the service stay as
    /// they are.
    async fn update_desired_count(
        &self,
        cluster: &str,
        service: &str,
        desired_count: i32,
    ) -> Result<(), Error>;
}

pub struct SdkEcs {
    client: aws_sdk_ecs::Client,
    pace: Pace,
}

impl SdkEcs {
    /// Unpaced: [`super::Aws`] gives its clients the process's pacer.
    pub fn new(config: &aws_config::SdkConfig) -> SdkEcs {
        SdkEcs::from_client(aws_sdk_ecs::Client::new(config))
    }

    /// Over a client configured by the caller (e.g. with an interceptor),
    /// less its SDK retries: its calls are retried at their pace ([`Pace::call`]).
    pub fn from_client(client: aws_sdk_ecs::Client) -> SdkEcs {
        SdkEcs {
            client: without_sdk_retries!(aws_sdk_ecs, client),
            pace: Pace::unpaced(SERVICE),
        }
    }

    /// Its calls wait for their turn at the process's pacer (see [`super::pace`]).
    pub fn paced(mut self, pacer: &Arc<Pacer>) -> SdkEcs {
        self.pace = Pace::new(pacer, SERVICE);
        self
    }
}

#[async_trait]
impl Ecs for SdkEcs {
    async fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Result<Described, Error> {
        if services.len() > SERVICES_PER_CALL {
            return Err(too_many(services.len()));
        }
        let resp = self
            .client
            .describe_services()
            .cluster(cluster)
            .set_services(Some(services.to_vec()))
            .paced(&self.pace, "DescribeServices", |r| r.send())
            .await?;
        let services = resp
            .services()
            .iter()
            .filter_map(|s| {
                // A service without a name cannot be matched to a request; ECS
                // always sends one, so skipping is only a guard.
                let name = s.service_name()?;
                Some(ServiceInfo {
                    name: name.to_string(),
                    arn: s.service_arn().map(str::to_string),
                    status: ServiceStatus::parse(s.status().unwrap_or_default()),
                    desired_count: s.desired_count(),
                    running_count: s.running_count(),
                    pending_count: s.pending_count(),
                })
            })
            .collect();
        let failures = resp
            .failures()
            .iter()
            .filter_map(|f| {
                Some(Failure {
                    service: service_name_of(f.arn()?).to_string(),
                    reason: f.reason().unwrap_or_default().to_string(),
                    detail: f.detail().map(str::to_string),
                })
            })
            .collect();
        Ok(Described { services, failures })
    }

    async fn update_desired_count(
        &self,
        cluster: &str,
        service: &str,
        desired_count: i32,
    ) -> Result<(), Error> {
        self.client
            .update_service()
            .cluster(cluster)
            .service(service)
            .desired_count(desired_count)
            .paced(&self.pace, "UpdateService", |r| r.send())
            .await?;
        Ok(())
    }
}

fn too_many(n: usize) -> Error {
    Error::new(
        SERVICE,
        "DescribeServices",
        ErrorClass::Validation,
        format!("{n} services in one call; DescribeServices takes at most {SERVICES_PER_CALL}"),
    )
}

/// The in-memory fake of this service (test builds only).
#[cfg(test)]
#[path = "fake/ecs.rs"]
pub mod fake;

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, status: ServiceStatus, desired_count: i32) -> ServiceInfo {
        ServiceInfo {
            name: name.into(),
            arn: None,
            status,
            desired_count,
            running_count: 0,
            pending_count: 0,
        }
    }

    #[test]
    fn service_names_come_from_either_arn_format() {
        for arn in [
            "arn:aws:ecs:us-east-1:123456789012:service/api",
            "arn:aws:ecs:us-east-1:123456789012:service/blue/api",
            "api",
        ] {
            assert_eq!(service_name_of(arn), "api", "{arn}");
        }
    }

    #[test]
    fn a_recreated_service_wins_over_its_inactive_predecessor() {
        let answer = Described {
            services: vec![
                info("api", ServiceStatus::Inactive, 0),
                info("api", ServiceStatus::Active, 3),
            ],
            failures: vec![],
        };
        let Some(Ok(found)) = answer.lookup("api") else {
            panic!("{answer:?}");
        };
        assert_eq!(
            (&found.status, found.desired_count),
            (&ServiceStatus::Active, 3)
        );
    }

    #[test]
    fn lookup_finds_failures_and_knows_what_it_was_not_told() {
        let answer = Described {
            services: vec![],
            failures: vec![Failure {
                service: "gone".into(),
                reason: "MISSING".into(),
                detail: None,
            }],
        };
        assert!(matches!(answer.lookup("gone"), Some(Err(f)) if f.is_missing()));
        assert!(answer.lookup("other").is_none());
    }
}
