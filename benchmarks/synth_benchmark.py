#!/usr/bin/env python3
"""Synthesis cost at scale: each scenario in its own process, one table at the end.

Run with ``make benchmark`` (or ``.venv/bin/python benchmarks/synth_benchmark.py``). Each row
is a fresh Python process that builds the app (with cdk-nag's AwsSolutions pack, through the
construct's ``nag_packs``) and synthesizes it; the parent measures its wall time and samples
the memory of the process tree (Python and its jsii Node.js child) every 20 ms. Each row runs
``--repeat`` times (3 by default) and shows the median time, since a shared machine's load
moves single runs by a second or more. The floor is a bare CDK app with one bucket.

The organisation rows grant 1,000 buckets to one compute account and to the Forge roles of an
AWS organisation's unit holding 1, 100 or 500 member accounts. The members are no input of the
construct (the policies name the unit, and the StackSet reaches whatever accounts it holds),
so these rows show that nothing grows with them: the templates' digest is the same in each.

``--without-builtin-validation`` runs every row with ``CDK_VALIDATION=false``, which turns off
aws-cdk-lib's own CloudFormation template validation (on by default in every app): its engine
starts in about 2 s, then takes time in proportion to the templates' size, so the difference
between the two tables is what that validation costs, and the second shows what the construct
and cdk-nag cost alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCENARIOS: list[tuple[str, int, int]] = [
    ("floor", 1, 0),
    ("construct", 1, 1),
    ("construct", 10, 1),
    ("construct", 100, 1),
    ("construct", 300, 1),
    ("construct", 1000, 1),
    ("construct", 100, 5),
    ("construct", 100, 20),
    ("construct", 1000, 20),
    ("organisation", 1000, 1),
    ("organisation", 1000, 100),
    ("organisation", 1000, 500),
]
ORG_ID = "o-a1b2c3d4e5"
UNIT = f"{ORG_ID}/r-ab12/ou-ab12-11111111/"


def run_scenario(kind: str, buckets: int, accounts: int, outdir: str) -> dict[str, Any]:
    """Build and synthesize one scenario in this process; return what the table needs."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3

    from constructs_lib import (
        BucketGrant,
        ComputeAccount,
        CrossAccountBucketAccess,
        OrganizationGrant,
    )
    from constructs_lib.policies import compact_size

    app = cdk.App(outdir=outdir)
    if kind == "floor":
        s3.Bucket(cdk.Stack(app, "Floor"), "Bucket")
        app.synth()
        return {"bucket_policy": 0, "managed_policy": 0, "policies_per_principal": 0, "stacks": 1}
    env = cdk.Environment(account="111111111111", region="eu-west-1")
    access = CrossAccountBucketAccess(
        app,
        "Bench",
        compute_env=env,
        storage_env=cdk.Environment(account="222222222222", region="eu-west-1"),
        buckets=[BucketGrant(f"bench-bucket-{n:04d}") for n in range(buckets)],
        compute_accounts=[
            ComputeAccount(account=f"{300000000000 + n:012d}", region="eu-west-1")
            for n in range(1, accounts if kind == "construct" else 1)
        ],
        max_managed_policies=20,
        nag_packs=["AwsSolutions"],
        organization=(
            OrganizationGrant(org_id=ORG_ID, ou_paths=(UNIT,)) if kind == "organisation" else None
        ),
    )
    assembly = app.synth()
    templates = [stack.template for stack in assembly.stacks]
    templates += [json.loads(p.read_text()) for p in Path(outdir).glob("*.stackset.template.json")]
    largest: dict[str, int] = {"AWS::S3::BucketPolicy": 0, "AWS::IAM::ManagedPolicy": 0}
    for template in templates:
        for resource in template["Resources"].values():
            if resource["Type"] in largest:
                size = compact_size(resource["Properties"]["PolicyDocument"])
                largest[resource["Type"]] = max(largest[resource["Type"]], size)
    most_resources = max(len(stack.template["Resources"]) for stack in assembly.stacks)
    digest = hashlib.sha256(json.dumps(templates, sort_keys=True).encode()).hexdigest()
    return {
        "bucket_policy": largest["AWS::S3::BucketPolicy"],
        "managed_policy": largest["AWS::IAM::ManagedPolicy"],
        "policies_per_principal": max(len(s.s3_write_policies) for s in access.compute_stacks),
        "stacks": len(assembly.stacks),
        "most_resources": most_resources,
        "digest": digest[:12],
    }


