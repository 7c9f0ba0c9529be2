"""Validated options turned into one plan: every document, every split and the stack layout.

Pure Python (no CDK import), computed once per construct: the stacks place what the plan
holds and the access report reads it, so nothing is derived twice. The AWS limits (bucket
policy size, managed policy size and count, resources and outputs per stack) are checked
while the plan is built, so an input AWS would refuse fails before anything is synthesized.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from constructs_lib import policies
from constructs_lib.config import (
    MAX_MANAGED_POLICIES_QUOTA,
    AccessOptions,
    AccessSettings,
    ComputeSettings,
    OrganizationSettings,
    ValidGrant,
    check_policy_name,
    check_stack_name,
    credentials_role_name,
    role_arn,
    validate,
)
from constructs_lib.defaults import (
    COMPUTE_STACK_SUFFIX,
    DEFAULT_FORGE_ROLE_PREFIX,
    STORAGE_STACK_SUFFIX,
)
from constructs_lib.errors import ConfigError
from constructs_lib.policies import Document, Statement
from constructs_lib.seqera.settings import PlatformComputeEnvironment, compute_env_request

S3_WRITE_POLICY = "S3WritePolicy"
# The s3-write policy's name in the organisation's member accounts: "<construct id>-S3Write".
ORGANIZATION_POLICY_SUFFIX = "-S3Write"
ORGANIZATION_STACK_SUFFIX = "-Organization"
KEY_POLICY_STATEMENT = "KeyPolicyStatement"
# CloudFormation's quotas per stack, less what every storage stack may hold besides grants
# (CDK metadata, the access-log bucket and its policy).
STACK_RESOURCE_BUDGET = 500 - 3
STACK_OUTPUT_BUDGET = 200


def numbered(name: str, index: int) -> str:
    """The name of part ``index`` of several: the first keeps ``name``; then ``name-2``, ..."""
    return name if index == 0 else f"{name}-{index + 1}"


def group_of(name: str, count: int) -> int:
    """A bucket's group (policy or stack) number out of ``count``: a hash of its name, so
    the same input always splits the same way and adding a bucket moves no other bucket."""
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % count


@dataclass(frozen=True)
class ComputePlan:
    """One compute account's stack: its s3-write policy, split into managed policies."""

    construct_id: str
    stack_name: str
    compute: ComputeSettings
    s3_write: tuple[Document, ...]

    @property
    def policy_names(self) -> tuple[str, ...]:
        """The construct id of each managed policy: ``S3WritePolicy``, ``S3WritePolicy-2``..."""
        return tuple(numbered(S3_WRITE_POLICY, index) for index in range(len(self.s3_write)))


@dataclass(frozen=True)
class KeyRequest:
    """The statements the administrator of an existing key must add to its key policy: one
    request per key, for every bucket it encrypts."""

    output_id: str
    key_arn: str
    buckets: tuple[str, ...]
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class StoragePlan:
    """One storage stack: the grants whose bucket policies (and buckets, keys) it holds, and
    the key-policy statements it prints for the existing keys of those buckets."""

    construct_id: str
    stack_name: str
    grants: tuple[ValidGrant, ...]
    key_requests: tuple[KeyRequest, ...]


@dataclass(frozen=True)
class CredentialsPlan:
    """The AWS credentials the construct makes for Platform: a role in the first compute
    account, its permissions, and the credentials to register for it."""

    role_name: str
    role_arn: str
    principal_arn: str
    """Who assumes the role: Seqera Cloud's role, or an Enterprise install's."""
    permissions: Document
    request: dict[str, Any]
    """The ``credentials`` object of ``POST /credentials``."""

    def trust_policy(self, external_id: str) -> Document:
        """The role's trust policy, once Platform gave the credentials ``external_id``."""
        return policies.credentials_trust_policy(self.principal_arn, external_id)


@dataclass(frozen=True)
class PlatformPlan:
    """What the Platform custom resources send: the compute environment, its data links and
    (unless their id is given) the credentials it uses."""

    settings: PlatformComputeEnvironment
    compute_env: dict[str, Any]
    data_links: tuple[dict[str, str], ...]
    forge_role_prefix: str
    credentials: CredentialsPlan | None


