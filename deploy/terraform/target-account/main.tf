# The role driftd assumes in a target account (section 8 of the contract):
# trusted by driftd's task role alone, with the external id when one is
# given, and granted the policy `driftd iam-policy --account-id` generates
# for this account.

locals {
  trust = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect    = "Allow"
        Action    = "sts:AssumeRole"
        Principal = { AWS = var.driftd_task_role_arn }
        Condition = var.external_id == null ? null : {
          StringEquals = { "sts:ExternalId" = var.external_id }
        }
      }
    ]
  })
}

resource "aws_iam_role" "driftd" {
  name                 = var.name
  description          = "driftd: reconciles this account's environment, assumed from ${var.driftd_task_role_arn}"
  assume_role_policy   = local.trust
  max_session_duration = var.max_session_duration
  tags                 = var.tags
}

resource "aws_iam_role_policy" "driftd" {
  name   = "driftd"
  role   = aws_iam_role.driftd.id
  policy = file(var.policy_path)
}

# This account's change events, for the Environment's eventsQueueUrl: an
# EventBridge rule sees only its own account's events, so each account
# feeds a queue of its own, which driftd reads with this role.
module "change_events" {
  source = "../modules/change-events"
  count  = var.change_events ? 1 : 0

  name = var.name
  tags = var.tags
}

resource "aws_iam_role_policy" "events" {
  count = var.change_events ? 1 : 0

  name   = "driftd-events"
  role   = aws_iam_role.driftd.id
  policy = module.change_events[0].read_policy
}
