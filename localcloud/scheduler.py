"""Work now or later on a bounded pool: the local cloud's services run their deliveries and
retries here, instead of a thread (and a sleep) per event.

One timer thread holds the delayed tasks in a heap and hands each to a thread pool of fixed
size when it is due; ``stop()`` drops whatever has not started and ends both.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger("localcloud")


class Scheduler:
    def __init__(self, name: str, workers: int) -> None:
        self.name = name
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self.due: list[tuple[float, int, Callable[..., Any], tuple[Any, ...]]] = []
        self.order = itertools.count()
        self.changed = threading.Condition()
        self.stopped = False
        self.timer = threading.Thread(target=self._hand_over, name=f"{name}-timer", daemon=True)

    def start(self) -> None:
        self.timer.start()

    def submit(self, task: Callable[..., Any], *args: Any, delay: float = 0.0) -> None:
        """Run `task(*args)` on the pool, after `delay` seconds."""
        with self.changed:
            if self.stopped:
                return
            if delay <= 0:
                self.pool.submit(self._run, task, args)
                return
            heapq.heappush(self.due, (time.monotonic() + delay, next(self.order), task, args))
            self.changed.notify()

    def _hand_over(self) -> None:
        with self.changed:
            while not self.stopped:
                if not self.due:
                    self.changed.wait()
                    continue
                wait = self.due[0][0] - time.monotonic()
                if wait > 0:
                    self.changed.wait(wait)
                    continue
                _, _, task, args = heapq.heappop(self.due)
                self.pool.submit(self._run, task, args)

    def _run(self, task: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            task(*args)
        except Exception:
            log.exception("%s: a task failed", self.name)

    def stop(self) -> None:
        with self.changed:
            self.stopped = True
            self.due.clear()
            self.changed.notify()
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.timer.is_alive():
            self.timer.join(timeout=5)
