"""The apps the access tests synthesize: the example of cdk.json, and a maximal one.

Both are built the way ``cdk synth`` builds them, by ``app.build_app`` from context. The
settings are also read from the context alone (no CDK), so that tests can be parametrized with
one test per matrix cell before anything is synthesized.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import CONSTRUCT_ID, build_app
from constructs_lib import BucketGrant, CrossAccountBucketAccess
from constructs_lib.config import AccessSettings, validate_settings
from constructs_lib.context import settings_from_context
from tests.conftest import EXISTING_KEY_ARN, HEAD_JOB_ROLE_ARN, example_context

# Every kind of grant once: existing and created buckets, existing and created keys, nested
# prefixes, read-only with and without prefixes.
MAXIMAL_GRANTS = (
    BucketGrant("whole-bucket-b", kms_key_arn=EXISTING_KEY_ARN),
    BucketGrant(
        "prefixed-bucket-b", prefixes=("runs/2024", "shared/refs"), create=True, create_kms_key=True
    ),
    BucketGrant(
        "read-only-bucket-b", prefixes=("references",), read_only=True, kms_key_arn=EXISTING_KEY_ARN
    ),
    BucketGrant("created-read-only-bucket-b", read_only=True, create=True, create_kms_key=True),
)


def grant_context(grant: BucketGrant) -> dict[str, Any]:
    """A bucket grant as a ``tower:buckets`` entry of cdk.json."""
    return {
        "name": grant.name,
        "prefixes": list(grant.prefixes),
        "readOnly": grant.read_only,
        "create": grant.create,
        "kmsKeyArn": grant.kms_key_arn,
        "createKmsKey": grant.create_kms_key,
    }


def maximal_context() -> dict[str, Any]:
    """cdk.json's context with every access option in use: the grants above, a named role,
    the work bucket and an existing log bucket (the example creates one)."""
    return {
        **example_context(),
        "tower:buckets": [grant_context(grant) for grant in MAXIMAL_GRANTS],
        "tower:forgeRoleArns": [HEAD_JOB_ROLE_ARN],
        "tower:accessLogsBucket": "central-access-logs-b",
        "tower:platform": False,
    }


@dataclass(frozen=True)
class Config:
    """A named app context and the access settings app.py makes of it."""

    name: str
    context: Mapping[str, Any]

    @property
    def settings(self) -> AccessSettings:
        arguments = settings_from_context(self.context.get, self.context)
        accepted = inspect.signature(validate_settings).parameters
        return validate_settings(**{k: v for k, v in arguments.items() if k in accepted})

    def synthesize(self, outdir: Path) -> AccessSettings:
        """Synthesize the app into ``outdir``; return the settings its construct used."""
        app = build_app(self.context, str(outdir))
        app.synth()
        construct = app.node.find_child(CONSTRUCT_ID)
        assert isinstance(construct, CrossAccountBucketAccess)
        return construct.settings


EXAMPLE = Config("example", example_context())
MAXIMAL = Config("maximal", maximal_context())
CONFIGS = (EXAMPLE, MAXIMAL)
