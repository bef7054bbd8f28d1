"""CloudWatch Logs, locally: the functions' and gateways' log lines, batched into moto and mirrored
to files under the state directory.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localcloud.graph import aws_client

log = logging.getLogger("localcloud")


class LogShipper(threading.Thread):
    """Batches log lines into CloudWatch Logs (moto) and mirrors them to .localcloud/logs/."""

    def __init__(self, region: str, endpoint: str, directory: Path) -> None:
        super().__init__(name=f"logs-{region}", daemon=True)
        self.logs = aws_client("logs", region, endpoint)
        self.clients: dict[str, Any] = {}  # log group -> the client its lines are shipped with
        self.directory = directory
        self.lines: queue.Queue[tuple[str, str, str, int]] = queue.Queue()
        self.streams: set[tuple[str, str]] = set()
        # Whether the region is blacked out (set by the local cloud): lines wait for its restore.
        self.out: Callable[[], bool] = lambda: False
        directory.mkdir(parents=True, exist_ok=True)

    def ship_as(self, group: str, client: Any) -> None:
        """Ship the lines of `group` with `client` (a function's role) instead of the admin's."""
        self.clients[group] = client

    def ship(self, group: str, stream: str, line: str) -> None:
        self.lines.put((group, stream, line, int(time.time() * 1000)))

    def run(self) -> None:
        while True:
            batch = [self.lines.get()]
            time.sleep(0.2)
            while not self.lines.empty() and len(batch) < 5000:
                batch.append(self.lines.get_nowait())
            while self.out():
                time.sleep(0.2)
            self._flush(batch)

    def _flush(self, batch: list[tuple[str, str, str, int]]) -> None:
        grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for group, stream, line, timestamp in batch:
            if not line:
                continue  # CloudWatch Logs takes no empty message (PutLogEvents: length 1 or more)
            grouped.setdefault((group, stream), []).append({"timestamp": timestamp, "message": line})
        for (group, stream), events in grouped.items():
            file = self.directory / (re.sub(r"[^A-Za-z0-9_.-]+", "_", group.strip("/")) + ".log")
            with file.open("a") as handle:
                handle.writelines(event["message"] + "\n" for event in events)
            client = self.clients.get(group, self.logs)
            try:
                if (group, stream) not in self.streams:
                    client.create_log_stream(logGroupName=group, logStreamName=stream)
                    self.streams.add((group, stream))
                client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
            except Exception:
                log.exception("could not ship logs to %s", group)
