"""Every region's table streams, Kinesis streaming destinations and Firehose deliveries, built from
the deployed resources and polled until stopped. Each table's stream is read once and handed to
each of its consumers (the replicator, the streaming destination). A blacked-out region's streams
and deliveries are not polled (``localcloud.blackout``); once it is restored they carry on from
where they stopped, and ``drains`` tells when the replication backlog for it was written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from localcloud.blackout import Blackouts
from localcloud.graph import Graph, aws_client
from localcloud.poller import Poller
from localcloud.settings import time_scale
from localcloud.streams.firehose import DeliveryConfig, FirehoseDelivery
from localcloud.streams.kinesis import StreamingDestination
from localcloud.streams.replication import (
    Landed,
    ReplicationLog,
    ReplicationPauses,
    Replicator,
    global_tables,
)
from localcloud.streams.shards import KinesisReader, TableStreamReader

log = logging.getLogger("localcloud.streams")


DESTINATION = "aws:dynamodb/kinesisStreamingDestination:KinesisStreamingDestination"
DELIVERY = "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"


# Fast while changes flow, slower when idle: replicas stay within ~0.5 s of each other.
ACTIVE_POLL = 0.2
IDLE_POLL = 0.5


class TableStream:
    """One region's table stream, read once and handed to each consumer."""

    def __init__(self, region: str, table: str, dynamodb: Any, streams: Any, consumers: list[Any]) -> None:
        self.region = region
        self.table = table
        self.dynamodb = dynamodb
        self.streams = streams
        self.consumers = consumers
        self.reader: TableStreamReader | None = None

    def open(self) -> None:
        arn = self.dynamodb.describe_table(TableName=self.table)["Table"]["LatestStreamArn"]
        self.reader = TableStreamReader(self.streams, {"StreamArn": arn})
        self.reader.open()

    def step(self) -> float:
        assert self.reader is not None, "open() first"
        records = self.reader.read()
        for consumer in self.consumers:
            consumer.accept(records)
        for consumer in self.consumers:
            try:
                consumer.flush()
            except (botocore.exceptions.ConnectionError, botocore.exceptions.ConnectionClosedError) as error:
                # Its destination did not answer (its region blacked out, say): one line, not a
                # traceback. Kept pending by the consumer; the next step retries it.
                log.warning("%s: %s could not deliver, kept: %s", self.table, type(consumer).__name__, error)
            except Exception:
                # Kept pending by the consumer; the next step retries it.
                log.exception("%s: %s could not deliver", self.table, type(consumer).__name__)
        return ACTIVE_POLL if records else IDLE_POLL


@dataclass
class Drain:
    """A restored region's replication backlog: its size at the restore and when it was written."""

    restored: float  # epoch seconds
    backlog: int
    drained: float | None = None


class Streams:
    """Every region's table streams, Kinesis streaming destinations and Firehose deliveries."""

    def __init__(
        self, graphs: list[dict[str, Any]], moto_url: str, blackouts: Blackouts | None = None
    ) -> None:
        self.graphs = [Graph(data) for data in graphs]
        self.moto_url = moto_url
        self.replicas = global_tables(self.graphs)
        self.log = ReplicationLog(self.replicas)
        self.pauses = ReplicationPauses()  # paused by the local FIS (localcloud.fis)
        self.landed: Landed | None = None  # set before start(): aws_metrics.replication_recorder
        self.blackouts = blackouts or Blackouts()
        self.scale = time_scale()
        self.tables: list[TableStream] = []
        self.replicators: list[Replicator] = []
        self.deliveries: list[FirehoseDelivery] = []
        self.pollers: list[Poller] = []
        self.drains: dict[str, Drain] = {}  # region -> its last restore's backlog
        self.drains_lock = threading.Lock()

    def backlog(self, region: str) -> int:
        """The replicated writes waiting to be made in `region`'s table."""
        return sum(replicator.backlog(region) for replicator in self.replicators)

    def restored(self, region: str) -> Drain:
        """`region` is back: its backlog drains from now on (see ``drains``)."""
        drain = Drain(time.time(), self.backlog(region))
        if drain.backlog == 0:
            drain.drained = drain.restored  # nothing waited for it
        with self.drains_lock:
            self.drains[region] = drain
        return drain

    def _note_drained(self) -> None:
        with self.drains_lock:
            waiting = [(region, drain) for region, drain in self.drains.items() if drain.drained is None]
        for region, drain in waiting:
            if not self.blackouts.is_out(region) and self.backlog(region) == 0:
                drain.drained = time.time()

    def _client(self, service: str, region: str) -> Any:
        return aws_client(service, region, self.moto_url)

    def _build(self) -> None:
        self._regions: dict[int, str] = {}  # a delivery -> its region
        for graph in self.graphs:
            region = graph.region
            consumers: dict[str, list[Any]] = {}
            for table, regions in self.replicas.items():
                if region in regions:
                    # Every replica's, its own included: a local write that lost to a newer one is
                    # repaired in this region's table (ReplicationLog.plan).
                    clients = {other: self._client("dynamodb", other) for other in regions}
                    replicator = Replicator(
                        region, table, self.log, clients, self.landed, self.blackouts.is_out, self.pauses
                    )
                    self.replicators.append(replicator)
                    consumers.setdefault(table, []).append(replicator)
            for destination in graph.of_type(DESTINATION):
                table = destination["inputs"]["tableName"]
                stream = destination["inputs"]["streamArn"].split(":stream/", 1)[1]
                kinesis = self._client("kinesis", region)
                consumers.setdefault(table, []).append(StreamingDestination(region, table, kinesis, stream))
            for table, wanted in consumers.items():
                self.tables.append(
                    TableStream(
                        region,
                        table,
                        self._client("dynamodb", region),
                        self._client("dynamodbstreams", region),
                        wanted,
                    )
                )
            for resource in graph.of_type(DELIVERY):
                if not (resource["inputs"].get("kinesisSourceConfiguration") or {}).get("kinesisStreamArn"):
                    continue  # direct PUT: moto's Firehose writes those itself
                config = DeliveryConfig.from_resource(resource, self.scale)
                reader = KinesisReader(self._client("kinesis", region), {"StreamName": config.stream_name})
                self.deliveries.append(FirehoseDelivery(config, reader, self._client("s3", region)))
                self._regions[id(self.deliveries[-1])] = region

    def start(self) -> None:
        """Positions every reader at LATEST, then starts polling: no change after this is missed."""
        self._build()
        for table in self.tables:
            table.open()
            self.pollers.append(
                _poller(
                    f"table stream {table.region} {table.table}", self._stepping(table.region, table.step)
                )
            )
        for delivery in self.deliveries:
            delivery.reader.open()
            region = self._regions[id(delivery)]
            self.pollers.append(
                _poller(f"firehose {delivery.config.name}", self._stepping(region, delivery.step))
            )
        for poller in self.pollers:
            poller.start()

    def _stepping(self, region: str, step: Callable[[], float]) -> Callable[[], float]:
        """`step`, skipped while `region` is out; a restored region's drain noted after each."""

        def maybe() -> float:
            if self.blackouts.is_out(region):
                return IDLE_POLL
            wait = step()
            self._note_drained()
            return wait

        return maybe

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop()
        for poller in self.pollers:
            poller.join(timeout=5)


def _poller(name: str, step: Callable[[], float]) -> Poller:
    """A Poller that waits (interruptibly) as long as `step` asks between calls."""

    def wait_as_asked() -> None:
        poller.stopped.wait(step())

    poller = Poller(name, wait_as_asked)
    return poller
