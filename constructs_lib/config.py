"""The construct's options, as one typed dataclass, and their validation.

Everything here is plain Python (no CDK import) so that bad input is reported before any
construct exists, with the setting's name, the value given and what is expected.
``AccessOptions`` is the one place an option is declared: the construct's keyword arguments,
the Stage and the ``tower:*`` keys of cdk.json all follow its fields.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Protocol, cast

from constructs_lib.defaults import (
    CREDENTIALS_ROLE_PREFIX,
    DEFAULT_ABORT_INCOMPLETE_UPLOADS_DAYS,
    DEFAULT_ACCESS_LOGS_EXPIRE_DAYS,
    DEFAULT_FORGE_ROLE_PATH,
    DEFAULT_FORGE_ROLE_PREFIX,
    DEFAULT_MAX_MANAGED_POLICIES,
    DEFAULT_NONCURRENT_VERSIONS_EXPIRE_DAYS,
    KEY_ALIAS_PREFIX,
)
from constructs_lib.errors import ConfigError
from constructs_lib.seqera.settings import PlatformComputeEnvironment, validate_platform

__all__ = [
    "AccessOptions",
    "AccessSettings",
    "BucketGrant",
    "ComputeAccount",
    "ComputeSettings",
    "ConfigError",
    "OrganizationGrant",
    "OrganizationSettings",
    "ValidGrant",
    "validate",
]

# IAM's highest quota of managed policies per role or user.
MAX_MANAGED_POLICIES_QUOTA = 20
# The rule packs the construct can turn on: cdk-nag's, by their names, and the AWS Control
# Tower proactive controls (cfn-guard rules).
NAG_PACKS = (
    "AwsSolutions",
    "HIPAA.Security",
    "NIST.800.53.R5",
    "PCI.DSS.321",
    "Serverless",
    "ControlTower",
)
# CloudFormation allows 128 characters; the construct appends "-<account>" or "-<n>".
STACK_NAME_MAX_LENGTH = 100

_ACCOUNT_RE = re.compile(r"^\d{12}$")
_REGION_RE = re.compile(
    r"^(?P<area>[a-z]{2})(?P<kind>-gov|-iso|-isob|-isoe|-isof)?-"
    r"(?:north|south|east|west|central|northeast|northwest|southeast|southwest)-\d{1,2}$"
)
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9!_.'()=+@,:\- ]+(/[A-Za-z0-9!_.'()=+@,:\- ]+)*$")
_ROLE_PREFIX_RE = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,64}$")
_ROLE_PATH_RE = re.compile(r"^/(?:[A-Za-z0-9+=,.@_-]+/)*$")
ROLE_PATH_MAX_LENGTH = 512
_ROLE_ARN_RE = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f):iam::"
    r"(?P<account>\d{12}):role/(?P<path_and_name>[A-Za-z0-9+=,.@_/-]+)$"
)
_KMS_KEY_ARN_RE = re.compile(
    r"^arn:(?P<partition>[a-z-]+):kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<kind>key|alias)/(?P<id>.+)$"
)
_STACK_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
_ORG_ID_RE = re.compile(r"^o-[a-z0-9]{10,32}$")
_OU_PATH_RE = re.compile(
    r"^o-[a-z0-9]{10,32}/r-[0-9a-z]{4,32}/(?:ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}/)*$"
)
# IAM's limit on a managed policy's name, less the "-<n>" of a split policy's further parts.
POLICY_NAME_MAX_LENGTH = 128 - 3
# How CDK writes an unresolved string token, such as cdk.Aws.ACCOUNT_ID.
_TOKEN_MARK = "${Token["
_PARTITION_BY_REGION_KIND = {
    None: "aws",
    "-gov": "aws-us-gov",
    "-iso": "aws-iso",
    "-isob": "aws-iso-b",
    "-isoe": "aws-iso-e",
    "-isof": "aws-iso-f",
}
GRANTEE_KINDS = ("role", "user", "group")


class Environment(Protocol):
    """Where a stack deploys: an ``aws_cdk.Environment`` with a concrete account and region."""

    @property
    def account(self) -> str | None:
        """The 12-digit account ID."""

    @property
    def region(self) -> str | None:
        """The region code, such as ``eu-west-1``."""


class Grantee(Protocol):
    """An IAM role, user or group construct (``aws_iam.IRole``, ``IUser`` or ``IGroup``)."""

    @property
    def node(self) -> Any:
        """The construct's node."""


@dataclass(frozen=True)
class AccountRegion:
    """An Environment given as plain values, as cdk.json gives them."""

    account: str | None
    region: str | None


@dataclass(frozen=True)
class BucketGrant:
    """Access to one bucket in the storage account.

    ``create=False`` (the default) imports an existing bucket by name and gives it a bucket
    policy; ``create=True`` makes the bucket too. ``prefixes`` narrows the grant to key
    prefixes; ``read_only`` drops every write action. ``kms_key_arn`` names an existing
    customer managed key that encrypts the bucket; ``create_kms_key`` makes one for a created
    bucket instead. ``existing_policy`` (a policy document, or the path of a JSON file holding
    one) keeps the statements an existing bucket's policy already has: the construct's
    ``AWS::S3::BucketPolicy`` replaces the bucket's whole policy, so they are merged into it.
    """

    name: str
    prefixes: Sequence[str] = ()
    read_only: bool = False
    create: bool = False
    kms_key_arn: str | None = None
    create_kms_key: bool = False
    existing_policy: Mapping[str, Any] | str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.prefixes, str):
            object.__setattr__(self, "prefixes", (self.prefixes,))
        else:
            object.__setattr__(self, "prefixes", tuple(self.prefixes))


