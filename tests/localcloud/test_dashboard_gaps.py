"""The local dashboard draws periods without data as gaps, as CloudWatch does."""

from __future__ import annotations

from pathlib import Path

from localcloud.cloudwatch.dashboard import PERIODS, widget_data
from localcloud.cloudwatch.metrics import RegionMetrics, dimensions

ROOT = Path(__file__).resolve().parents[2]
SCALE = 60.0  # one real second per AWS minute
NOW = 1_800_000_000.0  # a period boundary at 60 s periods and this scale
PROPERTIES = {
    "title": "Invocations",
    "period": 60,
    "stat": "Sum",
    "metrics": [["AWS/Lambda", "Invocations", "FunctionName", "clicks"]],
}


def metrics_with(*ages: float) -> RegionMetrics:
    """A region's in-memory metrics with one Invocations datapoint this many real seconds ago."""
    metrics = RegionMetrics("us-east-1", cloudwatch=None, retention_seconds=3600)
    for age in ages:
        metrics.put("AWS/Lambda", "Invocations", {"FunctionName": "clicks"}, 1, "Count", NOW - age + 0.5)
    return metrics


def test_periods_without_datapoints_are_null_between_two_with_data() -> None:
    values = widget_data(PROPERTIES, metrics_with(10, 2), NOW, SCALE)["series"][0]["values"]
    assert len(values) == PERIODS
    # Periods are 1 real second long here: 10 s ago and 2 s ago have data, the seven between none.
    assert values[-11] == 1
    assert values[-10:-3] == [None] * 7
    assert values[-3] == 1


def test_a_series_with_no_data_is_all_null_not_zero() -> None:
    values = widget_data(PROPERTIES, metrics_with(), NOW, SCALE)["series"][0]["values"]
    assert values == [None] * PERIODS


def test_dashboard_page_tells_uplot_not_to_span_gaps() -> None:
    script = (ROOT / "localcloud" / "cloudwatch" / "static" / "dashboard.js").read_text()
    assert "spanGaps: false" in script
    assert "spanGaps: true" not in script


def test_dimensions_of_the_widget_row_select_the_series() -> None:
    metrics = metrics_with(2)
    metrics.put("AWS/Lambda", "Invocations", {"FunctionName": "writer"}, 5, "Count", NOW - 1.5)
    values = widget_data(PROPERTIES, metrics, NOW, SCALE)["series"][0]["values"]
    assert values[-3:] == [1, None, None]
    assert metrics.values("AWS/Lambda", "Invocations", dimensions({"FunctionName": "writer"}), 0, NOW) == [5]
