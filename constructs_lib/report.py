"""The access report: who may reach each bucket, in Markdown, for a security reviewer.

Pure Python (no CDK import): the report is read off the plan, whose documents the stacks
deploy, so it says what the policies say. A request from a compute account to the
storage account needs both accounts' allow, so each Allow row holds what the bucket (or key)
policy and every compute account's s3-write policy (all its managed policies) allow. Every
table row is one claim in a fixed shape (decision, who, then actions, resources and conditions
in code spans; or a managed policy and the buckets it grants), so that a test can check each
row with an IAM policy evaluator.
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
from constructs_lib.plan import AccessPlan, ComputePlan

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
_PARTS_HEADER = ("| Managed policy | Buckets |", "|---|---|")


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


def _listed(texts: Sequence[str]) -> str:
    """``a``; ``a and b``; ``a, b and c``."""
    return " and ".join(filter(None, (", ".join(texts[:-1]), texts[-1])))


def _as_tuple(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _bucket_of(resource: str) -> str | None:
    """The bucket an S3 resource ARN names, or None (not S3, or a wildcard in the name)."""
    if ":s3:::" not in resource:
        return None
    name = resource.split(":::", 1)[1].split("/", 1)[0]
    return None if "*" in name or "?" in name else name


def _buckets_of(statements: Sequence[policies.Statement]) -> list[str]:
    """The buckets statements name, in order of first mention."""
    names = [
        _bucket_of(resource)
        for statement in statements
        for resource in _as_tuple(statement["Resource"])
    ]
    return list(dict.fromkeys(name for name in names if name is not None))


@dataclass(frozen=True)
class _Identity:
    """A compute account's s3-write policy: its managed policies' statements by name, and
    for each bucket its statements narrowed to the resources that name the bucket (no other
    resource can match the bucket's ARNs), so that what the policy allows on one bucket is
    found without matching every resource of every statement."""

    parts: dict[str, list[policies.Statement]]
    by_bucket: dict[str, list[policies.Statement]]
    elsewhere: list[policies.Statement]

    @classmethod
    def of(cls, compute: ComputePlan) -> _Identity:
        parts = {
            name: document["Statement"]
            for name, document in zip(compute.policy_names, compute.s3_write, strict=True)
        }
        by_bucket: dict[str, list[policies.Statement]] = {}
        elsewhere: list[policies.Statement] = []
        for statement in (s for part in parts.values() for s in part):
            resources = _as_tuple(statement["Resource"])
            names = [_bucket_of(resource) for resource in resources]
            if None in names:
                elsewhere.append(statement)
                continue
            narrowed: dict[str, list[str]] = {}
            for name, resource in zip(names, resources, strict=True):
                narrowed.setdefault(str(name), []).append(resource)
            for name, own in narrowed.items():
                by_bucket.setdefault(name, []).append({**statement, "Resource": own})
        return cls(parts, by_bucket, elsewhere)

    def about(self, bucket: str) -> list[policies.Statement]:
        """The statements that may allow something on ``bucket`` or its objects."""
        return self.by_bucket.get(bucket, []) + self.elsewhere


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
    statement: policies.Statement, identities: Sequence[Sequence[policies.Statement]]
) -> tuple[str, ...]:
    """The actions of a bucket or key policy statement that every compute account's s3-write
    policy also allows, on every resource of the statement and under the same conditions."""
    condition = _without_principal(statement.get("Condition", {}))
    return tuple(
        sorted(
            action
            for action in _as_tuple(statement["Action"])
            if all(
                _allows(identity, action, resource, condition)
                for identity in identities
                for resource in _as_tuple(statement["Resource"])
            )
        )
    )


def _s3_rows(
    plan: AccessPlan,
    grant: ValidGrant,
    identities: Sequence[Sequence[policies.Statement]],
) -> list[_Row]:
    settings = plan.settings
    bucket_policy = plan.bucket_policies[grant.name]["Statement"]
    kept = [statement for statement in bucket_policy if statement in grant.existing_statements]
    rows: list[_Row] = []
    granted: set[str] = set()
    for statement in bucket_policy:
        if statement["Effect"] != "Allow" or statement in kept:
            continue
        actions = _both_allow(statement, identities)
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


def _kms_identity(
    settings: AccessSettings, grant: ValidGrant, identity: Sequence[policies.Statement]
) -> list[policies.Statement]:
    """The KMS statements of a compute account's s3-write policy that cover ``grant``'s key,
    narrowed to that key: its ARN, or (for a key the storage stack creates, whose ARN is not
    known in A) the account's keys carrying the bucket's own alias."""
    alias = settings.alias_name(grant)
    found: list[policies.Statement] = []
    for statement in identity:
        resources = _as_tuple(statement["Resource"])
        if not all(":kms:" in resource for resource in resources):
            continue
        if grant.kms_key_arn is not None and grant.kms_key_arn in resources:
            found.append({**statement, "Resource": grant.kms_key_arn})
        aliases = statement["Condition"].get("ForAnyValue:StringEquals", {})
        if grant.create_kms_key and alias in _as_tuple(aliases.get("kms:ResourceAliases", ())):
            narrowed = {**aliases, "kms:ResourceAliases": alias}
            found.append(
                {
                    **statement,
                    "Condition": {**statement["Condition"], "ForAnyValue:StringEquals": narrowed},
                }
            )
    return found


def _kms_rows(
    plan: AccessPlan, grant: ValidGrant, identity: Sequence[policies.Statement]
) -> list[_Row]:
    """KMS permissions belong to the key: what its key policy statement and the s3-write
    policy's statements for the key both allow."""
    statements = _kms_identity(plan.settings, grant, identity)
    key_policy = plan.key_statements[grant.name]
    actions = tuple(
        sorted(
            {action for statement in statements for action in _as_tuple(statement["Action"])}
            & set(_as_tuple(key_policy["Action"]))
        )
    )
    resources = _as_tuple(statements[0]["Resource"])
    clauses = _condition_clauses(key_policy["Condition"]) + _condition_clauses(
        statements[0]["Condition"]
    )
    via_s3 = statements[0]["Condition"]["StringEquals"]["kms:ViaService"]
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


def _attached(compute: ComputeSettings, identity: _Identity) -> str:
    """How a compute account's s3-write policy must be attached for the bucket tables to hold."""
    a = _code(compute.account)
    count = len(identity.parts)
    if count == 1:
        return f"with the s3-write policy of {a} attached"
    return f"with all {count} managed policies of the s3-write policy of {a} attached"


def _principals_section(settings: AccessSettings, identities: dict[str, _Identity]) -> list[str]:
    accounts = _listed([_code(compute.account) for compute in settings.computes])
    b = _code(settings.storage_account)
    lines = ["## Principals", "", "| Principal | Access to the buckets of B |", "|---|---|"]
    for compute in settings.computes:
        a = _code(compute.account)
        patterns = " or ".join(_code(pattern) for pattern in compute.principal_patterns)
        attached = _attached(compute, identities[compute.account])
        lines.append(
            f"| Roles of {a} whose ARN matches {patterns}, and their sessions, {attached} | "
            "as the bucket tables below list |"
        )
        if compute.forge_role_prefix is not None:
            example = f"role/{compute.forge_role_prefix}-team/any-name"
            lines.append(
                f"| Roles of {a} under a path that starts with "
                f"{_code(compute.forge_role_prefix)} (`*` matches `/` too, so {_code(example)} "
                f"matches), {attached} | as the bucket tables below list |"
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
        "admitted as the role: the policies test `aws:PrincipalArn`, which is the role's ARN. "
        "Each compute account's patterns name that account: a role of one compute account is "
        "not admitted by the prefix or the role names of another.",
    ]
    return lines


def _compute_section(
    settings: AccessSettings, compute: ComputeSettings, identity: _Identity
) -> list[str]:
    """One compute account: what it admits, its work bucket, and its s3-write policy's managed
    policies with the buckets each grants."""
    a = _code(compute.account)
    parts = identity.parts
    patterns = " or ".join(_code(pattern) for pattern in compute.principal_patterns)
    facts = [
        f"Region {_code(compute.region)}.",
        f"Admitted: roles whose ARN matches {patterns}, and their sessions.",
    ]
    if compute.work_bucket is not None:
        facts.append(f"Work bucket {_code(compute.work_bucket)}, in {a}.")
    if len(parts) == 1:
        facts.append(
            f"The s3-write policy is one managed policy, {_code(next(iter(parts)))} of this "
            "account's compute stack."
        )
        claim = (
            f"An admitted role of {a} with this managed policy attached (and no other IAM "
            "policy) may use these buckets:"
        )
    else:
        facts.append(
            f"The s3-write policy is {len(parts)} managed policies of this account's compute "
            f"stack, each within IAM's {policies.MANAGED_POLICY_LIMIT:,} characters. A role "
            "reaches a bucket only with the managed policy that grants it attached: attach "
            "them all (the construct attaches them all to the roles, users and groups it is "
            "given)."
        )
        claim = (
            f"An admitted role of {a} with only one of these managed policies attached (and "
            "no other IAM policy) may use the buckets of its row, and no bucket of another row:"
        )
    order = [grant.name for grant in settings.grants] + [str(compute.work_bucket)]
    return [
        f"## Compute account {a}",
        "",
        " ".join(facts),
        "",
        claim,
        "",
        *_PARTS_HEADER,
        *(
            f"| {_code(name)} | {_codes(sorted(_buckets_of(statements), key=order.index))} |"
            for name, statements in parts.items()
        ),
    ]


def _bucket_section(
    plan: AccessPlan,
    grant: ValidGrant,
    identities: Sequence[Sequence[policies.Statement]],
) -> list[str]:
    settings = plan.settings
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
            "the statement the storage stack prints for it (an output `KeyPolicyStatement<n>` "
            "whose description names the key); until then the admitted principals cannot read "
            "or write objects encrypted with it."
        )
    others = [other.name for other in _key_sharers(settings, grant) if other is not grant]
    if others:
        facts.append(
            f"The same key encrypts {_codes(others)}: KMS permissions belong to the key, so its "
            "rows are the union of those buckets' KMS grants (the bucket policy alone decides "
            "what may be written here)."
        )
    rows = _s3_rows(plan, grant, identities)
    if grant.uses_kms:
        rows += _kms_rows(plan, grant, identities[0])
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
    settings: AccessSettings, compute: ComputeSettings, work_bucket: str, own: _Identity
) -> list[str]:
    identity = own.about(work_bucket)
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