@dataclass(frozen=True)
class OrganizationPlan:
    """The organisation's half of the compute side: the s3-write policy every member account
    under the units gets from a StackSet, under fixed names, and where the StackSet is made.

    ``host`` is the construct id of the compute stack that holds the StackSet (its admin
    account is a compute account's), or None for a stack of its own, ``stack_name``.
    """

    organization: OrganizationSettings
    s3_write: tuple[Document, ...]
    policy_names: tuple[str, ...]
    """Each managed policy's name in the member accounts: ``<construct id>-S3Write``, then
    ``-S3Write-2``, ...; the same in every account, so that it can be attached by name."""
    stack_set_name: str
    host: str | None
    stack_name: str

    def policy_arns(self, account: str) -> tuple[str, ...]:
        """The ARNs of the s3-write policy's managed policies in member account ``account``."""
        partition = self.organization.partition
        return tuple(f"arn:{partition}:iam::{account}:policy/{n}" for n in self.policy_names)


@dataclass(frozen=True)
class AccessPlan:
    """Everything one construct deploys, as plain documents and a stack layout."""

    settings: AccessSettings
    computes: tuple[ComputePlan, ...]
    storages: tuple[StoragePlan, ...]
    bucket_policies: Mapping[str, Document]
    """Each granted bucket's policy, by bucket name."""
    key_statements: Mapping[str, tuple[Statement, ...]]
    """The key-policy statements for the key of each KMS-encrypted bucket, by bucket name: a
    created key's own, or those its administrator is asked to add to an existing key."""
    platform: PlatformPlan | None
    organization: OrganizationPlan | None = None

    def compute(self, account: str) -> ComputePlan:
        """The plan of compute account ``account``."""
        for plan in self.computes:
            if plan.compute.account == account:
                return plan
        raise KeyError(f"{account} is not a compute account of this plan")


def allow_buckets(settings: AccessSettings) -> list[str]:
    """Every granted bucket, or each granted prefix, as Platform's ``s3://`` paths."""
    paths: list[str] = []
    for grant in settings.grants:
        if grant.prefixes:
            paths += [f"s3://{grant.name}/{prefix}" for prefix in grant.prefixes]
        else:
            paths.append(f"s3://{grant.name}")
    return paths


def _entries(settings: AccessSettings, work_bucket: str | None) -> list[policies.Entry]:
    entries = [policies.Entry(g.name, g.prefixes, g.read_only, g) for g in settings.grants]
    if work_bucket is not None:
        entries.append(policies.Entry(work_bucket, (), False, None))
    return entries