@dataclass(frozen=True)
class ComputeAccount:
    """A compute account whose Forge roles get the granted buckets.

    The first compute account is given by the construct's ``compute_env``,
    ``forge_role_prefix``, ``forge_role_arns``, ``work_bucket`` and ``attach_to``; each further
    one by a ComputeAccount in ``compute_accounts``. Each gets a stack of its own with its
    s3-write policy, and every bucket policy names all of them.
    """

    account: str
    """The 12-digit account ID."""
    region: str
    """The region its compute stack deploys to."""
    forge_role_prefix: str | None = DEFAULT_FORGE_ROLE_PREFIX
    """Roles whose name starts with this are admitted; None admits only ``forge_role_arns``."""
    forge_role_path: str = DEFAULT_FORGE_ROLE_PATH
    """The IAM path of the admitted roles: ``/`` (Batch Forge's) admits no role under a path."""
    forge_role_arns: Sequence[str] = ()
    """Further roles of this account admitted by ARN, such as a head-job role."""
    work_bucket: str | None = None
    """The account's own Nextflow work bucket, added read-write to its s3-write policy."""
    attach_to: Sequence[Grantee] = ()
    """IAM roles, users or groups of this account to attach the s3-write policy to."""


@dataclass(frozen=True)
class OrganizationGrant:
    """Forge roles in every account of an AWS organisation, or of some of its organisational
    units, get the granted buckets, including accounts added later.

    The bucket and key policies admit roles whose name starts with ``forge_role_prefix`` in
    any account under ``ou_paths`` (``aws:PrincipalOrgPaths``; the root's path, such as
    ``o-a1b2c3d4e5/r-ab12/``, is the whole organisation) of organisation ``org_id``
    (``aws:PrincipalOrgID``). A service-managed CloudFormation StackSet puts the s3-write
    policy into each of those accounts under a fixed name, with automatic deployment to
    accounts that join. The StackSet is made in the stack of ``admin_env`` (the management
    account or a delegated administrator of StackSets; by default ``compute_env``).
    """

    org_id: str
    """The organisation's ID, such as ``o-a1b2c3d4e5``."""
    ou_paths: Sequence[str]
    """Organisational unit paths, such as ``o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/``: accounts
    in the unit or any unit below it are admitted. The root's path admits the whole
    organisation."""
    regions: Sequence[str] = ()
    """The region the StackSet deploys its stacks to (one: IAM is global, and each member
    account holds the policy once); by default ``compute_env``'s region."""
    forge_role_prefix: str = DEFAULT_FORGE_ROLE_PREFIX
    """Roles of member accounts whose name starts with this are admitted."""
    forge_role_path: str = DEFAULT_FORGE_ROLE_PATH
    """The IAM path of the admitted roles: ``/`` (Batch Forge's) admits no role under a path."""
    admin_env: Environment | None = None
    """Where the StackSet is made: the organisation's management account, or a delegated
    administrator of StackSets, and its region; None makes it in ``compute_env``'s stack."""
    delegated_admin: bool = True
    """Whether ``admin_env`` is a delegated administrator (False: the management account)."""


@dataclass(frozen=True, kw_only=True)
class AccessOptions:
    """Every option of ``CrossAccountBucketAccess``, typed, with its default.

    The construct takes these as keyword arguments and ``CrossAccountBucketAccessStage`` takes
    the dataclass itself; the app reads each from cdk.json as ``tower:<camelCaseName>``
    (``compute_env`` as ``tower:computeAccount`` and ``tower:computeRegion``, and likewise
    ``storage_env``). Nothing is checked here: ``validate`` does that, naming the option.
    """

    compute_env: Environment
    """The compute account A, where Batch Forge runs, and its region."""
    storage_env: Environment
    """The storage account B, which owns the buckets, and its region."""
    buckets: Sequence[BucketGrant]
    """The buckets of B to grant, one BucketGrant each (at least one)."""
    forge_role_prefix: str | None = DEFAULT_FORGE_ROLE_PREFIX
    """A's roles whose name starts with this are admitted; None admits only forge_role_arns."""
    forge_role_path: str = DEFAULT_FORGE_ROLE_PATH
    """The IAM path of A's admitted roles: ``/`` (Batch Forge's) admits no role under a path."""
    forge_role_arns: Sequence[str] = ()
    """Further roles of A admitted by ARN, such as a head-job role."""
    attach_to: Sequence[Grantee] = ()
    """IAM roles, users or groups of A to attach every part of the s3-write policy to."""
    work_bucket: str | None = None
    """A's own Nextflow work bucket, added read-write to A's s3-write policy."""
    access_logs_bucket: str | None = None
    """An existing bucket of B for the created buckets' access logs; None creates one."""
    platform: PlatformComputeEnvironment | None = None
    """A Seqera Platform compute environment in A that may use the buckets; None makes none."""
    compute_accounts: Sequence[ComputeAccount] = ()
    """Further compute accounts whose Forge roles get the same buckets."""
    max_managed_policies: int = DEFAULT_MAX_MANAGED_POLICIES
    """The managed-policy quota per role in the compute accounts (IAM: 10, at most 20)."""
    compute_stack_name: str | None = None
    """The first compute stack's name; None names it ``<construct id>-Compute``."""
    storage_stack_name: str | None = None
    """The storage stack's name; None names it ``<construct id>-Storage``."""
    abort_incomplete_uploads_days: int | None = DEFAULT_ABORT_INCOMPLETE_UPLOADS_DAYS
    """Created buckets abort multipart uploads left unfinished this many days; None never."""
    noncurrent_versions_expire_days: int | None = DEFAULT_NONCURRENT_VERSIONS_EXPIRE_DAYS
    """Created buckets delete an object version this many days after it stopped being
    current (a deleted or overwritten object can be restored until then); None keeps them."""
    access_logs_expire_days: int | None = DEFAULT_ACCESS_LOGS_EXPIRE_DAYS
    """The created access-log bucket deletes log records after this many days; None keeps
    them. Current data objects are never expired by the construct."""
    nag_packs: Sequence[str] = ()
    """Rule packs to check the stacks with at synth: any of ``NAG_PACKS``. The app turns on
    those of ``tower:nagPacks``; a library user may instead add packs to the app."""
    organization: OrganizationGrant | None = None
    """Forge roles of an AWS organisation's accounts (or of some of its units) that get the
    buckets too, their s3-write policy deployed by a StackSet; None grants listed accounts
    only."""


