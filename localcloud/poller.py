"""A service's polling loop: a daemon thread that calls one step until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from botocore.exceptions import ConnectionClosedError
from botocore.exceptions import ConnectionError as AwsConnectionError

from localcloud.scheduler import Scheduler

log = logging.getLogger("localcloud.events")


class Poller(threading.Thread):
    """A daemon thread that calls `step` until stopped, pausing after errors and while `paused()`
    (its region is blacked out); the scheduler its steps hand work to, if any, starts and stops
    with it."""

    PAUSED_POLL = 0.2

    def __init__(self, name: str, step: Callable[[], None], scheduler: Scheduler | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self.step = step
        self.scheduler = scheduler
        self.stopped = threading.Event()
        self.paused: Callable[[], bool] = lambda: False

    def start(self) -> None:
        if self.scheduler is not None:
            self.scheduler.start()
        super().start()

    def run(self) -> None:
        while not self.stopped.is_set():
            if self.paused():
                self.stopped.wait(self.PAUSED_POLL)
                continue
            try:
                self.step()
            except (AwsConnectionError, ConnectionClosedError) as error:
                if self.stopped.is_set():
                    return
                # What it polls did not answer (its region blacked out, say): one line, not a traceback.
                log.warning("%s: no answer, retrying: %s", self.name, error)
                self.stopped.wait(1)
            except Exception:
                if self.stopped.is_set():
                    return  # a step cut short by the stop: what it polls may be gone already
                log.exception("%s failed; retrying", self.name)
                self.stopped.wait(1)

    def stop(self) -> None:
        self.stopped.set()
        if self.scheduler is not None:
            self.scheduler.stop()
