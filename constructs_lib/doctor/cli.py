"""``cdk-tower-doctor``: what blocks access on a live setup, and whether it drifted from the
plan.

It reads the settings as the app does (the ``tower:*`` keys of cdk.json in the current folder,
``-c key=value`` overrides, errors named by the key typed), computes the plan the construct
would deploy, and compares each account and Platform with it. Every call is a read. Exit
codes: 0 all good, 1 a fault (something blocks or widens access, or drifted from the plan),
2 could not check (and no fault found).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError

from constructs_lib.context import in_context_terms, options_from_context
from constructs_lib.defaults import DEFAULT_CONSTRUCT_ID
from constructs_lib.doctor.aws import AccountAccess
from constructs_lib.doctor.findings import EXIT_NOT_CHECKED, exit_code
from constructs_lib.doctor.platform import api_url_problem
from constructs_lib.doctor.render import render_json, render_text
from constructs_lib.doctor.run import PlatformAccess, Setup, diagnose
from constructs_lib.errors import ConfigError
from constructs_lib.plan import AccessPlan, plan_access

PROGRAM = "cdk-tower-doctor"
CDK_JSON = "cdk.json"
TERMINAL_FALLBACK = (120, 24)


class UsageError(Exception):
    """The command line or the settings cannot be used; the message says why, in one line."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the doctor; the exit code."""
    args = _parser().parse_args(argv)
    try:
        plan = _plan(args)
        setup = _setup(args, plan)
    except UsageError as error:
        print(f"{PROGRAM}: could not check: {error}", file=sys.stderr)
        return EXIT_NOT_CHECKED
    findings = diagnose(setup)
    settings = plan.settings
    title = (
        f"{PROGRAM}: {args.construct_id}, storage account {settings.storage_account} "
        f"({settings.storage_region}), compute account(s) "
        + ", ".join(f"{c.account} ({c.region})" for c in settings.computes)
    )
    if args.json:
        print(render_json(title, findings))
    else:
        print(render_text(title, findings, shutil.get_terminal_size(TERMINAL_FALLBACK).columns))
    return exit_code(findings)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description=(
            "Read the live accounts (and Seqera Platform) of a cross-account setup, compare "
            "them with what the construct would deploy, and say what blocks which access. "
            "Read-only. Exit 0: all good; 1: a fault; 2: could not check."
        ),
    )
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting of cdk.json, as `cdk synth -c` does (tower:storageAccount=...)",
    )
    parser.add_argument(
        "--compute-profile",
        action="append",
        default=[],
        metavar="[ACCOUNT=]PROFILE",
        help="the AWS profile of a compute account (bare: the first one); default credentials "
        "when left out",
    )
    parser.add_argument(
        "--storage-profile",
        metavar="PROFILE",
        help="the AWS profile of the storage account; default credentials when left out",
    )
    parser.add_argument(
        "--token-secret",
        metavar="NAME",
        help="the Secrets Manager secret (in the first compute account) holding the Platform "
        "access token; default: tower:platform's tokenSecret",
    )
    parser.add_argument("--skip-platform", action="store_true", help="do not check Platform")
    parser.add_argument(
        "--api-url", metavar="URL", help="Platform's API; default: tower:platform's apiUrl"
    )
    parser.add_argument(
        "--construct-id",
        default=DEFAULT_CONSTRUCT_ID,
        help="the construct's id in the app, which names its stacks "
        f"(default {DEFAULT_CONSTRUCT_ID})",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _plan(args: argparse.Namespace) -> AccessPlan:
    """The plan from cdk.json's context and the -c overrides, as the app reads them."""
    context = _context(Path.cwd() / CDK_JSON, args.context)
    try:
        options = options_from_context(context.get, context.keys())
        return plan_access(options, args.construct_id)
    except ConfigError as error:
        raise UsageError(f"Configuration error: {in_context_terms(error)}") from None


def _context(cdk_json: Path, overrides: Sequence[str]) -> dict[str, object]:
    context: dict[str, object] = {}
    if cdk_json.is_file():
        try:
            context.update(json.loads(cdk_json.read_text()).get("context", {}))
        except (ValueError, AttributeError) as error:
            raise UsageError(f"{cdk_json} is not a JSON object with a context: {error}") from None
    elif not overrides:
        raise UsageError(
            f"no {CDK_JSON} in {cdk_json.parent}: run in the app's folder, or give the tower: "
            "settings with -c"
        )
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep:
            raise UsageError(f"-c takes KEY=VALUE, got {override!r}")
        context[key] = value
    return context


def _setup(args: argparse.Namespace, plan: AccessPlan) -> Setup:
    """Clients for every account, from the profiles given; a one-line error for a profile
    that is not configured."""
    settings = plan.settings
    accounts = [compute.account for compute in settings.computes]
    profiles = _compute_profiles(args.compute_profile, accounts)
    storage = _open(
        f"storage account {settings.storage_account}",
        settings.storage_account,
        settings.storage_region,
        args.storage_profile,
        "--storage-profile",
    )
    computes = {
        compute.account: _open(
            f"compute account {compute.account}",
            compute.account,
            compute.region,
            profiles.get(compute.account),
            "--compute-profile",
        )
        for compute in settings.computes
    }
    platform = None
    if plan.platform is not None and not args.skip_platform:
        api_url = args.api_url or plan.platform.settings.api_url
        problem = api_url_problem(api_url)
        if problem is not None:
            raise UsageError(problem)
        secret = args.token_secret or plan.platform.settings.token_secret
        platform = PlatformAccess(api_url, secret)
    return Setup(plan, storage, computes, platform)


def _compute_profiles(given: Sequence[str], accounts: Sequence[str]) -> Mapping[str, str]:
    profiles: dict[str, str] = {}
    for item in given:
        account, sep, profile = item.rpartition("=")
        account = account if sep else accounts[0]
        if account not in accounts:
            raise UsageError(
                f"--compute-profile {item}: {account} is not a compute account of the settings "
                f"({', '.join(accounts)})"
            )
        profiles[account] = profile
    return profiles


def _open(role: str, account: str, region: str, profile: str | None, option: str) -> AccountAccess:
    try:
        return AccountAccess.open(role, account, region, profile)
    except BotoCoreError as error:
        raise UsageError(f"{option} {profile or '(default credentials)'}: {error}") from None
