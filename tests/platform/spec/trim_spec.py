"""Trim the Seqera Platform OpenAPI spec to the operations the Platform tests use.

Usage::

    python tests/platform/spec/trim_spec.py FULL_SPEC.yml [-o OUT]

OUT defaults to ``seqera-api.trimmed.yml`` beside this script. The result keeps:

- the operations in ``OPERATIONS`` (those the Lambda handlers call and the emulator serves:
  compute environments, data links and credentials), with every
  component they reference, followed transitively through ``$ref`` and discriminator
  mappings;
- ``openapi``, ``info.title``, ``info.version``, ``info.license``, ``servers`` and
  ``security``.

It removes the documentation: ``description``, ``summary``, ``example``, ``examples``,
``externalDocs``, ``tags``, ``x-*`` extensions, and ``info.description``, ``contact`` and
``termsOfService``. These are removed as keywords only: a property or schema that is
*named* ``description`` stays. A Response Object must have a description (OpenAPI 3.0), so
each response keeps an empty one. Everything else is copied unchanged, in the original
order, so the same input always gives the same bytes.

The walk knows the OpenAPI 3.0 object model and stops with an error on a field it does not
know, rather than copying something it has not looked through for references.
"""

import argparse
import hashlib
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "seqera-api.trimmed.yml"

OPERATIONS: tuple[tuple[str, str], ...] = (
    # Compute environments: constructs_lib/seqera/asset/client.py, served by the emulator.
    ("GET", "/compute-envs"),
    ("POST", "/compute-envs"),
    ("GET", "/compute-envs/validate"),
    ("GET", "/compute-envs/{computeEnvId}"),
    ("PUT", "/compute-envs/{computeEnvId}"),
    ("DELETE", "/compute-envs/{computeEnvId}"),
    # Data links: the same client and emulator.
    ("GET", "/data-links"),
    ("POST", "/data-links"),
    ("DELETE", "/data-links/{dataLinkId}"),
    # Credentials: the Custom::SeqeraCredentials handler's.
    ("GET", "/credentials"),
    ("POST", "/credentials"),
    ("GET", "/credentials/{credentialsId}"),
    ("DELETE", "/credentials/{credentialsId}"),
)
"""The (method, path) pairs that are kept; every one must exist in the full spec."""

DOCUMENTATION = frozenset({"description", "summary", "example", "examples", "externalDocs"})
"""Documentation keywords removed from every object (``tags`` and ``x-*`` are removed too)."""

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# How each field of each OpenAPI 3.0 object is treated: "keep" copies the value as it is (it
# holds no references), "drop" leaves it out, "ref" records a $ref, and any other value names
# the kind of object the field holds: "<kind>", "list:<kind>" or "map:<kind>" (a map from
# names, which are kept whatever they are, to objects of that kind).
Fields = dict[str, str]
_PARAMETER_LIKE: Fields = {
    "$ref": "ref",
    "required": "keep",
    "deprecated": "keep",
    "allowEmptyValue": "keep",
    "style": "keep",
    "explode": "keep",
    "allowReserved": "keep",
    "schema": "schema",
    "content": "map:mediaType",
}
KINDS: dict[str, Fields] = {
    "root": {
        "openapi": "keep",
        "info": "info",
        "servers": "keep",
        "paths": "paths",
        "security": "list:securityRequirement",
        "components": "drop",  # rebuilt from the references found
        "tags": "drop",
    },
    "info": {
        "title": "keep",
        "version": "keep",
        "license": "keep",
        "contact": "drop",
        "termsOfService": "drop",
    },
    "pathItem": {
        "$ref": "ref",
        "servers": "keep",
        "parameters": "list:parameter",
        **dict.fromkeys(METHODS, "operation"),
    },
    "operation": {
        "operationId": "keep",
        "parameters": "list:parameter",
        "requestBody": "requestBody",
        "responses": "map:response",
        "deprecated": "keep",
        "security": "list:securityRequirement",
        "servers": "keep",
        "tags": "drop",
    },
    "parameter": {"name": "keep", "in": "keep", **_PARAMETER_LIKE},
    "header": _PARAMETER_LIKE,
    "requestBody": {"$ref": "ref", "content": "map:mediaType", "required": "keep"},
    "mediaType": {"schema": "schema", "encoding": "map:encoding"},
    "encoding": {
        "contentType": "keep",
        "headers": "map:header",
        "style": "keep",
        "explode": "keep",
        "allowReserved": "keep",
    },
    "response": {"$ref": "ref", "headers": "map:header", "content": "map:mediaType"},
    "securityScheme": {
        "$ref": "ref",
        "type": "keep",
        "name": "keep",
        "in": "keep",
        "scheme": "keep",
        "bearerFormat": "keep",
        "flows": "keep",
        "openIdConnectUrl": "keep",
    },
    "schema": {
        "$ref": "ref",
        **dict.fromkeys(
            (
                "title",
                "multipleOf",
                "maximum",
                "exclusiveMaximum",
                "minimum",
                "exclusiveMinimum",
                "maxLength",
                "minLength",
                "pattern",
                "maxItems",
                "minItems",
                "uniqueItems",
                "maxProperties",
                "minProperties",
                "required",
                "enum",
                "type",
                "format",
                "default",
                "nullable",
                "readOnly",
                "writeOnly",
                "deprecated",
                "xml",
            ),
            "keep",
        ),
        "allOf": "list:schema",
        "oneOf": "list:schema",
        "anyOf": "list:schema",
        "not": "schema",
        "items": "schema",
        "properties": "map:schema",
        "additionalProperties": "schema",  # or a boolean, kept as it is
        "discriminator": "discriminator",
    },
}