def _plan_report(plan: AccessPlan) -> list[str]:
    settings = plan.settings
    accounts = _listed([_code(compute.account) for compute in settings.computes])
    b = _code(settings.storage_account)
    principals = _listed([_code(p) for p in settings.account_principals])
    fixed = "principal" if len(settings.account_principals) == 1 else "principals"
    identities = {compute.compute.account: _Identity.of(compute) for compute in plan.computes}
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
        *_principals_section(settings, identities),
    ]
    for compute in settings.computes:
        lines += ["", *_compute_section(settings, compute, identities[compute.account])]
    for grant in settings.grants:
        about = [identity.about(grant.name) for identity in identities.values()]
        lines += ["", *_bucket_section(plan, grant, about)]
    for compute in settings.computes:
        if compute.work_bucket is not None:
            own = identities[compute.account]
            lines += ["", *_work_bucket_section(settings, compute, compute.work_bucket, own)]
    lines += [
        "",
        "## Block Public Access",
        "",
        f"Every Allow statement the construct writes into the bucket policies names the fixed "
        f"{fixed} {principals}, so S3 Block Public Access does not count them as public: "
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


def access_report(plan: AccessPlan | Sequence[AccessPlan]) -> str:
    """The Markdown access report for one construct's plan, or several constructs'."""
    every = [plan] if isinstance(plan, AccessPlan) else list(plan)
    lines: list[str] = []
    for index, one in enumerate(every):
        lines += ([""] if index else []) + _plan_report(one)
    return "\n".join(lines) + "\n"


def write_access_report(plan: AccessPlan | Sequence[AccessPlan], outdir: str | Path) -> Path:
    """Write the report as ``access-report.md`` into ``outdir`` (the cloud assembly)."""
    path = Path(outdir) / REPORT_FILE
    path.write_text(access_report(plan), encoding="utf-8")
    return path
