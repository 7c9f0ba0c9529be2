"""Settings for the Seqera Platform compute environment that uses the granted buckets.

Plain Python (no CDK import): validated before any construct exists, and turned into the
``computeEnv`` body of ``POST /compute-envs`` that the custom resource sends.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from constructs_lib.defaults import (
    DEFAULT_API_URL,
    DEFAULT_FORGE_TYPE,
    DEFAULT_LOG_RETENTION_DAYS,
    DEFAULT_MAX_CPUS,
    DEFAULT_MIN_CPUS,
    DEFAULT_PLATFORM_PRINCIPAL,
)
from constructs_lib.errors import ConfigError

# The handler appends "-" and 8 hex digits of the configuration's hash; Platform allows 100.
NAME_MAX_LENGTH = 91
_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|[-_](?=[A-Za-z0-9]))*$")
_NAME_EXPECTED = f"1-{NAME_MAX_LENGTH} letters, digits, '-' or '_', starting with a letter or digit"
_API_URL_RE = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._~-]+)*$")
_SECRET_RE = re.compile(
    r"^(arn:[a-z-]+:secretsmanager:[a-z0-9-]+:\d{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}$"
)
# Platform access tokens are base64 of a JSON object, so they start like this.
_TOKEN_LOOKALIKE = "eyJ"
_WORK_DIR_RE = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")
_SUBNET_RE = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_PRINCIPAL_RE = re.compile(r"^arn:[a-z-]+:iam::\d{12}:(role|user)/[A-Za-z0-9+=,.@_/-]+$")
_ROLE_NAME_RE = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,64}$")
_SECURITY_GROUP_RE = re.compile(r"^sg-[0-9a-f]{8,17}$")
# The retention periods CloudWatch Logs accepts, in days.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip


@dataclass(frozen=True)
class PlatformComputeEnvironment:
    """A Batch Forge compute environment in Seqera Platform that may use the granted buckets.

    The construct puts every granted bucket (or bucket prefix) into ``allowBuckets`` itself.
    ``token_secret`` is the name or ARN of a Secrets Manager secret in the compute account
    whose value is a Platform access token; only the name travels, never the value. Without
    ``credentials_id`` the construct also makes the AWS credentials: an IAM role in the compute
    account with Batch Forge's and launch permissions, which the Platform principal may assume
    with the External ID Platform gives the credentials it registers for the role.
    """

    name: str
    """The environment's base name; a hash of its configuration is appended."""
    token_secret: str
    """The name or ARN of the Secrets Manager secret (in A) that holds the access token."""
    work_dir: str
    """The Nextflow work directory, an ``s3://`` path."""
    credentials_id: str | None = None
    """The id of AWS credentials already in Platform; None makes the role and registers it."""
    platform_principal_arn: str = DEFAULT_PLATFORM_PRINCIPAL
    """Who assumes the made role: Seqera Cloud's role, or an Enterprise install's."""
    credentials_name: str | None = None
    """The base name of the made credentials in Platform; None uses ``name``."""
    credentials_role_name: str | None = None
    """The made role's name; None names it ``SeqeraPlatform-<name>``. It must not start with
    the Forge prefix, so that the bucket policies do not admit it as a Forge role."""
    api_url: str = DEFAULT_API_URL
    """Platform's API: Seqera Cloud's, or ``https://<host>/api`` for Enterprise."""
    workspace_id: str | None = None
    """The numeric workspace id; None for the personal workspace."""
    region: str | None = None
    """The environment's region; None for the compute account's region."""
    description: str | None = None
    """A description shown in Platform."""
    forge_type: Literal["SPOT", "EC2"] = DEFAULT_FORGE_TYPE
    """Batch Forge's instance pricing: Spot or on-demand EC2."""
    min_cpus: int = DEFAULT_MIN_CPUS
    """The fewest CPUs Batch keeps running."""
    max_cpus: int = DEFAULT_MAX_CPUS
    """The most CPUs Batch may run."""
    instance_types: Sequence[str] = ()
    """EC2 instance types to use; empty for Batch's choice."""
    vpc_id: str | None = None
    """The VPC to run in; None for the account's default."""
    subnets: Sequence[str] = ()
    """Subnets of that VPC."""
    security_groups: Sequence[str] = ()
    """Security groups for the instances."""
    fargate_head_job: bool = False
    """Run the Nextflow head job on Fargate (its role then gets the s3-write policy too)."""
    wave_enabled: bool = False
    """Use Wave containers."""
    fusion2_enabled: bool = False
    """Use Fusion v2 (requires Wave)."""
    register_data_links: bool = False
    """Also add each granted bucket (or prefix) to Data Explorer as a data link."""
    retain_on_delete: bool = False
    """Keep the environment in Platform when the stack is deleted."""
    handler_subnets: Sequence[str] = ()
    """Subnets for the custom resource's Lambda functions (with ``handler_security_groups``),
    for example to reach an Enterprise install behind a private endpoint; none runs them
    outside a VPC, which they need only to call Platform's API."""
    handler_security_groups: Sequence[str] = ()
    """Security groups for the custom resource's Lambda functions in ``handler_subnets``."""
    handler_reserved_concurrency: int | None = None
    """Concurrency reserved for each of the custom resource's functions; None reserves none
    (an account's first 10 cannot be reserved)."""
    log_retention_days: int = DEFAULT_LOG_RETENTION_DAYS
    """How long the custom resource's log groups keep their records, in days."""
    log_key_arn: str | None = None
    """A KMS key of the compute account (and region) to encrypt the custom resource's log
    groups with; None creates one."""


