# Change events (contract section 9): an EventBridge rule sends AWS's change
# events of the five kinds' services to a queue driftd long-polls
# (DRIFTD_EVENTS_QUEUE). CloudTrail events need a trail (or CloudTrail's
# default event history does not reach EventBridge: a trail recording
# management events must exist in the account); delivery is best effort, so
# the interval resync stays.

resource "aws_sqs_queue" "events_dlq" {
  count = var.change_events ? 1 : 0

  name                      = "${var.name}-events-dlq"
  message_retention_seconds = 1209600 # 14 days, to look at what failed
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

resource "aws_sqs_queue" "events" {
  count = var.change_events ? 1 : 0

  name = "${var.name}-events"
  # An event older than an interval is worth nothing more than the resync.
  message_retention_seconds = 3600
  # Longer than driftd waits for an event's reconcile (60 s): a message is
  # delivered again only when its handling failed.
  visibility_timeout_seconds = 90
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.events_dlq[0].arn
    maxReceiveCount     = 5
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_rule" "changes" {
  count = var.change_events ? 1 : 0

  name        = "${var.name}-changes"
  description = "driftd: changes of alarms, dashboards, topics, secrets and ECS service counts"
  event_pattern = jsonencode({
    source        = ["aws.cloudwatch", "aws.sns", "aws.secretsmanager", "aws.ecs", "aws.application-autoscaling"]
    "detail-type" = ["AWS API Call via CloudTrail", "CloudWatch Alarm Configuration Change"]
    detail = {
      "$or" = [
        { eventName = local.change_event_names },
        { operation = [{ exists = true }] },
      ]
    }
  })
  tags = var.tags
}

locals {
  # The write calls driftd reacts to (src/engine/changes.rs).
  change_event_names = [
    "PutMetricAlarm", "DeleteAlarms", "DisableAlarmActions", "EnableAlarmActions",
    "PutDashboard", "DeleteDashboards", "TagResource", "UntagResource",
    "SetTopicAttributes", "Subscribe", "Unsubscribe", "DeleteTopic",
    "PutSecretValue", "UpdateSecret", "DeleteSecret", "RestoreSecret",
    "UpdateService", "RegisterScalableTarget", "DeregisterScalableTarget",
  ]
}

resource "aws_cloudwatch_event_target" "queue" {
  count = var.change_events ? 1 : 0

  rule = aws_cloudwatch_event_rule.changes[0].name
  arn  = aws_sqs_queue.events[0].arn
}

# Only this rule may send to the queue.
resource "aws_sqs_queue_policy" "events" {
  count = var.change_events ? 1 : 0

  queue_url = aws_sqs_queue.events[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EventBridge"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.events[0].arn
        Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.changes[0].arn } }
      }
    ]
  })
}

resource "aws_iam_role_policy" "task_events" {
  count = var.change_events ? 1 : 0

  name = "driftd-events"
  role = aws_iam_role.task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "EventsQueue"
        Effect   = "Allow"
        Action   = ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
        Resource = aws_sqs_queue.events[0].arn
      }
    ]
  })
}
