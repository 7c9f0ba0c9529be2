"""The access report: who may reach each bucket, in Markdown, for a security reviewer.

Pure Python (no CDK import): the report is read off the same documents the stacks deploy
(``policies``), so it says what the policies say. A request from a compute account to the
storage account needs both accounts' allow, so each Allow row holds what the bucket (or key)
policy and the s3-write policy both allow. Every table row is one claim in a fixed shape
(decision, who, then actions, resources and conditions in code spans), so that a test can
check each row with an IAM policy evaluator.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from constructs_lib import policies
from constructs_lib.config import AccessSettings, ComputeSettings, ValidGrant

REPORT_FILE = "access-report.md"

ADMITTED = "admitted principals"
EVERYONE = "everyone"
S3_WRITE_HOLDERS = "principals of this account with the s3-write policy"

# Granted by no statement, so denied to the admitted principals; named because each would let
# a caller change who can reach the data, or destroy it beyond recovery.
NOTABLE_BUCKET_ACTIONS = (
    "s3:DeleteBucket",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketAcl",
    "s3:PutBucketPolicy",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutEncryptionConfiguration",
    "s3:PutLifecycleConfiguration",
)
NOTABLE_OBJECT_ACTIONS = ("s3:DeleteObjectVersion", "s3:PutObjectAcl")

_TABLE_HEADER = (
    "| Decision | Who | Actions | Resources | Only if |",
    "|---|---|---|---|---|",
)


@dataclass(frozen=True)
class _Row:
    decision: str
    who: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    excluded: tuple[str, ...] = ()
    only_if: tuple[str, ...] = ()

    def markdown(self) -> str:
        resources = _codes(self.resources)
        if self.excluded:
            resources += f" except {_codes(self.excluded)}"
        cells = (self.decision, self.who, _codes(self.actions), resources, "; ".join(self.only_if))
        return "| " + " | ".join(cells) + " |"


def _code(text: str) -> str:
    return f"`{text}`"


def _codes(texts: Iterable[str]) -> str:
    return ", ".join(_code(text) for text in texts)


def _as_tuple(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _condition_clauses(condition: dict[str, Any]) -> tuple[str, ...]:
    """The clauses of a statement's condition, leaving out the principal condition."""
    clauses: list[str] = []
    for operator, values in condition.items():
        for key, value in values.items():
            if key == "aws:PrincipalArn":
                continue
            if operator == "StringLike":
                clauses.append(f"{_code(key)} matches " + " or ".join(map(_code, _as_tuple(value))))
            elif operator == "ForAnyValue:StringEquals":
                clauses.append(f"{_code(key)} includes {_codes(_as_tuple(value))}")
            else:
                clauses.append(" or ".join(f"{_code(key)} is {_code(v)}" for v in _as_tuple(value)))
    return tuple(clauses)


def _without_principal(condition: dict[str, Any]) -> dict[str, Any]:
    return {
        operator: {key: value for key, value in values.items() if key != "aws:PrincipalArn"}
        for operator, values in condition.items()
        if any(key != "aws:PrincipalArn" for key in values)
    }


def _allows(
    statements: Sequence[policies.Statement],
    action: str,
    resource: str,
    condition: dict[str, Any],
) -> bool:
    """Whether an Allow statement covers ``action`` on ``resource`` under ``condition``."""
    return any(
        statement["Effect"] == "Allow"
        and any(fnmatchcase(action, pattern) for pattern in _as_tuple(statement["Action"]))
        and any(fnmatchcase(resource, pattern) for pattern in _as_tuple(statement["Resource"]))
        and _without_principal(statement.get("Condition", {})) == condition
        for statement in statements
    )


def _both_allow(
    statement: policies.Statement, identity: Sequence[policies.Statement]
) -> tuple[str, ...]:
    """The actions of a bucket or key policy statement the s3-write policy also allows, on
    every resource of the statement and under the same conditions."""
    condition = _without_principal(statement.get("Condition", {}))
    return tuple(
        sorted(
            action
            for action in _as_tuple(statement["Action"])
            if all(
                _allows(identity, action, resource, condition)
                for resource in _as_tuple(statement["Resource"])
            )
        )
    )


