"""Resource policies on the local data plane's deliveries: an AWS service hands something to a
function, queue or topic only when that resource's policy lets the service principal do so for
the source it delivers from, as in AWS.

- A function's resource-based policy is the statements its ``aws.lambda_.Permission`` resources
  add, one each, as Lambda's AddPermission writes them: the principal, the action, the function's
  ARN (with the permission's qualifier, if any) and, for ``source_arn`` and ``source_account``,
  ``ArnLike AWS:SourceArn`` and ``StringEquals AWS:SourceAccount`` conditions
  (https://docs.aws.amazon.com/lambda/latest/api/API_AddPermission.html).
- A queue's or topic's policy is read from moto when the delivery is made (its ``Policy``
  attribute), so a changed policy takes effect as it does in AWS.
- A topic encrypted with a customer managed key also needs the key policy to let the publishing
  service use the key: ``kms:GenerateDataKey*`` and ``kms:Decrypt``
  (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from localcloud.iam import policy
from localcloud.settings import ACCOUNT


def function_policy(
    permissions: Iterable[Mapping[str, Any]], function_name: str, function_arn: str
) -> dict[str, Any]:
    """The resource-based policy of one function, from the graph's Permission resources."""
    found = []
    for permission in permissions:
        inputs = permission["inputs"]
        if inputs["function"] not in (function_name, function_arn):
            continue
        qualifier = inputs.get("qualifier")
        condition: dict[str, Any] = {}
        if inputs.get("sourceArn"):
            condition["ArnLike"] = {"AWS:SourceArn": inputs["sourceArn"]}
        if inputs.get("sourceAccount"):
            condition["StringEquals"] = {"AWS:SourceAccount": inputs["sourceAccount"]}
        found.append(
            {
                "Sid": permission["name"],
                "Effect": "Allow",
                "Principal": {"Service": inputs["principal"]}
                if inputs["principal"].endswith(".amazonaws.com")
                else {"AWS": inputs["principal"]},
                "Action": inputs.get("action", "lambda:InvokeFunction"),
                "Resource": f"{function_arn}:{qualifier}" if qualifier else function_arn,
                **({"Condition": condition} if condition else {}),
            }
        )
    return {"Version": "2012-10-17", "Statement": found}


def allows(
    document: str | Mapping[str, Any] | None,
    service: str,
    action: str,
    resource: str,
    source_arn: str,
    source_account: str = ACCOUNT,
) -> bool:
    """Whether a resource policy lets `service` do `action` on `resource` for `source_arn`. No
    policy allows nothing: a service principal is never allowed by an identity policy."""
    if not document:
        return False
    request = policy.Request(
        action,
        resource,
        policy.Caller(account=source_account, service=service),
        {"aws:SourceArn": source_arn, "aws:SourceAccount": source_account},
    )
    return policy.evaluate([document], request, resource_policy=True) is policy.Decision.ALLOW


# What a service needs of a topic's key to publish to it (the message is encrypted with a data key).
# https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
PUBLISH_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


class Deliveries:
    """The resource policies of one region, for its local services' deliveries: function
    policies from the deployed graph, queue, topic and key policies from moto as they are now."""

    def __init__(self, permissions: Iterable[Mapping[str, Any]], aws_client: Any, region: str) -> None:
        self.permissions = list(permissions)
        self.aws_client = aws_client  # (service, region) -> a boto3 client for moto, as the admin
        self.region = region

    def may_invoke(
        self,
        function_name: str,
        function_arn: str,
        service: str,
        source_arn: str,
        qualifier: str | None = None,
    ) -> bool:
        """Whether `service` may invoke the function (or its alias or version `qualifier`): a
        permission on the function does not cover its alias, nor one on an alias the function."""
        document = function_policy(self.permissions, function_name, function_arn)
        invoked = f"{function_arn}:{qualifier}" if qualifier else function_arn
        return allows(document, service, "lambda:InvokeFunction", invoked, source_arn)

    def permits_sending(self, service: str, source_arn: str) -> Callable[[str], str | None]:
        """For a service's sender: why it may not send to a queue (by ARN), or None."""
        return lambda queue_arn: self.queue_refusal(queue_arn, service, source_arn)

    def queue_refusal(self, queue_arn: str, service: str, source_arn: str) -> str | None:
        """Why `service` may not send to the queue for `source_arn`, or None."""
        _, _, _, _, account, name = queue_arn.split(":")
        sqs = self.aws_client("sqs", self.region)
        url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {})
        if allows(found.get("Policy"), service, "sqs:SendMessage", queue_arn, source_arn):
            return None
        return f"the policy of queue {queue_arn} does not allow {service} sqs:SendMessage for {source_arn}"

    def topic_refusal(self, topic_arn: str, service: str, source_arn: str) -> str | None:
        """Why `service` may not publish to the topic for `source_arn`, or None: the topic's policy,
        and the key policy of a topic encrypted with a customer managed key."""
        sns = self.aws_client("sns", self.region)
        attributes = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
        if not allows(attributes.get("Policy"), service, "sns:Publish", topic_arn, source_arn):
            return f"the policy of topic {topic_arn} does not allow {service} sns:Publish for {source_arn}"
        key_id = attributes.get("KmsMasterKeyId")
        if not key_id or key_id.startswith("alias/aws/"):
            return None
        kms = self.aws_client("kms", self.region)
        key_arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
        document = kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"]
        for action in PUBLISH_KEY_ACTIONS:
            if not allows(document, service, action, key_arn, source_arn):
                return f"the key policy of {key_arn} (topic {topic_arn}) does not allow {service} {action}"
        return None
