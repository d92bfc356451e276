variable "name" {
  description = "Prefix of the queue, dead-letter queue and rule names (<name>-events, <name>-events-dlq, <name>-changes)."
  type        = string
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
