"""The reliability figures `make bench` reports, checked at a smaller scale on every test run:
the click ledger under injected writer failures and a region failure, and throttling under
load. 127.0.0.1 only; every load is bounded in count and time."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from bench import ledger, load
from localcloud.slack import command_body

from .cloud import ROOT

pytestmark = pytest.mark.e2e
REGION = "us-east-1"


def test_every_accepted_click_is_stored_once_or_dead_lettered_while_a_region_fails(cloud):
    outcome = ledger.run(cloud.state, ledger.LedgerSettings(clicks=150), log=lambda _: None)

    assert outcome.accepted == 150, outcome.failed_clicks
    assert outcome.rejected == 0, outcome.failed_clicks
    assert outcome.lost == 0, outcome.lost_ids
    assert outcome.duplicated == 0
    assert outcome.lost_increments == 0
    assert outcome.stored_once + outcome.dead_lettered_and_handled == outcome.accepted
    # Moved off the failed region, by a click's 503 or by the client's health probe, whichever came first.
    assert outcome.failover["secondsToMoveOff"] is not None
    assert outcome.served_by.get("us-east-1", 0) > 0 and outcome.served_by.get("us-west-2", 0) > 0
    assert outcome.failover["userVisibleErrorsDuringFailure"] == 0
    assert outcome.holds()


def test_the_ledger_restores_both_regions_chaos_state(cloud):
    for region in cloud.state["regions"]:
        state = cloud.chaos_state(region)
        assert state["failed"] is False
        assert state.get("writerFailureRate", 0) == 0


@pytest.fixture
def refill():
    """After a load test, wait until the drained buckets are full again for the next tests."""
    waits: list[float] = []
    yield waits.append
    time.sleep(max(waits, default=0) + 1)


@pytest.fixture(scope="module")
def stages() -> dict[str, dict]:
    """The throttling the program configures, from `make synth` of the stack the cloud runs."""
    graph = json.loads(
        subprocess.run(
            [sys.executable, "-m", "tools.synth", REGION],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    return {
        resource["name"].split("-")[0]: resource["inputs"]
        for resource in graph["resources"]
        if resource["type"] == "aws:apigatewayv2/stage:Stage"
    }


def _limits(settings: dict) -> tuple[float, float]:
    return settings["throttlingRateLimit"], settings["throttlingBurstLimit"]


def _assert_within_limit(result: dict, rate: float) -> None:
    assert result["errors5xx"] == 0, result["statuses"]
    assert result["throttled"] > 0, result["statuses"]
    assert abs(result["steadyAcceptedPerSecond"] - rate) / rate <= 0.15, result


def test_user_api_accepts_its_stage_rate_under_twice_the_load_and_answers_the_rest_429(cloud, stages, refill):
    api = cloud.api(REGION)
    rate, burst = _limits(stages["user"]["defaultRouteSettings"])
    refill(burst / rate)
    result = load.run(load.Job("stage", f"{api}/health", "GET", offered=rate * 2, seconds=5))
    _assert_within_limit(result, rate)


def test_login_route_accepts_its_own_stricter_rate(cloud, stages, refill):
    api = cloud.api(REGION)
    route = next(r for r in stages["user"]["routeSettings"] if r["routeKey"] == "POST /login")
    rate, burst = _limits(route)
    refill(burst / rate)
    user = cloud.state["demoUser"]
    job = load.Job(
        "login",
        f"{api}/login",
        "POST",
        offered=rate * 2,
        seconds=6,
        body=json.dumps({"username": user["username"], "password": user["password"]}),
        headers={"content-type": "application/json"},
    )
    _assert_within_limit(load.run(job), rate)


def test_slack_api_accepts_its_stage_rate_of_signed_commands(cloud, stages, refill):
    api = cloud.state["regions"][REGION]["slackApi"]
    rate, burst = _limits(stages["slack"]["defaultRouteSettings"])
    refill(burst / rate)
    job = load.Job(
        "slack",
        f"{api}/slack/commands",
        "POST",
        offered=rate * 2,
        seconds=6,
        body=command_body(cloud.state["slack"]["teamId"], "status").decode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
        slack_secret=cloud.state["slack"]["signingSecret"],
    )
    _assert_within_limit(load.run(job), rate)
