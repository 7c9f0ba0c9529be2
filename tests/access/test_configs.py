"""The app with several compute accounts is what it is meant to be, and its sample spans it.

If the construct came to put every grant of this app into one storage stack, or one managed
policy, the matrix would no longer evaluate several stacks per account: these tests say so.
The matrix takes an existing key's policy to hold every statement any storage stack prints for
it; the last test asks whether the statement of any one stack would do (a known finding).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from constructs_lib.policies import S3_ENCRYPTION_CONTEXT
from tests.access import assembly
from tests.access.bridge import ALLOWED, evaluate
from tests.access.configs import SEVERAL_ACCOUNTS, Config
from tests.access.conftest import Synthesized
from tests.access.matrix import KMS_READ, KMS_WRITE, Cell, Target, expected, s3_via
from tests.access.principals import principals

SETTINGS = SEVERAL_ACCOUNTS.settings


def test_it_has_three_compute_accounts_with_different_admissions() -> None:
    computes = SETTINGS.computes
    assert len(computes) == 3
    assert len({compute.forge_role_prefix for compute in computes}) == 3
    assert [compute.forge_role_prefix for compute in computes][-1] is None
    assert [bool(compute.work_bucket) for compute in computes] == [True, True, False]


def test_it_spreads_storage_over_stacks_and_splits_every_s3_write_policy(
    synthesized: Callable[[Config], Synthesized],
) -> None:
    found = assembly.stacks(synthesized(SEVERAL_ACCOUNTS).outdir, SETTINGS.partition)
    assert len(assembly.in_account(found, SETTINGS.storage_account)) == 2
    for compute in SETTINGS.computes:
        (stack,) = assembly.in_account(found, compute.account)
        assert len(assembly.managed_policies(stack)) > 1


def test_the_sample_spans_every_storage_stack_and_several_managed_policies(
    synthesized: Callable[[Config], Synthesized],
) -> None:
    sample = SEVERAL_ACCOUNTS.buckets
    assert sample is not None and 1 < len(sample) < len(SETTINGS.grants)
    found = assembly.stacks(synthesized(SEVERAL_ACCOUNTS).outdir, SETTINGS.partition)
    for storage in assembly.in_account(found, SETTINGS.storage_account):
        assert set(sample) & set(assembly.bucket_policies(storage)), storage.name
    for compute in SETTINGS.computes:
        (stack,) = assembly.in_account(found, compute.account)
        holding = [
            name
            for name, document in assembly.managed_policies(stack).items()
            if any(f":::{bucket}/" in json.dumps(document) for bucket in sample)
        ]
        assert len(holding) > 1, compute.account


def test_the_statement_any_storage_stack_prints_for_a_key_serves_every_bucket_it_encrypts(
    synthesized: Callable[[Config], Synthesized],
) -> None:
    app = synthesized(SEVERAL_ACCOUNTS)
    found = assembly.stacks(app.outdir, SETTINGS.partition)
    via_s3 = ("kms:ViaService", s3_via(SETTINGS.storage_region))
    callers = [
        caller
        for caller in principals(SETTINGS)
        if caller.label.endswith(("forge-instance-role", "named-role-0"))
    ]
    wrong: list[str] = []
    for storage in assembly.in_account(found, SETTINGS.storage_account):
        for key_arn, statements in assembly.requested_key_statements(storage).items():
            policies = dict(app.deployment.policies)
            policies[f"key:{key_arn}"] = assembly.existing_key_policy(key_arn, statements)
            cells = [
                Cell(
                    caller,
                    action,
                    Target("key", grant.name),
                    (via_s3, (S3_ENCRYPTION_CONTEXT, f"arn:aws:s3:::{grant.name}")),
                )
                for grant in SETTINGS.grants
                if grant.kms_key_arn == key_arn
                for caller in callers
                for action in (KMS_READ, KMS_WRITE)
            ]
            requests = [app.deployment.request(cell, False) for cell in cells]
            wrong += [
                f"{storage.name}: {cell.id} {decision.result}"
                for cell, decision in zip(cells, evaluate(policies, requests), strict=True)
                if decision.allowed != (expected(SETTINGS, cell) == ALLOWED)
            ]
    assert not wrong, "\n".join(wrong)
