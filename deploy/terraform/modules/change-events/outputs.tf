output "queue_url" {
  description = "URL of the queue: --events-queue, or the Environment's eventsQueueUrl."
  value       = aws_sqs_queue.events.url
}

output "queue_arn" {
  description = "ARN of the queue, for the policy of whoever reads it."
  value       = aws_sqs_queue.events.arn
}

output "event_pattern" {
  description = "The rule's event pattern."
  value       = aws_cloudwatch_event_rule.changes.event_pattern
}

output "redrive_policy" {
  description = "The queue's redrive policy (the dead-letter queue)."
  value       = aws_sqs_queue.events.redrive_policy
}

output "queue_policy" {
  description = "The queue's policy: only the rule sends to it."
  value       = aws_sqs_queue_policy.events.policy
}

output "read_policy" {
  description = "The statement of whoever reads the queue: receive and delete its messages, nothing more."
  value = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "EventsQueue"
        Effect   = "Allow"
        Action   = ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
        Resource = aws_sqs_queue.events.arn
      }
    ]
  })
}
