"""What the dashboard and the error-rate alarm count of the failures that Lambda's Errors metric
misses: an HTTP function answers an exception with a 500 instead of raising, and counts it as
its HandledErrors metric (functions/shared/http.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .graphs import PROJECT, ROOT, Graph

STACKS = ["us-east-1", "us-west-2"]


@pytest.fixture(params=STACKS)
def graph(request: pytest.FixtureRequest, graphs: dict[str, Graph]) -> Graph:
    return graphs[request.param]


def http_functions() -> set[str]:
    """The function folders whose handler routes through shared.http's resolver."""
    return {
        app.parent.name
        for app in (ROOT / "functions").glob("*/app.py")
        if "create_resolver(" in app.read_text()
    }


def _widget(graph: Graph, title: str) -> dict[str, Any]:
    body = json.loads(graph.one("aws:cloudwatch/dashboard:Dashboard")["inputs"]["dashboardBody"])
    return next(widget for widget in body["widgets"] if widget["properties"]["title"] == title)


def test_lambda_errors_widget_shows_the_handled_errors_of_every_http_function(graph):
    from shared.http import HANDLED_ERRORS

    rows = _widget(graph, "Lambda errors")["properties"]["metrics"]

    handled = [row for row in rows if row[:3] == [PROJECT, HANDLED_ERRORS, "service"]]
    assert {row[3] for row in handled} == http_functions() != set()
    assert all(row[-1]["label"] == f"{row[3]} (answered 500)" for row in handled)


def test_lambda_errors_widget_keeps_lambdas_errors_of_every_function(graph):
    rows = _widget(graph, "Lambda errors")["properties"]["metrics"]

    errors = {row[3] for row in rows if row[:3] == ["AWS/Lambda", "Errors", "FunctionName"]}
    functions = graph.of_type("aws:lambda/function:Function")
    assert errors == {function["outputs"]["name"] for function in functions}


def test_error_rate_alarm_counts_each_handled_error_once_through_the_user_apis_5xx(graph):
    """API Gateway's 5xx counts every 5xx answer, a function's own included; adding HandledErrors
    to the numerator would count each handled error twice and alarm at half the threshold."""
    # 5xx: "The number of server-side errors captured": https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html
    alarm = graph.one("aws:cloudwatch/metricAlarm:MetricAlarm", "error-rate")
    user_api = graph.one("aws:apigatewayv2/api:Api", "user-http")

    metrics = [query["metric"] for query in alarm["inputs"]["metricQueries"] if query.get("metric")]

    assert [(m["namespace"], m["metricName"]) for m in metrics] == [
        ("AWS/ApiGateway", "5xx"),
        ("AWS/ApiGateway", "Count"),
    ]
    assert all(m["dimensions"] == {"ApiId": user_api["id"], "Stage": "$default"} for m in metrics)