def _tree_rss_kib(root: int) -> int:
    """Resident memory of ``root`` and all its descendants, from /proc."""
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        total += next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")),
            0,
        )
        pending += [int(child) for child in children]
    return total


def measure(
    kind: str, buckets: int, accounts: int, repeat: int, env: dict[str, str]
) -> dict[str, Any]:
    """Run one scenario ``repeat`` times; the median wall time, the highest peak memory."""
    runs = [measure_once(kind, buckets, accounts, env) for _ in range(repeat)]
    runs.sort(key=lambda run: float(run["seconds"]))
    median = runs[len(runs) // 2]
    return {**median, "peak_mib": max(run["peak_mib"] for run in runs)}


def measure_once(kind: str, buckets: int, accounts: int, env: dict[str, str]) -> dict[str, Any]:
    """Run one scenario in a child process with ``env``; its wall time, peak memory, figures."""
    with tempfile.TemporaryDirectory() as outdir:
        command = [
            sys.executable,
            __file__,
            "--scenario",
            kind,
            str(buckets),
            str(accounts),
            outdir,
        ]
        start = time.perf_counter()
        child = subprocess.Popen(
            command, stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT, env=env
        )
        peak = 0
        while child.poll() is None:
            peak = max(peak, _tree_rss_kib(child.pid))
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        output = child.stdout.read() if child.stdout else ""
        if child.returncode != 0:
            raise SystemExit(f"scenario {kind} {buckets}x{accounts} failed")
        figures: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return {"seconds": elapsed, "peak_mib": peak / 1024, **figures}


def _accounts(kind: str, accounts: int) -> str:
    """The accounts column: compute accounts, or for an organisation row the compute account
    and the member accounts its unit holds."""
    if kind == "organisation":
        return f"1 + {accounts} in the unit"
    return str(accounts or "-")


def main() -> None:
    """Run every scenario, or one (``--scenario``, used by the parent), and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", nargs=4, metavar=("KIND", "BUCKETS", "ACCOUNTS", "OUT"))
    parser.add_argument("--repeat", type=int, default=3, help="runs per row (median is shown)")
    parser.add_argument(
        "--only",
        choices=sorted({kind for kind, _, _ in SCENARIOS} - {"floor"}),
        help="the rows of one kind only (with the floor and one bucket, which the ratios need)",
    )
    parser.add_argument(
        "--without-builtin-validation",
        action="store_true",
        help="turn off aws-cdk-lib's CloudFormation template validation (CDK_VALIDATION=false)",
    )
    arguments = parser.parse_args()
    env = dict(os.environ)
    if arguments.without_builtin_validation:
        env["CDK_VALIDATION"] = "false"
    if arguments.scenario:
        kind, buckets, accounts, outdir = arguments.scenario
        print(json.dumps(run_scenario(kind, int(buckets), int(accounts), outdir)))
        return
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}; median of "
        f"{arguments.repeat} runs per row; aws-cdk-lib's template validation "
        f"{'off' if arguments.without_builtin_validation else 'on (the default)'}"
    )
    header = (
        "| app | buckets | accounts | wall s | x floor | x 1 bucket | peak MiB | "
        "largest bucket policy (B) | largest managed policy (chars) | policies per principal | "
        "stacks | most resources in a stack | templates' digest |"
    )
    print(header)
    print("|---" * 13 + "|")
    floor = one_bucket = 0.0
    rows = [
        (kind, buckets, accounts)
        for kind, buckets, accounts in SCENARIOS
        if arguments.only in (None, kind) or (kind, buckets) in (("floor", 1), ("construct", 1))
    ]
    for kind, buckets, accounts in rows:
        row = measure(kind, buckets, accounts, arguments.repeat, env)
        floor = floor or row["seconds"]
        if kind == "construct" and not one_bucket:
            one_bucket = row["seconds"]
        versus_one = f"{row['seconds'] / one_bucket:.2f}" if one_bucket else "-"
        print(
            f"| {kind} | {buckets} | {_accounts(kind, accounts)} | {row['seconds']:.1f} | "
            f"{row['seconds'] / floor:.2f} | {versus_one} | {row['peak_mib']:.0f} | "
            f"{row['bucket_policy']} | "
            f"{row['managed_policy']} | {row['policies_per_principal']} | {row['stacks']} | "
            f"{row.get('most_resources', '-')} | {row.get('digest', '-')} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
