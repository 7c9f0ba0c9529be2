"""The apps the access tests synthesize: the example of cdk.json, a maximal one, one with
three compute accounts and enough buckets to split the s3-write policy and the storage stack,
and two with an organisation grant (some units; the whole organisation).

All are built the way ``cdk synth`` builds them, by ``app.build_app`` from context. The
settings are also read from the context alone (no CDK), so that tests can be parametrized with
one test per matrix cell before anything is synthesized.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from app import CONSTRUCT_ID, build_app
from constructs_lib import BucketGrant, CrossAccountBucketAccess
from constructs_lib.config import AccessSettings, ValidGrant
from constructs_lib.context import options_from_context
from constructs_lib.plan import AccessPlan, plan_access, storage_layout
from tests.access.matrix import Cell, cells
from tests.conftest import (
    EXISTING_KEY_ARN,
    GRANTED_OU,
    HEAD_JOB_ROLE_ARN,
    ORG_ID,
    ORG_ROOT,
    REGION,
    example_context,
)

# Every kind of grant once: existing and created buckets, existing and created keys, nested
# prefixes, read-only with and without prefixes.
MAXIMAL_GRANTS = (
    BucketGrant("whole-bucket-b", kms_key_arn=EXISTING_KEY_ARN),
    BucketGrant(
        "prefixed-bucket-b", prefixes=("runs/2024", "shared/refs"), create=True, create_kms_key=True
    ),
    BucketGrant(
        "read-only-bucket-b", prefixes=("references",), read_only=True, kms_key_arn=EXISTING_KEY_ARN
    ),
    BucketGrant("created-read-only-bucket-b", read_only=True, create=True, create_kms_key=True),
)


# The apps built here for their policies are checked with AwsSolutions alone: every pack runs
# on the example (cdk.json) and the maximal app in tests/test_compliance.py, and the Control
# Tower rules take half a minute on the app with several accounts.
PACKS_OF_THE_ACCESS_APPS = ["AwsSolutions"]


def grant_context(grant: BucketGrant) -> dict[str, Any]:
    """A bucket grant as a ``tower:buckets`` entry of cdk.json."""
    return {
        "name": grant.name,
        "prefixes": list(grant.prefixes),
        "readOnly": grant.read_only,
        "create": grant.create,
        "kmsKeyArn": grant.kms_key_arn,
        "createKmsKey": grant.create_kms_key,
    }


def maximal_context() -> dict[str, Any]:
    """cdk.json's context with every access option in use: the grants above, a named role,
    the work bucket, an existing log bucket (the example creates one), and the example's
    Platform settings with data links, so that B admits the credentials role the construct
    makes."""
    context = example_context()
    return {
        **context,
        "tower:buckets": [grant_context(grant) for grant in MAXIMAL_GRANTS],
        "tower:forgeRoleArns": [HEAD_JOB_ROLE_ARN],
        "tower:accessLogsBucket": "central-access-logs-b",
        "tower:platform": {**context["tower:platform"], "registerDataLinks": True},
        "tower:nagPacks": PACKS_OF_THE_ACCESS_APPS,
    }


# Three compute accounts: the first with the default Forge prefix and a work bucket, one with
# a prefix of its own, in another region, and its own work bucket, one that admits a named role
# only. Storage: two existing buckets sharing an existing key (one whole and read-write, one
# prefixed and read-only), and enough created buckets with keys of their own (four resources
# each; prefixed and read-write, or whole and read-only) to need two storage stacks; the
# s3-write policy of each compute account is split into several managed policies.
SECOND_COMPUTE_ACCOUNT = "444444444444"
NAMED_ONLY_COMPUTE_ACCOUNT = "555555555555"
NAMED_ONLY_ROLE_ARN = f"arn:aws:iam::{NAMED_ONLY_COMPUTE_ACCOUNT}:role/nextflow-head-job"
CREATED_WITH_KEYS = 126
SEVERAL_ACCOUNTS_GRANTS = (
    BucketGrant("shared-data-b", kms_key_arn=EXISTING_KEY_ARN),
    BucketGrant(
        "shared-refs-b", prefixes=("references",), read_only=True, kms_key_arn=EXISTING_KEY_ARN
    ),
    *(
        BucketGrant(
            f"lab-{number:03d}-b",
            prefixes=("runs",) if number % 2 == 0 else (),
            read_only=number % 2 == 1,
            create=True,
            create_kms_key=True,
        )
        for number in range(CREATED_WITH_KEYS)
    ),
)


def several_accounts_context() -> dict[str, Any]:
    """cdk.json's context with three compute accounts and the grants above."""
    return {
        **example_context(),
        "tower:buckets": [grant_context(grant) for grant in SEVERAL_ACCOUNTS_GRANTS],
        "tower:platform": False,
        "tower:nagPacks": PACKS_OF_THE_ACCESS_APPS,
        "tower:computeAccounts": [
            {
                "account": SECOND_COMPUTE_ACCOUNT,
                "region": "eu-central-1",
                "forgeRolePrefix": "SeqeraForge",
                "workBucket": "seqera-work-c",
            },
            {
                "account": NAMED_ONLY_COMPUTE_ACCOUNT,
                "region": REGION,
                "forgeRolePrefix": False,
                "forgeRoleArns": [NAMED_ONLY_ROLE_ARN],
            },
        ],
    }


