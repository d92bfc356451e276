# Plans of the module against a mocked AWS provider (`terraform test`, 1.7 or
# later): no AWS account is touched. scripts/check-deploy.sh runs these where
# terraform and the AWS provider are installed.

mock_provider "aws" {
  override_data {
    target = data.aws_caller_identity.current
    values = {
      account_id = "123456789012"
    }
  }

  override_data {
    target = data.aws_region.current
    values = {
      name = "us-east-1"
    }
  }

  override_data {
    target = data.aws_partition.current
    values = {
      partition = "aws"
    }
  }

  # ARNs that the provider validates where other resources take them.
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/driftd-mock"
    }
  }

  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/driftd"
    }
  }

  mock_resource "aws_ecs_task_definition" {
    defaults = {
      arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/driftd:1"
    }
  }

  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:us-east-1:123456789012:driftd-events"
      url = "https://sqs.us-east-1.amazonaws.com/123456789012/driftd-events"
    }
  }

  mock_resource "aws_cloudwatch_event_rule" {
    defaults = {
      arn = "arn:aws:events:us-east-1:123456789012:rule/driftd-changes"
    }
  }

  mock_resource "aws_service_discovery_service" {
    defaults = {
      arn = "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-0123456789abcdef"
    }
  }
}

variables {
  cluster_arn = "arn:aws:ecs:us-east-1:123456789012:cluster/platform"
  image       = "123456789012.dkr.ecr.us-east-1.amazonaws.com/driftd-platform:2026-11-22"
  vpc_id      = "vpc-0123456789abcdef0"
  subnet_ids  = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
  policy_path = "tests/policy.json"
}

run "defaults_run_one_driftd_without_overlap" {
  command = plan

  assert {
    condition     = aws_ecs_service.driftd.desired_count == 1
    error_message = "one task by default"
  }

  assert {
    condition     = aws_ecs_service.driftd.deployment_minimum_healthy_percent == 0 && aws_ecs_service.driftd.deployment_maximum_percent == 100
    error_message = "without a lease, a deployment stops the old task before starting the new one"
  }

  assert {
    condition     = length(aws_dynamodb_table.lease) == 0 && length(aws_iam_role_policy.task_lease) == 0
    error_message = "no lease table without lease_table_name"
  }

  assert {
    condition     = !contains(keys({ for e in jsondecode(aws_ecs_task_definition.driftd.container_definitions)[0].environment : e.name => e.value }), "DRIFTD_LEASE_TABLE")
    error_message = "no DRIFTD_LEASE_TABLE without lease_table_name"
  }

  assert {
    condition     = aws_iam_role_policy.task_driftd.policy == file("tests/policy.json")
    error_message = "the task role carries the policy file"
  }

  assert {
    condition     = aws_cloudwatch_log_group.driftd.name == "/ecs/driftd" && aws_cloudwatch_log_group.driftd.retention_in_days == 30
    error_message = "log group /ecs/driftd, 30 days"
  }

  assert {
    condition     = length(aws_ecs_service.driftd.service_registries) == 0
    error_message = "no Cloud Map registration without a namespace"
  }
}

run "container_matches_the_ecs_example" {
  command = plan

  assert {
    condition = alltrue([
      for field in ["command", "user", "readonlyRootFilesystem", "essential", "portMappings", "healthCheck", "stopTimeout"] :
      jsondecode(aws_ecs_task_definition.driftd.container_definitions)[0][field] == jsondecode(file("../ecs/driftd-service.json")).containerDefinitions[0][field]
    ])
    error_message = "the module's container differs from deploy/ecs/driftd-service.json"
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.driftd.container_definitions)[0].logConfiguration == jsondecode(file("../ecs/driftd-service.json")).containerDefinitions[0].logConfiguration
    error_message = "the module's log configuration differs from deploy/ecs/driftd-service.json"
  }

  assert {
    condition = (
      { for e in jsondecode(aws_ecs_task_definition.driftd.container_definitions)[0].environment : e.name => e.value }
      == { for e in jsondecode(file("../ecs/driftd-service.json")).containerDefinitions[0].environment : e.name => e.value }
    )
    error_message = "the module's environment (with its defaults) differs from deploy/ecs/driftd-service.json"
  }

  assert {
    condition     = aws_ecs_task_definition.driftd.cpu == jsondecode(file("../ecs/driftd-service.json")).cpu && aws_ecs_task_definition.driftd.memory == jsondecode(file("../ecs/driftd-service.json")).memory
    error_message = "the module's task size differs from deploy/ecs/driftd-service.json"
  }
}

