"""Outage drills over AWS FIS: `/chaos drill` starts a region's experiment template, `/chaos
status` lists the region's drills that have not ended.

Each region's stack publishes its templates' ids, by minutes, as one SSM parameter
(``<DRILL_PARAMETER_PREFIX>/<region>``, JSON ``{"1": "EXT...", "5": ...}``); a drill runs in
its own region's FIS, whichever region's Slack API started it.

Environment: DRILL_PARAMETER_PREFIX.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from datetime import datetime

from aws_lambda_powertools import Logger
from shared import aws, parameters
from slack_commands.commands import Drill, DrillError, StoreError
from slack_commands.store import describe, in_parallel

logger = Logger(child=True)

# The templates change only with a deploy.
TEMPLATES_MAX_AGE_SECONDS = 300
# An experiment in these states has not ended (API_ExperimentState: pending, initiating, running,
# stopping; then completed, stopped, failed or cancelled).
UNFINISHED = ("pending", "initiating", "running", "stopping")
LIST_PAGES = 3
# `/chaos status` reads the chaos state (store.TIMEOUT_SECONDS) and then the drills: both within
# Slack's 3 s, with room for the rest of the request.
TIMEOUT_SECONDS = 1.0


class FisDrills:
    def __init__(self, timeout_seconds: float = TIMEOUT_SECONDS) -> None:
        self.timeout_seconds = timeout_seconds

    def template_parameters(self, region: str) -> dict[str, float]:
        """The parameter naming the region's templates, with how long a read of it may be kept:
        for the chaos store to read along with the region's state (``store.SsmChaosStore``)."""
        prefix = os.environ.get("DRILL_PARAMETER_PREFIX")
        return {f"{prefix}/{region}": TEMPLATES_MAX_AGE_SECONDS} if prefix else {}

    def templates(self, region: str) -> dict[int, str]:
        """The region's drill templates by minutes, none where its stack publishes none (deployed
        before drills existed); DrillError if they cannot be read."""
        prefix = os.environ.get("DRILL_PARAMETER_PREFIX")
        if not prefix:
            return {}
        try:
            text = parameters.get(f"{prefix}/{region}", max_age=TEMPLATES_MAX_AGE_SECONDS, region=region)
        except parameters.ParameterError as error:
            reason = describe(error.__cause__) if error.__cause__ is not None else type(error).__name__
            if reason == "ParameterNotFound":
                return {}
            logger.warning("drill templates unreadable", extra={"region": region, "reason": str(error)})
            raise DrillError(f"`{region}`'s drill templates are unreadable ({reason})") from error
        try:
            published = json.loads(text)
            return {int(minutes): str(template) for minutes, template in published.items()}
        except (ValueError, TypeError, AttributeError) as error:
            raise DrillError(f"`{region}`'s drill templates are malformed") from error

    def start(self, region: str, minutes: int) -> Drill:
        template = self.templates(region).get(minutes)
        if template is None:
            raise DrillError(f"`{region}` has no {minutes}-minute drill")
        try:
            experiment = aws.client("fis", region).start_experiment(
                clientToken=str(uuid.uuid4()), experimentTemplateId=template
            )["experiment"]
        except Exception as error:
            raise DrillError(f"AWS FIS did not start it ({describe(error)})") from error
        return _drill(experiment, minutes)

    def minutes(self, region: str) -> list[int]:
        return sorted(self.templates(region))

    def unfinished(self, regions: Sequence[str]) -> dict[str, list[Drill] | StoreError]:
        return in_parallel(regions, self._unfinished, self.timeout_seconds, service="fis")

    def _unfinished(self, region: str) -> list[Drill]:
        by_template = {template: minutes for minutes, template in self.templates(region).items()}
        if not by_template:
            return []
        # One call for every template (Slack's 3 s budget holds every region's status), a few pages:
        # FIS keeps ended experiments for 120 days.
        fis = aws.client("fis", region)
        summaries: list[dict] = []
        request: dict[str, str | int] = {"maxResults": 100}
        for _ in range(LIST_PAGES):
            try:
                page = fis.list_experiments(**request)
            except Exception as error:
                # The AWS message (e.g. AccessDenied on fis:ListExperiments) for operators.
                logger.warning("drills not listed", extra={"region": region, "reason": str(error)})
                raise
            summaries += page["experiments"]
            if not page.get("nextToken"):
                break
            request["nextToken"] = page["nextToken"]
        return [
            _drill(summary, by_template[summary["experimentTemplateId"]])
            for summary in summaries
            if summary.get("experimentTemplateId") in by_template and summary["state"]["status"] in UNFINISHED
        ]


def _drill(experiment: dict, minutes: int) -> Drill:
    started = experiment.get("startTime") or experiment.get("creationTime")
    return Drill(
        experiment_id=experiment["id"],
        minutes=minutes,
        status=experiment["state"]["status"],
        started=started if isinstance(started, datetime) else None,
    )