# An organisation grant beside the listed compute account: a granted unit (its member
# accounts below it too), and every kind of key: an existing one, a created one, none.
ORGANIZATION_GRANTS = (
    BucketGrant("org-data-b", kms_key_arn=EXISTING_KEY_ARN),
    BucketGrant("org-results-b", prefixes=("runs",), create=True, create_kms_key=True),
    BucketGrant("org-references-b", read_only=True),
)
# The StackSet made in an administrator account of its own (no compute account).
ADMIN_ACCOUNT = "888888888888"


def organization_context() -> dict[str, Any]:
    """cdk.json's context with the grants above for the compute account and the Forge roles
    of the granted unit's accounts, the StackSet in the compute account's stack."""
    return {
        **example_context(),
        "tower:buckets": [grant_context(grant) for grant in ORGANIZATION_GRANTS],
        "tower:platform": False,
        "tower:nagPacks": PACKS_OF_THE_ACCESS_APPS,
        "tower:organization": {"orgId": ORG_ID, "ouPaths": [GRANTED_OU]},
    }


def whole_organization_context() -> dict[str, Any]:
    """One bucket for the compute account and every account of the organisation (its root's
    path), the StackSet made in an administrator account of its own."""
    return {
        **example_context(),
        "tower:buckets": [grant_context(ORGANIZATION_GRANTS[0])],
        "tower:platform": False,
        "tower:nagPacks": PACKS_OF_THE_ACCESS_APPS,
        "tower:organization": {
            "orgId": ORG_ID,
            "ouPaths": [ORG_ROOT],
            "adminAccount": ADMIN_ACCOUNT,
            "adminRegion": "us-east-1",
            "delegatedAdmin": False,
        },
    }


def _kind(grant: ValidGrant) -> tuple[bool, bool, bool, bool]:
    return (grant.create, bool(grant.prefixes), grant.read_only, grant.kms_key_arn is not None)


def sample_buckets(settings: AccessSettings) -> tuple[str, ...]:
    """The granted buckets the matrix evaluates in full, chosen from the settings alone: the
    first bucket of each kind (created or not, prefixed or not, read-only or not, existing key
    or not), the kinds taken in turn from each storage stack of the plan, so that the sample
    spans every storage stack (a kind a stack lacks is taken from the first that has it)."""
    plan = storage_layout(settings)
    kinds = list(dict.fromkeys(_kind(grant) for grant in settings.grants))
    sample: list[str] = []
    for index, kind in enumerate(kinds):
        stacks = plan[index % len(plan) :] + plan[: index % len(plan)]
        grant = next(g for stack in stacks for g in stack if _kind(g) == kind)
        sample.append(grant.name)
    return tuple(sample)


@dataclass(frozen=True)
class Config:
    """A named app context and the access settings app.py makes of it. ``sample`` (when
    given) chooses the granted buckets the matrix evaluates and makes the matrix brief (see
    ``matrix.cells``): for apps with too many buckets to ask everything of all."""

    name: str
    context: Mapping[str, Any]
    sample: Callable[[AccessSettings], tuple[str, ...]] | None = None

    @cached_property
    def plan(self) -> AccessPlan:
        """The plan app.py's construct makes of the context."""
        return plan_access(options_from_context(self.context.get, self.context), CONSTRUCT_ID)

    @property
    def settings(self) -> AccessSettings:
        return self.plan.settings

    @property
    def buckets(self) -> tuple[str, ...] | None:
        """The granted buckets evaluated in full: all (None), or the sample."""
        return None if self.sample is None else self.sample(self.settings)

    @property
    def reported_buckets(self) -> tuple[str, ...] | None:
        """The buckets whose report sections are checked: all (None), or the first sampled
        bucket of each storage stack."""
        sample = self.buckets
        if sample is None:
            return None
        stacks = [{grant.name for grant in part.grants} for part in self.plan.storages]
        return tuple(next(name for name in sample if name in stack) for stack in stacks)

    def cells(self) -> list[Cell]:
        """The matrix for this app."""
        return cells(self.settings, self.buckets, brief=self.sample is not None)

    def synthesize(self, outdir: Path) -> AccessSettings:
        """Synthesize the app into ``outdir``; return the settings its construct used."""
        app = build_app(self.context, str(outdir))
        app.synth()
        construct = app.node.find_child(CONSTRUCT_ID)
        assert isinstance(construct, CrossAccountBucketAccess)
        return construct.settings


EXAMPLE = Config("example", example_context())
MAXIMAL = Config("maximal", maximal_context())
SEVERAL_ACCOUNTS = Config("several-accounts", several_accounts_context(), sample_buckets)
ORGANIZATION = Config("organization", organization_context())
WHOLE_ORGANIZATION = Config("whole-organization", whole_organization_context())
CONFIGS = (EXAMPLE, MAXIMAL, SEVERAL_ACCOUNTS, ORGANIZATION, WHOLE_ORGANIZATION)
