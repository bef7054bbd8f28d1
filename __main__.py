"""An active-active, multi-region serverless app: one stack per region, linked through SSM.

Reads and checks the configuration, builds each subsystem in data-flow order, publishes what
other stacks need as SSM parameters, and exports the endpoints.
"""

import pulumi

from components.audit import Audit
from components.auth import Auth, AuthArgs, issuer_url
from components.change_archive import ChangeArchive, ChangeArchiveArgs
from components.data import Data, DataArgs
from components.dead_letters import DeadLetters, DeadLettersArgs
from components.drill import Drill, DrillArgs
from components.events import Events, EventsArgs
from components.failover import Failover, FailoverArgs
from components.fault_injection import FaultInjection, FaultInjectionArgs
from components.function import dependencies_layer
from components.linking import GlobalPieces, Linking, LinkingArgs, lookup_global, parameter_arn
from components.monitoring import Monitoring, MonitoringArgs
from components.provider import stack_provider
from components.settings import load
from components.slack_api import SlackApi, SlackApiArgs
from components.static_content import StaticContent, StaticContentArgs
from components.user_api import UserApi, UserApiArgs
from components.user_pool_replica import UserPoolReplica

settings = load()
app, region, defaults = settings.app, settings.region, settings.functions
# Every resource goes through this provider, so each carries the app's tags from the day it is added.
tagged = pulumi.ResourceOptions(providers=[stack_provider(app, region)])
chaos_prefix = settings.parameter("chaos")
chaos_arn = parameter_arn(region, f"{chaos_prefix}/{region}")
registry_path = settings.parameter("regions")
# The registry in the primary region, and in a secondary its own copy (components.linking), which
# the functions read through the primary's outage.
registry_arns = [
    parameter_arn(name, registry_path) for name in dict.fromkeys((settings.primary_region, region))
]
drill_prefix = settings.parameter("drill")

if settings.is_primary:
    auth = Auth(
        "auth",
        AuthArgs(
            settings.deletion_protection,
            settings.demo_username,
            settings.demo_password,
            app=app,
            region=region,
            replication=settings.user_pool_replication,
        ),
        tagged,
    )
    data = Data("data", DataArgs(settings.deletion_protection), tagged)
    pieces = GlobalPieces(auth.user_pool_id, auth.client_id, data.table_name, data.table_arn)
else:
    primary = lookup_global(settings)
    data = Data("data", DataArgs(settings.deletion_protection, primary.table_arn, primary.table_name), tagged)
    pieces = GlobalPieces(primary.user_pool_id, primary.client_id, data.table_name, data.table_arn)
    if settings.user_pool_replica_region == region:
        # Created from this stack, in the pool's region. Cognito allows one replica: the other
        # secondaries sign in against the primary's pool (components.settings).
        UserPoolReplica(
            "user-pool-replica",
            primary.user_pool_id,
            settings.primary_region,
            region,
            {"app": app, "stack": region, "region": region},
            tagged,
        )

static = StaticContent("static", StaticContentArgs(), tagged)
faults = FaultInjection("fault-injection", FaultInjectionArgs(defaults.architecture), tagged)
layer = dependencies_layer("dependencies", app, defaults, tagged)

