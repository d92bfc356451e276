# Inputs of the driftd module. deploy/terraform/README.md has them as a table.

variable "name" {
  description = "Name of the ECS service, task family, IAM roles, security group and Cloud Map service; the log group is /ecs/<name>."
  type        = string
  default     = "driftd"
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster (with Fargate capacity) that runs driftd."
  type        = string
}

variable "image" {
  description = "driftd image with the desired state baked in at /etc/driftd/desired-state (deploy/desired-state.Dockerfile), e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/driftd-platform:2026-11-22."
  type        = string
}

variable "cpu_architecture" {
  description = "CPU architecture the image was built for: X86_64 or ARM64."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "cpu" {
  description = "Fargate CPU units of the task."
  type        = number
  default     = 256
}

variable "memory" {
  description = "Fargate memory of the task, in MiB (a size Fargate allows with var.cpu)."
  type        = number
  default     = 512
}

variable "desired_count" {
  description = "Number of driftd tasks (default: 2 with lease_table_name, which elect one leader; 1 without). More than 1 needs lease_table_name."
  type        = number
  default     = null

  validation {
    # null: the default (coalesce, as Terraform evaluates both sides of ||).
    condition     = coalesce(var.desired_count, 0) >= 0 && floor(coalesce(var.desired_count, 0)) == coalesce(var.desired_count, 0)
    error_message = "desired_count must be a whole number, 0 or more."
  }
}

variable "vpc_id" {
  description = "VPC of the subnets; the module's security group is created in it."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the tasks. They need a route to the AWS APIs driftd calls (a NAT gateway or VPC endpoints) and to ECR and CloudWatch Logs."
  type        = list(string)
}

variable "assign_public_ip" {
  description = "Give the tasks public IPs (only for public subnets without a NAT gateway)."
  type        = bool
  default     = false
}

variable "additional_security_group_ids" {
  description = "Security groups attached to the tasks besides the module's own."
  type        = list(string)
  default     = []
}

variable "metrics_ingress_security_group_ids" {
  description = "Security groups (Prometheus's) allowed to reach driftd's metrics port 9477."
  type        = list(string)
  default     = []
}

variable "metrics_ingress_cidr_blocks" {
  description = "IPv4 CIDR blocks allowed to reach driftd's metrics port 9477."
  type        = list(string)
  default     = []
}

variable "interval" {
  description = "Time between full passes (DRIFTD_INTERVAL), e.g. 60s or 5m. The DriftdPassesStalled alert assumes 60s: change it with this."
  type        = string
  default     = "60s"
}

variable "mode" {
  description = "enforce (correct drift) or observe (only report it, change nothing) (DRIFTD_MODE)."
  type        = string
  default     = "enforce"

  validation {
    condition     = contains(["enforce", "observe"], var.mode)
    error_message = "mode must be enforce or observe."
  }
}

variable "prune" {
  description = "Delete resources this owner tagged that left the desired state (DRIFTD_PRUNE)."
  type        = bool
  default     = false
}

variable "max_prune" {
  description = "A pass that would prune more resources than this prunes none (DRIFTD_MAX_PRUNE)."
  type        = number
  default     = 10
}

variable "owner" {
  description = "Value of the driftd:owner tag this deployment writes and honours (DRIFTD_OWNER); one per desired state."
  type        = string
  default     = "driftd"
}

variable "log_level" {
  description = "RUST_LOG filter, e.g. info or driftd=debug,info."
  type        = string
  default     = "info"
}

variable "extra_environment" {
  description = "More environment variables for the driftd container, e.g. { DRIFTD_EVENTS_TOPIC = \"topic:drift-events\" }. They override the module's."
  type        = map(string)
  default     = {}
}

variable "change_events" {
  description = "Create the EventBridge rule, the queue (with its policy and a dead-letter queue) and the task role's permission for AWS's change events (DRIFTD_EVENTS_QUEUE): drift corrected in seconds. CloudTrail events need a trail recording management events."
  type        = bool
  default     = false
}

variable "lease_table_name" {
  description = "DynamoDB table for leader election (DRIFTD_LEASE_TABLE): with it, replicas elect one leader and two run by default."
  type        = string
  default     = null
}

variable "create_lease_table" {
  description = "Create the lease table (on-demand, partition key id). Set false to use an existing table that other deployments share."
  type        = bool
  default     = true
}

variable "policy_path" {
  description = "IAM policy document for the task role: what driftd may do in AWS. null reads deploy/iam/driftd-policy.json, written by `driftd iam-policy`."
  type        = string
  default     = null
}

variable "execution_role_arn" {
  description = "Existing task execution role; null creates one that may only pull the image and write to the log group."
  type        = string
  default     = null
}

variable "ecr_repository_arns" {
  description = "ECR repositories the created execution role may pull from; null derives the repository from var.image when it is an ECR image."
  type        = list(string)
  default     = null
}

variable "log_retention_days" {
  description = "Retention of the log group, in days."
  type        = number
  default     = 30
}

variable "log_kms_key_arn" {
  description = "KMS key that encrypts the log group; null uses CloudWatch Logs' own encryption."
  type        = string
  default     = null
}

variable "service_discovery_namespace_id" {
  description = "Cloud Map private DNS namespace to register the tasks in (as <name>.<namespace>, A records), for Prometheus's dns_sd_configs; null registers nothing."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource the module creates."
  type        = map(string)
  default     = {}
}
