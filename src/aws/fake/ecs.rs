//! ECS in the in-memory fake: [`FakeState`], what the fake holds
//! of this service, and the service's trait for [`crate::aws::fake::FakeAws`].
//! A child of `aws::ecs` (declared there, test builds only), so it uses that
//! module's private helpers; see [`crate::aws::fake`].

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::aws::fake::coded_error;

/// One service of the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeService {
    pub status: ServiceStatus,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
}

/// This service's part of the in-memory fake (see [`crate::aws::fake`]).
#[derive(Debug, Default)]
pub struct FakeState {
    /// Cluster name -> service name -> service. A cluster absent here does not exist.
    pub clusters: BTreeMap<String, BTreeMap<String, FakeService>>,
    /// Every DescribeServices call: the cluster and the services asked for.
    pub describe_calls: Vec<(String, Vec<String>)>,
    /// Clusters whose services this caller may not describe (an IAM policy
    /// scoped to other clusters): DescribeServices fails with AccessDeniedException.
    pub denied_clusters: BTreeSet<String>,
}

impl FakeState {
    /// Adds an ACTIVE service (and its cluster) with this desired count, all
    /// of its tasks running.
    pub fn add_service(
        &mut self,
        cluster: &str,
        service: &str,
        desired_count: i32,
    ) -> &mut FakeService {
        let fresh = FakeService {
            status: ServiceStatus::Active,
            desired_count,
            running_count: desired_count,
            pending_count: 0,
        };
        let services = self.clusters.entry(cluster.to_string()).or_default();
        match services.entry(service.to_string()) {
            Entry::Occupied(mut slot) => {
                slot.insert(fresh);
                slot.into_mut()
            }
            Entry::Vacant(slot) => slot.insert(fresh),
        }
    }

    /// The fake's copy of a service, for assertions.
    pub fn service(&self, cluster: &str, service: &str) -> Option<&FakeService> {
        self.clusters.get(cluster)?.get(service)
    }
}

fn fake_cluster_not_found(operation: &'static str) -> Error {
    coded_error(
        SERVICE,
        operation,
        ErrorClass::NotFound,
        "ClusterNotFoundException",
        "Cluster not found.",
    )
}

#[async_trait]
impl Ecs for crate::aws::fake::FakeAws {
    async fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Result<Described, Error> {
        let mut state = self.state.lock().unwrap();
        let ecs = &mut state.ecs;
        ecs.describe_calls
            .push((cluster.to_string(), services.to_vec()));
        if services.len() > SERVICES_PER_CALL {
            return Err(too_many(services.len()));
        }
        if ecs.denied_clusters.contains(cluster) {
            return Err(coded_error(
                SERVICE,
                "DescribeServices",
                ErrorClass::AccessDenied,
                "AccessDeniedException",
                format!("not authorized to describe services of cluster {cluster}"),
            ));
        }
        let Some(known) = ecs.clusters.get(cluster) else {
            return Err(fake_cluster_not_found("DescribeServices"));
        };
        let mut out = Described::default();
        for requested in services {
            let name = service_name_of(requested);
            match known.get(name) {
                Some(s) => out.services.push(ServiceInfo {
                    name: name.to_string(),
                    arn: Some(format!(
                        "arn:aws:ecs:us-east-1:123456789012:service/{cluster}/{name}"
                    )),
                    status: s.status.clone(),
                    desired_count: s.desired_count,
                    running_count: s.running_count,
                    pending_count: s.pending_count,
                }),
                None => out.failures.push(Failure {
                    service: name.to_string(),
                    reason: "MISSING".into(),
                    detail: None,
                }),
            }
        }
        Ok(out)
    }

    async fn update_desired_count(
        &self,
        cluster: &str,
        service: &str,
        desired_count: i32,
    ) -> Result<(), Error> {
        {
            let mut state = self.state.lock().unwrap();
            let Some(known) = state.ecs.clusters.get_mut(cluster) else {
                return Err(fake_cluster_not_found("UpdateService"));
            };
            let Some(s) = known.get_mut(service) else {
                return Err(coded_error(
                    SERVICE,
                    "UpdateService",
                    ErrorClass::NotFound,
                    "ServiceNotFoundException",
                    "Service not found.",
                ));
            };
            if s.status != ServiceStatus::Active {
                return Err(coded_error(
                    SERVICE,
                    "UpdateService",
                    ErrorClass::Other,
                    "ServiceNotActiveException",
                    "Service was not ACTIVE.",
                ));
            }
            s.desired_count = desired_count;
        }
        self.record_write(format!("ecs.UpdateService {cluster}/{service}"));
        Ok(())
    }
}
