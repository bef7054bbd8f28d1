"""Global-table replication during a blackout: the writes meant for a blacked-out region wait in
order, another region's writes go on, and the queue drains once the region is back; a write that
waited longer than the replicator's memory is still recognised when it comes back in a stream."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from localcloud.streams.replication import MEMORY_SECONDS, ReplicationLog, Replicator
from localcloud.streams.service import Streams

EAST, WEST, EU = "us-east-1", "us-west-2", "eu-west-1"
TABLE = "active-active-table"


class FakeTable:
    """A replica's table as the replicator's dynamodb client sees it: the puts, in order."""

    def __init__(self) -> None:
        self.puts: list[dict[str, Any]] = []

    def put_item(self, TableName: str, Item: dict[str, Any]) -> None:
        self.puts.append(Item)


def item(views: int) -> dict[str, Any]:
    return {"pk": {"S": "USER#u1"}, "sk": {"S": "VIEWS#us-east-1"}, "views": {"N": str(views)}}


def record(views: int, sequence: int, created: float = 1_000.0) -> dict[str, Any]:
    image = item(views)
    return {
        "eventName": "MODIFY",
        "dynamodb": {
            "Keys": {"pk": image["pk"], "sk": image["sk"]},
            "NewImage": image,
            "SequenceNumber": str(sequence),
            "ApproximateCreationDateTime": datetime.fromtimestamp(created + sequence, UTC),
        },
    }


def test_writes_for_a_blacked_out_region_wait_and_drain_in_order_once_it_is_back():
    out = {WEST}
    tables = {WEST: FakeTable(), EU: FakeTable()}
    east = Replicator(EAST, TABLE, ReplicationLog({TABLE: [EAST, WEST, EU]}), tables, out=out.__contains__)
    east.accept([record(views, sequence=views) for views in (1, 2, 3)])
    east.flush()
    assert tables[WEST].puts == []
    assert east.backlog(WEST) == 3
    # The region that is up is not held up by the one that is out.
    assert [put["views"]["N"] for put in tables[EU].puts] == ["1", "2", "3"]
    out.clear()
    east.flush()
    assert [put["views"]["N"] for put in tables[WEST].puts] == ["1", "2", "3"]
    assert east.backlog(WEST) == 0


def test_a_write_made_after_a_long_blackout_is_not_replicated_back_when_its_record_returns():
    now = [0.0]
    log = ReplicationLog({TABLE: [EAST, WEST]}, clock=lambda: now[0])
    out = {WEST}
    west_table = FakeTable()
    east = Replicator(EAST, TABLE, log, {WEST: west_table}, out=out.__contains__)
    east.accept([record(7, sequence=1)])
    now[0] += MEMORY_SECONDS * 2  # the blackout outlasts the replicator's memory
    out.clear()
    east.flush()
    assert west_table.puts == [item(7)]
    # The write's own record in us-west-2's stream: nothing goes back to us-east-1.
    echo = record(7, sequence=50, created=5_000.0)
    now[0] += 11  # past a pruning
    assert log.plan(WEST, TABLE, echo) == []


def test_a_local_write_that_lost_to_a_newer_one_is_repaired_in_its_own_region():
    log = ReplicationLog({TABLE: [EAST, WEST]})
    tables = {EAST: FakeTable(), WEST: FakeTable()}
    east = Replicator(EAST, TABLE, log, tables)
    assert [w.region for w in log.plan(WEST, TABLE, record(9, sequence=20))] == [
        EAST
    ]  # newer, from us-west-2
    assert log.plan(EAST, TABLE, record(9, sequence=30)) == []  # it landed in us-east-1: its echo
    east.accept([record(1, sequence=1)])  # an older local write, read late, landed over it
    east.flush()
    assert tables[EAST].puts == [item(9)]


def test_a_restore_reports_the_backlog_and_when_it_drained():
    streams = Streams([], "http://127.0.0.1:1")
    tables = {WEST: FakeTable()}
    east = Replicator(
        EAST, TABLE, ReplicationLog({TABLE: [EAST, WEST]}), tables, out=streams.blackouts.is_out
    )
    streams.replicators.append(east)
    streams.blackouts.begin(WEST)
    east.accept([record(views, sequence=views) for views in (1, 2)])
    drain = streams.restored(WEST)
    assert (drain.backlog, drain.drained) == (2, None)
    streams.blackouts.end(WEST)
    east.flush()
    streams._note_drained()
    assert drain.drained is not None and drain.drained >= drain.restored
    assert streams.backlog(WEST) == 0


def test_a_restore_with_nothing_queued_is_drained_at_once():
    streams = Streams([], "http://127.0.0.1:1")
    drain = streams.restored(WEST)
    assert (drain.backlog, drain.drained) == (0, drain.restored)


class BatchingTable(FakeTable):
    """A table that also takes BatchWriteItem, leaving the first request's last put unprocessed."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        (requests,) = RequestItems.values()
        first = not self.batches
        self.batches.append(len(requests))
        done, left = (requests[:-1], requests[-1:]) if first else (requests, [])
        self.puts += [request["PutRequest"]["Item"] for request in done]
        return {"UnprocessedItems": {TABLE: left} if left else {}}


def user_record(user: int, views: int, sequence: int) -> dict[str, Any]:
    change = record(views, sequence)
    for image in (change["dynamodb"]["Keys"], change["dynamodb"]["NewImage"]):
        image["pk"] = {"S": f"USER#u{user}"}
    return change


def test_a_drained_backlog_is_written_in_batches_of_distinct_items_in_order():
    out = {WEST}
    west = BatchingTable()
    landed: list[tuple[str, str]] = []
    east = Replicator(
        EAST,
        TABLE,
        ReplicationLog({TABLE: [EAST, WEST]}),
        {WEST: west},
        landed=lambda table, source, receiving, created, at: landed.append((source, receiving)),
        out=out.__contains__,
    )
    # 30 users' counters, then user 0's again: never two writes to one item in a batch.
    east.accept([user_record(user, 1, sequence=user + 1) for user in range(30)])
    east.accept([user_record(0, 2, sequence=31)])
    east.flush()
    assert east.backlog(WEST) == 31
    out.clear()
    east.flush()
    # 25 (one left unprocessed and sent again), then the 5 other users with user 0's second write.
    assert west.batches == [25, 1, 6]
    assert [(put["pk"]["S"], put["views"]["N"]) for put in west.puts][-2:] == [
        ("USER#u29", "1"),
        ("USER#u0", "2"),
    ]
    assert len(west.puts) == 31 and east.backlog(WEST) == 0
    assert landed == [(EAST, WEST)] * 31


def test_a_second_write_to_an_item_waits_for_the_next_batch():
    out = {WEST}
    west = BatchingTable()
    east = Replicator(EAST, TABLE, ReplicationLog({TABLE: [EAST, WEST]}), {WEST: west}, out=out.__contains__)
    east.accept([user_record(1, 1, sequence=1), user_record(2, 1, sequence=2), user_record(1, 2, sequence=3)])
    east.flush()
    out.clear()
    east.flush()
    # A batch of users 1 and 2 (its last put unprocessed and sent again), then user 1's newer write alone.
    assert west.batches == [2, 1]
    assert [(put["pk"]["S"], put["views"]["N"]) for put in west.puts] == [
        ("USER#u1", "1"),
        ("USER#u2", "1"),
        ("USER#u1", "2"),
    ]