def _split_s3_write(settings: AccessSettings, compute: ComputeSettings) -> tuple[Document, ...]:
    """A compute account's s3-write policy, split into managed policies within IAM's size
    limit. Each bucket's part depends only on its name and the number of parts, so a deploy
    moves no grant needlessly."""
    entries = _entries(settings, compute.work_bucket)
    whole = policies.identity_document(settings, entries, compute.account)
    size = policies.compact_size(whole)
    if size <= policies.MANAGED_POLICY_LIMIT:
        return (whole,)
    count = -(-size // policies.MANAGED_POLICY_LIMIT)
    while count <= settings.max_managed_policies:
        groups: dict[int, list[policies.Entry]] = {}
        for entry in entries:
            groups.setdefault(group_of(entry.name, count), []).append(entry)
        parts = tuple(
            policies.identity_document(settings, groups[n], compute.account) for n in sorted(groups)
        )
        if all(policies.compact_size(part) <= policies.MANAGED_POLICY_LIMIT for part in parts):
            return parts
        count += 1
    raise _too_many_policies(settings, compute, entries, size)


def _too_many_policies(
    settings: AccessSettings, compute: ComputeSettings, entries: list[policies.Entry], size: int
) -> ConfigError:
    """Name the limit, the size reached and the first grant past what the quota holds."""
    budget = settings.max_managed_policies * policies.MANAGED_POLICY_LIMIT
    reached, culprit = 0, entries[-1]
    for entry in entries:
        reached += policies.compact_size(
            policies.identity_document(settings, [entry], compute.account)
        )
        if reached > budget:
            culprit = entry
            break
    return ConfigError(
        "max_managed_policies",
        settings.max_managed_policies,
        f"enough managed policies of {policies.MANAGED_POLICY_LIMIT} characters for the "
        f"s3-write policy of compute account {compute.account}: its {len(entries)} buckets "
        f"need {size} characters, and bucket {culprit.name!r} is the first past "
        f"{settings.max_managed_policies} policies; raise the IAM quota (up to "
        f"{MAX_MANAGED_POLICIES_QUOTA}) and this setting, or grant fewer prefixes",
    )


def _bucket_policies(settings: AccessSettings) -> dict[str, Document]:
    """Every bucket policy, refused where it would pass S3's size limit."""
    documents: dict[str, Document] = {}
    for index, grant in enumerate(settings.grants):
        document = policies.bucket_policy_document(settings, grant)
        size = policies.compact_size(document)
        if size > policies.BUCKET_POLICY_LIMIT:
            raise ConfigError(
                f"buckets[{index}]",
                grant.name,
                f"a bucket policy within S3's limit of {policies.BUCKET_POLICY_LIMIT} bytes; this "
                f"grant makes {size} (fewer prefixes, role ARNs or kept statements)",
            )
        documents[grant.name] = document
    return documents


def _stack_load(grant: ValidGrant) -> tuple[int, int]:
    """Resources and (at most) outputs one grant adds to a storage stack."""
    resources = 1 + int(grant.create) + 2 * int(grant.create_kms_key)
    return resources, int(grant.kms_key_arn is not None)


def storage_layout(settings: AccessSettings) -> list[tuple[ValidGrant, ...]]:
    """Spread the grants over as few storage stacks as CloudFormation's quotas allow.

    A grant's stack depends only on its bucket name (a hash) and the number of stacks, so the
    same input gives the same layout, and adding a bucket moves no other while the count holds.
    """
    loads = [_stack_load(grant) for grant in settings.grants]
    count = max(
        1,
        -(-sum(r for r, _ in loads) // STACK_RESOURCE_BUDGET),
        -(-sum(o for _, o in loads) // STACK_OUTPUT_BUDGET),
    )
    while True:
        stacks: list[list[ValidGrant]] = [[] for _ in range(count)]
        for grant in settings.grants:
            stacks[group_of(grant.name, count)].append(grant)
        totals = [[_stack_load(g) for g in stack] for stack in stacks]
        if all(
            sum(r for r, _ in t) <= STACK_RESOURCE_BUDGET
            and sum(o for _, o in t) <= STACK_OUTPUT_BUDGET
            for t in totals
        ):
            return [tuple(stack) for stack in stacks]
        count += 1


def _key_requests(settings: AccessSettings) -> list[KeyRequest]:
    """One request per existing key, numbered in the order the grants name the keys."""
    by_key: dict[str, list[ValidGrant]] = {}
    for grant in settings.grants:
        if grant.kms_key_arn is not None:
            by_key.setdefault(grant.kms_key_arn, []).append(grant)
    requests = []
    for number, (key_arn, grants) in enumerate(by_key.items(), start=1):
        requests.append(
            KeyRequest(
                output_id=f"{KEY_POLICY_STATEMENT}{number}",
                key_arn=key_arn,
                buckets=tuple(grant.name for grant in grants),
                statements=tuple(policies.key_policy_statements(settings, grants, created=False)),
            )
        )
    return requests


def _platform(settings: AccessSettings) -> PlatformPlan | None:
    platform = settings.platform
    if platform is None:
        return None
    paths = allow_buckets(settings)
    data_links = tuple(
        {
            "name": path.removeprefix("s3://").replace("/", "-"),
            "resourceRef": path,
            "description": f"Granted from account {settings.storage_account}",
        }
        for path in paths
        if platform.register_data_links
    )
    forge_prefix = settings.primary.forge_role_prefix or DEFAULT_FORGE_ROLE_PREFIX
    return PlatformPlan(
        settings=platform,
        compute_env=compute_env_request(platform, settings.primary.region, paths),
        data_links=data_links,
        forge_role_prefix=forge_prefix,
        credentials=_credentials(settings, platform, forge_prefix),
    )


def _credentials(
    settings: AccessSettings, platform: PlatformComputeEnvironment, forge_prefix: str
) -> CredentialsPlan | None:
    if platform.credentials_id is not None:
        return None
    compute = settings.primary
    name = credentials_role_name(platform)
    arn = role_arn(settings.partition, compute.account, name)
    work_bucket = platform.work_dir.removeprefix("s3://").split("/", 1)[0]
    return CredentialsPlan(
        role_name=name,
        role_arn=arn,
        principal_arn=platform.platform_principal_arn,
        permissions=policies.credentials_permissions(
            settings.partition,
            compute.account,
            platform.region or compute.region,
            forge_prefix,
            work_bucket,
        ),
        request={
            "name": platform.credentials_name or platform.name,
            "provider": "aws",
            "keys": {"mode": "role", "assumeRoleArn": arn},
        },
    )


def _organization(
    settings: AccessSettings,
    computes: list[ComputePlan],
    s3_write_of: Callable[[ComputeSettings], tuple[Document, ...]],
    construct_id: str,
) -> OrganizationPlan | None:
    """The s3-write policy of the member accounts (the grants, without a work bucket: each
    member has its own), split as a compute account's is by ``s3_write_of``, and where its
    StackSet is made."""
    organization = settings.organization
    if organization is None:
        return None
    member = ComputeSettings(
        partition=settings.partition,
        account=organization.admin_account,
        region=organization.region,
        forge_role_prefix=organization.forge_role_prefix,
        forge_role_path=organization.forge_role_path,
    )
    s3_write = s3_write_of(member)
    base = check_policy_name(f"{construct_id}{ORGANIZATION_POLICY_SUFFIX}", "construct_id")
    check_stack_name(base, "construct_id")
    host = next(
        (
            plan.construct_id
            for plan in computes
            if (plan.compute.account, plan.compute.region)
            == (organization.admin_account, organization.admin_region)
        ),
        None,
    )
    return OrganizationPlan(
        organization=organization,
        s3_write=s3_write,
        policy_names=tuple(numbered(base, index) for index in range(len(s3_write))),
        stack_set_name=base,
        host=host,
        stack_name=f"{construct_id}{ORGANIZATION_STACK_SUFFIX}",
    )


def plan_access(options: AccessOptions, construct_id: str) -> AccessPlan:
    """Validate ``options`` and compute everything the construct ``construct_id`` deploys.

    Compute accounts without a work bucket, and the organisation's member accounts, share one
    computation of their s3-write policy: it depends only on the grants then.
    """
    settings = validate(options)
    compute_base = options.compute_stack_name or f"{construct_id}{COMPUTE_STACK_SUFFIX}"
    storage_base = options.storage_stack_name or f"{construct_id}{STORAGE_STACK_SUFFIX}"
    bucket_policies = _bucket_policies(settings)
    split: dict[str | None, tuple[Document, ...]] = {}

    def s3_write_of(compute: ComputeSettings) -> tuple[Document, ...]:
        shared = None if compute.work_bucket is None else compute.account
        if shared not in split:
            split[shared] = _split_s3_write(settings, compute)
        return split[shared]

    computes = []
    for index, compute in enumerate(settings.computes):
        computes.append(
            ComputePlan(
                construct_id="Compute" if index == 0 else f"Compute{compute.account}",
                stack_name=compute_base if index == 0 else f"{compute_base}-{compute.account}",
                compute=compute,
                s3_write=s3_write_of(compute),
            )
        )
    requests = _key_requests(settings)
    key_statements = {
        grant.name: tuple(policies.key_policy_statements(settings, [grant], created=True))
        for grant in settings.grants
        if grant.create_kms_key
    }
    for request in requests:
        key_statements.update(dict.fromkeys(request.buckets, request.statements))
    storages = []
    for index, grants in enumerate(storage_layout(settings)):
        keys_here = {grant.kms_key_arn for grant in grants}
        storages.append(
            StoragePlan(
                construct_id=numbered("Storage", index),
                stack_name=numbered(storage_base, index),
                grants=grants,
                key_requests=tuple(r for r in requests if r.key_arn in keys_here),
            )
        )
    return AccessPlan(
        settings=settings,
        computes=tuple(computes),
        storages=tuple(storages),
        bucket_policies=bucket_policies,
        key_statements=key_statements,
        platform=_platform(settings),
        organization=_organization(settings, computes, s3_write_of, construct_id),
    )
