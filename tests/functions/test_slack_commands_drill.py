"""`/chaos drill <region> <minutes>` and the drills `/chaos status` shows: signed commands in,
AWS FIS experiments (moto) started from the region's published templates, or nothing changed."""

from __future__ import annotations

import json
import threading

import boto3
import pytest
from conftest import APP, PRIMARY, SECONDARY, body_of
from slack_helpers import chaos_values, signed_command

ROLE = "arn:aws:iam::123456789012:role/drill"


@pytest.fixture
def handler():
    from slack_commands.app import handler

    return handler


def publish_drills(region: str, minutes=(1, 5)) -> dict[int, str]:
    """Templates as the Drill component makes them, and the parameter naming them by minutes."""
    fis = boto3.client("fis", region_name=region)
    templates = {}
    for length in minutes:
        template = fis.create_experiment_template(
            clientToken=f"drill-{region}-{length}",
            description=f"{region} outage drill, {length} min",
            roleArn=ROLE,
            stopConditions=[{"source": "none"}],
            actions={
                "wait": {"actionId": "aws:fis:wait", "parameters": {"duration": f"PT{length}M"}},
            },
            tags={"app": APP},
        )["experimentTemplate"]
        templates[length] = template["id"]
    boto3.client("ssm", region_name=region).put_parameter(
        Name=f"/{APP}/drill/{region}",
        Type="String",
        Value=json.dumps({str(length): template for length, template in templates.items()}),
    )
    return templates


def experiments(region: str) -> list[dict]:
    return boto3.client("fis", region_name=region).list_experiments()["experiments"]


def reply_to(handler, context, text: str) -> dict:
    response = handler(signed_command(text), context)
    assert response["statusCode"] == 200, response["body"]
    return body_of(response)


def test_drill_starts_that_regions_template_for_those_minutes(aws, handler, context):
    templates = publish_drills(SECONDARY)

    reply = reply_to(handler, context, f"drill {SECONDARY} 5")

    (experiment,) = experiments(SECONDARY)
    assert experiment["experimentTemplateId"] == templates[5]
    assert reply["response_type"] == "in_channel"
    assert f"5-minute outage drill started in {SECONDARY}" in reply["text"]
    assert experiment["id"] in reply["text"]
    assert experiments(PRIMARY) == []


def test_drill_of_a_length_the_region_lacks_lists_its_lengths_and_starts_nothing(aws, handler, context):
    publish_drills(SECONDARY)

    reply = reply_to(handler, context, f"drill {SECONDARY} 7")

    assert reply["response_type"] == "ephemeral"
    assert f"`{SECONDARY}` has no 7-minute drill; its drills last 1, 5 minutes" in reply["text"]
    assert experiments(SECONDARY) == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"drill {SECONDARY}", "`drill` needs a region and a number of minutes"),
        (f"drill {SECONDARY} five", "the drill length must be a whole number of minutes"),
        (f"drill {SECONDARY} 0", "the drill length must be a whole number of minutes"),
        (f"drill {SECONDARY} 1.5", "the drill length must be a whole number of minutes"),
        (f"drill {SECONDARY} -1", "the drill length must be a whole number of minutes"),
        (f"drill {SECONDARY} 1000", "the drill length must be a whole number of minutes"),
        ("drill mars-east-1 5", "unknown region `mars-east-1`"),
        (f"drill {SECONDARY} 5 now", "`drill` got unexpected arguments: `now`"),
    ],
)
def test_malformed_drill_answers_ephemeral_and_changes_nothing(aws, handler, context, text, reason):
    publish_drills(SECONDARY)
    before = chaos_values()

    reply = reply_to(handler, context, text)

    assert reply["response_type"] == "ephemeral"
    assert reason in reply["text"]
    assert "`/chaos drill <region> <minutes>`" in reply["text"]
    assert experiments(SECONDARY) == []
    assert chaos_values() == before


def test_drill_in_a_region_without_templates_starts_nothing(aws, handler, context):
    reply = reply_to(handler, context, f"drill {SECONDARY} 1")

    assert reply["response_type"] == "ephemeral"
    assert f"`{SECONDARY}` has no 1-minute drill; its drills last none minutes" in reply["text"]
    assert experiments(SECONDARY) == []