def _is_name(value: object) -> bool:
    """A base name of the environment or the credentials in Platform."""
    return isinstance(value, str) and len(value) <= NAME_MAX_LENGTH and bool(_NAME_RE.match(value))


def _require(condition: bool, setting: str, given: object, expected: str) -> None:
    if not condition:
        raise ConfigError(f"platform.{setting}", given, expected)


def validate_platform(platform: object) -> PlatformComputeEnvironment:
    """Check the Platform settings; raise ConfigError naming the first wrong one."""
    if not isinstance(platform, PlatformComputeEnvironment):
        raise ConfigError("platform", platform, "a PlatformComputeEnvironment")
    p = platform
    _require(_is_name(p.name), "name", p.name, _NAME_EXPECTED)
    _require(
        p.credentials_id is None
        or (
            isinstance(p.credentials_id, str)
            and bool(re.match(r"^[A-Za-z0-9]{1,22}$", p.credentials_id))
        ),
        "credentials_id",
        p.credentials_id,
        "the id of the AWS credentials in Platform, such as '4Kx9Pq2mT7vZ', or None to make them",
    )
    _require(
        isinstance(p.platform_principal_arn, str)
        and bool(_PRINCIPAL_RE.match(p.platform_principal_arn)),
        "platform_principal_arn",
        p.platform_principal_arn,
        f"the ARN of the IAM role (or user) Platform assumes roles with, such as "
        f"{DEFAULT_PLATFORM_PRINCIPAL!r}",
    )
    _require(
        p.credentials_name is None or _is_name(p.credentials_name),
        "credentials_name",
        p.credentials_name,
        _NAME_EXPECTED,
    )
    _require(
        p.credentials_role_name is None
        or (
            isinstance(p.credentials_role_name, str)
            and bool(_ROLE_NAME_RE.match(p.credentials_role_name))
        ),
        "credentials_role_name",
        p.credentials_role_name,
        "an IAM role name: 1-64 letters, digits and +=,.@_-",
    )
    # The value is never echoed: a token pasted here by mistake must not reach the terminal.
    _require(
        isinstance(p.token_secret, str)
        and bool(_SECRET_RE.match(p.token_secret))
        and not p.token_secret.startswith(_TOKEN_LOOKALIKE),
        "token_secret",
        "<value hidden>",
        "the name or ARN of a Secrets Manager secret that holds the token, never the token itself",
    )
    _require(
        isinstance(p.api_url, str) and bool(_API_URL_RE.match(p.api_url)),
        "api_url",
        p.api_url,
        f"an https URL such as {DEFAULT_API_URL!r} or 'https://tower.example.org/api'",
    )
    _require(
        p.workspace_id is None or (isinstance(p.workspace_id, str) and p.workspace_id.isdigit()),
        "workspace_id",
        p.workspace_id,
        "a numeric workspace id, or None for the personal workspace",
    )
    _require(
        isinstance(p.work_dir, str) and bool(_WORK_DIR_RE.match(p.work_dir)),
        "work_dir",
        p.work_dir,
        "an S3 path such as 's3://tower-work-a/work'",
    )
    _require(p.forge_type in ("SPOT", "EC2"), "forge_type", p.forge_type, "'SPOT' or 'EC2'")
    _require(
        isinstance(p.min_cpus, int)
        and isinstance(p.max_cpus, int)
        and 0 <= p.min_cpus <= p.max_cpus
        and p.max_cpus > 0,
        "max_cpus",
        (p.min_cpus, p.max_cpus),
        "0 <= min_cpus <= max_cpus and max_cpus > 0",
    )
    _check_ids(p.handler_subnets, _SUBNET_RE, "handler_subnets", "subnet-0123456789abcdef0")
    _check_ids(
        p.handler_security_groups,
        _SECURITY_GROUP_RE,
        "handler_security_groups",
        "sg-0123456789abcdef0",
    )
    _require(
        bool(p.handler_subnets) == bool(p.handler_security_groups),
        "handler_security_groups",
        list(p.handler_security_groups),
        "security groups exactly when handler_subnets are given (a function in a VPC needs both)",
    )
    concurrency = p.handler_reserved_concurrency
    _require(
        concurrency is None
        or (
            isinstance(concurrency, int) and not isinstance(concurrency, bool) and concurrency >= 1
        ),
        "handler_reserved_concurrency",
        concurrency,
        "a whole number of 1 or more, or None to reserve none",
    )
    _require(
        p.log_retention_days in LOG_RETENTION_DAYS and not isinstance(p.log_retention_days, bool),
        "log_retention_days",
        p.log_retention_days,
        f"one of CloudWatch Logs' retention periods in days: {list(LOG_RETENTION_DAYS)}",
    )
    return p


