"""The AWS FIS Lambda extension, locally. In AWS it is a layer that runs in the function's
environment as its execution role, reads the fault FIS wrote to the function's configuration
location (``AWS_FIS_CONFIGURATION_LOCATION``, an S3 ARN and folder) and injects it
(https://docs.aws.amazon.com/fis/latest/userguide/use-lambda-actions.html). Here the runner asks it
before each invocation: it reads the function's fault object as the function's role (so the role
needs s3:GetObject there, as the extension's does), at the first invocation and then in the
background, at most every ``POLL_SECONDS``, as the extension polls beside the function: a read on
the invocation's path cost every polled invocation an S3 round trip (the click's p50 gateway
overhead in make bench went from 4.4 to 6.8 ms).

The object's format is the local FIS's own (``fault_key``, ``Fault``); AWS's is the extension's
business and not documented.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

LOCATION = "AWS_FIS_CONFIGURATION_LOCATION"
INVOCATION_ERROR = "aws:lambda:invocation-error"
# Faster than the extension's own polling, so that a drill of one minute at the default time scale
# (one second) is seen.
POLL_SECONDS = 0.2


def location_of(environment: dict[str, str]) -> tuple[str, str] | None:
    """(bucket, folder) of a function's configuration location, None without one."""
    location = environment.get(LOCATION, "")
    if not location.startswith("arn:aws:s3:::"):
        return None
    bucket, _, folder = location.removeprefix("arn:aws:s3:::").partition("/")
    return bucket, folder


def fault_key(folder: str, function_name: str) -> str:
    return f"{folder}{function_name}.json"


@dataclass(frozen=True)
class Fault:
    experiment_id: str
    action_id: str
    percentage: float
    prevent_execution: bool
    until: float  # time.time()

    def to_json(self) -> str:
        return json.dumps(self.__dict__)


class Extension:
    def __init__(self, function_name: str, bucket: str, folder: str, s3: Any) -> None:
        self.key = fault_key(folder, function_name)
        self.bucket = bucket
        self.s3 = s3  # as the function's execution role
        self.lock = threading.Lock()
        self.read_at: float | None = None  # None: never read
        self.reading = False
        self.fault: Fault | None = None

    def _current(self) -> Fault | None:
        with self.lock:
            first = self.read_at is None
            due = not first and not self.reading and time.monotonic() - (self.read_at or 0) >= POLL_SECONDS
            if first or due:
                self.read_at, self.reading = time.monotonic(), True
        if first:
            self._refresh()
        elif due:
            threading.Thread(target=self._refresh, name=f"fis-extension-{self.key}", daemon=True).start()
        with self.lock:
            fault = self.fault
        return fault if fault is not None and fault.until > time.time() else None

    def _refresh(self) -> None:
        fault = self._read()
        with self.lock:
            self.fault, self.reading = fault, False

    def _read(self) -> Fault | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
            return Fault(**json.loads(body))
        except Exception:  # noqa: BLE001 - no fault written (NoSuchKey), or not readable as the role
            return None

    def injected_error(self) -> dict[str, str] | None:
        """The error this invocation fails with, None when it runs."""
        fault = self._current()
        if fault is None or fault.action_id != INVOCATION_ERROR or random.random() * 100 >= fault.percentage:  # noqa: S311
            return None
        return {
            "errorType": "FisInjectedError",
            "errorMessage": f"AWS FIS injected an invocation error (experiment {fault.experiment_id})",
        }
