# Plans of the target-account module against a mocked AWS provider: no AWS
# account is touched. scripts/check-deploy.sh runs these where terraform and
# the AWS provider are installed.

mock_provider "aws" {
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::222222222222:role/driftd"
    }
  }

  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:eu-west-1:222222222222:driftd-events"
      url = "https://sqs.eu-west-1.amazonaws.com/222222222222/driftd-events"
    }
  }

  mock_resource "aws_cloudwatch_event_rule" {
    defaults = {
      arn = "arn:aws:events:eu-west-1:222222222222:rule/driftd-changes"
    }
  }
}

variables {
  driftd_task_role_arn = "arn:aws:iam::111111111111:role/driftd-task"
  external_id          = "driftd-prod"
  policy_path          = "tests/policy.json"
}

run "the_role_trusts_the_task_role_with_the_external_id" {
  command = plan

  assert {
    condition     = jsondecode(aws_iam_role.driftd.assume_role_policy).Statement[0].Condition.StringEquals["sts:ExternalId"] == "driftd-prod"
    error_message = "AssumeRole needs the external id"
  }

  assert {
    condition     = length(module.change_events) == 0 && output.events_queue_url == null
    error_message = "no change events unless asked for"
  }
}

run "change_events_give_the_environment_a_queue_its_role_reads" {
  command = apply

  variables {
    change_events = true
  }

  assert {
    condition     = output.events_queue_url == "https://sqs.eu-west-1.amazonaws.com/222222222222/driftd-events"
    error_message = "the queue's URL is the Environment's eventsQueueUrl"
  }

  assert {
    condition     = jsondecode(aws_iam_role_policy.events[0].policy).Statement[0].Action == ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
    error_message = "the role may receive and delete the queue's messages, nothing more"
  }

  assert {
    condition     = contains(jsondecode(module.change_events[0].event_pattern)["detail-type"], "AWS API Call via CloudTrail")
    error_message = "the rule matches CloudTrail's management events"
  }
}