@dataclass(frozen=True)
class ValidGrant:
    """A bucket grant after validation, with prefixes normalised (no leading or trailing /)."""

    name: str
    prefixes: tuple[str, ...]
    read_only: bool
    create: bool
    kms_key_arn: str | None
    create_kms_key: bool
    existing_statements: tuple[dict[str, Any], ...] = ()

    @property
    def uses_kms(self) -> bool:
        """Whether objects in this bucket are encrypted with a customer managed key."""
        return self.kms_key_arn is not None or self.create_kms_key


def is_root_path(ou_path: str) -> bool:
    """Whether ``ou_path`` (``<org id>/<root id>/...``) is a root's: the whole organisation."""
    return ou_path.count("/") == 2


def role_arn(partition: str, account: str, path_and_name: str) -> str:
    """The ARN of role ``path_and_name`` (its path, if any, then its name) in ``account``."""
    return f"arn:{partition}:iam::{account}:role/{path_and_name}"


def forge_role_pattern(partition: str, account: str, path: str, prefix: str) -> str:
    """The ``aws:PrincipalArn`` pattern of the roles at ``path`` whose name starts with
    ``prefix``, in ``account`` (``*`` for any)."""
    return role_arn(partition, account, f"{path.removeprefix('/')}{prefix}*")


@dataclass(frozen=True)
class ComputeSettings:
    """One validated compute account: its Forge role pattern, named roles and work bucket."""

    partition: str
    account: str
    region: str
    forge_role_prefix: str | None = DEFAULT_FORGE_ROLE_PREFIX
    forge_role_path: str = DEFAULT_FORGE_ROLE_PATH
    forge_role_arns: tuple[str, ...] = ()
    work_bucket: str | None = None
    attach_to: tuple[Grantee, ...] = field(default=(), compare=False)
    credentials_role_arn: str | None = None
    """The Platform credentials role the construct makes, admitted for Data Explorer's reads
    when the buckets are registered as data links (it reads with the credentials)."""

    @property
    def principal_patterns(self) -> tuple[str, ...]:
        """``aws:PrincipalArn`` patterns of the roles admitted from this account."""
        credentials = () if self.credentials_role_arn is None else (self.credentials_role_arn,)
        return (*self.prefix_pattern, *self.forge_role_arns, *credentials)

    @property
    def prefix_pattern(self) -> tuple[str, ...]:
        """The pattern of the roles the Forge prefix admits (none without a prefix)."""
        if self.forge_role_prefix is None:
            return ()
        return (
            forge_role_pattern(
                self.partition, self.account, self.forge_role_path, self.forge_role_prefix
            ),
        )

    @property
    def deeper_pattern(self) -> tuple[str, ...]:
        """The roles the prefix pattern would also match under a deeper path (``*`` matches
        ``/``), which the policies refuse: ``role/TowerForge-team/any-name``."""
        return tuple(f"{pattern}/*" for pattern in self.prefix_pattern)

    @property
    def account_principal(self) -> str:
        """The fixed account principal that every bucket and key grant is bound to."""
        return f"arn:{self.partition}:iam::{self.account}:root"


@dataclass(frozen=True)
class OrganizationSettings:
    """A validated organisation grant: who the policies admit, and where the StackSet that
    carries the s3-write policy to the member accounts is made and deploys."""

    partition: str
    org_id: str
    ou_paths: tuple[str, ...]
    """Each path with its trailing slash."""
    region: str
    """The region of the StackSet's stacks in the member accounts."""
    forge_role_prefix: str
    forge_role_path: str
    admin_account: str
    admin_region: str
    delegated_admin: bool

    @property
    def whole_organization(self) -> bool:
        """Whether a root's path is among the paths: every account of the organisation."""
        return any(map(is_root_path, self.ou_paths))

    @property
    def org_path_patterns(self) -> tuple[str, ...]:
        """``aws:PrincipalOrgPaths`` patterns of the accounts in each unit or below it."""
        return tuple(f"{path}*" for path in self.ou_paths)

    @property
    def target_ids(self) -> tuple[str, ...]:
        """The StackSet's deployment targets: each path's last unit (or root) ID."""
        return tuple(path.rstrip("/").rsplit("/", 1)[1] for path in self.ou_paths)

    @property
    def prefix_pattern(self) -> str:
        """``aws:PrincipalArn`` pattern of the admitted roles, in any account."""
        return forge_role_pattern(self.partition, "*", self.forge_role_path, self.forge_role_prefix)

    @property
    def deeper_pattern(self) -> str:
        """The roles the prefix pattern would also match under a deeper path: refused."""
        return f"{self.prefix_pattern}/*"