def test_status_shows_a_running_drill_in_its_region_only(aws, handler, context):
    publish_drills(SECONDARY)
    publish_drills(PRIMARY)
    reply_to(handler, context, f"drill {SECONDARY} 1")
    (experiment,) = experiments(SECONDARY)

    status = reply_to(handler, context, "status")["text"]

    (secondary,) = [line for line in status.splitlines() if f"`{SECONDARY}`" in line]
    (primary,) = [line for line in status.splitlines() if f"`{PRIMARY}`" in line]
    assert f"*DRILL pending* (1 min, experiment `{experiment['id']}`, until " in secondary
    assert "DRILL" not in primary


def test_status_says_drills_are_unknown_where_their_templates_are_unreadable(aws, handler, context):
    boto3.client("ssm", region_name=SECONDARY).put_parameter(
        Name=f"/{APP}/drill/{SECONDARY}", Type="String", Value="not json"
    )

    status = reply_to(handler, context, "status")["text"]

    (secondary,) = [line for line in status.splitlines() if f"`{SECONDARY}`" in line]
    assert f"`{SECONDARY}`'s drill templates are malformed" in secondary
    assert f"`{SECONDARY}`: ok, error rate 0%" in secondary


def test_status_reads_each_regions_state_and_drill_templates_in_one_call(aws, handler, context):
    from shared import aws as clients

    publish_drills(SECONDARY)
    publish_drills(PRIMARY)
    calls: list[tuple[str, str]] = []
    for region in (PRIMARY, SECONDARY):
        clients.client("ssm", region).meta.events.register(
            "before-call.ssm",
            lambda model, region=region, **_: calls.append((region, model.name)),
        )

    status = reply_to(handler, context, "status")["text"]

    assert f"`{SECONDARY}`: ok, error rate 0%" in status
    for region in (PRIMARY, SECONDARY):
        reads = [name for where, name in calls if where == region and name.startswith("GetParameter")]
        if region == PRIMARY:
            reads.remove("GetParameter")  # the signing secret
            reads.remove("GetParametersByPath")  # the registry
        assert reads == ["GetParameters"], (region, calls)


def test_status_lists_each_regions_drills_while_it_reads_their_states(aws, handler, context):
    from shared import aws as clients

    publish_drills(SECONDARY)
    publish_drills(PRIMARY)
    listed = {region: threading.Event() for region in (PRIMARY, SECONDARY)}
    state_read_waited: dict[str, bool] = {}
    for region in (PRIMARY, SECONDARY):
        clients.client("fis", region).meta.events.register(
            "before-call.fis.ListExperiments", lambda region=region, **_: listed[region].set()
        )
        # Less than the store's deadline: read one after the other, the states would still answer.
        clients.client("ssm", region).meta.events.register(
            "before-call.ssm.GetParameters",
            lambda region=region, **_: state_read_waited.update({region: listed[region].wait(timeout=0.8)}),
        )

    status = reply_to(handler, context, "status")["text"]

    assert state_read_waited == {PRIMARY: True, SECONDARY: True}
    assert f"`{SECONDARY}`: ok, error rate 0%" in status


def test_status_reads_no_drill_templates_where_the_state_read_failed(aws, handler, context):
    from botocore.exceptions import ConnectionClosedError
    from shared import aws as clients

    publish_drills(SECONDARY)
    calls: list[str] = []

    def unreachable(model, **_):
        calls.append(model.name)
        raise ConnectionClosedError(endpoint_url=f"https://ssm.{SECONDARY}.amazonaws.com/")

    clients.client("ssm", SECONDARY).meta.events.register("before-call.ssm", unreachable)

    status = reply_to(handler, context, "status")["text"]

    (secondary,) = [line for line in status.splitlines() if f"`{SECONDARY}`" in line]
    assert f"`{SECONDARY}`: unknown (ConnectionClosedError)" in secondary
    assert (
        f"drills unknown (`{SECONDARY}`'s drill templates are unreadable (ConnectionClosedError))"
        in secondary
    )
    assert calls == ["GetParameters"]
