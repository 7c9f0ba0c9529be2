"""AWS's own policy simulator, asked to confirm the plan's decisions for one role.

For each bucket, ``iam:SimulatePrincipalPolicy`` evaluates the role's live policies in the
compute account together with the live bucket policy (and, for a KMS bucket, the live key
policy) as the resource policy of the storage account (``ResourceOwner``). What is asked
comes from the plan: the actions and resources of the planned Allow statements that admit
the role, with the context values the planned statements test (``aws:SecureTransport``,
``s3:ResourceAccount``, ``s3:prefix``, ``kms:ViaService``, the encryption context...), so the
answer says whether the live policies allow the requests the plan means to allow.

The API takes only an IAM user as the caller a resource policy is matched against, so the
caller is a user of the role's account (which the account principal the bucket policies name
matches) and the role's ARN is given as ``aws:PrincipalArn``. Where the caller may not use
the simulator, or the endpoint does not offer it, the report says so and the other checks
decide.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config

from constructs_lib import policies
from constructs_lib.config import ValidGrant
from constructs_lib.doctor.aws import AccountAccess, ReadError, call, pages
from constructs_lib.doctor.compare import admits, base_operator, matches, operator_kind, texts
from constructs_lib.doctor.compute import compute_subject
from constructs_lib.doctor.findings import Finding, Result
from constructs_lib.doctor.storage import BucketReadings, bucket_subject
from constructs_lib.plan import AccessPlan, ComputePlan

# The policy simulator is asked once: an endpoint that does not offer it fails fast.
SIMULATOR_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 1})
SIMULATED_CALLER = "cdk-tower-doctor-simulated-caller"
# The object key the simulation asks about where the plan grants a pattern (bucket/*).
PROBE_KEY = "cdk-tower-doctor-probe"
_CONTEXT_TYPES = {"Bool": "boolean", "Numeric": "numeric", "Date": "date", "IpAddress": "ip"}


@dataclass(frozen=True)
class Question:
    """One simulation: the (action, resource) pairs the plan allows, the live resource
    policy to evaluate them against, and the context the planned statements test."""

    label: str
    pairs: frozenset[tuple[str, str]]
    resource_policy: Mapping[str, Any]
    context: Mapping[str, tuple[str, list[str]]]


@dataclass
class Simulator:
    """The simulator of one compute account, asked as one role; it stops asking after the
    first refusal of the API itself (``unavailable``)."""

    plan: AccessPlan
    compute: ComputePlan
    access: AccountAccess
    role_arn: str
    unavailable: str | None = None
    skipped: list[Finding] = field(default_factory=list)

    def check(self, grant: ValidGrant, readings: BucketReadings) -> list[Finding]:
        """The simulator's decisions on ``grant``'s bucket (none once it is unavailable)."""
        findings = []
        for question in self._questions(grant, readings):
            if self.unavailable is not None:
                break
            findings += self._ask(bucket_subject(grant), question)
        return findings

    def _questions(self, grant: ValidGrant, readings: BucketReadings) -> Iterable[Question]:
        partition = self.plan.settings.partition
        bucket_arn = policies.bucket_arn(partition, grant.name)
        if readings.policy is not None:
            planned = self.plan.bucket_policies[grant.name]["Statement"]
            yield self._question("S3", planned, readings.policy, bucket_arn, None)
        if readings.key_arn is not None and readings.key_policy is not None:
            planned = [
                statement
                for statement in self.plan.key_statements[grant.name]
                if _for_bucket(statement, bucket_arn)
            ]
            yield self._question("KMS", planned, readings.key_policy, bucket_arn, readings.key_arn)

    def _question(
        self,
        label: str,
        planned: Iterable[Mapping[str, Any]],
        resource_policy: Mapping[str, Any],
        bucket_arn: str,
        key_arn: str | None,
    ) -> Question:
        """The pairs the planned Allows grant the role, and the context their conditions
        and the role's planned s3-write statements for the same resources test."""
        partition = self.plan.settings.partition
        allows = [
            statement
            for statement in planned
            if statement.get("Effect") == "Allow" and admits(statement, self.role_arn, partition)
        ]
        pairs = frozenset(
            (action, key_arn or _probe(resource))
            for statement in allows
            for action in texts(statement["Action"])
            for resource in texts(statement["Resource"])
        )
        identity = [
            statement
            for part in self.compute.s3_write
            for statement in part["Statement"]
            if _reaches_any(statement, {resource for _, resource in pairs}, bucket_arn)
        ]
        context = _context([*allows, *identity], bucket_arn)
        context["aws:SecureTransport"] = ("boolean", ["true"])
        context["aws:PrincipalArn"] = ("string", [self.role_arn])
        return Question(label, pairs, resource_policy, context)

    def _ask(self, subject: str, question: Question) -> list[Finding]:
        settings = self.plan.settings
        partition = settings.partition
        caller = f"arn:{partition}:iam::{self.compute.compute.account}:user/{SIMULATED_CALLER}"
        check = f"AWS policy simulator ({question.label})"
        role = self.role_arn.rsplit("/", 1)[-1]
        parameters = {
            "PolicySourceArn": self.role_arn,
            "ActionNames": sorted({action for action, _ in question.pairs}),
            "ResourceArns": sorted({resource for _, resource in question.pairs}),
            "ResourcePolicy": json.dumps(question.resource_policy),
            "ResourceOwner": f"arn:{partition}:iam::{settings.storage_account}:root",
            "CallerArn": caller,
            "ContextEntries": [
                {"ContextKeyName": key, "ContextKeyType": kind, "ContextKeyValues": values}
                for key, (kind, values) in sorted(question.context.items())
            ],
        }
        try:
            decisions = self._decisions(parameters)
        except ReadError as error:
            self._give_up(error)
            return []
        refused = {
            pair: decision
            for pair in question.pairs
            if (decision := decisions.get(pair, "no answer")) != "allowed"
        }
        if not refused:
            why = f"allows {role} the {len(question.pairs)} planned requests"
            return [Finding(subject, check, Result.OK, why)]
        unanswered = [pair for pair, decision in refused.items() if decision == "no answer"]
        if len(unanswered) == len(refused):
            why = f"gave no answer for {_pairs_text(unanswered)}"
            return [Finding(subject, check, Result.NOT_CHECKED, why)]
        listed = "; ".join(
            f"{action} on {resource} ({decision})"
            for (action, resource), decision in sorted(refused.items())
        )
        return [
            Finding(
                subject,
                check,
                Result.BLOCKS,
                f"refuses {role} what the plan allows: {listed}",
                "see the policy checks above for the statement that refuses it",
            )
        ]

    def _decisions(self, parameters: dict[str, Any]) -> dict[tuple[str, str], str]:
        """Each (action, resource) asked and AWS's decision, with the statements that
        decided a refusal; every page of the answer."""
        decisions: dict[tuple[str, str], str] = {}
        simulator = self.access.client("iam", SIMULATOR_CONFIG)
        for answer in pages(call, simulator, "simulate_principal_policy", **parameters):
            for result in answer.get("EvaluationResults", []):
                action = result["EvalActionName"]
                specific = result.get("ResourceSpecificResults") or [
                    {
                        "EvalResourceName": result.get("EvalResourceName"),
                        "EvalResourceDecision": result.get("EvalDecision"),
                        "MatchedStatements": result.get("MatchedStatements", []),
                    }
                ]
                for outcome in specific:
                    decision = str(outcome.get("EvalResourceDecision"))
                    sources = sorted(
                        {str(m.get("SourcePolicyId")) for m in outcome.get("MatchedStatements", [])}
                    )
                    if decision != "allowed" and sources:
                        decision += f" by {', '.join(sources)}"
                    decisions[action, str(outcome.get("EvalResourceName"))] = decision
        return decisions

    def _give_up(self, error: ReadError) -> None:
        if error.denied:
            reason = f"{self.access.role}'s profile may not call iam:SimulatePrincipalPolicy"
        else:
            reason = "the endpoint does not offer iam:SimulatePrincipalPolicy"
        self.unavailable = f"{reason} ({error.reason})"
        self.skipped.append(
            Finding(
                compute_subject(self.compute),
                "AWS policy simulator",
                Result.SKIPPED,
                f"{self.unavailable}; the other checks decide",
                "allow iam:SimulatePrincipalPolicy to confirm the decisions with AWS"
                if error.denied
                else "",
            )
        )


