//! Application Auto Scaling in the in-memory fake: [`FakeState`], what the fake holds
//! of this service, and the service's trait for [`crate::aws::fake::FakeAws`].
//! A child of `aws::autoscaling` (declared there, test builds only), so it uses that
//! module's private helpers; see [`crate::aws::fake`].

use super::*;
use crate::aws::fake::coded_error;

/// This service's part of the in-memory fake (see [`crate::aws::fake`]).
#[derive(Debug, Default)]
pub struct FakeState {
    /// Resource id -> the range of its `ecs:service:DesiredCount` target.
    pub ecs_targets: BTreeMap<String, ScalableRange>,
    /// Every DescribeScalableTargets call: the resource ids asked for.
    pub describe_calls: Vec<Vec<String>>,
    /// When set, DescribeScalableTargets fails with AccessDeniedException.
    pub denied: bool,
}

impl FakeState {
    /// Registers a scalable target for the desired count of this ECS service.
    pub fn register_ecs_target(&mut self, cluster: &str, service: &str, min: i32, max: i32) {
        self.ecs_targets.insert(
            ecs_resource_id(cluster, service),
            ScalableRange { min, max },
        );
    }
}

#[async_trait]
impl AutoScaling for crate::aws::fake::FakeAws {
    async fn ecs_scalable_targets(
        &self,
        resource_ids: &[String],
    ) -> Result<BTreeMap<String, ScalableRange>, Error> {
        let mut state = self.state.lock().unwrap();
        let aas = &mut state.autoscaling;
        aas.describe_calls.push(resource_ids.to_vec());
        if resource_ids.len() > RESOURCE_IDS_PER_CALL {
            return Err(too_many(resource_ids.len()));
        }
        if aas.denied {
            return Err(coded_error(
                SERVICE,
                "DescribeScalableTargets",
                ErrorClass::AccessDenied,
                "AccessDeniedException",
                "not authorized to perform application-autoscaling:DescribeScalableTargets",
            ));
        }
        Ok(resource_ids
            .iter()
            .filter_map(|id| aas.ecs_targets.get(id).map(|r| (id.clone(), *r)))
            .collect())
    }
}