def _check_ids(ids: object, pattern: re.Pattern[str], setting: str, example: str) -> None:
    _require(
        not isinstance(ids, (str, bytes))
        and isinstance(ids, Sequence)
        and all(isinstance(i, str) and pattern.match(i) for i in ids),
        setting,
        ids,
        f"a list of ids such as {example!r}",
    )


def connection_properties(platform: PlatformComputeEnvironment) -> dict[str, str]:
    """The properties both custom resources (the compute environment and the credentials)
    take from the settings: where Platform is, the token's secret, and RetainOnDelete."""
    return {
        "ApiUrl": platform.api_url,
        "WorkspaceId": platform.workspace_id or "",
        "TokenSecret": platform.token_secret,
        "RetainOnDelete": "true" if platform.retain_on_delete else "false",
    }


def compute_env_request(
    platform: PlatformComputeEnvironment, region: str, allow_buckets: Sequence[str]
) -> dict[str, Any]:
    """The ``computeEnv`` object of ``POST /compute-envs`` for a Batch Forge environment in
    ``region`` (unless the settings name another) that may use ``allow_buckets``."""
    forge: dict[str, Any] = {
        "type": platform.forge_type,
        "minCpus": platform.min_cpus,
        "maxCpus": platform.max_cpus,
        "allowBuckets": list(allow_buckets),
        "fargateHeadEnabled": platform.fargate_head_job,
    }
    optional = {
        "instanceTypes": list(platform.instance_types),
        "vpcId": platform.vpc_id,
        "subnets": list(platform.subnets),
        "securityGroups": list(platform.security_groups),
    }
    forge.update({key: value for key, value in optional.items() if value})
    request: dict[str, Any] = {
        "name": platform.name,
        "platform": "aws-batch",
        **({} if platform.credentials_id is None else {"credentialsId": platform.credentials_id}),
        "config": {
            "discriminator": "aws-batch",
            "region": platform.region or region,
            "workDir": platform.work_dir,
            "forge": forge,
            "waveEnabled": platform.wave_enabled,
            "fusion2Enabled": platform.fusion2_enabled,
        },
    }
    if platform.description:
        request["description"] = platform.description
    return request
