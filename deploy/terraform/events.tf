# Change events (contract section 9) of driftd's own account: the rule, the
# queue driftd long-polls (DRIFTD_EVENTS_QUEUE) and the task role's right to
# read it (modules/change-events). Other accounts' environments get theirs
# from the target-account module (its eventsQueueUrl).

module "change_events" {
  source = "./modules/change-events"
  count  = var.change_events ? 1 : 0

  name = var.name
  tags = var.tags
}

# Where these resources were before they moved into the module.
moved {
  from = aws_sqs_queue.events_dlq[0]
  to   = module.change_events[0].aws_sqs_queue.events_dlq
}

moved {
  from = aws_sqs_queue.events[0]
  to   = module.change_events[0].aws_sqs_queue.events
}

moved {
  from = aws_cloudwatch_event_rule.changes[0]
  to   = module.change_events[0].aws_cloudwatch_event_rule.changes
}

moved {
  from = aws_cloudwatch_event_target.queue[0]
  to   = module.change_events[0].aws_cloudwatch_event_target.queue
}

moved {
  from = aws_sqs_queue_policy.events[0]
  to   = module.change_events[0].aws_sqs_queue_policy.events
}

resource "aws_iam_role_policy" "task_events" {
  count = var.change_events ? 1 : 0

  name   = "driftd-events"
  role   = aws_iam_role.task.id
  policy = module.change_events[0].read_policy
}
