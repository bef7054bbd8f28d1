"""The local FIS runs an experiment only as its role lets FIS: the trust policy must let
fis.amazonaws.com assume it for this experiment, and its policies must allow every call FIS
makes for an action, to begin it and to end it; otherwise the experiment fails and changes nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from localcloud.fis.experiments import INVOCATION_ERROR, PAUSE_REPLICATION, Experiments
from localcloud.streams.replication import ReplicationPauses

ACCOUNT, REGION = "123456789012", "us-west-2"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/drill-role"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:user-health"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/app-table"
BUCKET, FOLDER = "fault-configs", "FisConfigs/"
FAULT_OBJECTS = f"arn:aws:s3:::{BUCKET}/{FOLDER}*"

# As components/drill.py writes them (the e2e drill runs the program's own under this check).
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "fis.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnLike": {"aws:SourceArn": f"arn:aws:fis:{REGION}:{ACCOUNT}:experiment/*"},
            },
        }
    ],
}
PERMISSIONS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "dynamodb:DescribeTable",
                "dynamodb:GetResourcePolicy",
                "dynamodb:PutResourcePolicy",
                "dynamodb:DeleteResourcePolicy",
            ],
            "Resource": TABLE,
        },
        {"Effect": "Allow", "Action": "lambda:GetFunction", "Resource": [FUNCTION]},
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": FAULT_OBJECTS},
    ],
}


def trusting(**changes: Any) -> dict[str, Any]:
    """The trust policy with its statement's elements changed."""
    return {**TRUST, "Statement": [{**TRUST["Statement"][0], **changes}]}


def without(document: dict[str, Any], action: str) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    for statement in changed["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [name for name in actions if name != action]
    return changed


class FakeAws:
    """The AWS calls the local FIS makes, as the local admin."""

    def __init__(self, trust: dict[str, Any], permissions: dict[str, Any], action: str) -> None:
        self.trust, self.permissions, self.action = trust, permissions, action
        self.objects: dict[str, bytes] = {}
        self.written: list[str] = []
        self.functions_read: list[str] = []

    def __call__(self, service: str, region: str) -> Any:
        return self

    # IAM
    def get_role(self, RoleName: str) -> dict[str, Any]:
        return {"Role": {"Arn": ROLE, "AssumeRolePolicyDocument": self.trust}}

    def list_role_policies(self, RoleName: str) -> dict[str, Any]:
        return {"PolicyNames": ["drill-policy"]}

    def get_role_policy(self, RoleName: str, PolicyName: str) -> dict[str, Any]:
        return {"PolicyDocument": self.permissions}

    def list_attached_role_policies(self, RoleName: str) -> dict[str, Any]:
        return {"AttachedPolicies": []}

    # FIS, CloudWatch
    def get_experiment(self, id: str) -> dict[str, Any]:
        target = {"resourceArns": [FUNCTION if self.action == INVOCATION_ERROR else TABLE]}
        action = {"actionId": self.action, "parameters": {"duration": "PT1S"}, "targets": {"Targets": "t"}}
        return {"experiment": {"roleArn": ROLE, "actions": {"a": action}, "targets": {"t": target}}}

    def describe_alarms(self, AlarmNames: list[str]) -> dict[str, Any]:
        return {"MetricAlarms": []}

    # Lambda, S3
    def get_function(self, FunctionName: str) -> dict[str, Any]:
        self.functions_read.append(FunctionName)
        location = f"arn:aws:s3:::{BUCKET}/{FOLDER}"
        variables = {"AWS_FIS_CONFIGURATION_LOCATION": location}
        return {"Configuration": {"FunctionName": "user-health", "Environment": {"Variables": variables}}}

    def put_object(self, Bucket: str, Key: str, Body: bytes) -> None:
        self.objects[Key] = Body
        self.written.append(Key)

    def delete_object(self, Bucket: str, Key: str) -> None:
        del self.objects[Key]


def run(aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str], ReplicationPauses, list]:
    statuses: list[str] = []
    pauses = ReplicationPauses()
    paused: list[tuple[str, str]] = []
    monkeypatch.setattr(pauses, "pause", lambda table, region: paused.append((table, region)))
    experiments = Experiments([REGION], aws, "http://moto.invalid", pauses, scale=1000.0)
    monkeypatch.setattr(experiments, "_set", lambda region, id, status: statuses.append(status) or status)
    return experiments.run(REGION, "EXP1"), statuses, pauses, paused


def test_the_drill_role_as_the_program_writes_it_runs_the_invocation_error_to_its_end(monkeypatch):
    aws = FakeAws(TRUST, PERMISSIONS, INVOCATION_ERROR)

    final, statuses, _, _ = run(aws, monkeypatch)

    assert (final, statuses) == ("completed", ["initiating", "running", "completed"])
    assert aws.written == [f"{FOLDER}user-health.json"]
    assert aws.objects == {}  # deleted at the end


@pytest.mark.parametrize("missing", ["lambda:GetFunction", "s3:PutObject", "s3:DeleteObject"])
def test_without_a_call_the_invocation_error_needs_the_experiment_fails_and_injects_nothing(
    monkeypatch, missing
):
    aws = FakeAws(TRUST, without(PERMISSIONS, missing), INVOCATION_ERROR)

    final, statuses, _, _ = run(aws, monkeypatch)

    assert (final, statuses) == ("failed", ["initiating", "failed"])
    assert aws.written == []


@pytest.mark.parametrize("missing", ["dynamodb:PutResourcePolicy", "dynamodb:DeleteResourcePolicy"])
def test_without_a_call_the_pause_needs_the_experiment_fails_and_replication_goes_on(monkeypatch, missing):
    aws = FakeAws(TRUST, without(PERMISSIONS, missing), PAUSE_REPLICATION)

    final, _, _, paused = run(aws, monkeypatch)

    assert final == "failed"
    assert paused == []


def test_the_pause_runs_with_every_call_it_needs(monkeypatch):
    final, _, _, paused = run(FakeAws(TRUST, PERMISSIONS, PAUSE_REPLICATION), monkeypatch)

    assert final == "completed"
    assert paused == [("app-table", REGION)]


@pytest.mark.parametrize(
    "trust",
    [
        pytest.param(trusting(Principal={"Service": "lambda.amazonaws.com"}), id="another-service"),
        pytest.param(
            trusting(
                Condition={"ArnLike": {"aws:SourceArn": f"arn:aws:fis:us-east-1:{ACCOUNT}:experiment/*"}}
            ),
            id="experiments-of-another-region",
        ),
    ],
)
def test_a_role_that_does_not_trust_fis_for_this_experiment_fails_it_before_any_call(monkeypatch, trust):
    aws = FakeAws(trust, PERMISSIONS, INVOCATION_ERROR)

    final, statuses, _, _ = run(aws, monkeypatch)

    assert (final, statuses) == ("failed", ["initiating", "failed"])
    assert aws.functions_read == [] and aws.written == []
