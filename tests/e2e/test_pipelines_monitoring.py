"""Monitoring end to end: metrics from logs, functions and gateways reach the alarms, the alarms'
actions reach Slack, and the dashboard page draws live data. Time runs at the local cloud's
default scale (one second stands for a minute), so a 5 minute window lasts 5 seconds."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .cloud import CHROMIUM, CHROMIUM_ARGS, ROOT, http

pytestmark = pytest.mark.e2e
REGION = "us-east-1"
SCREENSHOT = ROOT / "test-artifacts" / "dashboard.png"  # gitignored; README screenshots are by hand


def _first_new(cloud, after: int, matches: Callable[[dict[str, Any]], bool], timeout: float, act=None):
    """The first inbox message after index `after` that matches, doing `act` between looks."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if act is not None:
            act()
        messages = cloud.inbox()
        for index, message in enumerate(messages[after:], start=after):
            if matches(message):
                return index, message
        time.sleep(0.25)
    return None, None


def test_failed_logins_over_the_threshold_post_the_top_usernames_and_source_ips_to_slack(cloud):
    api = cloud.api(REGION)
    username = f"mallory-{uuid.uuid4().hex[:8]}"
    before = len(cloud.inbox())
    failures = 0
    deadline = time.monotonic() + 10
    while failures < 7 and time.monotonic() < deadline:  # the threshold is 5 in 5 minutes (5 s here)
        reply = http("POST", f"{api}/login", {"username": username, "password": "not-the-password"})
        if reply.status == 429:  # the login route's own throttling; try again shortly
            time.sleep(0.2)
            continue
        assert reply.status == 401, reply.body
        failures += 1
    assert failures == 7

    _, alert = _first_new(
        cloud,
        before,
        lambda m: (
            m["text"].endswith(f"failed logins in {REGION} in the last 5 minutes")
            and username in json.dumps(m["blocks"])
        ),
        timeout=30,
    )
    assert alert is not None, "no failed-login alert with the offending username reached Slack within 30 s"
    blocks = json.dumps(alert["blocks"])
    assert "Failed logins over threshold" in blocks
    # Top usernames, with their counts: the alarm may go off at the threshold's 5th failure,
    # before the 6th and 7th are logged, so the count is anything from 5 to the 7 sent.
    counted = re.search(rf"`{re.escape(username)}` \((\d+)\)", blocks)
    assert counted is not None, blocks
    assert 5 <= int(counted.group(1)) <= 7, blocks
    assert "`127.0.0.1`" in blocks  # top source IPs


def test_error_rate_alarm_goes_to_alarm_with_errors_and_back_to_ok_without(cloud):
    api = cloud.api(REGION)
    headers = {"authorization": f"Bearer {cloud.token(REGION)}"}

    def click() -> None:
        http("POST", f"{api}/click", {}, headers)

    def alarm_message(state: str) -> Callable[[dict[str, Any]], bool]:
        return lambda m: f"{state}: monitoring-error-rate" in m["text"] and m["text"].endswith(f"in {REGION}")

    before = len(cloud.inbox())
    try:
        assert cloud.slack(REGION, "errors 1").status == 200
        alarmed_at, alarmed = _first_new(cloud, before, alarm_message("ALARM"), timeout=40, act=click)
        assert alarmed is not None, "the error-rate alarm did not reach Slack within 40 s of failing clicks"
        assert "User API 5xx responses above" in json.dumps(alarmed["blocks"])

        assert cloud.slack(REGION, "errors 0").status == 200
        _, recovered = _first_new(cloud, alarmed_at + 1, alarm_message("OK"), timeout=40, act=click)
        assert recovered is not None, "the error-rate alarm did not return to OK in Slack within 40 s"
        assert "Previous state*\\nALARM" in json.dumps(recovered["blocks"])
    finally:
        assert cloud.slack(REGION, "errors 0").status == 200


def _widget(region: dict[str, Any], title: str) -> dict[str, Any]:
    return next(widget for widget in region["widgets"] if widget["title"] == title)


def _points(widget: dict[str, Any]) -> int:
    return sum(value is not None for series in widget["series"] for value in series["values"])


CHARTED = ("Lambda invocations", "Lambda errors", "Dead letter queue depth")


def test_dashboard_endpoint_returns_live_series_for_every_widget_of_the_dashboard_body(cloud):
    http("GET", f"{cloud.api(REGION)}/health")
    http("POST", f"{cloud.api(REGION)}/login", {"username": "nobody", "password": "wrong-password"})
    url = f"{cloud.state['dashboard']}/api/dashboards"
    deadline = time.monotonic() + 20
    while True:
        data = http("GET", url).json()
        region = next(item for item in data["regions"] if item["region"] == REGION)
        if all(_points(_widget(region, title)) for title in CHARTED) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert {item["region"] for item in data["regions"]} == {"us-east-1", "us-west-2"}
    for title in CHARTED:
        assert _points(_widget(region, title)) > 0, f"{title} has no datapoints"
    invocations = _widget(region, "Lambda invocations")
    assert {"login", "health", "clicks"} <= {series["label"] for series in invocations["series"]}
    assert len(invocations["timestamps"]) == len(invocations["series"][0]["values"])
    assert {alarm["state"] for alarm in region["alarms"]} <= {"OK", "ALARM", "INSUFFICIENT_DATA"}
    assert any(alarm["name"].startswith("monitoring-failed-logins") for alarm in region["alarms"])


def test_dashboard_page_draws_the_charts_without_a_cdn(cloud):
    sync_api = pytest.importorskip("playwright.sync_api")
    dashboard = cloud.state["dashboard"]
    http("GET", f"{cloud.api(REGION)}/health")
    outside: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on(
                "request",
                lambda request: (
                    None if request.url.startswith("http://127.0.0.1") else outside.append(request.url)
                ),
            )
            page.goto(dashboard, timeout=15_000)
            selectors = [f'#region-{REGION} figure[data-title="{title}"]' for title in CHARTED]
            for selector in selectors:
                page.wait_for_selector(f"{selector} canvas", timeout=15_000)
            page.wait_for_function(
                "selectors => selectors.every(s => Number(document.querySelector(s)?.dataset.points) > 0)",
                arg=selectors,
                timeout=20_000,
            )
            assert page.locator("h1").inner_text() == "CloudWatch dashboards"
            assert page.locator(f"#region-{REGION} h2").inner_text().startswith(REGION)
            assert page.locator("a", has_text="App").get_attribute("href") == cloud.state["site"]
            assert page.locator("figure.widget canvas").count() >= 2 * len(CHARTED)
            Path(SCREENSHOT).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    assert outside == [], f"the page reached beyond the local cloud: {outside}"
