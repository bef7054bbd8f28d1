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

The experiment role decides, as in AWS, where FIS runs an experiment with the role it names
(https://docs.aws.amazon.com/fis/latest/userguide/getting-started-iam-service-role.html): its
trust policy must let ``fis.amazonaws.com`` assume it for this experiment (the context keys FIS
gives it: ``aws:SourceAccount``, and ``aws:SourceArn``, the experiment's ARN), and its
permission policies (inline and attached) must allow every call FIS makes for an action, on
its resources: for the invocation error, ``lambda:GetFunction`` on each target function and
``s3:PutObject`` and ``s3:DeleteObject`` on its fault's object; for the replication pause,
DescribeTable, GetResourcePolicy, PutResourcePolicy and DeleteResourcePolicy on each target
replica (the pause is a resource policy FIS puts on it and removes at the end). Otherwise the
experiment fails (``ExperimentRole``), and an action does not begin unless its end is allowed
too: where AWS would begin it and fail to end it, here it never begins. The calls themselves go
as the local admin, like the other local services that stand for AWS's own.
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
from localcloud.iam import policy
from localcloud.poller import Poller
from localcloud.scheduler import Scheduler
from localcloud.streams.replication import ReplicationPauses

log = logging.getLogger("localcloud.fis")

PAUSE_REPLICATION = "aws:dynamodb:global-table-pause-replication"
FIS_PRINCIPAL = "fis.amazonaws.com"
# What FIS calls on each target replica for the pause, to begin it and to end it.
PAUSE_CALLS = (
    "dynamodb:DescribeTable",
    "dynamodb:GetResourcePolicy",
    "dynamodb:PutResourcePolicy",
    "dynamodb:DeleteResourcePolicy",
)
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


class AccessDenied(Exception):
    """The experiment role may not do what FIS needs it for."""


class ExperimentRole:
    """An experiment's role as FIS uses it: assumed by ``fis.amazonaws.com`` for the experiment,
    its permission policies deciding each call FIS makes with it."""

    def __init__(self, iam: Any, role_arn: str, region: str, experiment_id: str) -> None:
        self.arn = role_arn
        self.account = role_arn.split(":")[4]
        name = role_arn.rsplit("/", 1)[-1]
        experiment_arn = f"arn:aws:fis:{region}:{self.account}:experiment/{experiment_id}"
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except Exception as error:  # NoSuchEntity: FIS cannot assume a role that does not exist
            raise AccessDenied(f"cannot assume {role_arn}: {error}") from error
        values = {"aws:SourceAccount": self.account, "aws:SourceArn": experiment_arn}
        if not policy.trusts(role["AssumeRolePolicyDocument"], "", FIS_PRINCIPAL, self.account, values):
            raise AccessDenied(f"{role_arn} does not trust {FIS_PRINCIPAL} for {experiment_arn}")
        self.policies: list[Any] = [
            iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
            for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]
        ]
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
            document = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)
            self.policies.append(document["PolicyVersion"]["Document"])
        self.caller = policy.Caller(
            account=self.account, arn=f"arn:aws:sts::{self.account}:assumed-role/{name}/{experiment_id}"
        )

    def check(self, action: str, resource: str) -> None:
        """AccessDenied unless the role's policies allow `action` on `resource`."""
        asked = policy.Request(action, resource, self.caller)
        if policy.evaluate(self.policies, asked, resource_policy=False) is not policy.Decision.ALLOW:
            raise AccessDenied(f"{self.arn} is not authorized to perform: {action} on resource: {resource}")


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
            role = ExperimentRole(self.client("iam", region), experiment["roleArn"], region, experiment_id)
            for action in actions.values():
                arns = [
                    arn
                    for name in action.get("targets", {}).values()
                    for arn in targets[name]["resourceArns"]
                ]
                undo += self._begin(action, arns, experiment_id, until, role)
            self._set(region, experiment_id, "running")
            while time.time() < until and not self.stopped.is_set():
                if self._alarming(alarms):
                    log.warning("%s: experiment %s stopped by its stop condition", region, experiment_id)
                    status = "stopped"
                    break
                self.stopped.wait(min(POLL_SECONDS, max(0.0, until - time.time())))
        except AccessDenied as denied:
            log.warning("%s: experiment %s failed: %s", region, experiment_id, denied)
            status = "failed"
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
        self, action: dict[str, Any], arns: list[str], experiment_id: str, until: float, role: ExperimentRole
    ) -> list[Callable[[], None]]:
        """Starts one action on its targets, once the role may begin and end it on every one;
        how to end it."""
        if action["actionId"] == PAUSE_REPLICATION:
            for arn in arns:
                for call in PAUSE_CALLS:
                    role.check(call, arn)
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
            locations = [self._fault_location(arn, role) for arn in arns]
            return [self._write_fault(bucket, key, fault, region) for bucket, key, region in locations]
        raise ValueError(f"the local cloud does not emulate the FIS action {action['actionId']}")

    def _fault_location(self, arn: str, role: ExperimentRole) -> tuple[str, str, str]:
        """FIS reads the function's configuration location: the bucket, key and region of its
        fault, once the role may write it and delete it."""
        region = arn.split(":")[3]
        role.check("lambda:GetFunction", arn)
        configuration = self.client("lambda", region).get_function(FunctionName=arn)["Configuration"]
        where = location_of((configuration.get("Environment") or {}).get("Variables") or {})
        if where is None:
            raise ValueError(f"{arn} has no AWS_FIS_CONFIGURATION_LOCATION: FIS cannot inject into it")
        bucket, folder = where
        key = fault_key(folder, configuration["FunctionName"])
        for call in ("s3:PutObject", "s3:DeleteObject"):
            role.check(call, f"arn:aws:s3:::{bucket}/{key}")
        return bucket, key, region

    def _write_fault(self, bucket: str, key: str, fault: Fault, region: str) -> Callable[[], None]:
        """FIS writes the fault where the function's extension reads it; deleted at the end."""
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
