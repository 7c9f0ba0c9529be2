"""cdk-nag 3.x acknowledgments, kept in one place so each carries its rule and reason."""

from __future__ import annotations

from collections.abc import Iterable

import aws_cdk as cdk
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``construct`` (and only below it), with a reason."""
    acknowledge_all(construct, [(rule_id, reason)])


def acknowledge_all(construct: IConstruct, findings: Iterable[tuple[str, str]]) -> None:
    """Acknowledge several (rule id, reason) findings on ``construct`` in one call."""
    rules = [cdk.Acknowledgment(id=rule_id, reason=reason) for rule_id, reason in findings]
    if rules:
        cdk.Validations.of(construct).acknowledge(*rules)