def _s3_rows(
    settings: AccessSettings, grant: ValidGrant, identity: Sequence[policies.Statement]
) -> list[_Row]:
    bucket_policy = policies.bucket_policy_document(settings, grant)["Statement"]
    kept = [statement for statement in bucket_policy if statement in grant.existing_statements]
    rows: list[_Row] = []
    granted: set[str] = set()
    for statement in bucket_policy:
        if statement["Effect"] != "Allow" or statement in kept:
            continue
        actions = _both_allow(statement, identity)
        granted.update(actions)
        if actions:
            clauses = _condition_clauses(statement.get("Condition", {}))
            rows.append(
                _Row("Allow", ADMITTED, actions, _as_tuple(statement["Resource"]), only_if=clauses)
            )
    location = policies.bucket_arn(settings.partition, grant.name)
    everything = f"{location}/*"
    if grant.prefixes:
        patterns = policies.list_prefix_patterns(grant.prefixes)
        outside = f"{_code('s3:prefix')} is absent or matches none of {_codes(patterns)}"
        object_actions = tuple(sorted(granted - set(policies.BUCKET_ACTIONS)))
        granted_objects = policies.object_arns(settings.partition, grant.name, grant.prefixes)
        rows += [
            _Row("Deny", ADMITTED, ("s3:ListBucket",), (location,), only_if=(outside,)),
            _Row("Deny", ADMITTED, object_actions, (everything,), tuple(granted_objects)),
        ]
    object_denied = set(policies.OBJECT_WRITE_ACTIONS) | set(NOTABLE_OBJECT_ACTIONS)
    rows += [
        _Row("Deny", ADMITTED, tuple(sorted(set(NOTABLE_BUCKET_ACTIONS) - granted)), (location,)),
        _Row("Deny", ADMITTED, tuple(sorted(object_denied - granted)), (everything,)),
    ]
    for statement in bucket_policy:
        if statement["Effect"] == "Deny" and statement not in kept:
            rows.append(
                _Row(
                    "Deny",
                    EVERYONE,
                    _as_tuple(statement["Action"]),
                    _as_tuple(statement["Resource"]),
                    only_if=_condition_clauses(statement["Condition"]),
                )
            )
    return rows


def _key_sharers(settings: AccessSettings, grant: ValidGrant) -> list[ValidGrant]:
    """The grants whose buckets use ``grant``'s key: itself, and those naming the same
    existing key (a created key is one bucket's own)."""
    return [
        other
        for other in settings.grants
        if other is grant
        or (grant.kms_key_arn is not None and other.kms_key_arn == grant.kms_key_arn)
    ]


def _kms_rows(settings: AccessSettings, grant: ValidGrant) -> list[_Row]:
    """KMS permissions belong to the key: for a key that several buckets share, what their
    key policy statements and their parts of the s3-write policy both allow."""
    sharers = _key_sharers(settings, grant)
    identity = [policies.kms_identity_statement(settings, other, "Key") for other in sharers]
    key_policy = [policies.key_policy_statement(settings, other) for other in sharers]
    actions = tuple(
        sorted(
            {action for statement in identity for action in _as_tuple(statement["Action"])}
            & {action for statement in key_policy for action in _as_tuple(statement["Action"])}
        )
    )
    own_identity, own_key_policy = identity[sharers.index(grant)], key_policy[sharers.index(grant)]
    resources = _as_tuple(own_identity["Resource"])
    clauses = _condition_clauses(own_key_policy["Condition"]) + _condition_clauses(
        own_identity["Condition"]
    )
    via_s3 = own_identity["Condition"]["StringEquals"]["kms:ViaService"]
    rows = [
        _Row("Allow", ADMITTED, actions, resources, only_if=tuple(dict.fromkeys(clauses))),
        _Row(
            "Deny",
            ADMITTED,
            actions,
            resources,
            only_if=(f"{_code('kms:ViaService')} is absent or not {_code(via_s3)}",),
        ),
    ]
    not_granted = tuple(sorted(set(policies.KMS_WRITE_ACTIONS) - set(actions)))
    if not_granted:
        rows.append(_Row("Deny", ADMITTED, not_granted, resources))
    return rows


