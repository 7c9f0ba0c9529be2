"""The access report: who may reach each bucket, in Markdown, for a security reviewer.

Pure Python (no CDK import): the report is read off the same documents the stacks deploy
(``policies``), so it says what the policies say. Every table row is one claim, written in a
fixed shape (decision, who, actions in code spans, resources in code spans, conditions in code
spans) so that a test can check each row against an IAM policy evaluator.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from constructs_lib import policies
from constructs_lib.config import AccessSettings, ValidGrant

REPORT_FILE = "access-report.md"

ADMITTED = "admitted principals"
EVERYONE = "everyone"
S3_WRITE_HOLDERS = "principals of the compute account with the s3-write policy"

# Not granted by any statement, so denied to the admitted principals; named because each
# would let a caller change who can reach the data, or destroy it beyond recovery.
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


def _is(key: str, value: str) -> str:
    return f"{_code(key)} is {_code(value)}"


def _matches(key: str, patterns: Sequence[str]) -> str:
    return f"{_code(key)} matches " + " or ".join(_code(pattern) for pattern in patterns)


def _condition_clauses(condition: dict[str, Any]) -> tuple[str, ...]:
    """The clauses of a statement's condition, leaving out the principal condition."""
    clauses: list[str] = []
    for operator, values in condition.items():
        for key, value in values.items():
            if key == "aws:PrincipalArn":
                continue
            if operator == "StringLike":
                clauses.append(_matches(key, _as_tuple(value)))
            elif operator == "ForAnyValue:StringEquals":
                clauses.append(f"{_code(key)} includes {_codes(_as_tuple(value))}")
            else:
                clauses.append(" or ".join(_is(key, v) for v in _as_tuple(value)))
    return tuple(clauses)


def _without_principal(condition: dict[str, Any]) -> dict[str, Any]:
    return {
        operator: {key: value for key, value in values.items() if key != "aws:PrincipalArn"}
        for operator, values in condition.items()
        if any(key != "aws:PrincipalArn" for key in values)
    }


def _granted_actions(
    statement: policies.Statement, other_side: Sequence[policies.Statement]
) -> tuple[str, ...]:
    """Actions both accounts allow: ``statement``'s, where the other side names the same
    resources under the same (non-principal) conditions."""
    resources = _as_tuple(statement["Resource"])
    condition = _without_principal(statement.get("Condition", {}))
    others = {
        action
        for other in other_side
        if _as_tuple(other["Resource"]) == resources
        and _without_principal(other.get("Condition", {})) == condition
        for action in _as_tuple(other["Action"])
    }
    return tuple(sorted(set(_as_tuple(statement["Action"])) & others))


def _s3_rows(
    settings: AccessSettings, grant: ValidGrant, identity: Sequence[policies.Statement]
) -> list[_Row]:
    bucket_policy = policies.bucket_policy_document(settings, grant)["Statement"]
    allows = [statement for statement in bucket_policy if statement["Effect"] == "Allow"]
    rows: list[_Row] = []
    granted: set[str] = set()
    for statement in allows:
        actions = _granted_actions(statement, identity)
        if actions:
            granted.update(actions)
            rows.append(
                _Row(
                    "Allow",
                    ADMITTED,
                    actions,
                    _as_tuple(statement["Resource"]),
                    only_if=_condition_clauses(statement.get("Condition", {})),
                )
            )
    location = policies.bucket_arn(settings.partition, grant.name)
    everything = f"{location}/*"
    granted_objects = policies.object_arns(settings.partition, grant.name, grant.prefixes)
    object_actions = tuple(sorted(granted - set(policies.BUCKET_ACTIONS)))
    if grant.prefixes:
        patterns = policies.list_prefix_patterns(grant.prefixes)
        rows.append(
            _Row(
                "Deny",
                ADMITTED,
                ("s3:ListBucket",),
                (location,),
                only_if=(f"{_code('s3:prefix')} is absent or matches none of {_codes(patterns)}",),
            )
        )
        rows.append(_Row("Deny", ADMITTED, object_actions, (everything,), tuple(granted_objects)))
    bucket_denied = tuple(sorted(set(NOTABLE_BUCKET_ACTIONS) - granted))
    object_denied = tuple(
        sorted((set(policies.OBJECT_WRITE_ACTIONS) | set(NOTABLE_OBJECT_ACTIONS)) - granted)
    )
    rows.append(_Row("Deny", ADMITTED, bucket_denied, (location,)))
    rows.append(_Row("Deny", ADMITTED, object_denied, (everything,)))
    for statement in bucket_policy:
        if statement["Effect"] == "Deny":
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


