"""Who may assume the role the construct makes for Platform's credentials, decided by the IAM
evaluator on the example's synthesized trust policy.

The Platform principal (a role, and its sessions, which is how Platform calls) may assume the
role with the External ID Platform gave the credentials; a missing or wrong External ID,
another role of Seqera's account, a role of the same name in another account, and anonymous
are refused. The evaluator does not carry ``sts:ExternalId`` into ``sts:TagSession``, so that
action is checked by the shape of the statement. Copies of the trust policy without the
External ID condition, or with the principal widened to Seqera's account, fail the matrix.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from constructs_lib.defaults import DEFAULT_PLATFORM_PRINCIPAL
from tests.access import assembly
from tests.access.bridge import ALLOWED, IMPLICITLY_DENIED, Request, Result, evaluate
from tests.access.configs import EXAMPLE, Config
from tests.access.conftest import Synthesized
from tests.conftest import COMPUTE_ACCOUNT, THIRD_ACCOUNT

Document = dict[str, Any]
SEQERA_ACCOUNT = DEFAULT_PLATFORM_PRINCIPAL.split(":")[4]
ROLE_NAME = DEFAULT_PLATFORM_PRINCIPAL.rsplit("/", 1)[1]
SESSION = f"arn:aws:sts::{SEQERA_ACCOUNT}:assumed-role/{ROLE_NAME}/platform-session"
ASSUME_ANYTHING: Document = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
}


@dataclass(frozen=True)
class Caller:
    """Who asks to assume the role: ``arn`` None is anonymous; a session's ``role_arn`` is
    its role's."""

    label: str
    arn: str | None
    role_arn: str | None = None

    def context(self) -> dict[str, str]:
        if self.arn is None:
            return {}
        principal = self.role_arn or self.arn
        return {"aws:PrincipalArn": principal, "aws:PrincipalAccount": self.arn.split(":")[4]}


PLATFORM = Caller("platform-role", DEFAULT_PLATFORM_PRINCIPAL)
PLATFORM_SESSION = Caller("platform-session", SESSION, DEFAULT_PLATFORM_PRINCIPAL)
OTHER_SEQERA_ROLE = Caller("other-role-of-seqera", f"arn:aws:iam::{SEQERA_ACCOUNT}:role/Other")
SAME_NAME_ELSEWHERE = Caller(
    "same-role-name-in-another-account", f"arn:aws:iam::{THIRD_ACCOUNT}:role/{ROLE_NAME}"
)
ANONYMOUS = Caller("anonymous", None)
RIGHT, WRONG, MISSING = "right", "wrong", "missing"


@dataclass(frozen=True)
class Cell:
    caller: Caller
    external_id: str
    expected: Result

    @property
    def id(self) -> str:
        return f"{self.caller.label}:external-id-{self.external_id}"


CELLS = [
    Cell(PLATFORM, RIGHT, ALLOWED),
    Cell(PLATFORM_SESSION, RIGHT, ALLOWED),
    Cell(PLATFORM, WRONG, IMPLICITLY_DENIED),
    Cell(PLATFORM_SESSION, WRONG, IMPLICITLY_DENIED),
    Cell(PLATFORM, MISSING, IMPLICITLY_DENIED),
    Cell(OTHER_SEQERA_ROLE, RIGHT, IMPLICITLY_DENIED),
    Cell(SAME_NAME_ELSEWHERE, RIGHT, IMPLICITLY_DENIED),
    Cell(ANONYMOUS, RIGHT, IMPLICITLY_DENIED),
]


@dataclass(frozen=True)
class Trust:
    """The credentials role's ARN, its trust policy and the External ID it requires."""

    role_arn: str
    policy: Document
    external_id: str


def trust_of(synthesized: Synthesized) -> Trust:
    """The trust policy of the role the example makes for Platform's credentials."""
    found = assembly.stacks(synthesized.outdir, synthesized.settings.partition)
    (compute,) = assembly.in_account(found, COMPUTE_ACCOUNT)
    (credentials,) = compute.resources("Custom::SeqeraCredentials")
    roles = [
        role
        for role in compute.resources("AWS::IAM::Role").values()
        if credentials in str(role["Properties"]["AssumeRolePolicyDocument"])
    ]
    (role,) = roles
    name = role["Properties"]["RoleName"]
    return Trust(
        f"arn:aws:iam::{COMPUTE_ACCOUNT}:role/{name}",
        compute.resolve(role["Properties"]["AssumeRolePolicyDocument"]),
        assembly.external_id_of(credentials),
    )


def decisions(trust: Trust, policy: Document) -> dict[str, Result]:
    """Each cell's decision with ``policy`` as the role's trust policy."""
    values = {RIGHT: trust.external_id, WRONG: f"not-{trust.external_id}"}
    requests = [
        Request(
            principal=cell.caller.arn,
            action="sts:AssumeRole",
            resource=trust.role_arn,
            resource_account=COMPUTE_ACCOUNT,
            identity_policies=("assume-anything",) if cell.caller.arn else (),
            resource_policy="trust",
            context={
                **cell.caller.context(),
                **(
                    {}
                    if cell.external_id == MISSING
                    else {"sts:ExternalId": values[cell.external_id]}
                ),
            },
        )
        for cell in CELLS
    ]
    answers = evaluate({"trust": policy, "assume-anything": ASSUME_ANYTHING}, requests)
    return {cell.id: answer.result for cell, answer in zip(CELLS, answers, strict=True)}


@pytest.fixture(scope="module")
def trust(synthesized: Callable[[Config], Synthesized]) -> Trust:
    return trust_of(synthesized(EXAMPLE))


@pytest.fixture(scope="module")
def decided(trust: Trust) -> dict[str, Result]:
    return decisions(trust, trust.policy)


@pytest.mark.parametrize("cell", CELLS, ids=[cell.id for cell in CELLS])
def test_the_evaluated_decision_is_the_intended_one(cell: Cell, decided: dict[str, Result]) -> None:
    assert decided[cell.id] == cell.expected


def test_tagging_the_session_needs_the_same_principal_and_external_id(trust: Trust) -> None:
    (statement,) = [s for s in trust.policy["Statement"] if "sts:TagSession" in s["Action"]]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"AWS": DEFAULT_PLATFORM_PRINCIPAL}
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": trust.external_id}}
    assert "sts:AssumeRole" in statement["Action"]


def without_external_id(policy: Document) -> Document:
    changed = copy.deepcopy(policy)
    for statement in changed["Statement"]:
        statement.pop("Condition", None)
    return changed


def with_principal(principal: str) -> Callable[[Document], Document]:
    def change(policy: Document) -> Document:
        changed = copy.deepcopy(policy)
        for statement in changed["Statement"]:
            statement["Principal"] = {"AWS": principal}
        return changed

    return change


@pytest.mark.parametrize(
    ("change", "revealed_by"),
    [
        pytest.param(without_external_id, "platform-role:external-id-wrong", id="no-external-id"),
        pytest.param(
            with_principal(f"arn:aws:iam::{SEQERA_ACCOUNT}:root"),
            "other-role-of-seqera:external-id-right",
            id="principal-widened-to-seqera-account",
        ),
        pytest.param(
            with_principal("*"),
            "same-role-name-in-another-account:external-id-right",
            id="principal-widened-to-everyone",
        ),
    ],
)
def test_a_weakened_trust_policy_fails_the_matrix(
    trust: Trust, change: Callable[[Document], Document], revealed_by: str
) -> None:
    weakened = decisions(trust, change(trust.policy))
    failing = {cell.id for cell in CELLS if weakened[cell.id] != cell.expected}
    assert revealed_by in failing