@dataclass(frozen=True)
class AccessSettings:
    """Validated options: the compute accounts (the first one hosts Platform), the storage
    account B and its grants."""

    partition: str
    storage_account: str
    storage_region: str
    grants: tuple[ValidGrant, ...]
    computes: tuple[ComputeSettings, ...]
    access_logs_bucket: str | None = None
    max_managed_policies: int = DEFAULT_MAX_MANAGED_POLICIES
    platform: PlatformComputeEnvironment | None = None
    abort_incomplete_uploads_days: int | None = DEFAULT_ABORT_INCOMPLETE_UPLOADS_DAYS
    noncurrent_versions_expire_days: int | None = DEFAULT_NONCURRENT_VERSIONS_EXPIRE_DAYS
    access_logs_expire_days: int | None = DEFAULT_ACCESS_LOGS_EXPIRE_DAYS
    nag_packs: tuple[str, ...] = ()
    organization: OrganizationSettings | None = None

    @property
    def primary(self) -> ComputeSettings:
        """The first compute account: the one that hosts the Platform custom resource."""
        return self.computes[0]

    @property
    def principal_patterns(self) -> tuple[str, ...]:
        """The admitted role patterns of every compute account."""
        return tuple(p for compute in self.computes for p in compute.principal_patterns)

    @property
    def account_principals(self) -> tuple[str, ...]:
        """The account principal of every compute account."""
        return tuple(compute.account_principal for compute in self.computes)

    def alias_name(self, grant: ValidGrant) -> str:
        """The alias of the KMS key the storage stack creates for ``grant``."""
        return f"{KEY_ALIAS_PREFIX}{grant.name}"


def partition_of_region(region: object, setting: str) -> str:
    """The AWS partition of ``region``, or a ConfigError naming ``setting``."""
    match = _REGION_RE.match(region) if isinstance(region, str) else None
    if match is None:
        raise ConfigError(setting, region, "an AWS region code such as 'eu-west-1'")
    if match["area"] == "cn":
        return "aws-cn"
    return _PARTITION_BY_REGION_KIND[match["kind"]]


def check_account(account: object, setting: str) -> str:
    """Return ``account`` if it is a 12-digit AWS account ID."""
    if not isinstance(account, str) or not _ACCOUNT_RE.match(account):
        raise ConfigError(setting, account, "a 12-digit AWS account ID such as '111111111111'")
    return account


def check_bucket_name(name: object, setting: str) -> str:
    """Return ``name`` if it follows the S3 general purpose bucket naming rules."""
    expected = (
        "an S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and "
        "ending with a letter or digit, no '..', not an IP address, no reserved prefix or suffix"
    )
    if not isinstance(name, str) or not _BUCKET_RE.match(name) or ".." in name:
        raise ConfigError(setting, name, expected)
    if name.startswith(_BUCKET_RESERVED_PREFIXES) or name.endswith(_BUCKET_RESERVED_SUFFIXES):
        raise ConfigError(setting, name, expected)
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return name
    raise ConfigError(setting, name, expected)


def normalise_prefix(prefix: object, setting: str) -> str:
    """Strip surrounding slashes from a key prefix and check it names a literal folder."""
    expected = (
        "a literal key prefix such as 'runs/2024': letters, digits, spaces and !_.'()=+@,:- "
        "between single slashes; no wildcards (* ?), no '$', no '..'"
    )
    if not isinstance(prefix, str):
        raise ConfigError(setting, prefix, expected)
    stripped = prefix.strip("/")
    parts = stripped.split("/")
    if not _PREFIX_RE.match(stripped) or any(part in (".", "..") for part in parts):
        raise ConfigError(setting, prefix, expected)
    return stripped


def grantee_kind(grantee: object, setting: str) -> str:
    """'role', 'user' or 'group' for an IAM principal construct, else a ConfigError.

    jsii interfaces are not runtime-checkable protocols, so they are told apart by attribute.
    """
    for kind in GRANTEE_KINDS:
        if hasattr(grantee, f"{kind}_arn"):
            return kind
    raise ConfigError(setting, grantee, "an IAM role, user or group (iam.IRole, IUser, IGroup)")


def _check_role_prefix(prefix: object, setting: str) -> str | None:
    if prefix is None:
        return None
    if not isinstance(prefix, str) or not _ROLE_PREFIX_RE.match(prefix):
        raise ConfigError(
            setting,
            prefix,
            f"a non-empty IAM role name prefix without wildcards, such as "
            f"'{DEFAULT_FORGE_ROLE_PREFIX}' (letters, digits and +=,.@_-), or None to grant "
            "only forge_role_arns",
        )
    return prefix


