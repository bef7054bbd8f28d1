"""A stand-in for Slack's incoming webhook, and a reader for the metrics functions print (tests only).

``shared.slack.send`` is replaced, so nothing reaches the network; each message is checked
against Block Kit's limits before it is accepted.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
MAX_FIELDS = 10


@dataclass
class SlackWebhook:
    """Messages the functions sent; set ``status`` (every answer) or queue ``answers`` (the next
    ones) to make Slack answer with an error."""

    status: int = 200
    answers: list[int] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    attempts: int = 0

    def send(self, url: str, text: str | None, blocks: list[dict[str, Any]] | None) -> tuple[int, str]:
        self.attempts += 1
        self.urls.append(url)
        message = json.loads(json.dumps({"text": text, "blocks": blocks}))  # what goes on the wire
        check_block_kit(message)
        status = self.answers.pop(0) if self.answers else self.status
        if status != 200:
            return status, "internal_error"
        self.messages.append(message)
        return 200, "ok"

    @property
    def last(self) -> dict[str, Any]:
        assert self.messages, "no message reached Slack"
        return self.messages[-1]


def check_block_kit(message: dict[str, Any]) -> None:
    assert isinstance(message["text"], str)
    assert message["text"]
    for block in message["blocks"] or []:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert len(block["text"]["text"]) <= HEADER_LIMIT
        elif block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= SECTION_LIMIT
            assert len(block.get("fields", [])) <= MAX_FIELDS
            for item in block.get("fields", []):
                assert len(item["text"]) <= FIELD_LIMIT
        else:
            assert block["type"] == "context", block


def all_text(message: dict[str, Any]) -> str:
    """Every string of a message, joined, for assertions about what a reader sees."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            found.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message)
    return "\n".join(found)


def capture_logs(monkeypatch: Any, logger: Any) -> None:
    """Send a function's Powertools logs to the current ``sys.stdout`` (pytest's capture).

    The logger's handler keeps the stream it was created with, which belongs to whichever test
    imported the function first.
    """
    monkeypatch.setattr(logger.registered_handler, "stream", sys.stdout)


class RecordedMetrics:
    """Stands in for Powertools ``Metrics`` in logic tests (its metric set is process-wide)."""

    def __init__(self) -> None:
        self.totals: Counter[str] = Counter()

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.totals[name] += value


def _emf_lines(output: str) -> list[dict[str, Any]]:
    """The EMF blobs among the lines printed to stdout."""
    blobs = []
    for line in output.splitlines():
        try:
            blob = json.loads(line)
        except ValueError:
            continue
        if isinstance(blob, dict) and "_aws" in blob:
            blobs.append(blob)
    return blobs


def emitted_metrics(output: str) -> Counter[str]:
    """Totals of every metric in the EMF lines Powertools printed to stdout."""
    totals: Counter[str] = Counter()
    for blob in _emf_lines(output):
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                totals[metric["Name"]] += sum(value) if isinstance(value, list) else value
    return totals


def emitted_dimensions(output: str, name: str) -> list[dict[str, str]]:
    """The namespace and dimensions of each EMF datapoint of metric ``name`` printed to stdout."""
    found = []
    for blob in _emf_lines(output):
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            if any(metric["Name"] == name for metric in directive["Metrics"]):
                for dimension_set in directive["Dimensions"]:
                    found.append(
                        {"namespace": directive["Namespace"], **{key: blob[key] for key in dimension_set}}
                    )
    return found
