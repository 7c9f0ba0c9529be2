#!/usr/bin/env python3
"""The CDK app: reads the ``tower:*`` settings from cdk.json context; the construct checks its
stacks with the rule packs of ``tower:nagPacks`` (cdk-nag and the AWS Control Tower controls).

Override any setting on the command line, for example
``cdk synth -c tower:storageAccount=333333333333``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import cast

import aws_cdk as cdk

from constructs_lib import ConfigError, CrossAccountBucketAccess
from constructs_lib.context import in_context_terms, options_from_context
from constructs_lib.defaults import DEFAULT_CONSTRUCT_ID
from constructs_lib.report import write_access_report

CONSTRUCT_ID = DEFAULT_CONSTRUCT_ID


def build_app(context: Mapping[str, object] | None = None, outdir: str | None = None) -> cdk.App:
    """Build the app from context (cdk.json and -c values when run by the CDK CLI).

    A bad setting raises ConfigError naming the ``tower:`` key, as the user typed it.
    """
    app = cdk.App(context=dict(context) if context is not None else None, outdir=outdir)
    options = options_from_context(app.node.try_get_context, app.node.get_all_context())
    try:
        CrossAccountBucketAccess.from_options(app, CONSTRUCT_ID, options)
    except ConfigError as error:
        raise in_context_terms(error) from None
    return app


def main() -> int:
    """Synthesize, then write the access report beside the templates.

    A settings error becomes one clear line instead of a stack trace.
    """
    try:
        app = build_app()
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 1
    assembly = app.synth()
    access = cast(CrossAccountBucketAccess, app.node.find_child(CONSTRUCT_ID))
    write_access_report(access.plan, assembly.directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