def _check_role_path(path: object, setting: str) -> str:
    if (
        not isinstance(path, str)
        or not _ROLE_PATH_RE.match(path)
        or len(path) > ROLE_PATH_MAX_LENGTH
    ):
        raise ConfigError(
            setting,
            path,
            "an IAM path without wildcards: '/' (Batch Forge's roles have none) or a path "
            "such as '/tower/' (letters, digits and +=,.@_- between slashes)",
        )
    return path


def _check_lifecycle(options: AccessOptions) -> None:
    for name in (
        "abort_incomplete_uploads_days",
        "noncurrent_versions_expire_days",
        "access_logs_expire_days",
    ):
        days = getattr(options, name)
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
            raise ConfigError(name, days, "a whole number of days (1 or more), or None to keep")


def _check_nag_packs(packs: object) -> tuple[str, ...]:
    if isinstance(packs, (str, bytes)) or not isinstance(packs, Iterable):
        raise ConfigError("nag_packs", packs, f"a list of rule packs out of {list(NAG_PACKS)}")
    checked: list[str] = []
    for index, pack in enumerate(packs):
        if pack not in NAG_PACKS or pack in checked:
            raise ConfigError(
                f"nag_packs[{index}]", pack, f"each of {list(NAG_PACKS)} at most once"
            )
        checked.append(pack)
    return tuple(checked)


def check_log_key(arn: str | None, partition: str, compute: ComputeSettings) -> None:
    """A key for the custom resource's log groups must be a key of the first compute account,
    in its region: CloudWatch Logs uses keys of the log group's region."""
    if arn is None:
        return
    match = _KMS_KEY_ARN_RE.match(arn) if isinstance(arn, str) else None
    if (
        match is None
        or match["kind"] != "key"
        or match["partition"] != partition
        or match["account"] != compute.account
        or match["region"] != compute.region
    ):
        raise ConfigError(
            "platform.log_key_arn",
            arn,
            f"the full ARN of a KMS key of the compute account {compute.account} in "
            f"{compute.region}, such as 'arn:{partition}:kms:{compute.region}:"
            f"{compute.account}:key/<key-id>'",
        )


def _check_role_arns(arns: object, partition: str, account: str, setting: str) -> tuple[str, ...]:
    if isinstance(arns, (str, bytes)) or not isinstance(arns, Iterable):
        raise ConfigError(setting, arns, "a list of IAM role ARNs")
    checked: list[str] = []
    for index, arn in enumerate(arns):
        where = f"{setting}[{index}]"
        match = _ROLE_ARN_RE.match(arn) if isinstance(arn, str) else None
        if match is None or "*" in str(arn):
            raise ConfigError(
                where, arn, f"an IAM role ARN such as 'arn:{partition}:iam::{account}:role/name'"
            )
        if match["account"] != account or match["partition"] != partition:
            raise ConfigError(
                where, arn, f"a role in the compute account {account} (partition {partition})"
            )
        if arn in checked:
            raise ConfigError(where, arn, "each role ARN once")
        checked.append(str(arn))
    return tuple(checked)


def _check_kms_key_arn(
    grant: BucketGrant, setting: str, partition: str, storage_account: str
) -> str | None:
    arn = grant.kms_key_arn
    if arn is None:
        return None
    match = _KMS_KEY_ARN_RE.match(arn) if isinstance(arn, str) else None
    if match is not None and match["kind"] == "alias" and match["id"] == "aws/s3":
        raise ConfigError(
            setting,
            arn,
            "a customer managed key: the AWS managed key aws/s3 cannot be used from another "
            "account; use a customer managed key, or create_kms_key=True for a created bucket",
        )
    if match is None or match["kind"] != "key" or match["partition"] != partition:
        raise ConfigError(
            setting,
            arn,
            f"the full ARN of a customer managed KMS key, such as "
            f"'arn:{partition}:kms:<region>:<account>:key/<key-id>' (not an alias)",
        )
    if grant.create and match["account"] != storage_account:
        raise ConfigError(
            setting,
            arn,
            f"a key in the storage account {storage_account}: a bucket created there is "
            "encrypted with a key of its own account",
        )
    if grant.create_kms_key:
        raise ConfigError(setting, arn, "no kms_key_arn when create_kms_key=True")
    return arn


def _is_wildcard_principal(principal: object) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        values = principal.get("AWS", [])
        return "*" in ([values] if isinstance(values, str) else list(values))
    return False


