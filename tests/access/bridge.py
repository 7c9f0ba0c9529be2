"""Ask a real IAM policy evaluator for decisions: a batch of requests per Node process.

The evaluator is ``@cloud-copilot/iam-simulate`` (AGPL, test-only: only ``evaluate.mjs`` imports
it, through Node; nothing under ``constructs_lib`` does). It derives no context keys: every
request carries the ones its policies test (``aws:PrincipalArn``, ``aws:SecureTransport``, ...).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Result = Literal["Allowed", "ExplicitlyDenied", "ImplicitlyDenied"]
ContextValue = str | tuple[str, ...]

BRIDGE = Path(__file__).with_name("evaluate.mjs")
ALLOWED: Result = "Allowed"
EXPLICITLY_DENIED: Result = "ExplicitlyDenied"
IMPLICITLY_DENIED: Result = "ImplicitlyDenied"


class BridgeError(RuntimeError):
    """The evaluator could not run, or could not evaluate a request as given."""


@dataclass(frozen=True)
class Request:
    """One request: who asks for which action on which resource, and the policies in play.

    ``principal`` None is an anonymous request. Policies are named by their id in the batch.
    """

    principal: str | None
    action: str
    resource: str
    resource_account: str
    identity_policies: tuple[str, ...] = ()
    resource_policy: str | None = None
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    block_public_access: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "action": self.action,
            "resource": self.resource,
            "resourceAccount": self.resource_account,
            "identityPolicies": list(self.identity_policies),
            "resourcePolicy": self.resource_policy,
            "context": {
                key: list(value) if isinstance(value, tuple) else value
                for key, value in self.context.items()
            },
            "blockPublicAccess": self.block_public_access,
        }


@dataclass(frozen=True)
class Decision:
    """The evaluator's answer to one request."""

    result: Result
    blocked_by: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.result == ALLOWED


def _run(node: str, policies: Mapping[str, Any], requests: list[dict[str, Any]]) -> list[Any]:
    """One evaluator process for a batch: its answers, in request order."""
    completed = subprocess.run(
        [node, str(BRIDGE)],
        input=json.dumps({"policies": policies, "requests": requests}),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if completed.returncode != 0:
        raise BridgeError(f"the evaluator failed: {completed.stderr.strip()}")
    answers: list[Any] = json.loads(completed.stdout)["decisions"]
    return answers


def evaluate(policies: Mapping[str, Any], requests: Sequence[Request]) -> list[Decision]:
    """The decision for each request, in order. Each distinct request is evaluated once; the
    batch is shared out to one evaluator process per CPU."""
    node = shutil.which("node")
    if node is None:
        raise BridgeError("node is not on PATH; the IAM evaluator runs on Node.js")
    texts = [json.dumps(request.as_json(), sort_keys=True) for request in requests]
    distinct = [json.loads(text) for text in dict.fromkeys(texts)]
    share = max(1, -(-len(distinct) // (os.cpu_count() or 1)))
    shares = [distinct[start : start + share] for start in range(0, len(distinct), share)]
    with ThreadPoolExecutor(max_workers=max(1, len(shares))) as pool:
        answered = [a for part in pool.map(lambda p: _run(node, policies, p), shares) for a in part]
    answers = dict(zip(dict.fromkeys(texts), answered, strict=True))
    decisions: list[Decision] = []
    for request, text in zip(requests, texts, strict=True):
        answer = answers[text]
        if "error" in answer:
            raise BridgeError(f"cannot evaluate {request}: {answer['error']}")
        if answer["ignoredContextKeys"]:
            raise BridgeError(
                f"{request} carries context keys its action does not have: "
                f"{answer['ignoredContextKeys']}"
            )
        decisions.append(Decision(answer["result"], tuple(answer["blockedBy"])))
    return decisions
