"""Reading the app's options from CDK context (cdk.json and ``cdk synth -c``).

The ``tower:*`` keys are derived from the fields of ``AccessOptions`` (and, inside them, of
``BucketGrant``, ``ComputeAccount``, ``OrganizationGrant`` and ``PlatformComputeEnvironment``):
a snake_case field is the camelCase key, and an Environment field ``x_env`` is the two keys
``xAccount`` and ``xRegion``. A new option is therefore read from cdk.json with no change
here, and an error names the key the user typed.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from typing import Any, Union, get_args, get_origin, get_type_hints

from constructs_lib.config import AccessOptions, AccountRegion, Environment, Grantee
from constructs_lib.errors import ConfigError

CONTEXT_PREFIX = "tower:"
_ENV_SUFFIX = "_env"
_ENV_PARTS = ("account", "region")
_SNAKE_NAME = re.compile(r"(?<![A-Za-z0-9])([a-z][a-z0-9]*(?:_[a-z0-9]+)+)")


def camel(name: str) -> str:
    """``forge_role_arns`` -> ``forgeRoleArns``."""
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def _is_environment(hint: object) -> bool:
    return hint is Environment


def _holds_constructs(hint: object) -> bool:
    """Whether a type mentions constructs (IAM principals), which context cannot express."""
    return hint is Grantee or any(_holds_constructs(arg) for arg in get_args(hint))


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


@cache
def option_keys() -> dict[str, str]:
    """Each ``tower:`` key (without the prefix), mapped to the option it sets: a field name,
    or ``<field>.account`` / ``<field>.region`` for an Environment."""
    return _field_keys(AccessOptions)


def context_setting(setting: str) -> str:
    """The ``tower:`` key for an option's name in a ConfigError: ``storage_env.account`` ->
    ``tower:storageAccount``, ``compute_accounts[1].forge_role_arns[0]`` ->
    ``tower:computeAccounts[1].forgeRoleArns[0]``."""
    if setting.startswith(CONTEXT_PREFIX):
        return setting
    by_option = {option: key for key, option in option_keys().items()}
    for option, key in by_option.items():
        if "." in option and (setting == option or setting.startswith(f"{option}.")):
            return CONTEXT_PREFIX + key + setting[len(option) :]
    return CONTEXT_PREFIX + _SNAKE_NAME.sub(lambda match: camel(match[1]), setting)


def in_context_terms(error: ConfigError) -> ConfigError:
    """The error, naming the ``tower:`` key the user typed instead of the Python option."""
    return error.renamed(context_setting(error.setting))


def _decoded(value: object) -> object:
    """Context given with ``cdk synth -c key=value`` arrives as a string: JSON lists, objects
    and ``true``/``false``/``null`` are decoded; anything else (account IDs too) stays a string."""
    if isinstance(value, str) and (value[:1] in ("[", "{") or value in ("true", "false", "null")):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _required(cls: type) -> list[dataclasses.Field[Any]]:
    return [
        field
        for field in dataclasses.fields(cls)
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    ]


def _field_keys(cls: type) -> dict[str, str]:
    """Each context key of a dataclass, mapped to its field (``<field>.account`` and
    ``<field>.region`` for an Environment, whose field ``x_env`` is ``xAccount``, ``xRegion``)."""
    keys: dict[str, str] = {}
    for field in dataclasses.fields(cls):
        hint = _hints(cls)[field.name]
        if _holds_constructs(hint):
            continue
        if _is_environment(hint) or _is_environment(_optional_of(hint)):
            stem = camel(field.name.removesuffix(_ENV_SUFFIX))
            for part in _ENV_PARTS:
                keys[stem + part.title()] = f"{field.name}.{part}"
        else:
            keys[camel(field.name)] = field.name
    return keys


def _optional_of(hint: object) -> object:
    """``X`` of ``X | None``, else None."""
    if get_origin(hint) in (Union, types.UnionType):
        kinds = [arg for arg in get_args(hint) if arg is not type(None)]
        return kinds[0] if len(kinds) == 1 else None
    return None


def _dataclass_from(raw: object, cls: type, setting: str) -> object:
    """A dataclass from a context object whose keys are its fields in camelCase; a type with
    one required field may be given as just that field's value (a bucket by its name).

    Values of unknown keys are not echoed: a misplaced access token must not reach the
    terminal.
    """
    required = _required(cls)
    if isinstance(raw, str) and len(required) == 1:
        return cls(**{required[0].name: raw})
    keys = _field_keys(cls)
    if not isinstance(raw, Mapping):
        example = ", ".join(f'"{camel(field.name)}": ...' for field in required)
        raise ConfigError(setting, raw, f"an object such as {{{example}}}")
    unknown = sorted(set(raw) - set(keys))
    if unknown:
        raise ConfigError(f"{setting}.{unknown[0]}", "<value hidden>", f"one of {list(keys)}")
    missing = [camel(field.name) for field in required if camel(field.name) not in raw]
    if missing:
        needed = ", ".join(camel(field.name) for field in required)
        raise ConfigError(f"{setting}.{missing[0]}", None, f"the keys {needed}")
    arguments: dict[str, Any] = {}
    environments: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        name, _, part = keys[key].partition(".")
        if part:
            environments.setdefault(name, {})[part] = value
        else:
            arguments[name] = _value(value, _hints(cls)[name], f"{setting}.{key}")
    for name, parts in environments.items():
        stem = camel(name.removesuffix(_ENV_SUFFIX))
        for part in _ENV_PARTS:
            if parts.get(part) is None:
                key = f"{setting}.{stem}{part.title()}"
                raise ConfigError(key, None, f"a value beside {setting}.{stem}{_other(part)}")
        arguments[name] = AccountRegion(**parts)
    return cls(**arguments)


def _other(part: str) -> str:
    """``Region`` for ``account``, ``Account`` for ``region``."""
    (other,) = [p for p in _ENV_PARTS if p != part]
    return other.title()


def _value(raw: object, hint: Any, setting: str) -> object:
    """A context value as the type ``hint`` wants it: ``false`` for an optional value is None,
    a string of digits for a number is that number, objects become dataclasses and lists are
    read element by element. Anything else is passed on as given, for validation to judge."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        kinds = [arg for arg in get_args(hint) if arg is not type(None)]
        if raw is None or raw is False:
            return None
        return _value(raw, kinds[0], setting) if len(kinds) == 1 else raw
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _dataclass_from(raw, hint, setting)
    if origin is Sequence and isinstance(raw, list):
        (item,) = get_args(hint)
        return [_value(value, item, f"{setting}[{index}]") for index, value in enumerate(raw)]
    if hint is int and isinstance(raw, str) and raw.isdigit():
        return int(raw)
    return raw


