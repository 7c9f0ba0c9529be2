"""The one stand-in for AWS in the doctor's tests: answers to ``iam:SimulatePrincipalPolicy``,
which moto does not implement.

Registered on one boto3 IAM client, it lets botocore validate and serialize every request as
it would for AWS, keeps the request's parameters, and answers in the response shape of the
IAM API reference (one evaluation result per action and resource, with the statements that
matched), checked against botocore's model of that answer. The decisions are the test's; the
answers are shaped after the documented response, not recorded from a live account. Every
other call of the client goes to moto as usual.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.validate import validate_parameters

OPERATION = "iam.SimulatePrincipalPolicy"
# How AWS names the policies a decision rests on.
IDENTITY_POLICY = {"SourcePolicyId": "doctor-S3WritePolicy", "SourcePolicyType": "user-managed"}
RESOURCE_POLICY = {"SourcePolicyId": "ResourcePolicy", "SourcePolicyType": "resource"}

Decide = Callable[[str, str], str]


def allow_all(action: str, resource: str) -> str:
    """AWS's decision when the live policies allow every request."""
    return "allowed"


class RecordedSimulator:
    """Answers the simulator on ``client`` with ``decide(action, resource)``, or with AWS's
    error ``error_code`` (such as AccessDenied) when given; ``requests`` keeps each request's
    parameters."""

    def __init__(self, client: Any, decide: Decide = allow_all, error_code: str | None = None):
        self.decide = decide
        self.error_code = error_code
        self.requests: list[dict[str, Any]] = []
        client.meta.events.register(f"before-parameter-build.{OPERATION}", self._keep)
        client.meta.events.register(f"before-call.{OPERATION}", self._answer)

    def _keep(self, params: dict[str, Any], **_: Any) -> None:
        self.requests.append(copy.deepcopy(params))

    def _answer(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        metadata = {"RequestId": "doctor-simulation", "HTTPStatusCode": 200}
        if self.error_code is not None:
            error = {
                "Error": {
                    "Type": "Sender",
                    "Code": self.error_code,
                    "Message": "User is not authorized to perform: iam:SimulatePrincipalPolicy",
                },
                "ResponseMetadata": {**metadata, "HTTPStatusCode": 403},
            }
            return AWSResponse("https://iam.amazonaws.com/", 403, {}, None), error
        request = self.requests[-1]
        answer: dict[str, Any] = {
            "EvaluationResults": [
                self._result(action, resource)
                for action in request["ActionNames"]
                for resource in request["ResourceArns"]
            ],
            "IsTruncated": False,
        }
        validate_parameters(answer, model.output_shape)
        return AWSResponse("https://iam.amazonaws.com/", 200, {}, None), {
            **answer,
            "ResponseMetadata": metadata,
        }

    def _result(self, action: str, resource: str) -> dict[str, Any]:
        decision = self.decide(action, resource)
        matched = {
            "allowed": [IDENTITY_POLICY, RESOURCE_POLICY],
            "explicitDeny": [RESOURCE_POLICY],
        }.get(decision, [])
        return {
            "EvalActionName": action,
            "EvalResourceName": resource,
            "EvalDecision": decision,
            "MatchedStatements": [
                {
                    **source,
                    "StartPosition": {"Line": 1, "Column": 1},
                    "EndPosition": {"Line": 1, "Column": 80},
                }
                for source in matched
            ],
            "MissingContextValues": [],
            "EvalDecisionDetails": {},
        }