def check_existing_policy(policy: object, setting: str) -> tuple[dict[str, Any], ...]:
    """The statements of an existing bucket policy to keep, checked so the merge stays safe."""
    if policy is None:
        return ()
    expected = (
        "a bucket policy document with a Statement list, or the path of a JSON file holding "
        "one (for example saved with 'aws s3api get-bucket-policy --query Policy --output text')"
    )
    if isinstance(policy, str):
        try:
            policy = json.loads(Path(policy).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ConfigError(setting, policy, f"{expected}; reading it failed: {error}") from None
    if not isinstance(policy, Mapping) or "Statement" not in policy:
        raise ConfigError(setting, policy, expected)
    raw = policy["Statement"]
    statements = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(statements, list):
        raise ConfigError(setting, policy, expected)
    for index, statement in enumerate(statements):
        where = f"{setting}.Statement[{index}]"
        if not isinstance(statement, Mapping) or statement.get("Effect") not in ("Allow", "Deny"):
            raise ConfigError(where, statement, "a statement with Effect Allow or Deny")
        if statement["Effect"] == "Allow" and (
            "NotPrincipal" in statement or _is_wildcard_principal(statement.get("Principal"))
        ):
            raise ConfigError(
                f"{where}.Principal",
                statement.get("Principal", statement.get("NotPrincipal")),
                "fixed principals: an Allow to '*' would make the bucket policy public",
            )
    return tuple(dict(statement) for statement in statements)


def _check_grant(grant: object, index: int, partition: str, storage_account: str) -> ValidGrant:
    setting = f"buckets[{index}]"
    if not isinstance(grant, BucketGrant):
        raise ConfigError(setting, grant, "a BucketGrant")
    name = check_bucket_name(grant.name, f"{setting}.name")
    prefixes: list[str] = []
    for prefix_index, prefix in enumerate(grant.prefixes):
        prefix_setting = f"{setting}.prefixes[{prefix_index}]"
        normalised = normalise_prefix(prefix, prefix_setting)
        if normalised in prefixes:
            raise ConfigError(prefix_setting, prefix, "each prefix once")
        prefixes.append(normalised)
    for flag in ("read_only", "create", "create_kms_key"):
        if not isinstance(getattr(grant, flag), bool):
            raise ConfigError(f"{setting}.{flag}", getattr(grant, flag), "True or False")
    if grant.create_kms_key and not grant.create:
        raise ConfigError(
            f"{setting}.create_kms_key",
            True,
            "create_kms_key only with create=True; for an existing bucket give kms_key_arn",
        )
    kms_key_arn = _check_kms_key_arn(grant, f"{setting}.kms_key_arn", partition, storage_account)
    existing = check_existing_policy(grant.existing_policy, f"{setting}.existing_policy")
    return ValidGrant(
        name=name,
        prefixes=tuple(prefixes),
        read_only=grant.read_only,
        create=grant.create,
        kms_key_arn=kms_key_arn,
        create_kms_key=grant.create_kms_key,
        existing_statements=existing,
    )


def _environment_value(env: object, attribute: str, setting: str) -> object:
    """The account or region of an Environment, which must be set and not a token."""
    if not hasattr(env, "account") or not hasattr(env, "region"):
        raise ConfigError(setting, env, "an aws_cdk.Environment with account and region")
    value = getattr(env, attribute)
    if value is None or (isinstance(value, str) and _TOKEN_MARK in value):
        raise ConfigError(
            f"{setting}.{attribute}",
            value,
            "a concrete value (not a token or unset): cross-account "
            "policies name accounts and regions literally",
        )
    return value


def _compute_accounts(options: AccessOptions) -> list[tuple[ComputeAccount, Callable[[str], str]]]:
    """Every compute account of the options, the first one first, each with the option name
    of each of its fields (so that an error names what the user set)."""
    first = ComputeAccount(
        account=cast(str, _environment_value(options.compute_env, "account", "compute_env")),
        region=cast(str, _environment_value(options.compute_env, "region", "compute_env")),
        forge_role_prefix=options.forge_role_prefix,
        forge_role_path=options.forge_role_path,
        forge_role_arns=options.forge_role_arns,
        work_bucket=options.work_bucket,
        attach_to=options.attach_to,
    )

    def first_name(name: str) -> str:
        return f"compute_env.{name}" if name in ("account", "region") else name

    def further_name(index: int) -> Callable[[str], str]:
        return lambda name: f"compute_accounts[{index}].{name}"

    further: list[tuple[ComputeAccount, Callable[[str], str]]] = []
    for index, account in enumerate(options.compute_accounts):
        if not isinstance(account, ComputeAccount):
            raise ConfigError(f"compute_accounts[{index}]", account, "a ComputeAccount")
        further.append((account, further_name(index)))
    return [(first, first_name), *further]


def _check_compute(
    compute: ComputeAccount, name_of: Callable[[str], str], partition: str, granted: set[str]
) -> ComputeSettings:
    """Check one compute account, whose region must be in ``partition``."""
    account = check_account(compute.account, name_of("account"))
    region_partition = partition_of_region(compute.region, name_of("region"))
    if region_partition != partition:
        raise ConfigError(
            name_of("region"),
            compute.region,
            f"a region in the same partition as the other accounts ({partition})",
        )
    prefix = _check_role_prefix(compute.forge_role_prefix, name_of("forge_role_prefix"))
    path = _check_role_path(compute.forge_role_path, name_of("forge_role_path"))
    role_arns = _check_role_arns(
        compute.forge_role_arns, region_partition, account, name_of("forge_role_arns")
    )
    if prefix is None and not role_arns:
        raise ConfigError(
            name_of("forge_role_prefix"),
            None,
            "a role prefix, or at least one ARN in forge_role_arns",
        )
    work_setting = name_of("work_bucket")
    work = (
        None
        if compute.work_bucket is None
        else check_bucket_name(compute.work_bucket, work_setting)
    )
    if work is not None and work in granted:
        raise ConfigError(work_setting, work, "the compute account's own bucket, not a granted one")
    for index, grantee in enumerate(compute.attach_to):
        grantee_kind(grantee, f"{name_of('attach_to')}[{index}]")
    checked = ComputeSettings(
        partition=region_partition,
        account=account,
        region=str(compute.region),
        forge_role_prefix=prefix,
        forge_role_path=path,
        forge_role_arns=role_arns,
        work_bucket=work,
        attach_to=tuple(compute.attach_to),
    )
    for index, arn in enumerate(role_arns):
        if any(fnmatchcase(arn, pattern) for pattern in checked.deeper_pattern):
            raise ConfigError(
                f"{name_of('forge_role_arns')}[{index}]",
                arn,
                f"a role the policies can admit: roles under a path below "
                f"'{checked.forge_role_path}' whose name starts with "
                f"'{checked.forge_role_prefix}' are refused; set forge_role_path instead",
            )
    return checked


def _check_ou_paths(paths: object, org_id: str) -> tuple[str, ...]:
    setting = "organization.ou_paths"
    if isinstance(paths, (str, bytes)) or not isinstance(paths, Iterable) or not list(paths):
        raise ConfigError(
            setting,
            paths,
            f"a non-empty list of organisational unit paths, such as "
            f"'{org_id}/r-ab12/ou-ab12-11111111/' (the root's path, '{org_id}/r-ab12/', for "
            "the whole organisation)",
        )
    checked: list[str] = []
    for index, path in enumerate(paths):
        where = f"{setting}[{index}]"
        normalised = path if not isinstance(path, str) or path.endswith("/") else f"{path}/"
        if not isinstance(normalised, str) or not _OU_PATH_RE.match(normalised):
            raise ConfigError(
                where,
                path,
                "an organisational unit path as AWS Organizations writes it: "
                "'<org id>/<root id>/<ou id>/.../', such as "
                "'o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/'",
            )
        if not normalised.startswith(f"{org_id}/"):
            raise ConfigError(where, path, f"a path in the organisation {org_id}")
        covering = [other for other in checked if normalised.startswith(other)]
        covered = [other for other in checked if other.startswith(normalised)]
        if covering or covered:
            raise ConfigError(
                where,
                path,
                f"a path neither inside nor around another one ({(covering or covered)[0]}): "
                "a unit's path admits every unit below it",
            )
        checked.append(normalised)
    return tuple(checked)


def _check_organization(
    grant: object, partition: str, primary: ComputeSettings
) -> OrganizationSettings:
    """Check the organisation grant; its regions default to the first compute account's."""
    if not isinstance(grant, OrganizationGrant):
        raise ConfigError("organization", grant, "an OrganizationGrant")
    org_id = grant.org_id
    if not isinstance(org_id, str) or not _ORG_ID_RE.match(org_id):
        raise ConfigError(
            "organization.org_id",
            org_id,
            "an AWS Organizations ID: 'o-' and 10 to 32 lowercase letters or digits",
        )
    paths = _check_ou_paths(grant.ou_paths, org_id)
    regions = grant.regions
    if isinstance(regions, (str, bytes)) or not isinstance(regions, Iterable):
        raise ConfigError("organization.regions", regions, "a list of one region code")
    regions = list(regions) or [primary.region]
    if len(regions) != 1:
        raise ConfigError(
            "organization.regions",
            list(regions),
            "one region: IAM policies are global, so the StackSet makes them once per account "
            "(a second region would make the same named policies again and fail)",
        )
    region = regions[0]
    if partition_of_region(region, "organization.regions[0]") != partition:
        raise ConfigError(
            "organization.regions[0]", region, f"a region in the partition {partition}"
        )
    prefix = _check_role_prefix(grant.forge_role_prefix, "organization.forge_role_prefix")
    if prefix is None:
        raise ConfigError(
            "organization.forge_role_prefix",
            None,
            f"the prefix of the member accounts' Forge roles, such as "
            f"'{DEFAULT_FORGE_ROLE_PREFIX}'",
        )
    path = _check_role_path(grant.forge_role_path, "organization.forge_role_path")
    admin = grant.admin_env
    admin_account, admin_region = primary.account, primary.region
    if admin is not None:
        admin_account = check_account(
            _environment_value(admin, "account", "organization.admin_env"),
            "organization.admin_env.account",
        )
        admin_region = str(_environment_value(admin, "region", "organization.admin_env"))
        if partition_of_region(admin_region, "organization.admin_env.region") != partition:
            raise ConfigError(
                "organization.admin_env.region",
                admin_region,
                f"a region in the partition {partition}",
            )
    if not isinstance(grant.delegated_admin, bool):
        raise ConfigError("organization.delegated_admin", grant.delegated_admin, "True or False")
    return OrganizationSettings(
        partition=partition,
        org_id=org_id,
        ou_paths=paths,
        region=str(region),
        forge_role_prefix=prefix,
        forge_role_path=path,
        admin_account=admin_account,
        admin_region=admin_region,
        delegated_admin=grant.delegated_admin,
    )


def check_policy_name(name: str, setting: str) -> str:
    """Return ``name`` if IAM accepts it as a managed policy's name (with room for ``-<n>``)."""
    if not re.fullmatch(r"[A-Za-z0-9+=,.@_-]+", name) or len(name) > POLICY_NAME_MAX_LENGTH:
        raise ConfigError(
            setting,
            name,
            f"an IAM policy name: letters, digits and +=,.@_-, at most "
            f"{POLICY_NAME_MAX_LENGTH} characters",
        )
    return name


def credentials_role_name(platform: PlatformComputeEnvironment) -> str:
    """The name of the role the construct makes for Platform's credentials."""
    return platform.credentials_role_name or f"{CREDENTIALS_ROLE_PREFIX}{platform.name}"[:64]


def _with_credentials_role(
    platform: PlatformComputeEnvironment,
    partition: str,
    compute: ComputeSettings,
    organization: OrganizationSettings | None,
) -> ComputeSettings:
    """Check the role the construct makes for Platform's credentials (if it makes one) against
    the first compute account (and the organisation's Forge prefix), and admit it there when
    Data Explorer reads with it."""
    if platform.credentials_id is not None:
        return compute
    name = credentials_role_name(platform)
    forge = [(compute.forge_role_prefix, compute.forge_role_path)]
    if organization is not None:
        forge.append((organization.forge_role_prefix, organization.forge_role_path))
    for prefix, path in forge:
        if prefix is not None and path == "/" and name.startswith(prefix):
            raise ConfigError(
                "platform.credentials_role_name",
                name,
                f"a role name that does not start with the Forge prefix '{prefix}', which the "
                "bucket policies admit as Forge roles",
            )
    principal_partition = platform.platform_principal_arn.split(":")[1]
    if principal_partition != partition:
        raise ConfigError(
            "platform.platform_principal_arn",
            platform.platform_principal_arn,
            f"a principal in the compute account's partition ({partition}): an Enterprise "
            "install's role there",
        )
    if not platform.register_data_links:
        return compute
    arn = role_arn(partition, compute.account, name)
    return dataclasses.replace(compute, credentials_role_arn=arn)


def check_stack_name(name: object, setting: str) -> None:
    if name is None:
        return
    if (
        not isinstance(name, str)
        or not _STACK_NAME_RE.match(name)
        or len(name) > STACK_NAME_MAX_LENGTH
    ):
        raise ConfigError(
            setting,
            name,
            f"a CloudFormation stack name: a letter, then letters, digits and hyphens, at most "
            f"{STACK_NAME_MAX_LENGTH} characters",
        )


def validate(options: AccessOptions) -> AccessSettings:
    """Check every option and return them typed, or raise the first ConfigError."""
    if not isinstance(options, AccessOptions):
        raise ConfigError("options", options, "an AccessOptions")
    accounts = _compute_accounts(options)
    first, first_name = accounts[0]
    compute = check_account(first.account, first_name("account"))
    storage = check_account(
        _environment_value(options.storage_env, "account", "storage_env"), "storage_env.account"
    )
    if compute == storage:
        raise ConfigError(
            "storage_env.account", storage, "an account other than the compute account"
        )
    partition = partition_of_region(first.region, first_name("region"))
    storage_region = _environment_value(options.storage_env, "region", "storage_env")
    if partition_of_region(storage_region, "storage_env.region") != partition:
        raise ConfigError(
            "storage_env.region",
            storage_region,
            f"a region in the same partition as the compute region ({partition})",
        )
    buckets = options.buckets
    if isinstance(buckets, (str, bytes)) or not buckets:
        raise ConfigError("buckets", buckets, "a non-empty list of BucketGrant")
    grants = [_check_grant(grant, i, partition, storage) for i, grant in enumerate(buckets)]
    seen: set[str] = set()
    for index, grant in enumerate(grants):
        if grant.name in seen:
            raise ConfigError(f"buckets[{index}].name", grant.name, "each bucket once")
        seen.add(grant.name)
    computes: list[ComputeSettings] = []
    named = [storage]
    for account, name_of in accounts:
        checked = _check_compute(account, name_of, partition, seen)
        if computes and checked.account in named:
            raise ConfigError(
                name_of("account"),
                checked.account,
                "an account not already named as the storage or another compute account",
            )
        named.append(checked.account)
        computes.append(checked)
    _check_lifecycle(options)
    packs = _check_nag_packs(options.nag_packs)
    limit = options.max_managed_policies
    if (
        isinstance(limit, bool)
        or not isinstance(limit, int)
        or not 1 <= limit <= MAX_MANAGED_POLICIES_QUOTA
    ):
        raise ConfigError(
            "max_managed_policies",
            limit,
            f"the managed-policy quota per role or user in the compute accounts: 1 to "
            f"{MAX_MANAGED_POLICIES_QUOTA} (IAM's default is {DEFAULT_MAX_MANAGED_POLICIES})",
        )
    logs = options.access_logs_bucket
    check_stack_name(options.compute_stack_name, "compute_stack_name")
    check_stack_name(options.storage_stack_name, "storage_stack_name")
    organization = (
        None
        if options.organization is None
        else _check_organization(options.organization, partition, computes[0])
    )
    platform = None if options.platform is None else validate_platform(options.platform)
    if platform is not None:
        check_log_key(platform.log_key_arn, partition, computes[0])
        computes[0] = _with_credentials_role(platform, partition, computes[0], organization)
    return AccessSettings(
        partition=partition,
        storage_account=storage,
        storage_region=str(storage_region),
        grants=tuple(grants),
        computes=tuple(computes),
        access_logs_bucket=None if logs is None else check_bucket_name(logs, "access_logs_bucket"),
        max_managed_policies=limit,
        platform=platform,
        abort_incomplete_uploads_days=options.abort_incomplete_uploads_days,
        noncurrent_versions_expire_days=options.noncurrent_versions_expire_days,
        access_logs_expire_days=options.access_logs_expire_days,
        nag_packs=packs,
        organization=organization,
    )
