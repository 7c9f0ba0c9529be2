"""Reading the app's settings from CDK context (cdk.json and ``cdk synth -c``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from constructs_lib.config import (
    DEFAULT_FORGE_ROLE_PREFIX,
    DEFAULT_MAX_MANAGED_POLICIES,
    BucketGrant,
    ComputeAccount,
    ConfigError,
)
from constructs_lib.seqera.settings import PlatformComputeEnvironment

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
    "computeAccounts",
    "maxManagedPolicies",
)
_COMPUTE_ACCOUNT_KEYS = {
    "account": "account",
    "region": "region",
    "forgeRolePrefix": "forge_role_prefix",
    "forgeRoleArns": "forge_role_arns",
    "workBucket": "work_bucket",
}
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
    and ``true``/``false``/``null`` are decoded; anything else (account IDs too) stays a string."""
    if isinstance(value, str) and (value[:1] in ("[", "{") or value in ("true", "false", "null")):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _keyword_arguments(
    raw: Mapping[str, Any], setting: str, keys: Mapping[str, str], required: str
) -> dict[str, Any]:
    """Map a context object's camelCase keys to keyword arguments, naming unknown ones.

    Values of unknown keys are not echoed: a misplaced access token must not reach the
    terminal.
    """
    unknown = sorted(set(raw) - set(keys))
    if unknown:
        raise ConfigError(f"{setting}.{unknown[0]}", "<value hidden>", f"one of {list(keys)}")
    missing = [key for key in required.split(", ") if key not in raw]
    if missing:
        raise ConfigError(f"{setting}.{missing[0]}", None, f"the keys {required}")
    return {keys[key]: value for key, value in raw.items()}


def _grant_from_context(raw: object, index: int) -> BucketGrant:
    setting = f"{CONTEXT_PREFIX}buckets[{index}]"
    if isinstance(raw, str):
        return BucketGrant(name=raw)
    if not isinstance(raw, Mapping):
        raise ConfigError(setting, raw, 'a bucket name or an object such as {"name": "b"}')
    return BucketGrant(**_keyword_arguments(raw, setting, _GRANT_KEYS, "name"))


def _platform_from_context(raw: object) -> PlatformComputeEnvironment | None:
    setting = f"{CONTEXT_PREFIX}platform"
    if raw is None or raw is False:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError(setting, raw, 'an object such as {"name": "...", ...} or false')
    required = "name, credentialsId, tokenSecret, workDir"
    return PlatformComputeEnvironment(**_keyword_arguments(raw, setting, _PLATFORM_KEYS, required))


def _compute_account_from_context(raw: object, index: int) -> ComputeAccount:
    setting = f"{CONTEXT_PREFIX}computeAccounts[{index}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(setting, raw, 'an object such as {"account": "...", "region": "..."}')
    arguments = _keyword_arguments(raw, setting, _COMPUTE_ACCOUNT_KEYS, "account, region")
    if arguments.get("forge_role_prefix") is False:
        arguments["forge_role_prefix"] = None
    return ComputeAccount(**arguments)


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
    raw_buckets = _list_of(values["buckets"], "buckets")
    role_arns = _list_of(values["forgeRoleArns"], "forgeRoleArns")
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
        "compute_accounts": [
            _compute_account_from_context(raw, index)
            for index, raw in enumerate(_list_of(values["computeAccounts"], "computeAccounts"))
        ],
        "max_managed_policies": _whole_number(values["maxManagedPolicies"]),
    }


def _whole_number(value: object) -> object:
    """``maxManagedPolicies``: a number in cdk.json, a string of digits from ``-c``."""
    if value is None:
        return DEFAULT_MAX_MANAGED_POLICIES
    return int(value) if isinstance(value, str) and value.isdigit() else value


def _list_of(value: object, key: str) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(CONTEXT_PREFIX + key, value, "a JSON list")
    return value
