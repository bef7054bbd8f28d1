"""Waiting in tests: for the condition a test asserts, with a deadline, never for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float, interval: float = 0.1) -> T:
    """`check()`'s first truthy result within `timeout` seconds, else its last (falsy) one.

    The local cloud's caches, queues, threads and timers run at the machine's speed, which on a
    shared CI machine varies a lot."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)
