"""The vendored, trimmed Seqera OpenAPI spec and the script that makes it.

The full spec is not in the repository, so the trimmer is tried on a small hand-written
spec; the vendored file is checked for what the trimmer promises and for loading cleanly.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_core import OpenAPI
from spec import trim_spec

VENDORED = trim_spec.DEFAULT_OUT

MINI_SPEC = """\
openapi: 3.0.1
info:
  title: Mini API
  version: 9.9.9
  description: A long story about the API.
  contact: {email: api@example.org}
  termsOfService: https://example.org/terms
  license: {name: Apache 2.0}
tags:
  - {name: things, description: Things}
externalDocs: {url: https://example.org/docs}
x-logo: logo.png
security:
  - BearerAuth: []
paths:
  /things:
    summary: All the things
    get:
      operationId: ListThings
      summary: List things
      description: Lists the things.
      tags: [things]
      x-internal: true
      parameters:
        - $ref: '#/components/parameters/Max'
      responses:
        '200':
          description: OK
          content:
            application/json:
              schema: {$ref: '#/components/schemas/ListThingsResponse'}
              example: {things: []}
    post:
      operationId: CreateThing
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/CreateThingRequest'}
      responses:
        '200': {description: OK}
  /others:
    get:
      operationId: ListOthers
      responses:
        '200':
          description: OK
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Other'}
components:
  parameters:
    Max: {name: max, in: query, description: Page size, schema: {type: integer}}
    Offset: {name: offset, in: query, schema: {type: integer}}
  schemas:
    Other: {type: object, properties: {id: {type: string}}}
    ListThingsResponse:
      type: object
      description: One page of things.
      properties:
        things:
          type: array
          items: {$ref: '#/components/schemas/Thing'}
    Thing:
      type: object
      title: A thing
      example: {description: a box}
      properties:
        description: {type: string, maxLength: 2000, description: What it is for, example: a box}
        summary: {$ref: '#/components/schemas/summary'}
        shape: {$ref: '#/components/schemas/Shape'}
    summary: {type: string, description: A schema named summary}
    Shape:
      oneOf:
        - {$ref: '#/components/schemas/Circle'}
        - {$ref: '#/components/schemas/Square'}
      discriminator:
        propertyName: kind
        mapping:
          circle: '#/components/schemas/Circle'
          square: Square
          triangle: '#/components/schemas/Triangle'
    Circle:
      type: object
      x-type: Circle
      properties: {kind: {type: string}, radius: {type: number}}
    Square:
      type: object
      properties: {kind: {type: string}, side: {type: number}}
    Triangle:
      type: object
      properties: {kind: {type: string}, base: {type: number}}
    CreateThingRequest: {type: object, properties: {name: {type: string}}}
  securitySchemes:
    BearerAuth: {type: http, scheme: bearer, description: A bearer token}
    ApiKey: {type: apiKey, name: key, in: header}
"""

DOCUMENTATION = {"description", "summary", "example", "examples", "externalDocs", "tags"}


def documentation_keywords(node: Any, where: str = "#") -> Iterator[str]:
    """Where ``node`` still has a documentation keyword or an x-* extension. Names in a
    ``properties`` map, or in a components section, are names, not keywords. The one
    allowed is a response's empty description, which OpenAPI requires."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from documentation_keywords(item, f"{where}/{index}")
    if not isinstance(node, dict):
        return
    names = where.endswith("/properties") or (where.count("/") == 2 and "/components/" in where)
    in_response = where.rsplit("/", 2)[-2:-1] == ["responses"]
    for key, value in node.items():
        keyword = not names and (key in DOCUMENTATION or key.startswith("x-"))
        if keyword and not (key == "description" and value == "" and in_response):
            yield f"{where}/{key}"
        yield from documentation_keywords(value, f"{where}/{key}")


def refs_in(node: Any) -> Iterator[str]:
    """Every $ref string in ``node``, and every discriminator mapping target."""
    if isinstance(node, list):
        for item in node:
            yield from refs_in(item)
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            elif key == "discriminator" and isinstance(value, dict) and "propertyName" in value:
                yield from (str(target) for target in value.get("mapping", {}).values())
            else:
                yield from refs_in(value)


def resolve(spec: Any, ref: str) -> Any:
    """The object a local ``$ref`` (or a bare schema name) points at; KeyError if none."""
    if "/" not in ref:
        ref = f"#/components/schemas/{ref}"
    assert ref.startswith("#/"), ref
    node = spec
    for step in ref[2:].split("/"):
        node = node[step.replace("~1", "/").replace("~0", "~")]
    return node


@pytest.fixture(scope="module")
def vendored() -> Any:
    return yaml.safe_load(VENDORED.read_text(encoding="utf-8"))


@pytest.fixture
def trimmed() -> Any:
    full = MINI_SPEC.encode("utf-8")
    text = trim_spec.render(full, operations=[("GET", "/things")])
    assert text == trim_spec.render(full, operations=[("GET", "/things")])
    return yaml.safe_load(text)


def test_the_trimmer_keeps_the_operations_and_what_they_reference(trimmed: Any) -> None:
    assert {path: list(item) for path, item in trimmed["paths"].items()} == {"/things": ["get"]}
    components = {section: list(names) for section, names in trimmed["components"].items()}
    assert components == {
        "parameters": ["Max"],
        "schemas": [
            "ListThingsResponse",
            "Thing",
            "summary",
            "Shape",
            "Circle",
            "Square",
            "Triangle",  # reached through the discriminator mapping only
        ],
        "securitySchemes": ["BearerAuth"],
    }
    assert all(resolve(trimmed, ref) is not None for ref in refs_in(trimmed))


def test_the_trimmer_strips_documentation_but_not_fields_named_like_it(trimmed: Any) -> None:
    assert list(documentation_keywords(trimmed)) == []
    assert trimmed["info"] == {
        "title": "Mini API",
        "version": "9.9.9",
        "license": {"name": "Apache 2.0"},
    }
    assert list(trimmed) == ["openapi", "info", "security", "paths", "components"]
    thing = trimmed["components"]["schemas"]["Thing"]
    assert thing["properties"]["description"] == {"type": "string", "maxLength": 2000}
    assert thing["properties"]["summary"] == {"$ref": "#/components/schemas/summary"}
    assert thing["title"] == "A thing" and "example" not in thing
    assert trimmed["components"]["schemas"]["summary"] == {"type": "string"}
    assert trimmed["paths"]["/things"]["get"]["responses"]["200"]["description"] == ""


def test_the_trimmer_refuses_a_spec_that_lacks_a_listed_operation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    full, out = tmp_path / "mini.yml", tmp_path / "out.yml"
    full.write_text(MINI_SPEC, encoding="utf-8")

    assert trim_spec.main([str(full), "-o", str(out)]) == 1

    assert "lacks DELETE /compute-envs/{computeEnvId}" in capsys.readouterr().err
    assert not out.exists()


def test_the_vendored_spec_has_the_listed_operations_and_no_documentation(
    vendored: Any,
) -> None:
    present = {
        (method.upper(), path) for path, item in vendored["paths"].items() for method in item
    }
    assert present == set(trim_spec.OPERATIONS)
    assert list(documentation_keywords(vendored)) == []
    assert VENDORED.read_text(encoding="utf-8").startswith("# Generated by")


def test_the_vendored_spec_loads_and_every_ref_resolves(vendored: Any) -> None:
    OpenAPI.from_file_path(str(VENDORED))  # validates it as an OpenAPI 3.0 document

    refs = set(refs_in(vendored))
    assert "#/components/schemas/ComputeConfig" in refs
    assert all(resolve(vendored, ref) is not None for ref in refs)
