"""Typed, validated settings for cross-account bucket access.

Everything here is plain Python (no CDK import) so that bad input is reported before any
construct exists, with the setting's name, the value given and what is expected.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_FORGE_ROLE_PREFIX = "TowerForge"
# IAM's default quota of managed policies per role or user; it can be raised to 20.
DEFAULT_MAX_MANAGED_POLICIES = 10
MAX_MANAGED_POLICIES_QUOTA = 20

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
_ROLE_ARN_RE = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f):iam::"
    r"(?P<account>\d{12}):role/(?P<path_and_name>[A-Za-z0-9+=,.@_/-]+)$"
)
_KMS_KEY_ARN_RE = re.compile(
    r"^arn:(?P<partition>[a-z-]+):kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<kind>key|alias)/(?P<id>.+)$"
)
_PARTITION_BY_REGION_KIND = {
    None: "aws",
    "-gov": "aws-us-gov",
    "-iso": "aws-iso",
    "-isob": "aws-iso-b",
    "-isoe": "aws-iso-e",
    "-isof": "aws-iso-f",
}


# The Sids of the statements the construct writes into a bucket policy (see policies.py).
CONSTRUCT_BUCKET_POLICY_SIDS = (
    "ForgeBucket",
    "ForgeList",
    "ForgeLocation",
    "ForgeObjects",
    "DenyInsecureTransport",
)


class ConfigError(ValueError):
    """A setting has a value the construct cannot use; the message says which and why."""

    def __init__(self, setting: str, given: object, expected: str) -> None:
        self.setting = setting
        self.given = given
        self.expected = expected
        super().__init__(f"Invalid setting '{setting}': got {given!r}; expected {expected}.")


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


@dataclass(frozen=True)
class ComputeAccount:
    """A further compute account whose Forge roles get the same buckets.

    Each compute account gets a stack of its own with its s3-write policy; every bucket policy
    names all of them. ``attach_to`` holds IAM roles, users or groups of that account.
    """

    account: str
    region: str
    forge_role_prefix: str | None = DEFAULT_FORGE_ROLE_PREFIX
    forge_role_arns: Sequence[str] = ()
    work_bucket: str | None = None
    attach_to: Sequence[Any] = ()


@dataclass(frozen=True)
class ComputeSettings:
    """One validated compute account: its Forge role pattern, named roles and work bucket."""

    partition: str
    account: str
    region: str
    forge_role_prefix: str | None = DEFAULT_FORGE_ROLE_PREFIX
    forge_role_arns: tuple[str, ...] = ()
    work_bucket: str | None = None

    @property
    def principal_patterns(self) -> tuple[str, ...]:
        """``aws:PrincipalArn`` patterns of the roles admitted from this account."""
        prefix = (
            ()
            if self.forge_role_prefix is None
            else (f"arn:{self.partition}:iam::{self.account}:role/{self.forge_role_prefix}*",)
        )
        return (*prefix, *self.forge_role_arns)

    @property
    def account_principal(self) -> str:
        """The fixed account principal that every bucket and key grant is bound to."""
        return f"arn:{self.partition}:iam::{self.account}:root"


@dataclass(frozen=True)
class AccessSettings:
    """Validated settings: the compute account A (and any more), the storage account B."""

    partition: str
    compute_account: str
    compute_region: str
    storage_account: str
    storage_region: str
    grants: tuple[ValidGrant, ...]
    forge_role_prefix: str | None = DEFAULT_FORGE_ROLE_PREFIX
    forge_role_arns: tuple[str, ...] = ()
    work_bucket: str | None = None
    access_logs_bucket: str | None = None
    more_compute: tuple[ComputeSettings, ...] = ()
    max_managed_policies: int = DEFAULT_MAX_MANAGED_POLICIES

    @property
    def primary(self) -> ComputeSettings:
        """The first compute account: the one that hosts the Platform custom resource."""
        return ComputeSettings(
            partition=self.partition,
            account=self.compute_account,
            region=self.compute_region,
            forge_role_prefix=self.forge_role_prefix,
            forge_role_arns=self.forge_role_arns,
            work_bucket=self.work_bucket,
        )

    @property
    def computes(self) -> tuple[ComputeSettings, ...]:
        """Every compute account, the primary first."""
        return (self.primary, *self.more_compute)

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
        return f"alias/tower-cross-account/{grant.name}"


def partition_of_region(region: str, setting: str) -> str:
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


def _check_role_prefix(prefix: object, setting: str) -> str | None:
    if prefix is None:
        return None
    if not isinstance(prefix, str) or not _ROLE_PREFIX_RE.match(prefix):
        raise ConfigError(
            setting,
            prefix,
            "a non-empty IAM role name prefix without wildcards, such as 'TowerForge' "
            "(letters, digits and +=,.@_-), or None to grant only forge_role_arns",
        )
    return prefix


def _check_role_arns(
    arns: Iterable[object], partition: str, account: str, setting_prefix: str
) -> tuple[str, ...]:
    checked: list[str] = []
    for index, arn in enumerate(arns):
        setting = f"{setting_prefix}[{index}]"
        match = _ROLE_ARN_RE.match(arn) if isinstance(arn, str) else None
        if match is None or "*" in str(arn):
            raise ConfigError(
                setting, arn, f"an IAM role ARN such as 'arn:{partition}:iam::{account}:role/name'"
            )
        if match["account"] != account or match["partition"] != partition:
            raise ConfigError(
                setting, arn, f"a role in the compute account {account} (partition {partition})"
            )
        if arn in checked:
            raise ConfigError(setting, arn, "each role ARN once")
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


def validate_settings(
    *,
    compute_account: object,
    compute_region: object,
    storage_account: object,
    storage_region: object,
    buckets: Sequence[object],
    forge_role_prefix: object = DEFAULT_FORGE_ROLE_PREFIX,
    forge_role_arns: Sequence[object] = (),
    work_bucket: object = None,
    access_logs_bucket: object = None,
    compute_accounts: Sequence[object] = (),
    max_managed_policies: object = DEFAULT_MAX_MANAGED_POLICIES,
) -> AccessSettings:
    """Check every setting and return them typed, or raise the first ConfigError."""
    compute = check_account(compute_account, "compute_env.account")
    storage = check_account(storage_account, "storage_env.account")
    if compute == storage:
        raise ConfigError(
            "storage_env.account", storage, "an account other than the compute account"
        )
    partition = partition_of_region(str(compute_region), "compute_env.region")
    storage_partition = partition_of_region(str(storage_region), "storage_env.region")
    if storage_partition != partition:
        raise ConfigError(
            "storage_env.region",
            storage_region,
            f"a region in the same partition as the compute region ({partition})",
        )
    if isinstance(buckets, (str, bytes)) or not buckets:
        raise ConfigError("buckets", buckets, "a non-empty list of BucketGrant")
    grants = [_check_grant(grant, i, partition, storage) for i, grant in enumerate(buckets)]
    seen: set[str] = set()
    for index, grant in enumerate(grants):
        if grant.name in seen:
            raise ConfigError(f"buckets[{index}].name", grant.name, "each bucket once")
        seen.add(grant.name)
    primary = _check_compute(
        compute,
        str(compute_region),
        partition,
        forge_role_prefix,
        forge_role_arns,
        work_bucket,
        seen,
        setting_prefix="",
    )
    more = [
        _check_more_compute(extra, f"compute_accounts[{index}]", partition, seen)
        for index, extra in enumerate(compute_accounts)
    ]
    accounts = [storage, compute]
    for index, extra_settings in enumerate(more):
        if extra_settings.account in accounts:
            raise ConfigError(
                f"compute_accounts[{index}].account",
                extra_settings.account,
                "an account not already named as the storage or another compute account",
            )
        accounts.append(extra_settings.account)
    if (
        isinstance(max_managed_policies, bool)
        or not isinstance(max_managed_policies, int)
        or not 1 <= max_managed_policies <= MAX_MANAGED_POLICIES_QUOTA
    ):
        raise ConfigError(
            "max_managed_policies",
            max_managed_policies,
            f"the managed-policy quota per role or user in the compute accounts: 1 to "
            f"{MAX_MANAGED_POLICIES_QUOTA} (IAM's default is {DEFAULT_MAX_MANAGED_POLICIES})",
        )
    logs = (
        None
        if access_logs_bucket is None
        else check_bucket_name(access_logs_bucket, "access_logs_bucket")
    )
    return AccessSettings(
        partition=partition,
        compute_account=compute,
        compute_region=str(compute_region),
        storage_account=storage,
        storage_region=str(storage_region),
        grants=tuple(grants),
        forge_role_prefix=primary.forge_role_prefix,
        forge_role_arns=primary.forge_role_arns,
        work_bucket=primary.work_bucket,
        access_logs_bucket=logs,
        more_compute=tuple(more),
        max_managed_policies=max_managed_policies,
    )


def _check_compute(
    account: str,
    region: str,
    partition: str,
    forge_role_prefix: object,
    forge_role_arns: object,
    work_bucket: object,
    granted: set[str],
    setting_prefix: str,
) -> ComputeSettings:
    """Check one compute account's role prefix, role ARNs and work bucket."""
    prefix = _check_role_prefix(forge_role_prefix, f"{setting_prefix}forge_role_prefix")
    if isinstance(forge_role_arns, (str, bytes)) or not isinstance(forge_role_arns, Iterable):
        raise ConfigError(
            f"{setting_prefix}forge_role_arns", forge_role_arns, "a list of IAM role ARNs"
        )
    role_arns = _check_role_arns(
        forge_role_arns, partition, account, f"{setting_prefix}forge_role_arns"
    )
    if prefix is None and not role_arns:
        raise ConfigError(
            f"{setting_prefix}forge_role_prefix",
            None,
            "a role prefix, or at least one ARN in forge_role_arns",
        )
    work_setting = f"{setting_prefix}work_bucket"
    work = None if work_bucket is None else check_bucket_name(work_bucket, work_setting)
    if work is not None and work in granted:
        raise ConfigError(work_setting, work, "the compute account's own bucket, not a granted one")
    return ComputeSettings(
        partition=partition,
        account=account,
        region=region,
        forge_role_prefix=prefix,
        forge_role_arns=role_arns,
        work_bucket=work,
    )


def _check_more_compute(
    extra: object, setting: str, partition: str, granted: set[str]
) -> ComputeSettings:
    """Check a further compute account given as a ComputeAccount."""
    if not isinstance(extra, ComputeAccount):
        raise ConfigError(setting, extra, "a ComputeAccount")
    account = check_account(extra.account, f"{setting}.account")
    region_partition = partition_of_region(str(extra.region), f"{setting}.region")
    if region_partition != partition:
        raise ConfigError(
            f"{setting}.region",
            extra.region,
            f"a region in the same partition as the other accounts ({partition})",
        )
    return _check_compute(
        account,
        str(extra.region),
        partition,
        extra.forge_role_prefix,
        extra.forge_role_arns,
        extra.work_bucket,
        granted,
        setting_prefix=f"{setting}.",
    )
