# driftd as an ECS service on Fargate: its task definition, service, log
# group, security group and (optionally) Cloud Map registration. The IAM
# roles and the lease table are in iam.tf.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id   = data.aws_caller_identity.current.account_id
  partition    = data.aws_partition.current.partition
  region       = data.aws_region.current.name
  metrics_port = 9477
  lease        = var.lease_table_name != null
  # Two replicas with a lease: a rolling deployment always keeps one running.
  desired_count = coalesce(var.desired_count, local.lease ? 2 : 1)

  # Every flag of `driftd run` is also a DRIFTD_* variable.
  environment = merge(
    {
      DRIFTD_DESIRED_STATE = "/etc/driftd/desired-state"
      DRIFTD_INTERVAL      = var.interval
      DRIFTD_METRICS_ADDR  = "0.0.0.0:${local.metrics_port}"
      DRIFTD_MODE          = var.mode
      DRIFTD_PRUNE         = tostring(var.prune)
      DRIFTD_MAX_PRUNE     = tostring(var.max_prune)
      DRIFTD_OWNER         = var.owner
      DRIFTD_LOG_FORMAT    = "json"
      RUST_LOG             = var.log_level
    },
    local.lease ? { DRIFTD_LEASE_TABLE = var.lease_table_name } : {},
    var.change_events ? { DRIFTD_EVENTS_QUEUE = module.change_events[0].queue_url } : {},
    var.extra_environment,
  )
}

resource "aws_cloudwatch_log_group" "driftd" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_ecs_task_definition" "driftd" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.cpu)
  memory                   = tostring(var.memory)
  task_role_arn            = aws_iam_role.task.arn
  execution_role_arn       = local.execution_role_arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  # The same container as deploy/ecs/driftd-service.json, which
  # tests/it/deploy.rs registers in the ECS emulator.
  container_definitions = jsonencode([
    {
      name                   = "driftd"
      image                  = var.image
      essential              = true
      command                = ["run"]
      user                   = "65532:65532"
      readonlyRootFilesystem = true
      environment            = [for k, v in local.environment : { name = k, value = v }]
      portMappings = [
        {
          name          = "metrics"
          containerPort = local.metrics_port
          protocol      = "tcp"
          appProtocol   = "http"
        }
      ]
      healthCheck = {
        command     = ["CMD", "/usr/local/bin/wget", "-q", "-T", "3", "-O", "/dev/null", "http://127.0.0.1:${local.metrics_port}/healthz"]
        interval    = 30
        timeout     = 5
        retries     = 3
        startPeriod = 60
      }
      # driftd finishes its in-flight AWS writes after SIGTERM.
      stopTimeout = 30
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.driftd.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "driftd"
          mode                  = "non-blocking"
          max-buffer-size       = "4m"
        }
      }
    }
  ])

  tags = var.tags
}

resource "aws_security_group" "driftd" {
  name        = var.name
  description = "driftd tasks: HTTPS out to the AWS APIs, metrics in from Prometheus"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = var.name })
}

# The AWS APIs, ECR and CloudWatch Logs are all HTTPS.
resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.driftd.id
  description       = "HTTPS to the AWS APIs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
  tags              = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "metrics_from_security_groups" {
  for_each = toset(var.metrics_ingress_security_group_ids)

  security_group_id            = aws_security_group.driftd.id
  description                  = "driftd metrics"
  ip_protocol                  = "tcp"
  from_port                    = local.metrics_port
  to_port                      = local.metrics_port
  referenced_security_group_id = each.value
  tags                         = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "metrics_from_cidr_blocks" {
  for_each = toset(var.metrics_ingress_cidr_blocks)

  security_group_id = aws_security_group.driftd.id
  description       = "driftd metrics"
  ip_protocol       = "tcp"
  from_port         = local.metrics_port
  to_port           = local.metrics_port
  cidr_ipv4         = each.value
  tags              = var.tags
}

# Every task as an A record of <name>.<namespace>, for Prometheus's
# dns_sd_configs (deploy/prometheus/prometheus.yml). No health check: an
# unhealthy replica is still scraped.
resource "aws_service_discovery_service" "driftd" {
  count = var.service_discovery_namespace_id != null ? 1 : 0

  name = var.name

  dns_config {
    namespace_id   = var.service_discovery_namespace_id
    routing_policy = "MULTIVALUE"

    dns_records {
      type = "A"
      ttl  = 10
    }
  }

  tags = var.tags
}

resource "aws_ecs_service" "driftd" {
  name                    = var.name
  cluster                 = var.cluster_arn
  task_definition         = aws_ecs_task_definition.driftd.arn
  desired_count           = local.desired_count
  launch_type             = "FARGATE"
  platform_version        = "LATEST"
  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true
  wait_for_steady_state   = false

  # Without a lease two driftd must never run at once: a deployment stops the
  # old task before it starts the new one. With a lease the new replica waits
  # as a follower until it wins the lease.
  deployment_minimum_healthy_percent = local.lease ? 100 : 0
  deployment_maximum_percent         = local.lease ? 200 : 100

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = concat([aws_security_group.driftd.id], var.additional_security_group_ids)
    assign_public_ip = var.assign_public_ip
  }

  dynamic "service_registries" {
    for_each = aws_service_discovery_service.driftd
    content {
      registry_arn = service_registries.value.arn
    }
  }

  lifecycle {
    precondition {
      condition     = local.desired_count <= 1 || local.lease
      error_message = "More than one driftd task needs lease_table_name: without leader election the replicas would correct the same resources against each other."
    }
  }

  tags = var.tags
}
