"""A region's blackout, locally: which regions suffer a real outage now, and the link that tells
moto's process about it.

During a blackout a region is gone as in a regional outage, not a polite 503 from the app: its
HTTP APIs refuse connections, its Lambda functions run nothing (no invocation of any kind), its
services stop (event delivery, queue pollers, alarms, log and metric shipping wait), requests
signed for it reach no AWS endpoint (moto drops them: ``localcloud.motoserver``) and global-table
replication to and from it queues up (``localcloud.streams.replication``). Each local service of
the region asks ``Blackouts.is_out`` before doing its region's work; ``localcloud.cloud`` starts
and ends a blackout, ``localcloud.control`` is the API that asks it to.
"""

from __future__ import annotations

import socket
import threading
import time

# How long moto's process may take to confirm a blackout or restore.
LINK_TIMEOUT_SECONDS = 10.0


class Blackouts:
    """The regions out now, each with when its outage began (epoch seconds); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._out: dict[str, float] = {}

    def is_out(self, region: str) -> bool:
        return region in self._out  # one dict look-up: atomic, read on every invocation

    def since(self, region: str) -> float | None:
        with self._lock:
            return self._out.get(region)

    def begin(self, region: str) -> bool:
        """Black `region` out; False when it already was."""
        with self._lock:
            if region in self._out:
                return False
            self._out[region] = time.time()
            return True

    def end(self, region: str) -> bool:
        """End `region`'s blackout; False when it had none."""
        with self._lock:
            return self._out.pop(region, None) is not None


class MotoLink:
    """The parent's end of moto's blackout channel: a socket pair inherited by moto's process, so
    only the local cloud can black a region out of moto. An HTTP endpoint on moto's port would
    not do: every Lambda worker reaches that port, and a function could end an outage.

    One line per command (``blackout <region>`` or ``restore <region>``), answered ``ok``."""

    def __init__(self) -> None:
        self.ours, self.theirs = socket.socketpair()
        self.ours.settimeout(LINK_TIMEOUT_SECONDS)
        self.lock = threading.Lock()
        self.reader = self.ours.makefile("rb")

    def child_fd(self) -> int:
        """The descriptor moto's process inherits (``pass_fds``), then ``--blackout-fd``."""
        return self.theirs.fileno()

    def started(self) -> None:
        """The child has its copy: close ours of its end."""
        self.theirs.close()

    def send(self, command: str, region: str) -> None:
        with self.lock:
            self.ours.sendall(f"{command} {region}\n".encode())
            answer = self.reader.readline().decode().strip()
        if answer != "ok":
            raise RuntimeError(f"moto did not confirm {command} {region}: {answer or 'no answer'}")

    def close(self) -> None:
        self.reader.close()
        self.ours.close()
