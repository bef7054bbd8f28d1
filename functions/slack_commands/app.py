"""The Slack API: `POST /slack/commands` (the `/chaos` slash command) and `POST /slack/events`.

Never region-guarded: operators must reach it to recover a failed region. Slack's ssl_check
gets an empty 200 before anything else (``verify.answer_ssl_check``, as Bolt does); every other
request's Slack signature is verified first (``verify.require_slack_signature``), then its team.
Heavy modules (botocore) load on first use, inside Slack's 3 s budget.

Environment:
- SLACK_SIGNING_SECRET_PARAMETER, ALLOWED_TEAM_IDS (``verify``).
- CHAOS_PARAMETER_PREFIX, REGISTRY_PATH, PRIMARY_REGION (``store``).
- DRILL_PARAMETER_PREFIX (``drills``).
- POWERTOOLS_SERVICE_NAME, AWS_REGION.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from shared import coldstart
from shared.http import ApiError, create_resolver, json_response
from shared.router import NextMiddleware, Response, Router
from slack_commands import verify

if TYPE_CHECKING:
    from slack_commands.drills import FisDrills
    from slack_commands.store import SsmChaosStore

logger = Logger()
app = create_resolver(guard_region=False)


def read_regions_meanwhile(app: Router, next_middleware: NextMiddleware) -> Response:
    """Middleware, before ``verify.require_slack_signature``: a command that may be signed starts
    the region registry's read, which the signature check's secret read then waits beside (in
    AWS the registry is in the primary region: from another region, a round trip across
    Regions). At most one read per ``shared.registry.MAX_AGE_SECONDS`` (cached), and only for
    well-formed, current signature headers; nothing read is used before the check passes."""
    if app.current_event.path == "/slack/commands" and verify.may_be_signed(app.current_event):
        chaos_store().read_regions_ahead()
    return next_middleware(app)


app.use(middlewares=[verify.answer_ssl_check, read_regions_meanwhile, verify.require_slack_signature])


@functools.cache
def chaos_store() -> SsmChaosStore:
    """One store per container (its clients are reused across requests); a region's drill
    templates are read with its state, which `/chaos status` shows together."""
    from slack_commands.store import SsmChaosStore

    return SsmChaosStore(read_along=drills().template_parameters)


@functools.cache
def drills() -> FisDrills:
    from slack_commands.drills import FisDrills

    return FisDrills()


@app.post("/slack/commands")
def slash_command() -> Response:
    from slack_commands import commands

    form = verify.form_fields(verify.verified_body(app))
    team = verify.require_allowed_team(form.get("team_id"))
    user = form.get("user_name") or form.get("user_id", "")
    reply = commands.handle(form.get("text", ""), chaos_store(), user=user, team=team, drills=drills())
    return json_response(200, reply.to_slack())


@app.post("/slack/events")
def slack_event() -> Response:
    payload = verify.json_object(verify.verified_body(app))
    if "team_id" in payload:
        verify.require_allowed_team(payload["team_id"])
    if payload.get("type") == "url_verification":
        challenge = payload.get("challenge")
        if not isinstance(challenge, str) or not challenge:
            raise ApiError(400, "url_verification needs a 'challenge' string")
        return json_response(200, {"challenge": challenge})
    return json_response(200, {})


@coldstart.collect_after_first_call
# log_event=False whatever the environment says: the event carries the Slack signature.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