def _table(rows: Iterable[_Row]) -> list[str]:
    return [*_TABLE_HEADER, *(row.markdown() for row in rows)]


def _principals_section(settings: AccessSettings) -> list[str]:
    accounts = " and ".join(_code(compute.account) for compute in settings.computes)
    b = _code(settings.storage_account)
    lines = ["## Principals", "", "| Principal | Access to the buckets of B |", "|---|---|"]
    for compute in settings.computes:
        a = _code(compute.account)
        patterns = " or ".join(_code(pattern) for pattern in compute.principal_patterns)
        lines.append(
            f"| Roles of {a} whose ARN matches {patterns}, and their sessions, with the "
            f"s3-write policy of {a} attached | as the bucket tables below list |"
        )
        if compute.forge_role_prefix is not None:
            example = f"role/{compute.forge_role_prefix}-team/any-name"
            lines.append(
                f"| Roles of {a} under a path that starts with "
                f"{_code(compute.forge_role_prefix)} (`*` matches `/` too, so {_code(example)} "
                f"matches), with the s3-write policy of {a} attached | as the bucket tables "
                "below list |"
            )
    lines += [
        "| The same roles when no IAM policy of their account allows the request | none |",
        f"| Every other role and every user of {accounts}, whatever its IAM policies | none |",
        "| Principals of any other account, whatever their IAM policies | none |",
        "| Anonymous requests | none |",
        f"| Principals of {b} | none from this construct: only what their own IAM policies "
        f"in {b} allow |",
        "",
        "A role's session (`arn:<partition>:sts::<account>:assumed-role/<role>/<session>`) is "
        "admitted as the role: the policies test `aws:PrincipalArn`, which is the role's ARN.",
    ]
    return lines


def _bucket_section(
    settings: AccessSettings, grant: ValidGrant, identity: Sequence[policies.Statement]
) -> list[str]:
    mode = "read-only" if grant.read_only else "read-write"
    origin = "created by the storage stack" if grant.create else "an existing bucket"
    facts = [f"In {_code(settings.storage_account)}, {origin}."]
    if grant.prefixes:
        facts.append(f"Granted key prefixes: {_codes(p + '/' for p in grant.prefixes)}.")
    else:
        facts.append("Granted on every key.")
    if grant.create_kms_key:
        facts.append(
            f"Encrypted with a KMS key of its own, alias {_code(settings.alias_name(grant))}, "
            "whose key policy the storage stack writes."
        )
    elif grant.kms_key_arn is not None:
        facts.append(
            f"Encrypted with the existing KMS key {_code(grant.kms_key_arn)}. The construct "
            "does not manage that key's policy: the KMS rows hold once the key policy contains "
            "the statement the storage stack prints as output `KeyPolicyStatement`; until then "
            "the admitted principals cannot read or write objects encrypted with it."
        )
    others = [other.name for other in _key_sharers(settings, grant) if other is not grant]
    if others:
        facts.append(
            f"The same key encrypts {_codes(others)}: KMS permissions belong to the key, so its "
            "rows are the union of those buckets' KMS grants (the bucket policy alone decides "
            "what may be written here)."
        )
    rows = _s3_rows(settings, grant, identity)
    if grant.uses_kms:
        rows += _kms_rows(settings, grant)
    lines = [f"## Bucket `{grant.name}` ({mode})", "", " ".join(facts), "", *_table(rows)]
    if grant.existing_statements:
        lines += [
            "",
            "Kept from the bucket's existing policy, as given and not analysed here; they may "
            "admit principals the tables above do not list:",
            "",
            "```json",
            json.dumps(list(grant.existing_statements), indent=2),
            "```",
        ]
    return lines


