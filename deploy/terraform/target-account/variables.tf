# Inputs of the target-account module: the role a driftd running in another
# account assumes to reconcile an Environment of this account.

variable "name" {
  description = "Name of the role (the Environment document's roleArn ends in role/<name>)."
  type        = string
  default     = "driftd"
}

variable "driftd_task_role_arn" {
  description = "ARN of the IAM role driftd runs as (output task_role_arn of the driftd module), the only principal that may assume this role."
  type        = string
}

variable "external_id" {
  description = "The Environment's externalId: AssumeRole without it is refused. null to not require one."
  type        = string
  default     = null
}

variable "policy_path" {
  description = "The policy the role grants, generated for this account: driftd iam-policy --account-id <this account> > policy.json."
  type        = string
}

variable "max_session_duration" {
  description = "Longest session, in seconds; driftd's credentials are refreshed before they expire whatever it is."
  type        = number
  default     = 3600
}

variable "tags" {
  description = "Tags of the role."
  type        = map(string)
  default     = {}
}

variable "change_events" {
  description = "Create this account's EventBridge rule, change-events queue (with its policy and a dead-letter queue) and the role's right to read it: the Environment's eventsQueueUrl (output events_queue_url). CloudTrail events need a trail recording management events."
  type        = bool
  default     = false
}
