"""Who knocks: the principals every access check is made for, and their IAM policies.

A principal carries identity policies by id: ``S3_WRITE`` is the s3-write managed policy of
the principal's own compute account, read out of its stack's template, all its parts (as Batch
Forge roles carry it once attached), and ``part_of(name)`` one part only;
``BROAD`` stands for broad IAM grants a principal may hold in its own account, such as
AmazonS3FullAccess, so that the storage account's policies are the only gate.

With several compute accounts, each has its callers (labelled with its account, but for the
first), and each, a third account too, has roles named as another compute account admits its
own: with its Forge prefix, or as one of its named roles.

The accounts belong to an AWS organisation (``ORGANIZATION_PATHS``): callers carry
``aws:PrincipalOrgID`` and ``aws:PrincipalOrgPaths`` as AWS sets them. With an organisation
grant, a member account in a granted unit (below it, in fact) has the callers a compute
account has, holding the StackSet's s3-write policy; a member of another unit, the third
account (of another organisation) and the storage account have roles named as the Forge roles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from constructs_lib.config import AccessSettings, ComputeSettings
from constructs_lib.defaults import DEFAULT_FORGE_ROLE_PREFIX
from tests.conftest import (
    COMPUTE_ACCOUNT,
    GRANTED_OU,
    NESTED_OU,
    OTHER_OU,
    STORAGE_ACCOUNT,
    THIRD_ACCOUNT,
)

S3_WRITE = "s3-write"
BROAD = "broad-s3-and-kms"
BROAD_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:*", "kms:*"], "Resource": "*"}],
}

# A member account in a unit below the granted one, and one in a unit that is not granted.
MEMBER_ACCOUNT = "666666666666"
OTHER_UNIT_ACCOUNT = "777777777777"
# Where each account of the tests sits: the compute and storage accounts and a member in (or
# below) the granted unit, one member in another unit; the third account in another
# organisation. Any other account is in none.
ORGANIZATION_PATHS = {
    COMPUTE_ACCOUNT: GRANTED_OU,
    STORAGE_ACCOUNT: GRANTED_OU,
    MEMBER_ACCOUNT: NESTED_OU,
    OTHER_UNIT_ACCOUNT: OTHER_OU,
    THIRD_ACCOUNT: "o-zz9y8x7w6v/r-zz99/ou-zz99-44444444/",
}

COMPUTE_ENV_ID = "4Kx9Pq2mT7vZ"
OTHER_COMPUTE_ENV_ID = "7hQ3wErT5yUi"
SESSION_NAME = "i-0123456789abcdef0"


def part_of(name: str) -> str:
    """The id of one managed policy of the s3-write policy, by the construct id its stack
    gives it (``S3WritePolicy``, ``S3WritePolicy2``, ...)."""
    return f"{S3_WRITE}/{name}"


@dataclass(frozen=True)
class Principal:
    """A caller: ``arn`` None is anonymous; a session's ``role_arn`` is its role's ARN."""

    label: str
    arn: str | None
    identity_policies: tuple[str, ...] = ()
    role_arn: str | None = None

    @property
    def principal_arn(self) -> str | None:
        """The value of ``aws:PrincipalArn``: the role's ARN for a role session."""
        return self.role_arn or self.arn

    @property
    def account(self) -> str | None:
        return None if self.arn is None else self.arn.split(":")[4]

    @property
    def org_path(self) -> str | None:
        """The organisation path of the caller's account, if it is in an organisation."""
        return None if self.account is None else ORGANIZATION_PATHS.get(self.account)

    def context(self) -> dict[str, str | tuple[str, ...]]:
        """The context keys AWS sets for this caller (none for an anonymous request): its
        organisation's ID and path too, when its account is in one."""
        if self.arn is None or self.account is None or self.principal_arn is None:
            return {}
        found: dict[str, str | tuple[str, ...]] = {
            "aws:PrincipalArn": self.principal_arn,
            "aws:PrincipalAccount": self.account,
        }
        if self.org_path is not None:
            found["aws:PrincipalOrgID"] = self.org_path.split("/", 1)[0]
            found["aws:PrincipalOrgPaths"] = (self.org_path,)
        return found


