"""Data Explorer data links registered alongside the compute environment."""

import pytest
from client import PlatformError
from emulator import Fault, PlatformEmulator
from framework import (
    CREDENTIALS_ID,
    WORKSPACE,
    Provider,
    compute_env,
    create_event,
    delete_event,
    properties,
    update_event,
)

BUCKET_B = {"name": "data-bucket-b", "resourceRef": "s3://data-bucket-b", "description": "B"}
RUNS_B = {"name": "runs-b", "resourceRef": "s3://data-bucket-b/runs"}


def test_data_links_are_registered_with_the_ce_credentials_once_it_is_available(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    result = provider.run(create_event(properties(emulator.url, data_links=[BUCKET_B, RUNS_B])))

    links = {link.name: link for link in emulator.data_links.values()}
    assert result.data["DataLinkIds"] == f"{links['data-bucket-b'].id},{links['runs-b'].id}"
    assert links["runs-b"].resource_ref == "s3://data-bucket-b/runs"
    assert links["data-bucket-b"].description == "B"
    assert {link.credentials_id for link in links.values()} == {CREDENTIALS_ID}
    first_link = emulator.requests.index(emulator.calls("POST", "/data-links")[0])
    last_describe = emulator.requests.index(emulator.calls("GET", "/compute-envs/")[-1])
    assert first_link > last_describe


def test_an_existing_data_link_with_the_same_name_and_location_is_adopted(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    existing = emulator.add_data_link("data-bucket-b", "s3://data-bucket-b/", WORKSPACE)

    result = provider.run(create_event(properties(emulator.url, data_links=[BUCKET_B])))

    assert result.data["DataLinkIds"] == existing.id
    assert emulator.calls("POST", "/data-links") == []


def test_a_data_link_name_used_for_another_location_fails_clearly(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    emulator.add_data_link("data-bucket-b", "s3://somewhere-else", WORKSPACE)

    with pytest.raises(PlatformError, match=r"already exists .* for another location"):
        provider.run(create_event(properties(emulator.url, data_links=[BUCKET_B])))

    [ce] = emulator.compute_envs.values()
    assert ce.status == "DELETING"  # the CE this Create made is not left behind


def test_data_links_are_removed_on_delete(emulator: PlatformEmulator, provider: Provider) -> None:
    props = properties(emulator.url, data_links=[BUCKET_B, RUNS_B])
    created = provider.run(create_event(props))

    provider.run(delete_event(created.physical_id, props))

    assert emulator.data_links == {}


def test_data_links_stay_when_a_retained_ce_stays(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    props = properties(emulator.url, data_links=[BUCKET_B], retain=True)
    created = provider.run(create_event(props))
    emulator.compute_envs[created.physical_id].jobs_running = True

    provider.run(delete_event(created.physical_id, props))

    assert [link.name for link in emulator.data_links.values()] == ["data-bucket-b"]


def test_data_links_survive_the_deletion_of_a_replaced_ce(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    before = properties(emulator.url, data_links=[BUCKET_B])
    after = properties(
        emulator.url, data_links=[BUCKET_B], environment=compute_env(buckets=["s3://c"])
    )
    first = provider.run(create_event(before))
    second = provider.run(update_event(first.physical_id, after, before))

    provider.run(delete_event(first.physical_id, before))

    assert second.data["DataLinkIds"] == first.data["DataLinkIds"]
    assert list(emulator.data_links) == [first.data["DataLinkIds"]]


def test_an_update_removes_the_data_links_it_no_longer_lists(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    before = properties(emulator.url, data_links=[BUCKET_B, RUNS_B])
    after = properties(emulator.url, data_links=[RUNS_B])
    first = provider.run(create_event(before))

    second = provider.run(update_event(first.physical_id, after, before))

    assert second.physical_id == first.physical_id
    assert [link.name for link in emulator.data_links.values()] == ["runs-b"]
    assert second.data["DataLinkIds"] == next(iter(emulator.data_links))


def test_many_data_links_are_found_across_pages(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    for number in range(150):
        emulator.add_data_link(f"data-bucket-b-{number:03}", f"s3://other-{number}", WORKSPACE)
    existing = emulator.add_data_link("data-bucket-b", "s3://data-bucket-b", WORKSPACE)

    result = provider.run(create_event(properties(emulator.url, data_links=[BUCKET_B])))

    assert result.data["DataLinkIds"] == existing.id
    assert [r.query["offset"] for r in emulator.calls("GET", "/data-links")] == ["0", "100"]


def test_a_data_link_listing_that_is_still_loading_is_asked_again(
    emulator: PlatformEmulator, provider: Provider
) -> None:
    existing = emulator.add_data_link("data-bucket-b", "s3://data-bucket-b", WORKSPACE)
    emulator.inject(Fault(202, on="GET /data-links"))

    result = provider.run(create_event(properties(emulator.url, data_links=[BUCKET_B])))

    assert result.data["DataLinkIds"] == existing.id
    assert [r.status for r in emulator.calls("GET", "/data-links")] == [202, 200]
    assert emulator.calls("POST", "/data-links") == []
