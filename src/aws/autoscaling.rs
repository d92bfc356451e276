//! Application Auto Scaling: scalable targets of ECS services.
//!
//! driftd only reads them: when an autoscaler moves a service's desired
//! count, its min/max range is what driftd enforces (it must not fight the
//! autoscaler).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};

use super::pace::{Pace, Paced, Pacer};
use super::{Error, ErrorClass};

const SERVICE: &str = "autoscaling";

/// DescribeScalableTargets accepts at most 50 resource ids per call.
pub const RESOURCE_IDS_PER_CALL: usize = 50;

/// The Application Auto Scaling resource id of an ECS service:
/// `service/<cluster name>/<service name>`.
pub fn ecs_resource_id(cluster: &str, service: &str) -> String {
    format!("service/{cluster}/{service}")
}

/// The range within which Application Auto Scaling keeps a desired count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalableRange {
    pub min: i32,
    pub max: i32,
}

#[async_trait]
pub trait AutoScaling: Send + Sync {
    /// The scalable targets (dimension `ecs:service:DesiredCount`) of these ECS
    /// resource ids, at most [`RESOURCE_IDS_PER_CALL`] of them; all pages of
    /// one DescribeScalableTargets request. A service without a target is
    /// absent from the answer.
    async fn ecs_scalable_targets(
        &self,
        resource_ids: &[String],
    ) -> Result<BTreeMap<String, ScalableRange>, Error>;
}

pub struct SdkAutoScaling {
    client: aws_sdk_applicationautoscaling::Client,
    pace: Pace,
}

impl SdkAutoScaling {
    /// Unpaced: [`super::Aws`] gives its clients the process's pacer.
    pub fn new(config: &aws_config::SdkConfig) -> SdkAutoScaling {
        SdkAutoScaling::from_client(aws_sdk_applicationautoscaling::Client::new(config))
    }

    /// Over a client configured by the caller (e.g. with an interceptor),
    /// less its SDK retries: its calls are retried at their pace ([`Pace::call`]).
    pub fn from_client(client: aws_sdk_applicationautoscaling::Client) -> SdkAutoScaling {
        SdkAutoScaling {
            client: without_sdk_retries!(aws_sdk_applicationautoscaling, client),
            pace: Pace::unpaced(SERVICE),
        }
    }

    /// Its calls wait for their turn at the process's pacer (see [`super::pace`]).
    pub fn paced(mut self, pacer: &Arc<Pacer>) -> SdkAutoScaling {
        self.pace = Pace::new(pacer, SERVICE);
        self
    }
}

#[async_trait]
impl AutoScaling for SdkAutoScaling {
    async fn ecs_scalable_targets(
        &self,
        resource_ids: &[String],
    ) -> Result<BTreeMap<String, ScalableRange>, Error> {
        if resource_ids.len() > RESOURCE_IDS_PER_CALL {
            return Err(too_many(resource_ids.len()));
        }
        let mut out = BTreeMap::new();
        if resource_ids.is_empty() {
            // An empty ResourceIds means "every target": not what was asked.
            return Ok(out);
        }
        let mut token: Option<String> = None;
        loop {
            let resp = self
                .client
                .describe_scalable_targets()
                .service_namespace(ServiceNamespace::Ecs)
                .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                .set_resource_ids(Some(resource_ids.to_vec()))
                .set_next_token(token.take())
                .paced(&self.pace, "DescribeScalableTargets", |r| r.send())
                .await?;
            for target in resp.scalable_targets() {
                if target.scalable_dimension() != &ScalableDimension::EcsServiceDesiredCount {
                    continue;
                }
                out.insert(
                    target.resource_id().to_string(),
                    ScalableRange {
                        min: target.min_capacity(),
                        max: target.max_capacity(),
                    },
                );
            }
            match resp.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }
}

fn too_many(n: usize) -> Error {
    Error::new(
        SERVICE,
        "DescribeScalableTargets",
        ErrorClass::Validation,
        format!(
            "{n} resource ids in one call; DescribeScalableTargets takes at most {RESOURCE_IDS_PER_CALL}"
        ),
    )
}

/// The in-memory fake of this service (test builds only).
#[cfg(test)]
#[path = "fake/autoscaling.rs"]
pub mod fake;
