"""The doctor asks AWS for each thing once in a run, however many checks need it: an
account's Block Public Access, a key, a role read for its policies and for its trust."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from constructs_lib.doctor.findings import Result
from constructs_lib.doctor.run import diagnose
from tests.doctor.deployment import DATA_BUCKET, REFERENCE_BUCKET, Deployed

pytestmark = pytest.mark.slow

SERVICES = ("s3", "s3control", "kms", "iam", "sts", "secretsmanager")
Asked = tuple[str, str, str, str]


def keeper(asked: list[Asked], account: str) -> Callable[..., None]:
    """Keeps each request of ``account`` as (account, service, operation, parameters)."""

    def keep(params: dict[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        asked.append((account, service, model.name, json.dumps(params, sort_keys=True)))

    return keep


def test_each_read_is_asked_of_aws_once_in_a_run(deployed: Deployed) -> None:
    for bucket in (DATA_BUCKET, REFERENCE_BUCKET):
        deployed.storage("s3").delete_public_access_block(Bucket=bucket)
    setup = deployed.setup()
    asked: list[Asked] = []
    for access in (setup.storage, *setup.computes.values()):
        for service in SERVICES:
            access.client(service).meta.events.register(
                "before-parameter-build", keeper(asked, access.account)
            )
    findings = diagnose(setup)
    widened = [(f.subject, f.check) for f in findings if f.result is Result.WIDENS]
    assert widened == [
        (f"bucket {DATA_BUCKET}", "Block Public Access"),
        (f"bucket {REFERENCE_BUCKET}", "Block Public Access"),
    ]
    assert [request for request, count in Counter(asked).items() if count > 1] == []
    operations = [(service, operation) for _, service, operation, _ in asked]
    assert operations.count(("s3control", "GetPublicAccessBlock")) == 1
    assert operations.count(("iam", "GetRole")) == 2
