"""``cdk-tower-doctor``: say what blocks access on a live setup, and whether it drifted from
the plan.

It reads the live storage and compute accounts (and Seqera Platform), compares them with the
documents ``constructs_lib.plan`` computes for the same settings, and reports each check with
its result, why and how to fix it. Read-only, and pure of CDK: boto3 reads the accounts, and
Platform is read with the custom resource's own client.
"""