def _kms_rows(settings: AccessSettings, grant: ValidGrant) -> list[_Row]:
    identity = policies.kms_identity_statement(settings, grant, "Key")
    key_policy = policies.key_policy_statement(settings, grant)
    actions = tuple(
        sorted(set(_as_tuple(identity["Action"])) & set(_as_tuple(key_policy["Action"])))
    )
    resources = _as_tuple(identity["Resource"])
    both = _condition_clauses(key_policy["Condition"]) + _condition_clauses(identity["Condition"])
    clauses = tuple(dict.fromkeys(both))
    via_s3 = identity["Condition"]["StringEquals"]["kms:ViaService"]
    rows = [
        _Row("Allow", ADMITTED, actions, resources, only_if=clauses),
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
    a, b = _code(settings.compute_account), _code(settings.storage_account)
    patterns = " or ".join(_code(pattern) for pattern in settings.principal_patterns)
    lines = [
        "## Principals",
        "",
        "| Principal | Access to the buckets of B |",
        "|---|---|",
        f"| Roles of {a} whose ARN matches {patterns}, and their sessions, with the s3-write "
        "policy attached | as the bucket tables below list |",
    ]
    if settings.forge_role_prefix is not None:
        path_example = f"{settings.forge_role_prefix}-team/any-name"
        lines.append(
            f"| Roles of {a} under a path that starts with {_code(settings.forge_role_prefix)} "
            f"(`*` matches `/` too, so `role/{path_example}` matches), with the s3-write "
            "policy attached | as the bucket tables below list |"
        )
    lines += [
        f"| The same roles when no IAM policy in {a} allows the request | none |",
        f"| Every other role and every user of {a}, whatever its IAM policies | none |",
        "| Principals of any other account, whatever their IAM policies | none |",
        "| Anonymous requests | none |",
        f"| Principals of {b} | none from this construct: only what their own IAM policies "
        f"in {b} allow |",
        "",
        f"A session of a role (`arn:{settings.partition}:sts::{settings.compute_account}:"
        "assumed-role/<role>/<session>`) is admitted as the role: the bucket policies test "
        "`aws:PrincipalArn`, which is the role's ARN.",
    ]
    return lines


def _bucket_section(
    settings: AccessSettings, grant: ValidGrant, identity: Sequence[policies.Statement]
) -> list[str]:
    mode = "read-only" if grant.read_only else "read-write"
    origin = "created by the storage stack" if grant.create else "an existing bucket"
    lines = [f"## Bucket `{grant.name}` ({mode})", ""]
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
    rows = _s3_rows(settings, grant, identity)
    if grant.uses_kms:
        rows += _kms_rows(settings, grant)
    return [*lines, " ".join(facts), "", *_table(rows)]


def _work_bucket_section(
    settings: AccessSettings, work_bucket: str, identity: Sequence[policies.Statement]
) -> list[str]:
    locations = {
        policies.bucket_arn(settings.partition, work_bucket),
        *policies.object_arns(settings.partition, work_bucket),
    }
    rows = [
        _Row("Allow", S3_WRITE_HOLDERS, _as_tuple(s["Action"]), _as_tuple(s["Resource"]))
        for s in identity
        if set(_as_tuple(s["Resource"])) <= locations
    ]
    return [
        f"## Work bucket `{work_bucket}` (in the compute account)",
        "",
        f"Same account as the callers: the s3-write policy alone grants this, to whichever role, "
        f"user or group of {_code(settings.compute_account)} it is attached to, Forge or not. "
        "The work bucket's own bucket policy is not managed by this construct.",
        "",
        *_table(rows),
    ]


def _settings_report(settings: AccessSettings) -> list[str]:
    a, b = _code(settings.compute_account), _code(settings.storage_account)
    lines = [
        f"# Access report: buckets of {b} for Seqera Platform in {a}",
        "",
        f"Read off the policies the construct deploys: the s3-write managed policy in the compute "
        f"account A ({a}, {_code(settings.compute_region)}), a bucket policy on each bucket of "
        f"the storage account B ({b}, {_code(settings.storage_region)}) and the key policies of "
        f"the KMS keys. Partition {_code(settings.partition)}.",
        "",
        "A request from A to a bucket of B is allowed only when both accounts allow it: an IAM "
        "policy in A (the s3-write policy, once attached to the role) and B's bucket policy, "
        "plus the key policy for encrypted objects. Whatever IAM policies A attaches, B admits "
        "no more than the Allow rows below. Every table row is one claim, checked by the "
        "project's tests with an IAM policy evaluator; what no Allow row grants is denied.",
        "",
        *_principals_section(settings),
    ]
    identity = policies.s3_write_policy_document(settings)["Statement"]
    for grant in settings.grants:
        lines += ["", *_bucket_section(settings, grant, identity)]
    if settings.work_bucket is not None:
        lines += ["", *_work_bucket_section(settings, settings.work_bucket, identity)]
    lines += [
        "",
        "## Block Public Access",
        "",
        f"Every Allow statement of the bucket policies names the fixed principal "
        f"{_code(settings.compute_account_principal)}, so S3 Block Public Access does not count "
        "them as public: turning on RestrictPublicBuckets changes none of the decisions above.",
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
    """The Markdown access report for one compute/storage account pair, or several."""
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
