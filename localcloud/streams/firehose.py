"""``FirehoseDeliveryStream`` with a Kinesis source, locally: the stream is read and buffered by the
buffering hints (size or interval, whichever comes first); each flush writes one S3 object under
the prefix with its ``!{timestamp:...}`` expressions expanded at flush time (UTC), named as
Firehose names objects, GZIP-compressed when configured, one JSON record per line.

``LOCALCLOUD_TIME_SCALE`` (default 60) is how many seconds of AWS time pass in one local second;
it shortens buffering intervals, so the archive's 60 s interval flushes every second locally.
Set it to 1 for AWS's timing.
"""

from __future__ import annotations

import gzip
import logging
import re
import secrets
import string
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from localcloud.streams.shards import KinesisReader

log = logging.getLogger("localcloud.streams")


# "Kinesis Firehose calls the Kinesis Streams GetRecords operation once per second for each shard"
# (https://docs.aws.amazon.com/firehose/latest/dev/writing-with-kinesis-streams.html), in local
# seconds too: four times a second, the two regions' eight on-demand shards were a third of the
# idle local cloud's requests to moto. The archive still flushes each second (its interval scaled).
FIREHOSE_POLL = 1.0


# Java DateTimeFormatter letters Firehose accepts in !{timestamp:...}, longest first.
_JAVA_TIME = {
    "yyyy": "%Y",
    "yy": "%y",
    "MM": "%m",
    "dd": "%d",
    "HH": "%H",
    "mm": "%M",
    "ss": "%S",
}
_JAVA_TOKEN = re.compile("|".join(sorted(_JAVA_TIME, key=len, reverse=True)))
_EXPRESSION = re.compile(r"!\{([^}:]+):([^}]*)\}")


def _random_string(length: int = 11) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def expand_prefix(prefix: str, at: datetime, error_output_type: str | None = None) -> str:
    """A Firehose S3 prefix with its expressions evaluated at `at` (UTC).

    Like Firehose, a prefix without expressions gets the default ``yyyy/MM/dd/HH/`` appended.
    """
    at = at.astimezone(UTC)
    if "!{" not in prefix:
        return f"{prefix}{at:%Y/%m/%d/%H}/"

    def evaluate(match: re.Match[str]) -> str:
        namespace, argument = match.group(1), match.group(2)
        if namespace == "timestamp":
            return _JAVA_TOKEN.sub(lambda token: at.strftime(_JAVA_TIME[token.group(0)]), argument)
        if namespace == "firehose" and argument == "random-string":
            return _random_string()
        if namespace == "firehose" and argument == "error-output-type" and error_output_type:
            return error_output_type
        raise ValueError(f"unsupported expression in Firehose prefix {prefix!r}: {match.group(0)}")

    return _EXPRESSION.sub(evaluate, prefix)


def object_key(prefix: str, delivery_name: str, at: datetime, compression: str) -> str:
    """Where one flush lands: ``<prefix><delivery stream>-1-<yyyy-MM-dd-HH-mm-ss>-<uuid>[.gz]``."""
    at = at.astimezone(UTC)
    suffix = ".gz" if compression == "GZIP" else ""
    return f"{expand_prefix(prefix, at)}{delivery_name}-1-{at:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}{suffix}"


def object_body(records: Iterable[bytes], compression: str) -> bytes:
    """One JSON record per line, compressed as configured."""
    body = b"".join(record.rstrip(b"\n") + b"\n" for record in records)
    return gzip.compress(body) if compression == "GZIP" else body


@dataclass(frozen=True)
class DeliveryConfig:
    name: str
    stream_name: str
    bucket: str
    prefix: str
    buffer_bytes: int
    buffer_seconds: float  # local seconds: the configured interval over the time scale
    compression: str

    @classmethod
    def from_resource(cls, resource: dict[str, Any], scale: float) -> DeliveryConfig:
        inputs = resource["inputs"]
        s3 = inputs.get("extendedS3Configuration") or inputs.get("s3Configuration") or {}
        compression = s3.get("compressionFormat", "UNCOMPRESSED")
        if compression not in ("GZIP", "UNCOMPRESSED"):
            log.warning(
                "%s: %s compression is not emulated; writing uncompressed", resource["name"], compression
            )
            compression = "UNCOMPRESSED"
        return cls(
            name=resource["outputs"].get("name", resource["id"]),
            stream_name=inputs["kinesisSourceConfiguration"]["kinesisStreamArn"].split(":stream/", 1)[1],
            bucket=s3["bucketArn"].split(":::", 1)[1],
            prefix=s3.get("prefix") or "",
            buffer_bytes=int(float(s3.get("bufferingSize", 5)) * 1024 * 1024),
            buffer_seconds=float(s3.get("bufferingInterval", 300)) / scale,
            compression=compression,
        )


@dataclass
class FirehoseDelivery:
    """A delivery stream with a Kinesis source and an S3 destination."""

    config: DeliveryConfig
    reader: KinesisReader
    s3: Any
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    buffer: list[bytes] = field(default_factory=list)
    size: int = 0
    since: float | None = None

    def accept(self, records: Iterable[bytes]) -> None:
        for data in records:
            if self.since is None:
                self.since = self.clock()
            self.buffer.append(data)
            self.size += len(data)

    def due(self) -> bool:
        if not self.buffer or self.since is None:
            return False
        return (
            self.size >= self.config.buffer_bytes or self.clock() - self.since >= self.config.buffer_seconds
        )

    def flush(self) -> str:
        """Writes the buffer as one object; returns its key. On failure the buffer is kept."""
        config = self.config
        key = object_key(config.prefix, config.name, self.now(), config.compression)
        self.s3.put_object(Bucket=config.bucket, Key=key, Body=object_body(self.buffer, config.compression))
        self.buffer, self.size, self.since = [], 0, None
        return key

    def step(self) -> float:
        self.accept(record["Data"] for record in self.reader.read())
        if self.due():
            self.flush()
        return FIREHOSE_POLL
