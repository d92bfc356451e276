//! ECS services made straight in moto for driftd to find (driftd never
//! creates one), and read back: moto needs a cluster and a registered task
//! definition before it creates a service.

use aws_sdk_ecs::types::{ContainerDefinition, Service};
use aws_sdk_ecs::Client;

/// Creates the (empty) cluster `cluster`.
pub async fn create_cluster(ecs: &Client, cluster: &str) {
    ecs.create_cluster()
        .cluster_name(cluster)
        .send()
        .await
        .expect("create cluster");
}

/// Creates `cluster` and registers a busybox task definition `family` for its
/// services; gives the task definition's ARN.
pub async fn cluster(ecs: &Client, cluster: &str, family: &str) -> String {
    create_cluster(ecs, cluster).await;
    let registered = ecs
        .register_task_definition()
        .family(family)
        .container_definitions(
            ContainerDefinition::builder()
                .name(family)
                .image("public.ecr.aws/docker/library/busybox:latest")
                .memory(128)
                .build(),
        )
        .send()
        .await
        .expect("register task definition");
    registered
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .expect("task definition ARN")
        .to_string()
}

/// Creates the service `name` in `cluster`, running `desired_count` tasks of
/// `task_definition`.
pub async fn create_service(
    ecs: &Client,
    cluster: &str,
    name: &str,
    task_definition: &str,
    desired_count: i32,
) {
    ecs.create_service()
        .cluster(cluster)
        .service_name(name)
        .task_definition(task_definition)
        .desired_count(desired_count)
        .send()
        .await
        .expect("create service");
}

/// The service `name` of `cluster` as ECS describes it, if it describes one.
pub async fn describe(ecs: &Client, cluster: &str, name: &str) -> Option<Service> {
    ecs.describe_services()
        .cluster(cluster)
        .services(name)
        .send()
        .await
        .expect("describe services")
        .services()
        .first()
        .cloned()
}