def role_arn(partition: str, account: str, path_and_name: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{path_and_name}"


def session_of(role: Principal) -> Principal:
    """The role's assumed-role session (as an EC2 instance or a Batch job uses it)."""
    assert role.arn is not None
    partition, account = role.arn.split(":")[1], role.arn.split(":")[4]
    name = role.arn.rsplit("/", 1)[1]
    return Principal(
        f"{role.label}-session",
        f"arn:{partition}:sts::{account}:assumed-role/{name}/{SESSION_NAME}",
        role.identity_policies,
        role_arn=role.arn,
    )


def _account_principals(
    settings: AccessSettings, compute: ComputeSettings, tag: str, thorough: bool
) -> list[Principal]:
    """The callers of one compute account, labelled with ``tag``: Forge roles (named with the
    default prefix where the account has none), roles and users that only look like them, and
    its named roles. ``thorough`` adds callers whose outcome does not depend on which account
    they are in (a Forge role under a path, a second Forge role, a broad role outside)."""
    partition, a = settings.partition, compute.account
    prefix = compute.forge_role_prefix or DEFAULT_FORGE_ROLE_PREFIX
    instance_role = Principal(
        f"{tag}forge-instance-role",
        role_arn(partition, a, f"{prefix}-{COMPUTE_ENV_ID}-InstanceRole"),
        (S3_WRITE,),
    )
    found = [
        instance_role,
        session_of(instance_role),
        Principal(
            f"{tag}forge-role-without-s3-write",
            role_arn(partition, a, f"{prefix}-{OTHER_COMPUTE_ENV_ID}-InstanceRole"),
        ),
        Principal(
            f"{tag}forge-role-with-broad-iam",
            role_arn(partition, a, f"{prefix}-{OTHER_COMPUTE_ENV_ID}-FargateRole"),
            (BROAD,),
        ),
        Principal(
            f"{tag}user-named-like-forge", f"arn:{partition}:iam::{a}:user/{prefix}-admin", (BROAD,)
        ),
        Principal(
            f"{tag}outside-role-with-s3-write", role_arn(partition, a, "data-analyst"), (S3_WRITE,)
        ),
    ]
    if thorough:
        found += [
            Principal(
                f"{tag}forge-fargate-head-job-role",
                role_arn(partition, a, f"{prefix}-{COMPUTE_ENV_ID}-FargateRole"),
                (S3_WRITE,),
            ),
            Principal(
                f"{tag}role-under-forge-prefix-path",
                role_arn(partition, a, f"{prefix}-team/analyst"),
                (S3_WRITE,),
            ),
            Principal(
                f"{tag}outside-role-with-broad-iam",
                role_arn(partition, a, "platform-admin"),
                (BROAD,),
            ),
        ]
    if compute.credentials_role_arn is not None:
        credentials = Principal(
            f"{tag}platform-credentials-role", compute.credentials_role_arn, (S3_WRITE,)
        )
        found += [credentials, session_of(credentials)]
    for index, arn in enumerate(compute.forge_role_arns):
        named = Principal(f"{tag}named-role-{index}", arn, (S3_WRITE,))
        found += [
            named,
            session_of(named),
            Principal(f"{tag}named-role-{index}-lookalike", f"{arn}-2", (BROAD,)),
        ]
    return found


def _named_like_other_accounts(
    settings: AccessSettings, account: str, asked: str, tag: str
) -> list[Principal]:
    """Roles of ``account`` named as another compute account admits its own: with that
    account's Forge prefix (unless it is the prefix ``account`` is asked with already), or
    with the name of one of its named roles."""
    found: list[Principal] = []
    for other in settings.computes:
        if other.account == account:
            continue
        prefix = other.forge_role_prefix
        if prefix is not None and prefix != asked:
            found.append(
                Principal(
                    f"{tag}role-named-with-the-prefix-of-{other.account}",
                    role_arn(
                        settings.partition, account, f"{prefix}-{COMPUTE_ENV_ID}-InstanceRole"
                    ),
                    (BROAD,),
                )
            )
        for index, arn in enumerate(other.forge_role_arns):
            found.append(
                Principal(
                    f"{tag}role-named-as-named-role-{index}-of-{other.account}",
                    role_arn(settings.partition, account, arn.split(":role/", 1)[1]),
                    (BROAD,),
                )
            )
    return found


def member_compute(settings: AccessSettings, account: str) -> ComputeSettings | None:
    """A member account of the granted units as the organisation grant sees it (its Forge
    prefix and path, no work bucket), or None if ``account`` is not one: listed compute
    accounts and the storage account are not."""
    organization = settings.organization
    path = ORGANIZATION_PATHS.get(account)
    listed = {compute.account for compute in settings.computes} | {settings.storage_account}
    if organization is None or path is None or account in listed:
        return None
    if not any(path.startswith(granted) for granted in organization.ou_paths):
        return None
    return ComputeSettings(
        partition=settings.partition,
        account=account,
        region=organization.region,
        forge_role_prefix=organization.forge_role_prefix,
        forge_role_path=organization.forge_role_path,
    )


def _organization_principals(settings: AccessSettings) -> list[Principal]:
    """With an organisation grant: the callers of each member account of the granted units,
    and roles named as the Forge roles in a member of another unit (with broad IAM grants)
    and in the storage account (with none)."""
    organization = settings.organization
    if organization is None:
        return []
    found: list[Principal] = []
    for account in ORGANIZATION_PATHS:
        member = member_compute(settings, account)
        if member is not None:
            found += _account_principals(settings, member, f"{account}-", thorough=True)
    forge_name = f"{organization.forge_role_prefix}-{COMPUTE_ENV_ID}-InstanceRole"
    forge_path = organization.forge_role_path.removeprefix("/")
    found += [
        Principal(
            "other-unit-forge-role",
            role_arn(settings.partition, OTHER_UNIT_ACCOUNT, forge_path + forge_name),
            (BROAD,),
        ),
        Principal(
            "storage-forge-named-role",
            role_arn(settings.partition, settings.storage_account, forge_path + forge_name),
        ),
    ]
    return found


def principals(settings: AccessSettings) -> tuple[Principal, ...]:
    """The callers of the access matrix for ``settings``: those of each compute account (the
    first one's unlabelled, the others' labelled with their account; every caller of a single
    compute account, the lean set of each of several), roles named as another account admits
    its own, a third account's, the storage account's and anonymous."""
    partition, b = settings.partition, settings.storage_account
    prefix = settings.primary.forge_role_prefix or DEFAULT_FORGE_ROLE_PREFIX
    thorough = len(settings.computes) == 1
    found = _account_principals(settings, settings.primary, "", thorough)
    found += [
        Principal(
            "third-account-forge-role",
            role_arn(partition, THIRD_ACCOUNT, f"{prefix}-{COMPUTE_ENV_ID}-InstanceRole"),
            (BROAD,),
        ),
        Principal("storage-role-without-grants", role_arn(partition, b, "data-steward")),
        Principal("storage-role-with-broad-iam", role_arn(partition, b, "storage-admin"), (BROAD,)),
        Principal("anonymous", None),
    ]
    for compute in settings.computes:
        tag = "" if compute.account == settings.primary.account else f"{compute.account}-"
        if tag:
            found += _account_principals(settings, compute, tag, thorough)
        asked = compute.forge_role_prefix or DEFAULT_FORGE_ROLE_PREFIX
        found += _named_like_other_accounts(settings, compute.account, asked, tag)
    found += _named_like_other_accounts(settings, THIRD_ACCOUNT, prefix, "third-account-")
    found += _organization_principals(settings)
    return tuple(found)
