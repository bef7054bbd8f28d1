"""The CloudWatch dashboards, locally: each region's dashboard drawn from its own body.

The page reads nothing but the Dashboard resource's ``dashboardBody`` (the JSON CloudWatch would
draw): each metric widget's title, stat, period and ``metrics`` rows
(``[namespace, name, dimension, value, ..., {"label", "stat", "period"}]``, with ``"."`` for "as in
the row above"). ``GET /api/dashboards`` returns, per widget, one value per period for the last
180 periods (CloudWatch's default three hours for one minute periods), computed from the local
cloud's metrics with the periods compressed by LOCALCLOUD_TIME_SCALE like the alarms'; the page
polls it and draws the charts with uPlot (vendored in ``static/vendor``: no CDN). It lists each
region's alarms and their states too.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Response

from localcloud.cloudwatch.metrics import Dimensions, RegionMetrics, dimensions, statistic
from localcloud.cloudwatch.service import CloudWatch

STATIC = Path(__file__).resolve().parent / "static"
UPLOT = "vendor/uplot-1.6.32"
PERIODS = 180
MIN_SHOWN = 30  # minutes of AWS time shown at least, when the data is younger than PERIODS


@dataclass(frozen=True)
class Line:
    label: str
    namespace: str
    name: str
    dimensions: Dimensions
    stat: str
    period: int


def widget_lines(properties: Mapping[str, Any]) -> list[Line]:
    """A metric widget's rows as lines; ``"."`` repeats the row above's item at that position."""
    lines: list[Line] = []
    previous: list[Any] = []
    for row in properties.get("metrics") or []:
        options = row[-1] if row and isinstance(row[-1], dict) else {}
        items = [item for item in row if not isinstance(item, dict)]
        items = [previous[i] if item == "." and i < len(previous) else item for i, item in enumerate(items)]
        previous = items
        if len(items) < 2:  # a namespace and a metric name at least
            continue
        namespace, name, *pairs = items
        dims = dimensions(dict(zip(pairs[::2], pairs[1::2], strict=False)))
        label = options.get("label") or " ".join([name, *(str(value) for _, value in dims)])
        lines.append(
            Line(
                label=label,
                namespace=namespace,
                name=name,
                dimensions=dims,
                stat=options.get("stat") or properties.get("stat") or "Average",
                period=int(options.get("period") or properties.get("period") or 300),
            )
        )
    return lines


def widget_data(properties: Mapping[str, Any], metrics: RegionMetrics, now: float, scale: float) -> dict:
    """One widget's series: one value (or null) per period, the last PERIODS periods."""
    period = int(properties.get("period") or 300)
    span = period / scale
    last = math.floor(now / span) * span  # the current, partial, period starts here
    starts = [last - (PERIODS - 1 - i) * span for i in range(PERIODS)]
    series = []
    for line in widget_lines(properties):
        line_span = line.period / scale
        values = [
            statistic(metrics.values(line.namespace, line.name, line.dimensions, t, t + line_span), line.stat)
            for t in starts
        ]
        series.append({"label": line.label, "stat": line.stat, "values": values})
    return {
        "title": properties.get("title") or "",
        "stat": properties.get("stat") or "Average",
        "period": period,
        "timestamps": starts,
        "series": series,
    }


def _trim_to_data(regions: list[dict[str, Any]], latest_start: float) -> None:
    """Drop the periods before the first datapoint of any widget (a fresh local cloud has a few
    minutes of data, not three hours), keeping at least the periods from `latest_start` on."""
    firsts = [
        widget["timestamps"][index]
        for region in regions
        for widget in region["widgets"]
        for series in widget["series"]
        for index, value in enumerate(series["values"])
        if value is not None
    ]
    start = min([*firsts, latest_start])
    for region in regions:
        for widget in region["widgets"]:
            keep = next((i for i, t in enumerate(widget["timestamps"]) if t >= start), 0)
            widget["timestamps"] = widget["timestamps"][keep:]
            for series in widget["series"]:
                series["values"] = series["values"][keep:]