COMPONENTS = {
    "schemas": "schema",
    "parameters": "parameter",
    "headers": "header",
    "requestBodies": "requestBody",
    "responses": "response",
    "securitySchemes": "securityScheme",
}
"""The component sections a reference may point into, and the kind of object each holds."""


class TrimError(Exception):
    """The full spec has something this script does not handle, or lacks an operation."""


class Trimmer:
    """Walks parts of the full spec, returning them without documentation and recording
    every component they reference in ``refs`` as (section, name)."""

    def __init__(self, operations: Iterable[tuple[str, str]]) -> None:
        self.operations = {(method.lower(), path) for method, path in operations}
        self.refs: set[tuple[str, str]] = set()
        self._special: dict[str, Callable[[Any, str], Any]] = {
            "paths": self._paths,
            "securityRequirement": self._security_requirement,
            "discriminator": self._discriminator,
        }

    def walk(self, node: Any, kind: str, where: str) -> Any:
        """``node``, an object of ``kind`` at JSON path ``where``, trimmed."""
        if kind.startswith("list:"):
            return [self.walk(item, kind[5:], f"{where}/{i}") for i, item in enumerate(node)]
        if kind.startswith("map:"):
            return {
                name: self.walk(item, kind[4:], f"{where}/{name}") for name, item in node.items()
            }
        if kind in self._special:
            return self._special[kind](node, where)
        if kind == "schema" and isinstance(node, bool):
            return node  # additionalProperties: true/false
        if not isinstance(node, dict):
            raise TrimError(f"{where}: expected an object, found {node!r}")
        fields = KINDS[kind]
        trimmed: dict[str, Any] = {}
        for key, value in node.items():
            if key in DOCUMENTATION or key.startswith("x-"):
                continue
            action = fields.get(key)
            if action is None:
                raise TrimError(f"{where}: unexpected field {key!r} in a {kind} object")
            if action == "drop":
                continue
            if action == "keep":
                trimmed[key] = value
            elif action == "ref":
                trimmed[key] = self._ref(value, where)
            else:
                trimmed[key] = self.walk(value, action, f"{where}/{key}")
        if kind == "response" and "$ref" not in node:
            # OpenAPI 3.0 requires a response description; it stays, empty.
            trimmed = {"description": "", **trimmed}
        return trimmed

    def _ref(self, ref: Any, where: str) -> str:
        """Record a reference; only local references into ``COMPONENTS`` are handled."""
        parts = ref.split("/") if isinstance(ref, str) else []
        if len(parts) != 4 or parts[:2] != ["#", "components"] or parts[2] not in COMPONENTS:
            raise TrimError(f"{where}: unsupported $ref {ref!r}")
        name = parts[3].replace("~1", "/").replace("~0", "~")
        self.refs.add((parts[2], name))
        return str(ref)

    def _paths(self, paths: Mapping[str, Any], where: str) -> dict[str, Any]:
        """The path items of the wanted operations, with only those operations."""
        wanted = self.operations
        missing = sorted(
            f"{method.upper()} {path}"
            for method, path in wanted
            if not isinstance(paths.get(path), dict) or method not in paths[path]
        )
        if missing:
            raise TrimError(f"the full spec lacks {', '.join(missing)}")
        kept: dict[str, Any] = {}
        for path, item in paths.items():
            if path in {wanted_path for _, wanted_path in wanted}:
                selected = {
                    key: value
                    for key, value in item.items()
                    if key not in METHODS or (key, path) in wanted
                }
                kept[path] = self.walk(selected, "pathItem", f"{where}/{path}")
        return kept

    def _security_requirement(self, requirement: Mapping[str, Any], where: str) -> Any:
        for name in requirement:
            self.refs.add(("securitySchemes", name))
        return requirement

    def _discriminator(self, discriminator: Mapping[str, Any], where: str) -> Any:
        """A discriminator, kept as it is; its mapping's targets are references (a bare
        name means a schema of that name)."""
        for key in discriminator:
            if key not in ("propertyName", "mapping") and not key.startswith("x-"):
                raise TrimError(f"{where}: unexpected field {key!r} in a discriminator")
        for value, target in discriminator.get("mapping", {}).items():
            if isinstance(target, str) and "/" not in target:
                target = f"#/components/schemas/{target}"
            self._ref(target, f"{where}/mapping/{value}")
        return {key: value for key, value in discriminator.items() if not key.startswith("x-")}


