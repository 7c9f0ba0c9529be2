"""The matrix catches weakened policies: copies of an app's templates, each weakened one way,
must fail it, through the same checking code (``deployment.verdicts``) the matrix uses. Every
condition the policies set is removed by one of them: remove it and the matrix fails.

The example's matrix is asked in full. The app with several compute accounts is asked only the
cells of the callers a change is about, to keep the run short. A condition of the s3-write
policy that B's key policies state too (the bucket a key is used for) is asked with key
policies that leave the decision to A's IAM, as a key's administrator may write them: the
s3-write policy alone must then hold.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from constructs_lib.config import AccessSettings
from constructs_lib.plan import storage_layout
from constructs_lib.policies import RESOURCE_ACCOUNT, S3_ENCRYPTION_CONTEXT
from tests.access.assembly import stack_artifacts, stack_set_templates
from tests.access.bridge import ALLOWED, IMPLICITLY_DENIED, Result
from tests.access.configs import (
    EXAMPLE,
    ORGANIZATION,
    SECOND_COMPUTE_ACCOUNT,
    SEVERAL_ACCOUNTS,
    WHOLE_ORGANIZATION,
    Config,
)
from tests.access.conftest import Synthesized
from tests.access.deployment import Deployment, Verdict, verdicts
from tests.access.matrix import KMS_READ, KMS_WRITE, Cell
from tests.access.principals import MEMBER_ACCOUNT
from tests.conftest import THIRD_ACCOUNT

SETTINGS = EXAMPLE.settings
Template = dict[str, Any]


# What ``copy_with_templates`` changes for the organisation's member accounts: the StackSet's
# template, which no stack of the assembly deploys by itself.
MEMBER_ACCOUNTS = "member-accounts"


def copy_with_templates(
    outdir: Path, copy_to: Path, account: str, change: Callable[[Template], Template]
) -> Path:
    """A copy of the cloud assembly whose templates of ``account`` (all of them, when the
    grants are spread over several storage stacks; the StackSet's for ``MEMBER_ACCOUNTS``)
    went through ``change``."""
    copy = Path(shutil.copytree(outdir, copy_to))
    if account == MEMBER_ACCOUNTS:
        files = stack_set_templates(copy)
    else:
        files = [a.template_file for a in stack_artifacts(copy) if a.account == account]
    assert files, f"no template deploys to {account}"
    for file in files:
        file.write_text(json.dumps(change(json.loads(file.read_text()))))
    return copy


def failing(
    config: Config, outdir: Path, asked: Callable[[Cell], bool], delegated: bool = False
) -> list[Verdict]:
    """The verdicts of the app's matrix cells ``asked`` that do not hold for ``outdir``
    (``delegated``: with every key's policy leaving the decision to the compute accounts'
    IAM)."""
    deployment = Deployment.from_assembly(outdir, config.settings)
    if delegated:
        deployment = with_delegating_key_policies(deployment)
    cells = [cell for cell in config.cells() if asked(cell)]
    return [verdict for verdict in verdicts(deployment, cells).values() if not verdict.holds]


def with_delegating_key_policies(deployment: Deployment) -> Deployment:
    """The deployment with each key's policy allowing the compute accounts every KMS action,
    so that their IAM policies alone decide."""
    roots = list(deployment.settings.account_principals)
    delegating = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": roots}, "Action": "kms:*", "Resource": "*"}
        ],
    }
    policies = {
        name: delegating if name.startswith("key:") else policy
        for name, policy in deployment.policies.items()
    }
    return dataclasses.replace(deployment, policies=policies)


def replaced(old: str, new: str) -> Callable[[Template], Template]:
    """A change that replaces text everywhere in the template."""

    def change(template: Template) -> Template:
        loaded: Template = json.loads(json.dumps(template).replace(old, new))
        return loaded

    return change


def without(dropped: Callable[[str, Any], bool]) -> Callable[[Template], Template]:
    """A change that drops every statement and mapping entry ``dropped`` says of a key and
    its value, wherever it is (a condition operator, or a whole condition, left empty goes
    too). Outputs holding JSON text (the statements asked of an existing key's administrator)
    are changed alike."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            kept: dict[str, Any] = {}
            for key, item in value.items():
                stripped = strip(item)
                emptied = isinstance(item, dict) and item and not stripped
                if not dropped(key, item) and not emptied:
                    kept[key] = stripped
            return kept
        if isinstance(value, list):
            return [
                strip(item)
                for item in value
                if not (isinstance(item, dict) and dropped("Sid", item.get("Sid")))
            ]
        if isinstance(value, str) and value.startswith("[{"):
            return json.dumps(strip(json.loads(value)))
        return value

    def change(template: Template) -> Template:
        stripped: Template = strip(template)
        return stripped

    return change


def key_is(*names: str) -> Callable[[str, Any], bool]:
    """Entries named one of ``names``: condition operators or keys."""
    return lambda key, value: key in names


def sid_is(sid: str) -> Callable[[str, Any], bool]:
    """The statement whose Sid is ``sid``."""
    return lambda key, value: key == "Sid" and value == sid


def owned_by(account: str) -> Callable[[str, Any], bool]:
    """The test that a bucket belongs to ``account``."""
    return lambda key, value: key == RESOURCE_ACCOUNT and value == account


def with_wider_key_prefixes(template: Template) -> Template:
    """Grant every granted prefix's bucket as a whole: objects and listings anywhere."""
    text = json.dumps(template)
    for grant in SETTINGS.grants:
        for prefix in grant.prefixes:
            text = text.replace(f'{grant.name}/{prefix}/*"', f'{grant.name}/*"')
            text = text.replace(f'"{prefix}/"', '"*"').replace(f'"{prefix}/*"', '"*"')
    widened: Template = json.loads(text)
    return widened


def every_cell(cell: Cell) -> bool:
    return True


def asked_of(*labels: str) -> Callable[[Cell], bool]:
    """The cells of the callers labelled ``labels``."""
    return lambda cell: cell.principal.label in labels


@dataclass(frozen=True)
class Mutation:
    """A weakening of ``config``'s templates of the account ``account_of`` names, and the
    cells it must fail: among those ``asked`` (with delegating key policies if
    ``delegated``), a caller of each label in ``revealed_by`` evaluated as given."""

    config: Config
    account_of: Callable[[AccessSettings], str]
    change: Callable[[Template], Template]
    asked: Callable[[Cell], bool]
    revealed_by: list[tuple[str, Result]]
    delegated: bool = False


def storage(settings: AccessSettings) -> str:
    return settings.storage_account


def compute(settings: AccessSettings) -> str:
    return settings.primary.account


def members(settings: AccessSettings) -> str:
    return MEMBER_ACCOUNTS


def of_keys(*labels: str) -> Callable[[Cell], bool]:
    """The cells of the callers labelled ``labels`` that use a key (grants on a key are the
    key policy's alone)."""
    return lambda cell: cell.action in (KMS_READ, KMS_WRITE) and cell.principal.label in labels


def of_strangers(bucket: str | None = None) -> Callable[[Cell], bool]:
    """The cells on buckets a third account owns (of ``bucket`` only, if given)."""
    return lambda cell: cell.target.owner is not None and bucket in (None, cell.target.bucket)


ROLE_PATTERN = f"role/{SETTINGS.primary.forge_role_prefix}*"
SECOND_ROOT = f"arn:aws:iam::{SECOND_COMPUTE_ACCOUNT}:root"
SECOND_PATTERN = f"arn:aws:iam::{SECOND_COMPUTE_ACCOUNT}:role/SeqeraForge*"
SECOND = f"{SECOND_COMPUTE_ACCOUNT}-"
FORGE = "forge-instance-role"
WITH_BROAD_IAM = "forge-role-with-broad-iam"
WORK_BUCKET = str(SETTINGS.primary.work_bucket)
MEMBER = f"{MEMBER_ACCOUNT}-"
ORG_PATTERN = f'iam::*:role/{ORGANIZATION.settings.primary.forge_role_prefix}*"'
MUTATIONS = {
    "example:no-arn-like": Mutation(
        EXAMPLE,
        storage,
        without(key_is("ArnLike")),
        every_cell,
        [("outside-role-with-broad-iam", ALLOWED)],
    ),
    "example:role-pattern-widened-to-every-role": Mutation(
        EXAMPLE,
        storage,
        replaced(f'{ROLE_PATTERN}"', 'role/*"'),
        every_cell,
        [("outside-role-with-broad-iam", ALLOWED)],
    ),
    "example:roles-under-a-path-admitted": Mutation(
        EXAMPLE,
        storage,
        without(key_is("ArnNotLike")),
        every_cell,
        [("role-under-forge-prefix-path", ALLOWED)],
    ),
    "example:key-prefixes-widened-to-the-bucket": Mutation(
        EXAMPLE,
        storage,
        with_wider_key_prefixes,
        every_cell,
        [(WITH_BROAD_IAM, ALLOWED)],
    ),
    "example:compute-account-swapped": Mutation(
        EXAMPLE,
        storage,
        replaced(SETTINGS.primary.account, THIRD_ACCOUNT),
        every_cell,
        [("third-account-forge-role", ALLOWED), (FORGE, IMPLICITLY_DENIED)],
    ),
    "example:other-encryption-kinds-written": Mutation(
        EXAMPLE,
        storage,
        without(sid_is("DenyOtherEncryption")),
        every_cell,
        [(FORGE, ALLOWED)],
    ),
    "example:other-keys-written": Mutation(
        EXAMPLE, storage, without(sid_is("DenyOtherKeys")), every_cell, [(FORGE, ALLOWED)]
    ),
    "example:customer-keys-written": Mutation(
        EXAMPLE, storage, without(sid_is("DenyCustomerKeys")), every_cell, [(FORGE, ALLOWED)]
    ),
    "example:created-key-grants-anything": Mutation(
        EXAMPLE,
        storage,
        without(sid_is("DenyGrantsOutsideAws")),
        every_cell,
        [(FORGE, IMPLICITLY_DENIED)],
    ),
    "example:key-policies-not-bound-to-their-bucket": Mutation(
        EXAMPLE,
        storage,
        without(key_is(S3_ENCRYPTION_CONTEXT)),
        every_cell,
        [(WITH_BROAD_IAM, ALLOWED)],
    ),
    "example:s3-write-not-bound-to-the-storage-account": Mutation(
        EXAMPLE,
        compute,
        without(owned_by(SETTINGS.storage_account)),
        of_strangers(),
        [(FORGE, ALLOWED)],
    ),
    "example:s3-write-not-bound-to-its-work-bucket-account": Mutation(
        EXAMPLE,
        compute,
        without(owned_by(SETTINGS.primary.account)),
        of_strangers(WORK_BUCKET),
        [(FORGE, ALLOWED)],
    ),
    "example:s3-write-keys-not-bound-to-their-bucket": Mutation(
        EXAMPLE,
        compute,
        without(key_is(S3_ENCRYPTION_CONTEXT)),
        of_keys(FORGE),
        [(FORGE, ALLOWED)],
        delegated=True,
    ),
    "whole-organization:any-organization-admitted": Mutation(
        WHOLE_ORGANIZATION,
        storage,
        without(key_is("aws:PrincipalOrgID")),
        every_cell,
        [("third-account-forge-role", ALLOWED)],
    ),
    "organization:any-unit-admitted": Mutation(
        ORGANIZATION,
        storage,
        without(key_is("aws:PrincipalOrgPaths")),
        every_cell,
        [("other-unit-forge-role", ALLOWED)],
    ),
    "organization:storage-account-roles-admitted-without-their-iam": Mutation(
        ORGANIZATION,
        storage,
        without(key_is("aws:PrincipalAccount")),
        every_cell,
        [("storage-forge-named-role", ALLOWED)],
    ),
    "organization:member-pattern-widened-to-every-role": Mutation(
        ORGANIZATION,
        storage,
        replaced(ORG_PATTERN, 'iam::*:role/*"'),
        every_cell,
        [(f"{MEMBER}outside-role-with-broad-iam", ALLOWED)],
    ),
    "organization:member-roles-under-a-path-admitted": Mutation(
        ORGANIZATION,
        storage,
        without(key_is("ArnNotLike")),
        every_cell,
        [(f"{MEMBER}role-under-forge-prefix-path", ALLOWED)],
    ),
    "organization:members-write-other-encryption-kinds": Mutation(
        ORGANIZATION,
        storage,
        without(sid_is("OrgDenyOtherEncryption")),
        every_cell,
        [(f"{MEMBER}{FORGE}", ALLOWED)],
    ),
    "organization:members-write-other-keys": Mutation(
        ORGANIZATION,
        storage,
        without(sid_is("OrgDenyOtherKeys")),
        every_cell,
        [(f"{MEMBER}{FORGE}", ALLOWED)],
    ),
    "organization:members-write-customer-keys": Mutation(
        ORGANIZATION,
        storage,
        without(sid_is("OrgDenyCustomerKeys")),
        every_cell,
        [(f"{MEMBER}{FORGE}", ALLOWED)],
    ),
    "organization:member-key-use-not-bound-to-its-bucket": Mutation(
        ORGANIZATION,
        storage,
        without(key_is(S3_ENCRYPTION_CONTEXT)),
        every_cell,
        [(f"{MEMBER}{WITH_BROAD_IAM}", ALLOWED)],
    ),
    "organization:member-s3-write-not-bound-to-the-storage-account": Mutation(
        ORGANIZATION,
        members,
        without(owned_by(ORGANIZATION.settings.storage_account)),
        of_strangers(),
        [(f"{MEMBER}{FORGE}", ALLOWED)],
    ),
    "several-accounts:second-account-root-swapped-for-a-third": Mutation(
        SEVERAL_ACCOUNTS,
        storage,
        replaced(SECOND_ROOT, f"arn:aws:iam::{THIRD_ACCOUNT}:root"),
        asked_of(f"{SECOND}forge-instance-role", f"{SECOND}forge-instance-role-session"),
        [
            (f"{SECOND}forge-instance-role", IMPLICITLY_DENIED),
            (f"{SECOND}forge-instance-role-session", IMPLICITLY_DENIED),
        ],
    ),
    "several-accounts:second-account-pattern-widened-to-every-role": Mutation(
        SEVERAL_ACCOUNTS,
        storage,
        replaced(SECOND_PATTERN, f"arn:aws:iam::{SECOND_COMPUTE_ACCOUNT}:role/*"),
        asked_of(f"{SECOND}role-named-with-the-prefix-of-111111111111"),
        [(f"{SECOND}role-named-with-the-prefix-of-111111111111", ALLOWED)],
    ),
}


def test_an_unchanged_copy_has_the_same_policies(
    synthesized: Callable[[Config], Synthesized], tmp_path: Path
) -> None:
    app = synthesized(EXAMPLE)
    copy = copy_with_templates(app.outdir, tmp_path / "copy", SETTINGS.storage_account, lambda t: t)
    assert Deployment.from_assembly(copy, SETTINGS) == app.deployment


def test_the_s3_write_policy_alone_holds_under_delegating_key_policies(
    synthesized: Callable[[Config], Synthesized],
) -> None:
    failures = failing(EXAMPLE, synthesized(EXAMPLE).outdir, of_keys(FORGE), delegated=True)
    assert not failures, "\n".join(str(verdict) for verdict in failures[:20])


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_a_weakened_template_fails_the_matrix(
    name: str, synthesized: Callable[[Config], Synthesized], tmp_path: Path
) -> None:
    mutation = MUTATIONS[name]
    config = mutation.config
    account = mutation.account_of(config.settings)
    outdir = synthesized(config).outdir
    weakened = copy_with_templates(outdir, tmp_path / "weakened", account, mutation.change)
    failures = failing(config, weakened, mutation.asked, mutation.delegated)
    evaluated = {(v.cell.principal.label, v.decision.result) for v in failures}
    assert set(mutation.revealed_by) <= evaluated, "\n".join(str(v) for v in failures[:20])
    failed_buckets = {v.cell.target.bucket for v in failures}
    asked_buckets = {cell.target.bucket for cell in config.cells() if mutation.asked(cell)}
    for part in storage_layout(config.settings):
        names = {grant.name for grant in part}
        assert not names & asked_buckets or names & failed_buckets, f"unrevealed in {names}"
