"""Reading the app's settings from CDK context (cdk.json and ``cdk synth -c``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from constructs_lib.config import DEFAULT_FORGE_ROLE_PREFIX, BucketGrant, ConfigError
from constructs_lib.platform_config import PlatformComputeEnvironment

CONTEXT_PREFIX = "tower:"
_GRANT_KEYS = {
    "name": "name",
    "prefixes": "prefixes",
    "readOnly": "read_only",
    "create": "create",
    "kmsKeyArn": "kms_key_arn",
    "createKmsKey": "create_kms_key",
    "existingPolicy": "existing_policy",
}
_CONTEXT_KEYS = (
    "computeAccount",
    "computeRegion",
    "storageAccount",
    "storageRegion",
    "buckets",
    "forgeRolePrefix",
    "forgeRoleArns",
    "workBucket",
    "accessLogsBucket",
    "platform",
)
_PLATFORM_KEYS = {
    "name": "name",
    "credentialsId": "credentials_id",
    "tokenSecret": "token_secret",
    "workDir": "work_dir",
    "apiUrl": "api_url",
    "workspaceId": "workspace_id",
    "region": "region",
    "description": "description",
    "forgeType": "forge_type",
    "minCpus": "min_cpus",
    "maxCpus": "max_cpus",
    "instanceTypes": "instance_types",
    "vpcId": "vpc_id",
    "subnets": "subnets",
    "securityGroups": "security_groups",
    "fargateHeadJob": "fargate_head_job",
    "waveEnabled": "wave_enabled",
    "fusion2Enabled": "fusion2_enabled",
    "registerDataLinks": "register_data_links",
    "retainOnDelete": "retain_on_delete",
}


def _decoded(value: object) -> object:
    """Context given with ``cdk synth -c key=value`` arrives as a string: JSON lists, objects
    and ``true``/``false``/``null`` are decoded; anything else stays a string."""
    if isinstance(value, str) and (value[:1] in ("[", "{") or value in ("true", "false", "null")):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _grant_from_context(raw: object, index: int) -> BucketGrant:
    setting = f"{CONTEXT_PREFIX}buckets[{index}]"
    if isinstance(raw, str):
        return BucketGrant(name=raw)
    if not isinstance(raw, Mapping):
        raise ConfigError(setting, raw, 'a bucket name or an object such as {"name": "b"}')
    unknown = sorted(set(raw) - set(_GRANT_KEYS))
    if unknown:
        raise ConfigError(f"{setting}.{unknown[0]}", raw[unknown[0]], f"one of {list(_GRANT_KEYS)}")
    if "name" not in raw:
        raise ConfigError(f"{setting}.name", None, "the bucket name")
    kwargs: dict[str, Any] = {_GRANT_KEYS[key]: value for key, value in raw.items()}
    return BucketGrant(**kwargs)


def _platform_from_context(raw: object) -> PlatformComputeEnvironment | None:
    setting = f"{CONTEXT_PREFIX}platform"
    if raw is None or raw is False:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError(setting, raw, 'an object such as {"name": "...", ...} or false')
    unknown = sorted(set(raw) - set(_PLATFORM_KEYS))
    if unknown:
        # The value is not echoed: a misplaced access token must not reach the terminal.
        raise ConfigError(
            f"{setting}.{unknown[0]}", "<value hidden>", f"one of {list(_PLATFORM_KEYS)}"
        )
    try:
        return PlatformComputeEnvironment(
            **{_PLATFORM_KEYS[key]: value for key, value in raw.items()}
        )
    except TypeError as error:
        raise ConfigError(
            setting, sorted(raw), f"name, credentialsId, tokenSecret and workDir ({error})"
        ) from None


def settings_from_context(
    lookup: Callable[[str], object], context_keys: Iterable[str] = ()
) -> dict[str, Any]:
    """Read the app's ``tower:*`` context keys into keyword arguments for the construct.

    ``context_keys`` are all keys present, so that a misspelt ``tower:`` key is reported
    instead of silently ignored.
    """
    for key in context_keys:
        if key.startswith(CONTEXT_PREFIX) and key[len(CONTEXT_PREFIX) :] not in _CONTEXT_KEYS:
            raise ConfigError(
                key, lookup(key), f"one of {[CONTEXT_PREFIX + k for k in _CONTEXT_KEYS]}"
            )
    values = {key: _decoded(lookup(CONTEXT_PREFIX + key)) for key in _CONTEXT_KEYS}
    for key in ("computeAccount", "computeRegion", "storageAccount", "storageRegion", "buckets"):
        if values[key] is None:
            raise ConfigError(CONTEXT_PREFIX + key, None, "a value in cdk.json or with -c")
    raw_buckets = values["buckets"]
    if not isinstance(raw_buckets, list):
        raise ConfigError(f"{CONTEXT_PREFIX}buckets", raw_buckets, "a JSON list of buckets")
    role_arns = values["forgeRoleArns"] or []
    if not isinstance(role_arns, list):
        raise ConfigError(f"{CONTEXT_PREFIX}forgeRoleArns", role_arns, "a JSON list of role ARNs")
    prefix = values["forgeRolePrefix"]
    if prefix is None:
        prefix = DEFAULT_FORGE_ROLE_PREFIX
    elif prefix is False:
        prefix = None
    return {
        "compute_account": values["computeAccount"],
        "compute_region": values["computeRegion"],
        "storage_account": values["storageAccount"],
        "storage_region": values["storageRegion"],
        "buckets": [_grant_from_context(raw, i) for i, raw in enumerate(raw_buckets)],
        "forge_role_prefix": prefix,
        "forge_role_arns": role_arns,
        "work_bucket": values["workBucket"],
        "access_logs_bucket": values["accessLogsBucket"],
        "platform": _platform_from_context(values["platform"]),
    }