class Dashboard:
    """The dashboard page, its JSON endpoint and its static files, as one WSGI app."""

    def __init__(
        self, cloudwatch: CloudWatch, bodies: Mapping[str, tuple[str, str]], links: Mapping[str, str]
    ) -> None:
        self.cloudwatch = cloudwatch
        self.bodies = {region: (name, json.loads(body)) for region, (name, body) in bodies.items()}
        self.links = dict(links)
        self.urls = Map(
            [
                Rule("/", endpoint="page", methods=["GET"]),
                Rule("/api/dashboards", endpoint="data", methods=["GET"]),
                Rule("/static/<path:name>", endpoint="static", methods=["GET"]),
            ]
        )

    @classmethod
    def of(cls, cloud: Any, links: Mapping[str, str]) -> Dashboard:
        """The dashboards of every region of a running LocalCloud."""
        bodies = {}
        for name, region in cloud.regions.items():
            for resource in region.graph.of_type("aws:cloudwatch/dashboard:Dashboard"):
                inputs = resource["inputs"]
                bodies[name] = (inputs["dashboardName"], inputs["dashboardBody"])
        return cls(cloud.cloudwatch, bodies, links)

    def data(self, now: float | None = None) -> dict[str, Any]:
        now = now or time.time()
        scale = self.cloudwatch.scale
        regions = []
        for region, (name, body) in self.bodies.items():
            metrics = self.cloudwatch.metrics[region]
            evaluator = self.cloudwatch.evaluators[region]
            regions.append(
                {
                    "region": region,
                    "dashboard": name,
                    "alarms": [
                        {
                            "name": alarm.name,
                            "state": alarm.state,
                            "reason": alarm.reason,
                            "since": alarm.changed.isoformat(),
                        }
                        for alarm in evaluator.alarms
                    ],
                    "widgets": [
                        widget_data(item["properties"], metrics, now, scale)
                        for item in body.get("widgets", [])
                        if item.get("type") == "metric"
                    ],
                }
            )
        _trim_to_data(regions, now - MIN_SHOWN * 60 / scale)
        return {"timeScale": scale, "generated": now, "regions": regions}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        try:
            endpoint, values = self.urls.bind_to_environ(environ).match()
            if endpoint == "static":
                response = send_from_directory(STATIC, values["name"], environ, max_age=3600)
            elif endpoint == "data":
                response = Response(json.dumps(self.data()), content_type="application/json")
                response.headers["cache-control"] = "no-store"
            else:
                response = Response(self.page(), content_type="text/html; charset=utf-8")
        except NotFound:
            response = Response("not found", status=404, content_type="text/plain")
        except HTTPException as error:
            response = error.get_response(environ)
        response.headers["content-security-policy"] = "default-src 'self'; style-src 'self' 'unsafe-inline'"
        response.headers["x-content-type-options"] = "nosniff"
        return response(environ, start_response)

    def page(self) -> str:
        links = " ".join(f'<a href="{escape(url)}">{escape(label)}</a>' for label, url in self.links.items())
        regions = " ".join(
            f'<a href="#region-{escape(region)}">{escape(region)}</a>' for region in self.bodies
        )
        return PAGE.format(
            uplot_css=f"static/{UPLOT}/uPlot.min.css",
            uplot_js=f"static/{UPLOT}/uPlot.iife.min.js",
            links=links,
            regions=regions,
            scale=f"{self.cloudwatch.scale:g}",
            minute=f"{60 / self.cloudwatch.scale:g}",
        )


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>CloudWatch dashboards (local cloud)</title>
<link rel="stylesheet" href="{uplot_css}">
<link rel="stylesheet" href="static/dashboard.css">
</head>
<body>
<header>
  <h1>CloudWatch dashboards</h1>
  <nav aria-label="Links">{links}</nav>
  <nav aria-label="Regions">Regions: {regions}</nav>
  <p class="note">Live from the local cloud, refreshed every 3 seconds. Time is compressed
  (LOCALCLOUD_TIME_SCALE={scale}): one real second stands for {scale} seconds of AWS time, so a one
  minute period lasts {minute} s here; the time axis shows real time.</p>
</header>
<main id="regions" aria-live="off"></main>
<script src="{uplot_js}"></script>
<script src="static/dashboard.js"></script>
</body>
</html>
"""
