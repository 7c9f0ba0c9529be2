"""The matrix evaluated on a synthesized app: requests built from the templates' policies.

``verdicts`` is the one checking routine: it turns every cell into a request against the
deployed policies (with S3 Block Public Access off, and again with it on where the request is
meant to be allowed), asks the evaluator in one batch, and sets each decision beside what the
matrix expects. The matrix tests and the mutation tests both use it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from constructs_lib.config import AccessSettings
from constructs_lib.plan import storage_layout
from constructs_lib.policies import RESOURCE_ACCOUNT
from tests.access import assembly
from tests.access.bridge import ALLOWED, Decision, Request, Result, evaluate
from tests.access.matrix import (
    STRANGER_POLICY,
    STRANGER_POLICY_ID,
    Cell,
    access_logs,
    expected,
    target_account,
)
from tests.access.principals import (
    BROAD,
    BROAD_POLICY,
    ORGANIZATION_PATHS,
    S3_WRITE,
    Principal,
    member_compute,
)


@dataclass(frozen=True)
class Deployment:
    """The policies of one synthesized app, and how the matrix's names map onto them.

    The storage account's policies are those of all its stacks (the grants may be spread over
    several). Each compute account's s3-write policy is every managed policy of its stack (IAM's
    size limit may split it), a member account's of the organisation grant every managed policy
    of the StackSet template: a principal holding ``S3_WRITE`` carries every part of its own
    account's policy, one holding ``part_of(name)`` only that part. A log bucket and keys are
    found by what the templates say of them.
    """

    settings: AccessSettings
    policies: Mapping[str, Any]
    s3_write: Mapping[str, Mapping[str, str]]
    bucket_names: Mapping[str, str]
    keys: Mapping[str, assembly.Key]

    @classmethod
    def from_assembly(cls, outdir: Path, settings: AccessSettings) -> Deployment:
        found = assembly.stacks(outdir, settings.partition)
        storage = assembly.in_account(found, settings.storage_account)
        policies: dict[str, Any] = {BROAD: BROAD_POLICY, STRANGER_POLICY_ID: STRANGER_POLICY}
        s3_write: dict[str, dict[str, str]] = {}
        for compute in settings.computes:
            (stack,) = assembly.in_account(found, compute.account)
            parts = s3_write.setdefault(compute.account, {})
            for name, document in assembly.managed_policies(stack).items():
                parts[name] = f"{S3_WRITE}:{compute.account}:{name}"
                policies[parts[name]] = document
        for account in ORGANIZATION_PATHS:
            member = member_compute(settings, account)
            if member is None:
                continue
            (template,) = assembly.stack_set_templates(outdir)
            found_policies = assembly.stack_set_policies(
                template, account, member.region, settings.partition
            )
            parts = s3_write.setdefault(account, {})
            for name, document in found_policies.items():
                parts[_alphanumeric(name)] = f"{S3_WRITE}:{account}:{name}"
                policies[parts[_alphanumeric(name)]] = document
        for stack in storage:
            for name, document in assembly.bucket_policies(stack).items():
                assert f"bucket:{name}" not in policies, f"two stacks write the policy of {name}"
                policies[f"bucket:{name}"] = document
        keys = _keys(storage, settings)
        policies |= {f"key:{key.arn}": key.policy for key in keys.values()}
        return cls(settings, policies, s3_write, _bucket_names(storage, settings), keys)

    def identity_policies(self, principal: Principal) -> tuple[str, ...]:
        """The ids of the principal's IAM policies: ``S3_WRITE`` and its parts are those of the
        principal's own account (a managed policy is attached in its own account only)."""
        ids: list[str] = []
        for policy in principal.identity_policies:
            if policy == S3_WRITE or policy.startswith(f"{S3_WRITE}/"):
                parts = self.s3_write[str(principal.account)]
                wanted = list(parts) if policy == S3_WRITE else [_output_name(policy)]
                ids += [parts[name] for name in wanted]
            else:
                ids.append(policy)
        return tuple(ids)

    def request(self, cell: Cell, block_public_access: bool) -> Request:
        principal, target = cell.principal, cell.target
        account = target_account(self.settings, target)
        context: dict[str, str | tuple[str, ...]] = {
            **principal.context(),
            "aws:SecureTransport": "true" if cell.secure_transport else "false",
        }
        if target.kind != "key":
            context[RESOURCE_ACCOUNT] = account
        context |= dict(cell.context)
        if target.kind == "key":
            key = self.keys[target.bucket]
            if cell.aliased and key.aliases:
                context["kms:ResourceAliases"] = key.aliases
            resource, policy = key.arn, f"key:{key.arn}"
        else:
            name = self.bucket_names.get(target.bucket, target.bucket)
            resource = f"arn:{self.settings.partition}:s3:::{name}"
            resource += f"/{target.key}" if target.kind == "object" else ""
            policy = f"bucket:{name}" if target.owner is None else STRANGER_POLICY_ID
        return Request(
            principal=principal.arn,
            action=cell.action,
            resource=resource,
            resource_account=account,
            identity_policies=self.identity_policies(principal),
            resource_policy=policy if policy in self.policies else None,
            context=context,
            block_public_access=block_public_access,
        )


