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
from collections.abc import Mapping, Sequence
from datetime import datetime

from aws_lambda_powertools import Logger
from shared import aws, parameters
from shared.chaos import ChaosState
from slack_commands.commands import Drill, DrillError, StoreError
from slack_commands.store import Parallel, describe

logger = Logger(child=True)

# The templates change only with a deploy.
TEMPLATES_MAX_AGE_SECONDS = 300
# An experiment in these states has not ended (API_ExperimentState: pending, initiating, running,
# stopping; then completed, stopped, failed or cancelled).
UNFINISHED = ("pending", "initiating", "running", "stopping")
LIST_PAGES = 3
# `/chaos status` lists the drills while it reads the chaos states (store.TIMEOUT_SECONDS): both
# within Slack's 3 s, with room for the rest of the request.
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

    def templates_read(self, region: str) -> bool:
        """Are the region's templates in the parameter cache (its next ``templates`` makes no call)?"""
        return all(parameters.cached(name, region=region) for name in self.template_parameters(region))

    def minutes(self, region: str) -> list[int]:
        return sorted(self.templates(region))

    def listing(self, regions: Sequence[str]) -> DrillListing:
        """Start listing each region's unfinished drills, one thread per region; ``/chaos status``
        reads the chaos states meanwhile, which brings the templates along."""
        if not os.environ.get("DRILL_PARAMETER_PREFIX"):
            return DrillListing(self, Parallel([], self._experiments, self.timeout_seconds))
        return DrillListing(self, Parallel(regions, self._experiments, self.timeout_seconds, service="fis"))

    def _experiments(self, region: str) -> list[dict]:
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
        return summaries


class DrillListing:
    """Each region's experiments, being listed; ``unfinished(states)`` waits for them and keeps
    those of the region's drill templates that have not ended."""

    def __init__(self, drills: FisDrills, listed: Parallel[list[dict]]) -> None:
        self.drills = drills
        self.listed = listed

    def unfinished(
        self, states: Mapping[str, ChaosState | StoreError]
    ) -> dict[str, list[Drill] | StoreError]:
        """``states``: the regions' chaos states just read, which brought their templates along
        (``store.SsmChaosStore``). Where that read failed, the templates are not read again here
        (an unreachable region would hold the answer past Slack's 3 s): its drills are unknown."""
        found: dict[str, list[Drill] | StoreError] = {}
        for region, summaries in self.listed.outcomes().items():
            state = states.get(region)
            if isinstance(state, StoreError) and not self.drills.templates_read(region):
                found[region] = StoreError(f"`{region}`'s drill templates are unreadable ({state})")
                continue
            try:
                templates = self.drills.templates(region)
            except DrillError as error:
                found[region] = StoreError(str(error))
                continue
            by_template = {template: minutes for minutes, template in templates.items()}
            if not by_template:
                found[region] = []  # no drills there, whatever the listing says
            elif isinstance(summaries, StoreError):
                found[region] = summaries
            else:
                found[region] = [
                    _drill(summary, by_template[summary["experimentTemplateId"]])
                    for summary in summaries
                    if summary.get("experimentTemplateId") in by_template
                    and summary["state"]["status"] in UNFINISHED
                ]
        return found


def _drill(experiment: dict, minutes: int) -> Drill:
    started = experiment.get("startTime") or experiment.get("creationTime")
    return Drill(
        experiment_id=experiment["id"],
        minutes=minutes,
        status=experiment["state"]["status"],
        started=started if isinstance(started, datetime) else None,
    )
