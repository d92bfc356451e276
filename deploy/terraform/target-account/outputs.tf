output "role_arn" {
  description = "The Environment document's roleArn."
  value       = aws_iam_role.driftd.arn
}

output "events_queue_url" {
  description = "The Environment document's eventsQueueUrl, or null without change_events."
  value       = one(module.change_events[*].queue_url)
}