def _probe(resource: str) -> str:
    """A resource the simulation can name: an object pattern becomes one object."""
    return resource.replace("*", PROBE_KEY)


def _for_bucket(statement: Mapping[str, Any], bucket_arn: str) -> bool:
    """Whether a key statement's encryption context (if it tests one) admits ``bucket_arn``."""
    for block in (statement.get("Condition") or {}).values():
        values = block.get(policies.S3_ENCRYPTION_CONTEXT)
        if values is not None and not any(matches(v, bucket_arn) for v in texts(values)):
            return False
    return True


def _reaches_any(statement: Mapping[str, Any], resources: set[str], bucket_arn: str) -> bool:
    """Whether an identity statement applies to one of ``resources`` for ``bucket_arn``."""
    return (
        statement.get("Effect") == "Allow"
        and _for_bucket(statement, bucket_arn)
        and any(
            matches(pattern, resource)
            for pattern in texts(statement.get("Resource"))
            for resource in resources
        )
    )


def _context(
    statements: Iterable[Mapping[str, Any]], bucket_arn: str
) -> dict[str, tuple[str, list[str]]]:
    """A value for each condition key that the statements' positive conditions test: one
    that names ``bucket_arn`` where one does, a pattern's wildcard made the probe key."""
    context: dict[str, tuple[str, list[str]]] = {}
    for statement in statements:
        for operator, block in (statement.get("Condition") or {}).items():
            base = base_operator(operator)
            if operator_kind(operator) == "negative" or base == "Null":
                continue
            kind = next(
                (t for prefix, t in _CONTEXT_TYPES.items() if base.startswith(prefix)), "string"
            )
            for key, values in block.items():
                if key in context:
                    continue
                listed = texts(values)
                if operator.startswith(("ForAnyValue:", "ForAllValues:")):
                    context[key] = (f"{kind}List", [_probe(value) for value in listed])
                    continue
                named = [v for v in listed if v == bucket_arn] or [
                    v for v in listed if v.startswith(f"{bucket_arn}/")
                ]
                context[key] = (kind, [_probe((named or listed)[0])])
    return context


def _pairs_text(pairs: Iterable[tuple[str, str]]) -> str:
    return "; ".join(f"{action} on {resource}" for action, resource in sorted(pairs))
