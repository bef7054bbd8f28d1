"""`/chaos drill us-west-2 1` on a running local cloud: the AWS FIS experiment starts from the
region's template, pauses the global table's replication to and from us-west-2 and makes its user
routes' functions fail, then ends by itself: replication resumes and drains, the functions answer.

A local cloud of its own, at a time scale where the one-minute drill lasts 10 s (the session's
lasts 1 s, too short to look at both effects while it runs)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from waiting import wait_for

from .cloud import PORT_BASE, Cloud, http
from .conftest import running_cloud

REGION, OTHER = "us-west-2", "us-east-1"
TIME_SCALE = "6"


@pytest.fixture(scope="module")
def drill_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    state = tmp_path_factory.mktemp("localcloud-drill")
    with running_cloud(state, PORT_BASE + 100, {"LOCALCLOUD_TIME_SCALE": TIME_SCALE}) as running:
        yield running


def health(cloud: Cloud, region: str) -> int:
    return http("GET", f"{cloud.api(region)}/health").status


def experiment_status(cloud: Cloud) -> str | None:
    found = cloud.aws("fis", REGION).list_experiments()["experiments"]
    return found[0]["state"]["status"] if found else None


def replicated(cloud: Cloud, key: dict) -> bool:
    item = cloud.aws("dynamodb", REGION).get_item(TableName=cloud.table_name(), Key=key, ConsistentRead=True)
    return "Item" in item


def test_drill_pauses_replication_and_fails_the_regions_functions_until_it_ends(drill_cloud):
    cloud = drill_cloud
    assert health(cloud, REGION) == 200

    reply = cloud.slack(OTHER, f"drill {REGION} 1")

    assert reply.status == 200, reply.body
    assert f"1-minute outage drill started in {REGION}" in reply.json()["body"]["text"]
    assert wait_for(lambda: experiment_status(cloud) == "running", timeout=10), experiment_status(cloud)
    # The region's functions fail every invocation (API Gateway answers a function error with 500).
    assert wait_for(lambda: health(cloud, REGION) == 500, timeout=5)
    assert health(cloud, OTHER) == 200
    status = cloud.slack(OTHER, "status").json()["body"]["text"]
    (line,) = [line for line in status.splitlines() if f"`{REGION}`" in line]
    assert "*DRILL running* (1 min" in line, status

    # A change in the other region does not reach the paused replica while the drill runs.
    key = {"pk": {"S": f"DRILL#{uuid.uuid4()}"}, "sk": {"S": "probe"}}
    cloud.aws("dynamodb", OTHER).put_item(TableName=cloud.table_name(), Item={**key, "probe": {"S": "1"}})
    assert not wait_for(lambda: replicated(cloud, key), timeout=2)
    assert experiment_status(cloud) == "running", "the drill ended before replication was looked at"

    # The drill ends by itself; replication resumes and drains its backlog; the functions answer.
    assert wait_for(lambda: experiment_status(cloud) == "completed", timeout=30), experiment_status(cloud)
    assert wait_for(lambda: replicated(cloud, key), timeout=10), "the queued change never replicated"
    assert wait_for(lambda: health(cloud, REGION) == 200, timeout=5)
