"""Live policy statements compared with the plan's, by what they say.

Statements are normalised first (one value or a list, an account ID or its root ARN, any
order), so that a policy made by hand from the walkthrough is compared by content. Each
planned statement is then found as planned, changed (a live statement with its Sid says
something else) or missing, and each live statement the plan does not hold is extra. What a
difference does is judged against the whole live policy, not the one statement:

- a planned Allow whose actions and resources no live Allow grants as widely any more
  **blocks** access;
- a live Allow the plan's Allows do not contain (another principal, more actions or
  resources, a condition dropped or loosened) **widens** it;
- a planned Deny that no live Deny keeps in force widens it; a live Deny beyond the plan's
  that reaches what the plan allows blocks it (when its condition holds);
- any other difference has **drifted**: the next deploy writes the plan's statement again.

Wildcards are matched as IAM matches them (``*`` and ``?``); conditions are compared by
operator and key, a positive operator (``StringEquals``, ``ArnLike``...) being looser with
more values and a negative one (``StringNotEquals``, ``ArnNotLike``...) with fewer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from constructs_lib.doctor.findings import Finding, Result

Statement = Mapping[str, Any]
Extras = Literal["all", "risky", "none"]
"""Which extra live statements to report: all of them (a bucket policy, which the next deploy
replaces whole), only those that widen or block (a key policy, whose other statements are its
administrator's), or none (a role's policies, which hold much besides the plan's)."""

_ROOT_ARN = re.compile(r"^arn:[^:]+:iam::(\d{12}):root$")
_ACCOUNT_OF_ARN = re.compile(r"^arn:[^:]+:(?:iam|sts)::(\d{12}):")
_ACCOUNT_ID = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class Condition:
    """One condition operator and key of a statement, with its values. Keys compare without
    case, as IAM reads them; ``name`` is the key as written."""

    operator: str
    key: str
    values: frozenset[str]
    name: str = field(compare=False)

    def __str__(self) -> str:
        return f"{self.operator} {self.name} {_listed(self.values)}"


@dataclass(frozen=True)
class Shape:
    """A statement normalised for comparison. ``principals`` is None in an identity policy;
    ``negated`` names the elements written as ``NotPrincipal``, ``NotAction``,
    ``NotResource``. Actions keep their case for display and compare without it."""

    sid: str | None
    effect: str
    principals: frozenset[str] | None
    actions: frozenset[str]
    resources: frozenset[str]
    conditions: frozenset[Condition]
    negated: frozenset[str]

    @property
    def content(self) -> tuple[object, ...]:
        """Everything the statement says, its Sid aside."""
        folded = frozenset(action.lower() for action in self.actions)
        return (
            self.effect,
            self.principals,
            folded,
            self.resources,
            self.conditions,
            self.negated,
        )

    @property
    def reach(self) -> str:
        """Its actions and resources in words."""
        return f"{_listed(self.actions)} on {_listed(self.resources)}"


@dataclass(frozen=True)
class Difference:
    """One statement that is not as planned: missing, changed or extra; its Sid (None for one
    without), what it does, and why in plain words."""

    kind: Literal["missing", "changed", "extra"]
    sid: str | None
    result: Result
    why: str


def normalise(statement: Statement, partition: str) -> Shape:
    """``statement`` in a form where equal content compares equal."""
    principal_key = "NotPrincipal" if "NotPrincipal" in statement else "Principal"
    action_key = "NotAction" if "NotAction" in statement else "Action"
    resource_key = "NotResource" if "NotResource" in statement else "Resource"
    principals = (
        _principals(statement[principal_key], partition) if principal_key in statement else None
    )
    conditions = frozenset(
        Condition(operator, key.lower(), frozenset(texts(values)), key)
        for operator, block in (statement.get("Condition") or {}).items()
        for key, values in block.items()
    )
    sid = statement.get("Sid")
    return Shape(
        sid=sid if isinstance(sid, str) and sid else None,
        effect=str(statement.get("Effect")),
        principals=principals,
        actions=frozenset(texts(statement.get(action_key))),
        resources=frozenset(texts(statement.get(resource_key))),
        conditions=conditions,
        negated=frozenset(
            key.removeprefix("Not")
            for key in (principal_key, action_key, resource_key)
            if key.startswith("Not")
        ),
    )


def compare(
    planned: Sequence[Statement],
    live: Sequence[Statement],
    partition: str,
    *,
    extras: Extras,
    owner_account: str | None = None,
) -> list[Difference]:
    """Every planned statement that is changed or missing in ``live``, and the extra live
    statements ``extras`` asks for, each judged against the whole live policy. An extra Allow
    for ``owner_account``'s own principals (or AWS services) widens nothing."""
    plan = [normalise(statement, partition) for statement in planned]
    now = [normalise(statement, partition) for statement in live]
    unmatched = list(range(len(now)))
    pairs: list[tuple[Shape, Shape | None]] = []
    for wanted in plan:
        index = _find(unmatched, lambda i, w=wanted: now[i] == w)
        if index is None:
            index = _find(unmatched, lambda i, w=wanted: now[i].content == w.content)
        if index is not None:
            unmatched.remove(index)
            continue
        index = _find(unmatched, lambda i, w=wanted: w.sid is not None and now[i].sid == w.sid)
        if index is not None:
            unmatched.remove(index)
        pairs.append((wanted, None if index is None else now[index]))
    judge = _Judge(plan, now)
    differences = [judge.planned(wanted, found) for wanted, found in pairs]
    if extras != "none":
        for index in unmatched:
            difference = judge.extra(now[index], owner_account)
            if difference.result is not Result.DRIFTED or extras == "all":
                differences.append(difference)
    return differences


def statements_of(document: Mapping[str, Any]) -> list[Statement]:
    """A policy document's statements (IAM also takes a lone statement)."""
    raw = document.get("Statement", [])
    return [raw] if isinstance(raw, Mapping) else list(raw)


def policy_findings(
    subject: str,
    check: str,
    planned: Sequence[Statement],
    live: Mapping[str, Any],
    partition: str,
    *,
    extras: Extras,
    owner_account: str | None,
    fix: Callable[[Difference], str],
    holds: str,
) -> list[Finding]:
    """A live policy document compared with the planned statements: a finding per
    difference, fixed as ``fix`` says, or one that passes saying what it ``holds``."""
    differences = compare(
        planned, statements_of(live), partition, extras=extras, owner_account=owner_account
    )
    if not differences:
        return [Finding(subject, check, Result.OK, holds)]
    return [Finding(subject, check, d.result, d.why, fix(d), d.sid) for d in differences]


@dataclass(frozen=True)
class _Judge:
    """Judges differences against the planned and the live statements as wholes."""

    plan: Sequence[Shape]
    now: Sequence[Shape]

    def planned(self, wanted: Shape, found: Shape | None) -> Difference:
        """A planned statement that is missing (``found`` None) or changed into ``found``."""
        effects: list[tuple[Result, str]] = []
        if wanted.effect == "Allow":
            lost = _uncovered(wanted, self.now)
            if lost:
                effects.append((Result.BLOCKS, f"no statement allows {_pairs(lost)} any more"))
        elif not any(_contains(deny, wanted) for deny in self._live("Deny")):
            effects.append((Result.WIDENS, f"{wanted.reach} is no longer refused"))
        if found is None:
            what = f"missing ({wanted.reach})"
            if not effects:
                effects.append((Result.DRIFTED, "other statements say the same"))
            return _difference("missing", wanted.sid, what, effects)
        what = f"changed: {_changes(wanted, found)}"
        effects += self._beyond_plan(found)
        if not effects:
            effects.append((Result.DRIFTED, "it allows and refuses what the plan does"))
        return _difference("changed", wanted.sid, what, effects)

    def extra(self, found: Shape, owner_account: str | None) -> Difference:
        """A live statement the plan does not hold."""
        what = f"extra, not in the plan: {found.effect} {_who(found)}{found.reach}"
        effects = self._beyond_plan(found)
        if effects and found.effect == "Allow" and _owner_only(found, owner_account):
            effects = []
        if not effects:
            effects.append((Result.DRIFTED, "the next deploy removes it"))
        return _difference("extra", found.sid, what, effects)

    def _beyond_plan(self, found: Shape) -> list[tuple[Result, str]]:
        """What a live statement does beyond the plan's statements of its effect: an Allow
        widens access; a Deny that reaches what the plan allows blocks it."""
        if any(_contains(planned, found) for planned in self._planned(found.effect)):
            return []
        if found.effect == "Allow":
            return [(Result.WIDENS, "it allows more than the plan does")]
        reached = [allow for allow in self._planned("Allow") if _overlaps(found, allow)]
        if not reached:
            return []
        condition = " when its condition holds" if found.conditions else ""
        return [(Result.BLOCKS, f"it refuses {reached[0].reach}{condition}")]

    def _planned(self, effect: str) -> list[Shape]:
        return [shape for shape in self.plan if shape.effect == effect]

    def _live(self, effect: str) -> list[Shape]:
        return [shape for shape in self.now if shape.effect == effect]


def _difference(
    kind: Literal["missing", "changed", "extra"],
    sid: str | None,
    what: str,
    effects: list[tuple[Result, str]],
) -> Difference:
    """The worst effect decides the result; every effect is said."""
    worst = min((result for result, _ in effects), key=list(Result).index)
    return Difference(kind, sid, worst, f"{what}; " + "; ".join(text for _, text in effects))


def _find(indexes: Iterable[int], wanted: Any) -> int | None:
    return next((index for index in indexes if wanted(index)), None)


def texts(value: object) -> list[str]:
    """A policy element's values as text: none, one value or a list of them."""
    if value is None:
        return []
    return [_text(item) for item in (value if isinstance(value, list) else [value])]


def _text(value: object) -> str:
    """A policy value as text, booleans as JSON writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _listed(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))


def _principals(value: object, partition: str) -> frozenset[str]:
    """A Principal element as a set: ``*`` for everyone, an account ID as its root ARN, and
    services or federated principals as ``Service:name``."""
    if value == "*":
        return frozenset({"*"})
    found: set[str] = set()
    for kind, names in value.items() if isinstance(value, Mapping) else ():
        for name in texts(names):
            if kind != "AWS":
                found.add(f"{kind}:{name}")
            elif _ACCOUNT_ID.match(name):
                found.add(f"arn:{partition}:iam::{name}:root")
            else:
                found.add(name)
    return frozenset(found)


@cache
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM's wildcard matching: ``*`` any run of characters, ``?`` any one."""
    body = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def matches(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """Whether ``value`` matches an IAM ``pattern`` with ``*`` and ``?`` wildcards."""
    return _glob(pattern, ignore_case).fullmatch(value) is not None


def _reaches(shape: Shape, element: str, value: str) -> bool:
    """Whether ``shape``'s actions (or resources) take in ``value``, NotAction honoured."""
    patterns = shape.actions if element == "Action" else shape.resources
    hit = any(matches(pattern, value, element == "Action") for pattern in patterns)
    return not hit if element in shape.negated else hit


def _account_of(principal: str) -> str | None:
    found = _ACCOUNT_OF_ARN.match(principal)
    return None if found is None else found.group(1)


def admits(statement: Statement, principal: str, partition: str) -> bool:
    """Whether a resource policy's ``statement`` names ``principal`` (or everyone, or the
    principal's account)."""
    shape = normalise(statement, partition)
    return (
        shape.principals is not None
        and "Principal" not in shape.negated
        and _principal_within(principal, shape.principals)
    )


def _principal_within(principal: str, named: frozenset[str]) -> bool:
    """Whether a statement naming ``named`` also reaches ``principal``: it names everyone,
    that principal, or the root of its account."""
    if "*" in named or principal in named:
        return True
    account = _account_of(principal)
    return account is not None and any(
        _ROOT_ARN.match(name) and _account_of(name) == account for name in named
    )


def _principals_within(inner: Shape, outer: Shape) -> bool:
    """Whether ``outer`` names every principal ``inner`` does (identity policies: always)."""
    if inner.principals is None or outer.principals is None:
        return inner.principals is None and outer.principals is None
    if "Principal" in inner.negated | outer.negated:
        return inner.principals == outer.principals and inner.negated == outer.negated
    return all(_principal_within(name, outer.principals) for name in inner.principals)


def base_operator(operator: str) -> str:
    """A condition operator without its set qualifier and ``IfExists``:
    ``ForAnyValue:StringLikeIfExists`` -> ``StringLike``."""
    return operator.split(":")[-1].removesuffix("IfExists")


def operator_kind(operator: str) -> Literal["positive", "negative", "exact"]:
    """Positive operators allow more with more values, negative ones with fewer; the others
    (Bool, Null, numbers, dates, addresses) compare as equal or not."""
    base = base_operator(operator)
    if "Not" in base:
        return "negative"
    if base.startswith(("String", "Arn")):
        return "positive"
    return "exact"


def _as_tight(narrow: Condition, wide: Condition) -> bool:
    """Whether ``narrow`` lets through no more than ``wide`` (same operator and key)."""
    globbing = "Like" in narrow.operator or narrow.operator.split(":")[-1].startswith("Arn")

    def within(value: str, patterns: frozenset[str]) -> bool:
        return any(matches(p, value) if globbing else p == value for p in patterns)

    kind = operator_kind(narrow.operator)
    if kind == "positive":
        return all(within(value, wide.values) for value in narrow.values)
    if kind == "negative":
        return all(within(value, narrow.values) for value in wide.values)
    return narrow.values == wide.values


def _at_least_as_strict(narrow: frozenset[Condition], wide: frozenset[Condition]) -> bool:
    """Whether conditions ``narrow`` impose every restriction of ``wide``, as tightly."""
    return all(
        any(
            own.operator == restriction.operator
            and own.key == restriction.key
            and _as_tight(own, restriction)
            for own in narrow
        )
        for restriction in wide
    )


def _contains(outer: Shape, inner: Shape) -> bool:
    """Whether ``outer`` (of the same effect) reaches every principal, action and resource
    ``inner`` does, under conditions no stricter."""
    if outer.effect != inner.effect:
        return False
    if inner.negated or outer.negated:
        return inner.content == outer.content
    return (
        _principals_within(inner, outer)
        and all(_reaches(outer, "Action", action) for action in inner.actions)
        and all(_reaches(outer, "Resource", resource) for resource in inner.resources)
        and _at_least_as_strict(inner.conditions, outer.conditions)
    )


def _uncovered(wanted: Shape, live: Sequence[Shape]) -> list[tuple[str, str]]:
    """The (action, resource) pairs of a planned Allow that no live Allow grants to its
    principals under conditions no stricter."""
    grantors = [
        shape
        for shape in live
        if shape.effect == "Allow"
        and _principals_within(wanted, shape)
        and _at_least_as_strict(wanted.conditions, shape.conditions)
    ]
    return [
        (action, resource)
        for action in sorted(wanted.actions)
        for resource in sorted(wanted.resources)
        if not any(
            _reaches(shape, "Action", action) and _reaches(shape, "Resource", resource)
            for shape in grantors
        )
    ]


def _overlaps(deny: Shape, allow: Shape) -> bool:
    """Whether a Deny can refuse some request a planned Allow grants."""
    if deny.principals is not None and allow.principals is not None:
        reached = "Principal" in deny.negated or any(
            _principal_within(name, deny.principals) or _principal_within(denied, allow.principals)
            for name in allow.principals
            for denied in deny.principals
        )
        if not reached:
            return False
    return any(_reaches(deny, "Action", action) for action in allow.actions) and any(
        _reaches(deny, "Resource", resource) or any(matches(resource, d) for d in deny.resources)
        for resource in allow.resources
    )


def _owner_only(shape: Shape, owner_account: str | None) -> bool:
    """Whether a statement names only the owner account's principals and AWS services."""
    if shape.principals is None or owner_account is None or "Principal" in shape.negated:
        return False
    return all(
        name.startswith("Service:") or _account_of(name) == owner_account
        for name in shape.principals
    )


def _who(shape: Shape) -> str:
    """The principals a resource policy statement names, as a prefix: ``Principal *: ``."""
    if shape.principals is None:
        return ""
    negation = "everyone but " if "Principal" in shape.negated else ""
    return f"{negation}{_listed(shape.principals)}: "


def _pairs(pairs: Sequence[tuple[str, str]]) -> str:
    """(action, resource) pairs in words, grouped by resource."""
    by_resource: dict[str, list[str]] = {}
    for action, resource in pairs:
        by_resource.setdefault(resource, []).append(action)
    return "; ".join(
        f"{_listed(actions)} on {resource}" for resource, actions in by_resource.items()
    )


def _changes(wanted: Shape, found: Shape) -> str:
    """What a live statement says differently from the planned one with its Sid."""
    changes: list[str] = []
    if found.effect != wanted.effect:
        changes.append(f"Effect is {found.effect} (planned {wanted.effect})")
    if found.negated != wanted.negated:
        changes.append(f"written with Not{', Not'.join(sorted(found.negated)) or ' nothing'}")
    for element, planned_values, live_values in (
        ("Principal", wanted.principals or frozenset(), found.principals or frozenset()),
        ("Action", wanted.actions, found.actions),
        ("Resource", wanted.resources, found.resources),
    ):
        added, dropped = live_values - planned_values, planned_values - live_values
        if added:
            changes.append(f"{element} adds {_listed(added)}")
        if dropped:
            changes.append(f"{element} drops {_listed(dropped)}")
    planned_keys = {(c.operator, c.key): c for c in wanted.conditions}
    live_keys = {(c.operator, c.key): c for c in found.conditions}
    for key in sorted(planned_keys.keys() | live_keys.keys()):
        before, after = planned_keys.get(key), live_keys.get(key)
        if after is None:
            changes.append(f"condition {before} removed")
        elif before is None:
            changes.append(f"condition {after} added")
        elif before != after:
            changes.append(
                f"condition {key[0]} {after.name} is {_listed(after.values)} (planned "
                f"{_listed(before.values)})"
            )
    return "; ".join(changes) or "written differently"