def trim(
    spec: Mapping[str, Any], operations: Iterable[tuple[str, str]] = OPERATIONS
) -> dict[str, Any]:
    """The trimmed spec: ``operations`` and every component they need."""
    trimmer = Trimmer(operations)
    trimmed: dict[str, Any] = trimmer.walk(spec, "root", "#")
    available: Mapping[str, Any] = spec.get("components", {})
    found: dict[tuple[str, str], Any] = {}
    while pending := sorted(trimmer.refs - found.keys()):
        for section, name in pending:
            try:
                source = available[section][name]
            except KeyError:
                raise TrimError(f"#/components/{section}/{name} is referenced but absent") from None
            found[section, name] = trimmer.walk(
                source, COMPONENTS[section], f"#/components/{section}/{name}"
            )
    components: dict[str, Any] = {}
    for section, entries in available.items():
        kept = {name: found[section, name] for name in entries if (section, name) in found}
        if kept:
            components[section] = kept
    if components:
        trimmed["components"] = components
    return trimmed


def render(full_text: bytes, operations: Iterable[tuple[str, str]] = OPERATIONS) -> str:
    """The trimmed spec as YAML text, with a header saying what it is."""
    spec = yaml.safe_load(full_text)
    trimmed = trim(spec, operations)
    info = spec.get("info", {})
    header = (
        "# Generated by tests/platform/spec/trim_spec.py; do not edit by hand.\n"
        f"# Trimmed from {info.get('title')} {info.get('version')}; source and licence in NOTICE.\n"
        f"# sha256 of the full spec: {hashlib.sha256(full_text).hexdigest()}\n"
        "# Regenerate: python tests/platform/spec/trim_spec.py FULL_SPEC.yml\n"
    )
    body: str = yaml.safe_dump(
        trimmed, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )
    return header + body


def main(argv: list[str] | None = None) -> int:
    """Command line: trim FULL_SPEC into OUT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("full_spec", type=Path, help="the full Seqera OpenAPI spec (YAML)")
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output file (default: {DEFAULT_OUT.name} beside this script)",
    )
    args = parser.parse_args(argv)
    try:
        text = render(args.full_spec.read_bytes())
    except TrimError as error:
        print(f"trim_spec: {error}", file=sys.stderr)
        return 1
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text.encode())} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