# apply against the mock: the policies name ARNs that exist only after apply.
run "the_execution_role_pulls_only_the_image_repository" {
  command = apply

  assert {
    condition = jsondecode(aws_iam_role_policy.execution[0].policy).Statement == [
      {
        Sid      = "Logs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "${aws_cloudwatch_log_group.driftd.arn}:*"
      },
      {
        Sid      = "PullImage"
        Effect   = "Allow"
        Action   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        Resource = ["arn:aws:ecr:us-east-1:123456789012:repository/driftd-platform"]
      },
      {
        Sid      = "EcrLogin"
        Effect   = "Allow"
        Action   = "ecr:GetAuthorizationToken"
        Resource = "*"
      },
    ]
    error_message = "the execution role may write only to driftd's log group and pull only the image's repository"
  }

  assert {
    condition = jsondecode(aws_iam_role.task.assume_role_policy).Statement[0].Condition == {
      StringEquals = { "aws:SourceAccount" = "123456789012" }
      ArnLike      = { "aws:SourceArn" = "arn:aws:ecs:us-east-1:123456789012:*" }
    }
    error_message = "only ECS tasks of this account and region may assume the task role"
  }
}

run "an_image_outside_ecr_needs_no_ecr_permissions" {
  command = apply

  variables {
    image = "ghcr.io/example/driftd-platform:2026-11-22"
  }

  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.execution[0].policy).Statement : s.Sid] == ["Logs"]
    error_message = "only the log statement for an image outside ECR"
  }
}

run "a_given_execution_role_is_used_as_is" {
  command = plan

  variables {
    execution_role_arn = "arn:aws:iam::123456789012:role/shared-ecs-execution"
  }

  assert {
    condition     = length(aws_iam_role.execution) == 0 && aws_ecs_task_definition.driftd.execution_role_arn == "arn:aws:iam::123456789012:role/shared-ecs-execution"
    error_message = "no execution role is created when one is given"
  }
}

run "replicas_elect_a_leader_through_the_lease_table" {
  command = plan

  # desired_count left to its default: two replicas with a lease.
  variables {
    lease_table_name               = "driftd-leases"
    owner                          = "platform"
    service_discovery_namespace_id = "ns-0123456789abcdef"
  }

  assert {
    condition     = aws_ecs_service.driftd.desired_count == 2
    error_message = "with a lease, two replicas run by default"
  }

  assert {
    condition     = aws_ecs_service.driftd.deployment_minimum_healthy_percent == 100 && aws_ecs_service.driftd.deployment_maximum_percent == 200
    error_message = "with a lease, deployments overlap"
  }

  assert {
    condition     = { for e in jsondecode(aws_ecs_task_definition.driftd.container_definitions)[0].environment : e.name => e.value }["DRIFTD_LEASE_TABLE"] == "driftd-leases"
    error_message = "the container gets DRIFTD_LEASE_TABLE"
  }

  assert {
    condition     = aws_dynamodb_table.lease[0].hash_key == "id" && aws_dynamodb_table.lease[0].billing_mode == "PAY_PER_REQUEST"
    error_message = "the lease table has the String partition key id"
  }

  assert {
    condition = jsondecode(aws_iam_role_policy.task_lease[0].policy).Statement == [
      {
        Sid       = "Lease"
        Effect    = "Allow"
        Action    = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
        Resource  = "arn:aws:dynamodb:us-east-1:123456789012:table/driftd-leases"
        Condition = { "ForAllValues:StringEquals" = { "dynamodb:LeadingKeys" = ["driftd/platform"] } }
      },
    ]
    error_message = "the task may touch only its own lease item"
  }

  assert {
    condition     = length(aws_service_discovery_service.driftd) == 1
    error_message = "the tasks are registered in Cloud Map"
  }
}

run "two_replicas_without_a_lease_are_refused" {
  command = plan

  variables {
    desired_count = 2
  }

  expect_failures = [aws_ecs_service.driftd]
}

run "an_unknown_mode_is_refused" {
  command = plan

  variables {
    mode = "enforcing"
  }

  expect_failures = [var.mode]
}

run "change_events_route_to_a_queue_only_driftd_reads" {
  command = apply

  variables {
    change_events = true
  }

  assert {
    condition     = contains(jsondecode(module.change_events[0].event_pattern)["detail-type"], "AWS API Call via CloudTrail")
    error_message = "the rule matches CloudTrail's management events"
  }

  assert {
    condition     = jsondecode(module.change_events[0].redrive_policy).maxReceiveCount == 5
    error_message = "a message that keeps failing goes to the dead-letter queue"
  }

  assert {
    condition     = jsondecode(aws_iam_role_policy.task_events[0].policy).Statement[0].Action == ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
    error_message = "the task may receive and delete the queue's messages, nothing more"
  }

  assert {
    condition     = jsondecode(module.change_events[0].queue_policy).Statement[0].Principal.Service == "events.amazonaws.com"
    error_message = "only EventBridge sends to the queue"
  }

  assert {
    condition     = contains(keys({ for e in jsondecode(aws_ecs_task_definition.driftd.container_definitions)[0].environment : e.name => e.value }), "DRIFTD_EVENTS_QUEUE")
    error_message = "the container gets DRIFTD_EVENTS_QUEUE"
  }
}