def _work_bucket_section(
    settings: AccessSettings, compute: ComputeSettings, work_bucket: str
) -> list[str]:
    identity = policies.s3_write_policy_document(settings, compute)["Statement"]
    location = policies.bucket_arn(settings.partition, work_bucket)
    rows = []
    for resource, candidates in (
        (location, policies.BUCKET_ACTIONS),
        (f"{location}/*", policies.object_actions(read_only=False)),
    ):
        actions = tuple(a for a in sorted(candidates) if _allows(identity, a, resource, {}))
        rows.append(_Row("Allow", S3_WRITE_HOLDERS, actions, (resource,)))
    a = _code(compute.account)
    return [
        f"## Work bucket `{work_bucket}` (in {a})",
        "",
        f"Same account as the callers: the s3-write policy alone grants this, to whichever role, "
        f"user or group of {a} it is attached to, Forge or not. The work bucket's own bucket "
        "policy is not managed by this construct.",
        "",
        *_table(rows),
    ]


def _settings_report(settings: AccessSettings) -> list[str]:
    accounts = " and ".join(_code(compute.account) for compute in settings.computes)
    b = _code(settings.storage_account)
    principals = " and ".join(_code(p) for p in settings.account_principals)
    lines = [
        f"# Access report: buckets of {b} for Seqera Platform in {accounts}",
        "",
        f"Read off the policies the construct deploys: the s3-write managed policy in each "
        f"compute account ({accounts}), a bucket policy on each bucket of the storage account "
        f"B ({b}, {_code(settings.storage_region)}) and the key policies of the KMS keys. "
        f"Partition {_code(settings.partition)}.",
        "",
        "A request from a compute account to a bucket of B is allowed only when both accounts "
        "allow it: an IAM policy in the compute account (the s3-write policy, once attached to "
        "the role) and B's bucket policy, plus the key policy for encrypted objects. Whatever "
        "IAM policies a compute account attaches, B admits no more than the Allow rows below. "
        "Every table row is one claim, checked by the project's tests with an IAM policy "
        "evaluator; what no Allow row grants is denied.",
        "",
        *_principals_section(settings),
    ]
    identity = policies.s3_write_policy_document(settings)["Statement"]
    for grant in settings.grants:
        lines += ["", *_bucket_section(settings, grant, identity)]
    for compute in settings.computes:
        if compute.work_bucket is not None:
            lines += ["", *_work_bucket_section(settings, compute, compute.work_bucket)]
    lines += [
        "",
        "## Block Public Access",
        "",
        f"Every Allow statement the construct writes into the bucket policies names the fixed "
        f"principal {principals}, so S3 Block Public Access does not count them as public: "
        "turning on RestrictPublicBuckets changes none of the decisions above.",
        "",
        "## Not covered",
        "",
        "Service and resource control policies, VPC endpoint policies, permission boundaries "
        "and session policies can only narrow what is listed here. Object ACLs are disabled "
        "(owner enforced) only on buckets the storage stack creates; on existing buckets they "
        "are as the bucket's owner left them.",
    ]
    return lines


def access_report(settings: AccessSettings | Sequence[AccessSettings]) -> str:
    """The Markdown access report for one construct's settings, or several constructs'."""
    every = [settings] if isinstance(settings, AccessSettings) else list(settings)
    lines: list[str] = []
    for index, one in enumerate(every):
        lines += ([""] if index else []) + _settings_report(one)
    return "\n".join(lines) + "\n"


def write_access_report(
    settings: AccessSettings | Sequence[AccessSettings], outdir: str | Path
) -> Path:
    """Write the report as ``access-report.md`` into ``outdir`` (the cloud assembly)."""
    path = Path(outdir) / REPORT_FILE
    path.write_text(access_report(settings), encoding="utf-8")
    return path
