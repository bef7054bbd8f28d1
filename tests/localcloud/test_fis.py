"""The local AWS FIS's parts without a cloud: paused replication queues and drains in order, ISO 8601
action durations, and the FIS Lambda extension's reading of its fault."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from waiting import wait_for

from localcloud.fis.experiments import duration_seconds
from localcloud.fis.extension import INVOCATION_ERROR, POLL_SECONDS, Extension, Fault, location_of
from localcloud.streams.replication import ReplicationLog, ReplicationPauses, Replicator

EAST, WEST, EU = "us-east-1", "us-west-2", "eu-west-1"
TABLE = "active-active-table"


class FakeTable:
    def __init__(self) -> None:
        self.puts: list[dict[str, Any]] = []

    def put_item(self, TableName: str, Item: dict[str, Any]) -> None:
        self.puts.append(Item)


def change(sequence: int, views: int, user: str = "u1") -> dict[str, Any]:
    keys = {"pk": {"S": f"USER#{user}"}, "sk": {"S": "VIEWS#us-east-1"}}
    return {
        "eventName": "MODIFY",
        "dynamodb": {
            "Keys": keys,
            "NewImage": {**keys, "views": {"N": str(views)}},
            "SequenceNumber": str(sequence),
            "ApproximateCreationDateTime": datetime.fromtimestamp(time.time() + sequence, UTC),
        },
    }


def test_a_paused_replica_gets_nothing_then_every_change_in_order_on_resume():
    pauses, west = ReplicationPauses(), FakeTable()
    replicator = Replicator(EAST, TABLE, ReplicationLog({TABLE: [EAST, WEST]}), {WEST: west}, pauses=pauses)
    pauses.pause(TABLE, WEST)

    replicator.accept([change(1, 1), change(2, 2)])
    replicator.flush()

    assert west.puts == []
    pauses.resume(TABLE, WEST)
    replicator.accept([change(3, 3)])
    replicator.flush()
    assert [int(item["views"]["N"]) for item in west.puts] == [1, 2, 3]


def test_a_paused_source_replicates_to_no_replica_while_others_still_replicate_to_each_other():
    pauses, west, eu = ReplicationPauses(), FakeTable(), FakeTable()
    log = ReplicationLog({TABLE: [EAST, WEST, EU]})
    from_west = Replicator(WEST, TABLE, log, {EAST: FakeTable(), EU: eu}, pauses=pauses)
    from_east = Replicator(EAST, TABLE, log, {WEST: west, EU: eu}, pauses=pauses)
    pauses.pause(TABLE, WEST)

    from_west.accept([change(1, 1, user="west")])
    from_west.flush()
    from_east.accept([change(2, 5, user="east")])
    from_east.flush()

    assert west.puts == []
    assert [item["pk"]["S"] for item in eu.puts] == ["USER#east"]


@pytest.mark.parametrize(
    ("value", "seconds"), [("PT1M", 60), ("PT15M", 900), ("PT1H30M", 5400), ("PT90S", 90)]
)
def test_durations_are_read_as_iso_8601(value, seconds):
    assert duration_seconds(value) == seconds


@pytest.mark.parametrize("value", ["1M", "PT", "P1D", "PT1.5M"])
def test_other_durations_are_refused(value):
    with pytest.raises(ValueError):
        duration_seconds(value)


class FakeS3:
    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        if Key not in self.objects:
            raise KeyError(Key)  # NoSuchKey, or AccessDenied without s3:GetObject
        body = self.objects[Key]
        return {"Body": type("Body", (), {"read": lambda self: body})()}


def extension(objects: dict[str, bytes]) -> Extension:
    bucket, folder = location_of({"AWS_FIS_CONFIGURATION_LOCATION": "arn:aws:s3:::config-bucket/FisConfigs/"})
    assert (bucket, folder) == ("config-bucket", "FisConfigs/")
    return Extension("user-health", bucket, folder, FakeS3(objects))


def fault(until: float, percentage: float = 100) -> bytes:
    return Fault("EXP1", INVOCATION_ERROR, percentage, True, until).to_json().encode()


def test_extension_fails_the_invocation_while_its_fault_lasts():
    injected = extension({"FisConfigs/user-health.json": fault(time.time() + 60)}).injected_error()

    assert injected == {
        "errorType": "FisInjectedError",
        "errorMessage": "AWS FIS injected an invocation error (experiment EXP1)",
    }


def test_extension_lets_the_invocation_run_without_a_fault_or_after_it_ended():
    assert extension({}).injected_error() is None
    assert extension({"FisConfigs/user-health.json": fault(time.time() - 1)}).injected_error() is None
    assert (
        extension({"FisConfigs/user-health.json": fault(time.time() + 60, percentage=0)}).injected_error()
        is None
    )


def test_a_function_without_a_configuration_location_has_no_extension():
    assert location_of({}) is None
    assert location_of({"AWS_FIS_CONFIGURATION_LOCATION": json.dumps("s3://bucket/FisConfigs/")}) is None


class SlowS3(FakeS3):
    """Reads wait until released: a read on the invocation's path would hang the test."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        super().__init__(objects)
        self.released = threading.Event()
        self.released.set()

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        assert self.released.wait(10), "the read was never released"
        return super().get_object(Bucket, Key)


def test_after_the_first_invocation_the_extension_reads_its_fault_in_the_background():
    s3 = SlowS3({})
    bucket, folder = location_of({"AWS_FIS_CONFIGURATION_LOCATION": "arn:aws:s3:::config-bucket/FisConfigs/"})
    polling = Extension("user-health", bucket, folder, s3)
    assert polling.injected_error() is None  # the first read, at the first invocation
    s3.objects["FisConfigs/user-health.json"] = fault(time.time() + 60)
    s3.released.clear()
    polling.read_at = time.monotonic() - POLL_SECONDS  # the next poll is due
    started = time.monotonic()
    assert polling.injected_error() is None  # answered from what was read, the read under way
    assert time.monotonic() - started < 5
    s3.released.set()
    assert wait_for(lambda: polling.injected_error() is not None, timeout=10)


class ListingClients:
    """FIS clients that record which regions were asked to list experiments."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, service: str, region: str) -> Any:
        asked = self.asked

        class Client:
            def list_experiments(self) -> dict[str, Any]:
                asked.append(region)
                return {"experiments": []}

        return Client()


def test_a_blacked_out_regions_experiments_are_not_listed_until_it_is_restored():
    from localcloud.fis.experiments import Experiments

    clients, out = ListingClients(), {EAST}
    experiments = Experiments([EAST, WEST], clients, "http://127.0.0.1:1", ReplicationPauses(), 1.0)
    experiments.out = lambda region: region in out
    experiments.stopped.set()  # one step, no wait after it

    experiments._step()
    assert clients.asked == [WEST]
    out.clear()
    experiments._step()
    assert clients.asked == [WEST, EAST, WEST]