slack = SlackApi(
    "slack",
    SlackApiArgs(
        app=app,
        defaults=defaults,
        throttle=settings.slack_api_throttle,
        signing_secret=settings.slack_signing_secret,
        webhook_url=settings.slack_webhook_url,
        team_ids=settings.slack_team_ids,
        primary_region=settings.primary_region,
        chaos_parameter_prefix=chaos_prefix,
        registry_path=registry_path,
        registry_arns=registry_arns,
        drill_parameter_prefix=drill_prefix,
        dependencies_layer=layer.arn,
    ),
    tagged,
)
dead_letters = DeadLetters(
    "dead-letters",
    DeadLettersArgs(
        app=app,
        defaults=defaults,
        table_name=pieces.table_name,
        table_arn=pieces.table_arn,
        webhook_parameter_name=slack.webhook_url.name,
        webhook_parameter_arn=slack.webhook_url.arn,
        secrets_key_arn=slack.secrets_key_arn,
        dependencies_layer=layer.arn,
    ),
    tagged,
)
events = Events(
    "events",
    EventsArgs(
        app=app,
        defaults=defaults,
        table_name=pieces.table_name,
        table_arn=pieces.table_arn,
        chaos_parameter_prefix=chaos_prefix,
        chaos_parameter_arn=chaos_arn,
        dead_letter_queue_arn=dead_letters.queue_arn,
        dead_letter_queue_url=dead_letters.queue_url,
        dependencies_layer=layer.arn,
        other_replica_regions=[region for region in settings.regions if region != settings.region],
    ),
    tagged,
)
user_api = UserApi(
    "user",
    UserApiArgs(
        app=app,
        defaults=defaults,
        throttle=settings.user_api_throttle,
        login_throttle=settings.login_throttle,
        table_name=pieces.table_name,
        table_arn=pieces.table_arn,
        bucket_name=static.name,
        bucket_arn=static.arn,
        bus_name=events.bus_name,
        bus_arn=events.bus_arn,
        event_source=events.source,
        chaos_parameter_prefix=chaos_prefix,
        chaos_parameter_arn=chaos_arn,
        registry_path=registry_path,
        registry_arns=registry_arns,
        primary_region=settings.primary_region,
        user_pool_id=pieces.user_pool_id,
        client_id=pieces.client_id,
        # Tokens from either region's pool carry the one multi-Region issuer when it is replicated.
        issuer=issuer_url(settings.primary_region, pieces.user_pool_id, settings.user_pool_replication),
        user_pool_region=settings.user_pool_region,
        dependencies_layer=layer.arn,
        domain=settings.domain,
        faults=faults.functions,
    ),
    tagged,
)
archive = ChangeArchive(
    "archive",
    ChangeArchiveArgs(
        table_name=pieces.table_name,
        region=region,
        retention_days=settings.archive_retention_days,
        log_retention_days=defaults.log_retention_days,
    ),
    tagged,
)
monitoring = Monitoring(
    "monitoring",
    MonitoringArgs(
        app=app,
        defaults=defaults,
        region=region,
        regions=settings.regions,
        table_name=pieces.table_name,
        table_arn=pieces.table_arn,
        functions={
            **user_api.functions,
            "slack_commands": slack.function,
            "writer": events.writer,
            "dead_letters": dead_letters.handler,
        },
        http_functions=[*user_api.functions, "slack_commands"],
        user_api_id=user_api.api_id,
        slack_api_id=slack.api.id,
        queues={"dead-letters": dead_letters.queue.name, "parked": dead_letters.parked.name},
        failed_login_threshold=settings.failed_login_threshold,
        error_rate_threshold=settings.error_rate_threshold,
        webhook_parameter_name=slack.webhook_url.name,
        webhook_parameter_arn=slack.webhook_url.arn,
        secrets_key_arn=slack.secrets_key_arn,
        dependencies_layer=layer.arn,
        dead_letter_queue_arn=dead_letters.queue_arn,
    ),
    tagged,
)
Drill(
    "drill",
    DrillArgs(
        app=app,
        region=region,
        table_arn=pieces.table_arn,
        functions=list(user_api.functions.values()),
        fault_injection=faults,
        # A dead letter means an accepted click was not stored: the drill must do no such harm. Not
        # the error-rate alarm: the drill raises this region's 5xx rate by design.
        stop_alarm_arn=monitoring.queue_alarm["dead-letters"].arn,
        parameter_name=f"{drill_prefix}/{region}",
    ),
    tagged,
)
Failover(
    "failover",
    FailoverArgs(
        region=region,
        chaos_parameter_prefix=chaos_prefix,
        error_rate=settings.error_rate,
        domain=settings.domain,
        domain_target=user_api.domain_target,
        api_endpoint=user_api.http.url,
    ),
    tagged,
)
Linking(
    "linking",
    LinkingArgs(
        settings=settings,
        user_api_url=user_api.url,
        slack_api_url=slack.url,
        global_pieces=pieces if settings.is_primary else None,
    ),
    tagged,
)
if settings.audit_trail and settings.is_primary:
    Audit("audit", tagged)

pulumi.export("region", region)
pulumi.export("userApiUrl", user_api.url)
if user_api.domain_url is not None:
    pulumi.export("userApiDomainUrl", user_api.domain_url)
pulumi.export("slackApiUrl", slack.url)
pulumi.export("slackCommandsUrl", pulumi.Output.concat(slack.url, "/slack/commands"))
pulumi.export("tableName", pieces.table_name)
pulumi.export("staticBucket", static.name)
pulumi.export("archiveBucket", archive.bucket_name)
pulumi.export("dashboard", monitoring.dashboard.dashboard_name)
