#!/usr/bin/env python3
"""Example: a CDK Pipelines pipeline in a tools account deploys both accounts' stacks.

Bootstrap accounts A and B with ``cdk bootstrap --trust <tools account>`` first (see the
README's deployment guide). Synthesize with ``cdk synth --app "python examples/pipeline_app.py"``.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import pipelines

from constructs_lib import AccessOptions, BucketGrant, CrossAccountBucketAccessStage

TOOLS_ENV = cdk.Environment(account="444444444444", region="eu-west-1")
COMPUTE_ENV = cdk.Environment(account="111111111111", region="eu-west-1")
STORAGE_ENV = cdk.Environment(account="222222222222", region="eu-west-1")
REPOSITORY = "example-org/tower-cross-account-infra"
CONNECTION_ARN = (
    "arn:aws:codeconnections:eu-west-1:444444444444:connection/00000000-0000-0000-0000-000000000000"
)


def build_pipeline_app(outdir: str | None = None) -> cdk.App:
    """The pipeline stack in the tools account, with one stage for accounts A and B."""
    app = cdk.App(outdir=outdir)
    pipeline_stack = cdk.Stack(app, "TowerCrossAccountPipeline", env=TOOLS_ENV)
    pipeline = pipelines.CodePipeline(
        pipeline_stack,
        "Pipeline",
        cross_account_keys=True,
        enable_key_rotation=True,
        synth=pipelines.ShellStep(
            "Synth",
            input=pipelines.CodePipelineSource.connection(
                REPOSITORY, "main", connection_arn=CONNECTION_ARN
            ),
            commands=[
                "python -m pip install -c constraints.txt .",
                "npm ci",
                'npx cdk synth --app "python examples/pipeline_app.py"',
            ],
        ),
    )
    stage = CrossAccountBucketAccessStage(
        app,
        "Production",
        AccessOptions(
            compute_env=COMPUTE_ENV,
            storage_env=STORAGE_ENV,
            buckets=[
                BucketGrant("genomics-data-b"),
                BucketGrant("reference-genomes-b", read_only=True),
            ],
            work_bucket="tower-work-a",
        ),
    )
    pipeline.add_stage(stage)
    return app


if __name__ == "__main__":
    build_pipeline_app().synth()
