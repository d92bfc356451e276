# The task role (what driftd may do in AWS), the execution role (what ECS may
# do to start it) and the DynamoDB lease table.

locals {
  policy_path = coalesce(var.policy_path, "${path.module}/../iam/driftd-policy.json")

  lease_table_arn = local.lease ? "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table/${var.lease_table_name}" : null

  # <account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag|@digest]
  image_ecr = try(regex("^(\\d{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com(?:\\.cn)?/([^:@]+)", var.image), null)
  ecr_repository_arns = (
    var.ecr_repository_arns != null ? var.ecr_repository_arns
    : local.image_ecr == null ? []
    : ["arn:${local.partition}:ecr:${local.image_ecr[1]}:${local.image_ecr[0]}:repository/${local.image_ecr[2]}"]
  )

  execution_role_arn = coalesce(var.execution_role_arn, one(aws_iam_role.execution[*].arn))

  # Only ECS tasks of this account and region may assume the roles (the
  # confused-deputy conditions AWS recommends for ecs-tasks).
  assume_by_ecs_tasks = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect    = "Allow"
        Action    = "sts:AssumeRole"
        Principal = { Service = "ecs-tasks.amazonaws.com" }
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
          ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:*" }
        }
      }
    ]
  })
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  description        = "driftd: reconciles the resources of its desired state"
  assume_role_policy = local.assume_by_ecs_tasks
  tags               = var.tags
}

resource "aws_iam_role_policy" "task_driftd" {
  name   = "driftd"
  role   = aws_iam_role.task.id
  policy = file(local.policy_path)
}

resource "aws_dynamodb_table" "lease" {
  count = local.lease && var.create_lease_table ? 1 : 0

  name         = var.lease_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }

  tags = var.tags
}

resource "aws_iam_role_policy" "task_lease" {
  count = local.lease ? 1 : 0

  name = "driftd-lease"
  role = aws_iam_role.task.id
  # The lease is one item per owner (id driftd/<owner>), read and written
  # with conditional writes.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "Lease"
        Effect   = "Allow"
        Action   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
        Resource = local.lease_table_arn
        Condition = {
          "ForAllValues:StringEquals" = { "dynamodb:LeadingKeys" = ["driftd/${var.owner}"] }
        }
      }
    ]
  })
}

resource "aws_iam_role" "execution" {
  count = var.execution_role_arn == null ? 1 : 0

  name               = "${var.name}-execution"
  description        = "ECS: pulls the driftd image and writes its logs"
  assume_role_policy = local.assume_by_ecs_tasks
  tags               = var.tags
}

resource "aws_iam_role_policy" "execution" {
  count = var.execution_role_arn == null ? 1 : 0

  name = "driftd-execution"
  role = aws_iam_role.execution[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "Logs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = "${aws_cloudwatch_log_group.driftd.arn}:*"
        }
      ],
      # Pulling is needed only for an image in ECR.
      [
        for repositories in [local.ecr_repository_arns] : {
          Sid      = "PullImage"
          Effect   = "Allow"
          Action   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
          Resource = repositories
        } if length(repositories) > 0
      ],
      [
        # GetAuthorizationToken has no resource-level permissions.
        for repositories in [local.ecr_repository_arns] : {
          Sid      = "EcrLogin"
          Effect   = "Allow"
          Action   = "ecr:GetAuthorizationToken"
          Resource = "*"
        } if length(repositories) > 0
      ],
    )
  })
}
