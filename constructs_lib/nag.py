"""cdk-nag 3.x acknowledgments: the helper, and every reason the library gives, in one place.

Each acknowledgment is made on the narrowest construct that holds the finding, with one of the
reasons below, so that a security reviewer reads them all here.
"""

from __future__ import annotations

from collections.abc import Iterable

import aws_cdk as cdk
from constructs import IConstruct

ACCESS_LOG_LOOP_REASON = (
    "This bucket is the target of the data buckets' server access logs; logging it into "
    "itself would create a feedback loop. It holds only S3 log records, is private, "
    "encrypted, TLS-only and retained."
)
OBJECT_WILDCARD_REASON = (
    "Object-level S3 actions can only be scoped with an object ARN pattern; '/*' is the "
    "granted bucket or key prefix the storage account chose to share, and the bucket policy "
    "in the storage account applies the same limit."
)
KEY_WILDCARD_REASON = (
    "The KMS key is created in the storage account, so its ARN is unknown here at synth time. "
    "The statement is limited to that account's keys carrying the construct's alias "
    "(kms:ResourceAliases) and to use through S3 (kms:ViaService); the key policy, which "
    "names this account's Forge roles, is the second gate."
)
BASIC_EXECUTION_REASON = (
    "AWSLambdaBasicExecutionRole only lets the function write its own CloudWatch Logs; it is "
    "the AWS-maintained minimum for a Lambda function and grants no data access."
)
BASIC_EXECUTION_FINDING = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaBasicExecutionRole]"
)
INVOKE_REASON = (
    "The Provider framework invokes this custom resource's own functions and their versions "
    "(ARN:*); each statement names exactly one function of this construct."
)
LOG_DELIVERY_REASON = (
    "Step Functions log delivery (logs:CreateLogDelivery and related actions) does not "
    "support resource-level permissions, so AWS requires Resource '*' for the waiter's role."
)
WAITER_TRACING_REASON = (
    "The waiter state machine is the Provider framework's polling loop; it logs ALL events "
    "to CloudWatch Logs, and X-Ray tracing of a 10-second poll adds cost, not insight."
)
PROVIDER_RUNTIME_REASON = (
    "The Provider framework's own function runtime is chosen and updated by aws-cdk-lib, "
    "not by this library; the handlers themselves use the newest Python runtime."
)


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``construct`` (and only below it), with a reason."""
    acknowledge_all(construct, [(rule_id, reason)])


def acknowledge_all(construct: IConstruct, findings: Iterable[tuple[str, str]]) -> None:
    """Acknowledge several (rule id, reason) findings on ``construct`` in one call."""
    rules = [cdk.Acknowledgment(id=rule_id, reason=reason) for rule_id, reason in findings]
    if rules:
        cdk.Validations.of(construct).acknowledge(*rules)
