"""DynamoDB global tables (version 2019.11.21), locally: each replica's stream is read and every
INSERT/MODIFY (its new image) and REMOVE (its keys) is applied to the table of the same name in
every other region of the global table. Conflicts resolve last writer wins on the stream record's
creation time. A write the replicator made comes back in the target's stream too; it is
recognised by its fingerprint (region, table, keys, new image) and not sent back, so nothing
loops. Each write that lands is reported (``Replicator.landed``) as AWS/DynamoDB
ReplicationLatency: the time from the source stream record's creation to the write in the
receiving region.

A replica region that is blacked out (``localcloud.blackout``) neither sends nor receives: its
stream is not read (``localcloud.streams.service``) and the writes meant for it wait, in order,
until it is back, then drain. DynamoDB does the same for a multi-Region eventually consistent
table: writes not yet propagated are held and propagated once the Region is back online, not lost
(https://docs.aws.amazon.com/prescriptive-guidance/latest/dynamodb-global-tables/evacuation-processes.html).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from localcloud.streams.records import canonical, epoch

REPLICA = "aws:dynamodb/tableReplica:TableReplica"


# How long the replicator remembers its own writes and the latest version of each item.
MEMORY_SECONDS = 300.0


Item = dict[str, Any]


def fingerprint(region: str, table: str, keys: Item, image: Item | None) -> str:
    """Identifies a write in one region's table: the stream record it causes carries the same."""
    return hashlib.sha256(canonical([region, table, keys, image]).encode()).hexdigest()


@dataclass(frozen=True, order=True)
class Version:
    """When a change was made (the stream record's time), ties broken by region and sequence."""

    at: float
    region: str
    sequence: int


@dataclass(frozen=True)
class Write:
    """A put (image) or delete (image None) the replicator makes in `region`'s table."""

    region: str
    table: str
    keys: Item
    image: Item | None
    version: Version
    fingerprint: str


@dataclass
class _Latest:
    version: Version
    keys: Item
    image: Item | None
    seen: float


@dataclass
class _Expected:
    """A write the replicator made whose stream record has not come back yet."""

    version: Version
    target: tuple[str, str]  # (region, item key)
    expires: float | None  # None while the write waits to be made (its region may be out)


