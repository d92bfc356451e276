output "role_arn" {
  description = "The Environment document's roleArn."
  value       = aws_iam_role.driftd.arn
}
