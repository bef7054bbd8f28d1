"""AWS FIS experiments, locally: each experiment moto records (StartExperiment from a function or a
tool) is run here as FIS runs it (https://docs.aws.amazon.com/fis/latest/userguide/experiments.html):
it does not start while a stop condition's alarm is in ALARM (failed); running, it starts every
action for its duration (time-scaled, ``LOCALCLOUD_TIME_SCALE``), stops them all when an alarm of
its stop conditions goes to ALARM (stopped), else when the longest ends (completed).

Actions emulated:
- ``aws:dynamodb:global-table-pause-replication``: the replicator holds every change to and from the
  target replica's region, and applies them in order when the action ends (``ReplicationPauses``);
- ``aws:lambda:invocation-error``: the fault written to each target function's configuration
  location (S3), which the function's extension reads (``localcloud.fis.extension``); deleted at the end.

Like the other local services that stand for AWS's own, it calls as the local admin: the
experiment role's policy is not evaluated here (README).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from localcloud.fis.extension import INVOCATION_ERROR, Fault, fault_key, location_of
from localcloud.poller import Poller
from localcloud.scheduler import Scheduler
from localcloud.streams.replication import ReplicationPauses

log = logging.getLogger("localcloud.fis")

PAUSE_REPLICATION = "aws:dynamodb:global-table-pause-replication"
# How soon a started experiment runs. Four polls a second of each region's FIS were a fifth of the
# idle local cloud's requests to moto; a drill's start is seconds either way.
POLL_SECONDS = 1.0
_DURATION = re.compile(r"PT(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)S)?")


def duration_seconds(value: str) -> float:
    """An ISO 8601 duration as FIS actions take it (PT1M, PT1H30M, PT90S)."""
    match = _DURATION.fullmatch(value)
    if not match or not any(match.groups()):
        raise ValueError(f"not an ISO 8601 duration: {value!r}")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


class Experiments:
    def __init__(
        self,
        regions: list[str],
        client: Callable[[str, str], Any],
        moto_url: str,
        pauses: ReplicationPauses,
        scale: float,
    ) -> None:
        self.regions = regions
        # (service, region) -> a client as the local admin, one of each kept (clients are
        # thread-safe): a new client for each poll of each region cost 3 to 10 ms, eight times a second.
        self.client = functools.cache(client)
        self.moto_url = moto_url
        self.pauses = pauses
        self.scale = scale
        self.seen: set[str] = set()
        # Whether a region is blacked out: its FIS is down with it, so its experiments wait.
        self.out: Callable[[str], bool] = lambda region: False
        self.stopped = threading.Event()
        self.runs = Scheduler("fis-experiments", 4)
        self.poller = Poller("fis", self._step, self.runs)

    def start(self) -> None:
        self.poller.start()

    def stop(self) -> None:
        self.stopped.set()
        self.poller.stop()
        self.poller.join(timeout=5)

    def _step(self) -> None:
        for region in self.regions:
            if self.out(region):
                continue
            try:
                found = self.client("fis", region).list_experiments()["experiments"]
            except Exception:
                log.exception("%s: could not list experiments", region)
                continue
            for summary in found:
                if summary["state"]["status"] == "pending" and summary["id"] not in self.seen:
                    self.seen.add(summary["id"])
                    self.runs.submit(self.run, region, summary["id"])
        self.stopped.wait(POLL_SECONDS)

    def run(self, region: str, experiment_id: str) -> str:
        """Runs one experiment to its end; its final status."""
        experiment = self.client("fis", region).get_experiment(id=experiment_id)["experiment"]
        alarms = [
            c["value"] for c in experiment.get("stopConditions", []) if c["source"] == "aws:cloudwatch:alarm"
        ]
        self._set(region, experiment_id, "initiating")
        if self._alarming(alarms):
            log.warning("%s: experiment %s not started: a stop condition is in ALARM", region, experiment_id)
            return self._set(region, experiment_id, "failed")
        actions = experiment["actions"]
        targets = experiment.get("targets", {})
        longest = max(
            duration_seconds(a.get("parameters", {}).get("duration", "PT0S")) for a in actions.values()
        )
        until = time.time() + longest / self.scale
        undo: list[Callable[[], None]] = []
        status = "completed"
        try:
            for action in actions.values():
                arns = [
                    arn
                    for name in action.get("targets", {}).values()
                    for arn in targets[name]["resourceArns"]
                ]
                undo += self._begin(action, arns, experiment_id, until)
            self._set(region, experiment_id, "running")
            while time.time() < until and not self.stopped.is_set():
                if self._alarming(alarms):
                    log.warning("%s: experiment %s stopped by its stop condition", region, experiment_id)
                    status = "stopped"
                    break
                self.stopped.wait(min(POLL_SECONDS, max(0.0, until - time.time())))
        except Exception:
            log.exception("%s: experiment %s failed", region, experiment_id)
            status = "failed"
        finally:
            for step in undo:
                try:
                    step()
                except Exception:
                    log.exception("%s: experiment %s: an action could not be ended", region, experiment_id)
        return self._set(region, experiment_id, status)

    def _begin(
        self, action: dict[str, Any], arns: list[str], experiment_id: str, until: float
    ) -> list[Callable[[], None]]:
        """Starts one action on its targets; how to end it."""
        if action["actionId"] == PAUSE_REPLICATION:
            ended: list[Callable[[], None]] = []
            for arn in arns:
                table, region = arn.rsplit("/", 1)[-1], arn.split(":")[3]
                self.pauses.pause(table, region)
                ended.append(functools.partial(self.pauses.resume, table, region))
            return ended
        if action["actionId"] == INVOCATION_ERROR:
            parameters = action.get("parameters", {})
            fault = Fault(
                experiment_id=experiment_id,
                action_id=INVOCATION_ERROR,
                percentage=float(parameters.get("invocationPercentage", "100")),
                prevent_execution=parameters.get("preventExecution", "false") == "true",
                until=until,
            )
            return [self._write_fault(arn, fault) for arn in arns]
        raise ValueError(f"the local cloud does not emulate the FIS action {action['actionId']}")

    def _write_fault(self, arn: str, fault: Fault) -> Callable[[], None]:
        """FIS reads the function's configuration location and writes the fault there."""
        region = arn.split(":")[3]
        configuration = self.client("lambda", region).get_function(FunctionName=arn)["Configuration"]
        where = location_of((configuration.get("Environment") or {}).get("Variables") or {})
        if where is None:
            raise ValueError(f"{arn} has no AWS_FIS_CONFIGURATION_LOCATION: FIS cannot inject into it")
        bucket, folder = where
        key = fault_key(folder, configuration["FunctionName"])
        s3 = self.client("s3", region)
        s3.put_object(Bucket=bucket, Key=key, Body=fault.to_json().encode())
        return lambda: s3.delete_object(Bucket=bucket, Key=key)

    def _alarming(self, alarm_arns: list[str]) -> bool:
        for arn in alarm_arns:
            region, name = arn.split(":")[3], arn.split(":alarm:", 1)[1]
            alarms = self.client("cloudwatch", region).describe_alarms(AlarmNames=[name])["MetricAlarms"]
            if any(alarm["StateValue"] == "ALARM" for alarm in alarms):
                return True
        return False

    def _set(self, region: str, experiment_id: str, status: str) -> str:
        request = urllib.request.Request(  # noqa: S310 - the local moto
            f"{self.moto_url}/_localcloud/fis/experiments",
            data=json.dumps({"region": region, "id": experiment_id, "status": status}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the local moto
            response.read()
        log.info("%s: experiment %s %s", region, experiment_id, status)
        return status