class ReplicationLog:
    """Decides, for each stream record of a global table, what to write where so that every replica
    ends with the last writer's item, and recognises the replicator's own writes when they come
    back in a stream (they are not replicated again: no loops)."""

    def __init__(
        self,
        replicas: dict[str, list[str]],
        memory: float = MEMORY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.replicas = replicas  # table name -> regions holding a replica
        self.memory = memory
        self.clock = clock
        self.lock = threading.Lock()
        self.latest: dict[str, _Latest] = {}  # item key -> the winning change
        self.expected: dict[str, list[_Expected]] = {}  # fingerprint -> writes not yet seen again
        self.in_flight: dict[tuple[str, str], Version] = {}  # (region, item key) -> newest written
        self.pruned = clock()

    def plan(self, region: str, table: str, record: dict[str, Any]) -> list[Write]:
        """The writes that follow from one stream record of `table` in `region`."""
        stream = record["dynamodb"]
        keys = stream["Keys"]
        image = None if record["eventName"] == "REMOVE" else stream.get("NewImage")
        item = canonical([table, keys])
        with self.lock:
            now = self.clock()
            self._prune(now)
            echoed = self._claim(fingerprint(region, table, keys, image))
            latest = self.latest.get(item)
            writes: list[Write] = []
            if echoed is not None:
                held = echoed
            else:
                held = Version(
                    epoch(stream["ApproximateCreationDateTime"]), region, int(stream["SequenceNumber"])
                )
                if latest is None or held > latest.version:
                    latest = self.latest[item] = _Latest(held, keys, image, now)
                    writes += [
                        self._write(other, table, item, keys, image, held, now)
                        for other in self.replicas.get(table, [])
                        if other != region
                    ]
            # This replica holds an older change than the winner (a local write that lost, or a
            # replicated one that landed late) and the winner is not on its way: write it again.
            if latest is not None and held < latest.version:
                pending = self.in_flight.get((region, item))
                if pending is None or pending < latest.version:
                    writes.append(
                        self._write(region, table, item, latest.keys, latest.image, latest.version, now)
                    )
            return writes

    def cancel(self, write: Write) -> None:
        """`write` changed nothing (it deleted an absent item): no stream record will come back."""
        with self.lock:
            self._claim(write.fingerprint, version=write.version)

    def made(self, write: Write) -> None:
        """`write` reached its table: its stream record is remembered for MEMORY_SECONDS from now,
        however long it waited for its region (a blackout may outlast the memory)."""
        with self.lock:
            expires = self.clock() + self.memory
            for expected in self.expected.get(write.fingerprint, []):
                if expected.version == write.version and expected.expires is None:
                    expected.expires = expires
                    return

    def _write(
        self, region: str, table: str, item: str, keys: Item, image: Item | None, version: Version, now: float
    ) -> Write:
        mark = fingerprint(region, table, keys, image)
        self.expected.setdefault(mark, []).append(_Expected(version, (region, item), None))
        current = self.in_flight.get((region, item))
        if current is None or version > current:
            self.in_flight[(region, item)] = version
        return Write(region, table, keys, image, version, mark)

    def _claim(self, mark: str, version: Version | None = None) -> Version | None:
        waiting = self.expected.get(mark)
        if not waiting:
            return None
        index = next((i for i, e in enumerate(waiting) if version is None or e.version == version), None)
        if index is None:
            return None
        expected = waiting.pop(index)
        if not waiting:
            del self.expected[mark]
        if self.in_flight.get(expected.target) == expected.version:
            del self.in_flight[expected.target]
        return expected.version

    def _prune(self, now: float) -> None:
        if now - self.pruned < 10:
            return
        self.pruned = now
        for mark in list(self.expected):
            alive = [e for e in self.expected[mark] if e.expires is None or e.expires > now]
            if alive:
                self.expected[mark] = alive
            else:
                del self.expected[mark]
        waiting = {e.target for entries in self.expected.values() for e in entries}
        self.in_flight = {target: v for target, v in self.in_flight.items() if target in waiting}
        self.latest = {
            item: latest for item, latest in self.latest.items() if now - latest.seen < self.memory
        }


# (table, source region, receiving region, stream record's creation time, landed time), epoch s
Landed = Callable[[str, str, str, float, float], None]


class ReplicationPauses:
    """The replicas whose replication is paused (AWS FIS's aws:dynamodb:global-table-pause-replication):
    nothing is replicated to or from them; the changes queue and are applied on resume, in order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.paused: set[tuple[str, str]] = set()  # (table, region)

    def pause(self, table: str, region: str) -> None:
        with self.lock:
            self.paused.add((table, region))

    def resume(self, table: str, region: str) -> None:
        with self.lock:
            self.paused.discard((table, region))

    def holds(self, table: str, *regions: str) -> bool:
        with self.lock:
            return any((table, region) in self.paused for region in regions)


class Replicator:
    """Carries one region's table changes to the other replicas of its global table: in order for
    each receiving region, each region's queue apart, so one region out holds up no other."""

    def __init__(
        self,
        region: str,
        table: str,
        log_: ReplicationLog,
        clients: dict[str, Any],
        landed: Landed | None = None,
        out: Callable[[str], bool] = lambda region: False,
        pauses: ReplicationPauses | None = None,
    ) -> None:
        self.region = region
        self.table = table
        self.log = log_
        self.clients = clients  # region -> dynamodb client
        self.landed = landed  # told of every write that reached a replica (ReplicationLatency)
        self.out = out  # whether a region is blacked out: its writes wait
        self.pauses = pauses or ReplicationPauses()  # FIS's paused replicas: their writes wait too
        self.lock = threading.Lock()
        self.pending: dict[str, deque[Write]] = {other: deque() for other in clients}

    def accept(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            for write in self.log.plan(self.region, self.table, record):
                with self.lock:
                    self.pending.setdefault(write.region, deque()).append(write)

    def backlog(self, region: str) -> int:
        """How many writes wait to be made in `region`."""
        with self.lock:
            return len(self.pending.get(region, ()))

    def flush(self) -> None:
        """Make every waiting write whose region is up and not paused; the first failure is raised
        after the other regions' queues were tried (the failed write stays first in its queue)."""
        failure: Exception | None = None
        for region, queue in self.pending.items():
            if self._waits(region):
                continue
            try:
                self._drain(region, queue)
            except Exception as error:  # noqa: BLE001 - re-raised below, once every queue was tried
                failure = failure or error
        if failure is not None:
            raise failure

    def _waits(self, region: str) -> bool:
        """Whether writes to `region` wait: it is blacked out, or replication to it or from this
        region is paused (a paused replica neither receives nor sends)."""
        return self.out(region) or self.pauses.holds(self.table, self.region, region)

    def _drain(self, region: str, queue: deque[Write]) -> None:
        client = self.clients[region]
        while queue and not self._waits(region):
            puts = _leading_puts(queue)
            if len(puts) > 1:
                # A backlog drains in batches: one request, not one per write (a restored region's
                # queue drained at 12 writes a second under load, slower than it grew).
                _put_all(client, puts)
                landed = time.time()
                for write in puts:
                    self.log.made(write)
                with self.lock:
                    for _ in puts:
                        queue.popleft()
                if self.landed is not None:
                    for write in puts:
                        self.landed(write.table, write.version.region, write.region, write.version.at, landed)
                continue
            write = queue[0]
            applied = True
            if write.image is not None:
                client.put_item(TableName=write.table, Item=write.image)
                self.log.made(write)
            else:
                old = client.delete_item(TableName=write.table, Key=write.keys, ReturnValues="ALL_OLD")
                if old.get("Attributes"):
                    self.log.made(write)
                else:
                    self.log.cancel(write)
                    applied = False
            with self.lock:
                queue.popleft()
            if applied and self.landed is not None:
                # The change's own region and stream time (a repair write carries the winner's).
                self.landed(write.table, write.version.region, write.region, write.version.at, time.time())


# BatchWriteItem takes at most 25 requests, none two for one item:
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
BATCH_WRITES = 25


def _leading_puts(queue: deque[Write]) -> list[Write]:
    """The puts at the head of `queue`, in order, up to the first delete, the first write to an
    item already among them, or BATCH_WRITES: they can be made in one BatchWriteItem."""
    puts: list[Write] = []
    items: set[str] = set()
    for write in list(itertools.islice(queue, BATCH_WRITES)):
        key = canonical([write.table, write.keys])
        if write.image is None or key in items:
            break
        items.add(key)
        puts.append(write)
    return puts


def _put_all(client: Any, puts: list[Write]) -> None:
    """Every put in `puts` made, by BatchWriteItem; what it leaves unprocessed is sent again."""
    requests: dict[str, list[dict[str, Any]]] = {}
    for write in puts:
        requests.setdefault(write.table, []).append({"PutRequest": {"Item": write.image}})
    while requests:
        requests = client.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}


def global_tables(graphs: list[Any]) -> dict[str, list[str]]:
    """Table name -> the regions holding a replica, from the deployed TableReplica resources."""
    deployed = {graph.region for graph in graphs}
    tables: dict[str, list[str]] = {}
    for graph in graphs:
        for replica in graph.of_type(REPLICA):
            arn = replica["inputs"]["globalTableArn"]
            source, table = arn.split(":")[3], arn.rsplit("/", 1)[-1]
            regions = tables.setdefault(table, [source] if source in deployed else [])
            if graph.region not in regions:
                regions.append(graph.region)
    return {table: regions for table, regions in tables.items() if len(regions) > 1}
