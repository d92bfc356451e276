# AWS's change events of one account (contract section 9): an EventBridge
# rule sends the change events of the five kinds' services to a queue that
# driftd long-polls (`--events-queue`, or an Environment's `eventsQueueUrl`).
# Used by the driftd module for its own account and by target-account for
# the accounts of other environments: EventBridge rules see only the events
# of their own account and region. CloudTrail events need a trail recording
# management events in the account; delivery is best effort, so driftd's
# interval resync stays.

resource "aws_sqs_queue" "events_dlq" {
  name                      = "${var.name}-events-dlq"
  message_retention_seconds = 1209600 # 14 days, to look at what failed
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

resource "aws_sqs_queue" "events" {
  name = "${var.name}-events"
  # An event older than an interval is worth nothing more than the resync.
  message_retention_seconds = 3600
  # Longer than driftd waits for an event's reconcile (60 s): a message is
  # delivered again only when its handling failed.
  visibility_timeout_seconds = 90
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.events_dlq.arn
    maxReceiveCount     = 5
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_rule" "changes" {
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
  rule = aws_cloudwatch_event_rule.changes.name
  arn  = aws_sqs_queue.events.arn
}

# Only this rule may send to the queue.
resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EventBridge"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.events.arn
        Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.changes.arn } }
      }
    ]
  })
}