def _output_name(part: str) -> str:
    """The output name of a part ``S3_WRITE/<construct id>``: its ``<id>Arn`` output is named
    as a logical id, without the construct id's non-alphanumerics (``S3WritePolicy-2`` ->
    ``S3WritePolicy2``). A member account's parts go by their fixed names, so stripped."""
    return _alphanumeric(part.split("/", 1)[1])


def _alphanumeric(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", name)


def _bucket_names(storage: list[assembly.Stack], settings: AccessSettings) -> dict[str, str]:
    """The matrix's names for the log buckets the storage stacks create, mapped to their
    deployed names: each stack's by the number of the stack in the plan (the one that holds
    its grants)."""
    granted = {grant.name for grant in settings.grants}
    plan = [{grant.name for grant in part} for part in storage_layout(settings)]
    names: dict[str, str] = {}
    for stack in storage:
        created = {
            stack.resolve({"Ref": logical_id}) for logical_id in stack.resources("AWS::S3::Bucket")
        }
        unnamed = sorted(created - granted)
        assert len(unnamed) <= 1, f"more buckets than the log bucket have no name: {unnamed}"
        if unnamed:
            number = plan.index(set(assembly.bucket_policies(stack)) & granted)
            names[access_logs(number)] = unnamed[0]
    return names


def _keys(storage: list[assembly.Stack], settings: AccessSettings) -> dict[str, assembly.Key]:
    """The key of each encrypted bucket, by bucket name: the key a created bucket names in its
    encryption settings, or the existing key with the statements the storage stacks ask for
    (every one of them, when buckets in several stacks share the key)."""
    created_keys: dict[str, assembly.Key] = {}
    requested: dict[str, list[assembly.Document]] = {}
    encryption: dict[str, str | None] = {}
    for stack in storage:
        created_keys |= assembly.created_keys(stack)
        for key_arn, statements in assembly.requested_key_statements(stack).items():
            known = requested.setdefault(key_arn, [])
            known += [statement for statement in statements if statement not in known]
        encryption |= {
            stack.resolve(bucket["Properties"]["BucketName"]): stack.resolve(
                bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
                    "ServerSideEncryptionByDefault"
                ].get("KMSMasterKeyID")
            )
            for bucket in stack.resources("AWS::S3::Bucket").values()
            if "BucketName" in bucket["Properties"]
        }
    keys: dict[str, assembly.Key] = {}
    for grant in settings.grants:
        if not grant.uses_kms:
            continue
        arn = encryption[grant.name] if grant.create else grant.kms_key_arn
        assert arn is not None, f"no KMS key found for {grant.name}"
        if arn in created_keys:
            keys[grant.name] = created_keys[arn]
        else:
            policy = assembly.existing_key_policy(arn, requested[arn])
            keys[grant.name] = assembly.Key(arn, (), policy)
    return keys


@dataclass(frozen=True)
class Verdict:
    """A cell, what the matrix expects, and what the evaluator decided: with S3 Block Public
    Access off, and for S3 requests meant to be allowed, with RestrictPublicBuckets on too."""

    cell: Cell
    expected: Result
    decision: Decision
    with_block_public_access: Decision | None

    @property
    def holds(self) -> bool:
        decisions = [self.decision, self.with_block_public_access]
        return all(d.result == self.expected for d in decisions if d is not None)

    def __str__(self) -> str:
        text = f"{self.cell.id}: expected {self.expected}, evaluated {self.decision.result}"
        if self.with_block_public_access is not None:
            blocked = self.with_block_public_access
            text += f"; with Block Public Access {blocked.result} {list(blocked.blocked_by)}"
        return text


def decide(
    deployment: Deployment, cells: Sequence[Cell], allowed: Sequence[bool]
) -> list[tuple[Decision, Decision | None]]:
    """Each cell's decision with S3 Block Public Access off, and with RestrictPublicBuckets on
    where ``allowed`` says the S3 request is meant to be allowed (else None).

    RestrictPublicBuckets can only refuse a request that would otherwise be allowed (the
    evaluator's S3 authorizer hands any other decision back unchanged): a request meant to be
    refused is refused with it on whenever it is without it, so asking once is enough.
    """
    again = [
        index
        for index, (cell, meant) in enumerate(zip(cells, allowed, strict=True))
        if meant and cell.target.kind != "key"
    ]
    requests = [deployment.request(cell, False) for cell in cells]
    requests += [deployment.request(cells[index], True) for index in again]
    decisions = evaluate(deployment.policies, requests)
    with_block_public_access = dict(zip(again, decisions[len(cells) :], strict=True))
    return [(decisions[i], with_block_public_access.get(i)) for i in range(len(cells))]


def verdicts(deployment: Deployment, cells: Sequence[Cell]) -> dict[str, Verdict]:
    """Each cell's verdict, by cell id."""
    meant = [expected(deployment.settings, cell) for cell in cells]
    decisions = decide(deployment, cells, [result == ALLOWED for result in meant])
    return {
        cell.id: Verdict(cell, result, *decided)
        for cell, result, decided in zip(cells, meant, decisions, strict=True)
    }
