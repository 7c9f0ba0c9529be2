"""The doctor's reading helpers that need no account."""

from __future__ import annotations

from typing import Any

from constructs_lib.doctor.aws import pages


def test_pages_follows_the_marker_until_the_answer_is_complete() -> None:
    answers = {
        None: {"Roles": ["a"], "IsTruncated": True, "Marker": "m1"},
        "m1": {"Roles": ["b"], "IsTruncated": True, "Marker": "m2"},
        "m2": {"Roles": ["c"], "IsTruncated": False},
    }
    asked: list[tuple[str, dict[str, str]]] = []

    def read(operation: str, **parameters: str) -> Any:
        asked.append((operation, parameters))
        return answers[parameters.get("Marker")]

    found = [role for page in pages(read, "list_roles", PathPrefix="/") for role in page["Roles"]]
    assert found == ["a", "b", "c"]
    assert asked == [
        ("list_roles", {"PathPrefix": "/"}),
        ("list_roles", {"PathPrefix": "/", "Marker": "m1"}),
        ("list_roles", {"PathPrefix": "/", "Marker": "m2"}),
    ]