def options_from_context(
    lookup: Callable[[str], object], context_keys: Iterable[str] = ()
) -> AccessOptions:
    """Read the app's ``tower:*`` context keys into AccessOptions.

    ``context_keys`` are all keys present, so that a misspelt ``tower:`` key is reported
    instead of silently ignored. Keys left out (or null) keep the option's default.
    """
    known = option_keys()
    for key in context_keys:
        if key.startswith(CONTEXT_PREFIX) and key.removeprefix(CONTEXT_PREFIX) not in known:
            raise ConfigError(key, lookup(key), f"one of {[CONTEXT_PREFIX + k for k in known]}")
    given = {
        key: value for key in known if (value := _decoded(lookup(CONTEXT_PREFIX + key))) is not None
    }
    arguments: dict[str, Any] = {}
    for field in dataclasses.fields(AccessOptions):
        hint = _hints(AccessOptions)[field.name]
        if _holds_constructs(hint):
            continue
        required = field in _required(AccessOptions)
        if _is_environment(hint):
            stem = camel(field.name.removesuffix(_ENV_SUFFIX))
            parts: dict[str, Any] = {part: given.get(stem + part.title()) for part in _ENV_PARTS}
            for part, value in parts.items():
                if value is None:
                    key = CONTEXT_PREFIX + stem + part.title()
                    raise ConfigError(key, None, "a value in cdk.json or with -c")
            arguments[field.name] = AccountRegion(**parts)
            continue
        key = camel(field.name)
        if key in given:
            arguments[field.name] = _value(given[key], hint, CONTEXT_PREFIX + key)
        elif required:
            raise ConfigError(CONTEXT_PREFIX + key, None, "a value in cdk.json or with -c")
    return AccessOptions(**arguments)
