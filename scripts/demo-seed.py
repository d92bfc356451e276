"""Creates what the example desired state expects to exist already in the
local emulator: the ECS cluster and services whose counts driftd manages
(driftd never creates ECS services, it only keeps their desired counts)."""

import os
import sys

import boto3

endpoint = sys.argv[1] if len(sys.argv) > 1 else os.environ["AWS_ENDPOINT_URL"]
ecs = boto3.client(
    "ecs",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="demo",
    aws_secret_access_key="demo",
)
ecs.create_cluster(clusterName="tiktimer-dev")
ecs.register_task_definition(
    family="tiktimer-dev",
    containerDefinitions=[{"name": "app", "image": "tiktimer:latest", "memory": 512}],
)
# The worker was scaled up by hand and forgotten: driftd brings it back to 0.
for name, count in [("tiktimer-dev-app", 2), ("tiktimer-dev-worker", 1)]:
    ecs.create_service(
        cluster="tiktimer-dev",
        serviceName=name,
        taskDefinition="tiktimer-dev",
        desiredCount=count,
    )
print(f"seeded ECS cluster tiktimer-dev with 2 services at {endpoint}")
