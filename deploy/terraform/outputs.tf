output "service_name" {
  description = "Name of the ECS service."
  value       = aws_ecs_service.driftd.name
}

output "service_arn" {
  description = "ARN of the ECS service."
  value       = aws_ecs_service.driftd.id
}

output "task_definition_arn" {
  description = "ARN (with revision) of the task definition the service runs."
  value       = aws_ecs_task_definition.driftd.arn
}

output "task_role_arn" {
  description = "ARN of the task role: driftd's permissions in AWS."
  value       = aws_iam_role.task.arn
}

output "task_role_name" {
  description = "Name of the task role, to attach more policies (e.g. for --events-topic) to."
  value       = aws_iam_role.task.name
}

output "execution_role_arn" {
  description = "ARN of the task execution role (created or given)."
  value       = local.execution_role_arn
}

output "log_group_name" {
  description = "CloudWatch Logs group of driftd's JSON logs."
  value       = aws_cloudwatch_log_group.driftd.name
}

output "log_group_arn" {
  description = "ARN of the log group."
  value       = aws_cloudwatch_log_group.driftd.arn
}

output "security_group_id" {
  description = "ID of the tasks' security group."
  value       = aws_security_group.driftd.id
}

output "events_queue_url" {
  description = "URL of the change-events queue, or null without change_events."
  value       = one(module.change_events[*].queue_url)
}

output "lease_table_name" {
  description = "DynamoDB lease table, or null without leader election."
  value       = var.lease_table_name
}

output "service_discovery_service_arn" {
  description = "ARN of the Cloud Map service (tasks as A records of <name>.<namespace>), or null."
  value       = one(aws_service_discovery_service.driftd[*].arn)
}
