"""The program under Pulumi's mocks: every subsystem is present in each stack and wired to the
right resources (followed through ids and outputs, not names)."""

from __future__ import annotations

import json
import re

import pytest

from .graphs import PROJECT, ROOT, Graph, synthesize

STACKS = ["us-east-1", "us-west-2"]
SUBSYSTEMS = [
    "active-active:static:StaticContent",
    "active-active:data:Data",
    "active-active:api:UserApi",
    "active-active:api:SlackApi",
    "active-active:events:Events",
    "active-active:events:DeadLetters",
    "active-active:archive:ChangeArchive",
    "active-active:monitoring:Monitoring",
    "active-active:failover:Failover",
    "active-active:linking:Linking",
]
ROUTES = {
    "POST /login": ("login", "NONE"),
    "GET /hello": ("hello", "JWT"),
    "POST /click": ("clicks", "JWT"),
    "GET /health": ("health", "NONE"),
    "GET /config": ("discovery", "NONE"),
    "GET /": ("web", "NONE"),
    "GET /assets/{proxy+}": ("web", "NONE"),
    "$default": ("web", "NONE"),
}


@pytest.fixture(params=STACKS)
def graph(request: pytest.FixtureRequest, graphs: dict[str, Graph]) -> Graph:
    return graphs[request.param]


def test_every_subsystem_is_a_component_in_each_stack(graph):
    present = {resource["type"] for resource in graph.resources}
    missing = [subsystem for subsystem in SUBSYSTEMS if subsystem not in present]
    assert not missing, f"{graph.stack} lacks {missing}"


def test_only_the_primary_stack_owns_cognito(primary, secondary):
    assert len(primary.of_type("aws:cognito/userPool:UserPool")) == 1
    assert secondary.of_type("aws:cognito/userPool:UserPool") == []


def test_secondary_adds_its_own_replica_of_the_primary_table(primary, secondary):
    assert len(primary.of_type("aws:dynamodb/table:Table")) == 1
    replica = secondary.one("aws:dynamodb/tableReplica:TableReplica")
    assert replica["inputs"]["globalTableArn"].startswith("arn:aws:dynamodb:us-east-1:")
    assert secondary.of_type("aws:dynamodb/table:Table") == []


def _routes(graph: Graph) -> dict[str, dict]:
    user_api = graph.one("aws:apigatewayv2/api:Api", "user-http")
    return {
        route["inputs"]["routeKey"]: route
        for route in graph.of_type("aws:apigatewayv2/route:Route")
        if route["inputs"]["apiId"] == user_api["id"]
    }


def test_each_user_route_invokes_its_function(graph):
    routes = _routes(graph)
    assert set(routes) == set(ROUTES)
    for key, (source, _) in ROUTES.items():
        integration = graph.by_id(routes[key]["inputs"]["target"].removeprefix("integrations/"))
        function = graph.function(source)
        assert integration["inputs"]["integrationUri"] == graph.invoke_arn_of(function), key
        assert integration["inputs"]["payloadFormatVersion"] == "2.0", key


def test_jwt_authorizer_guards_every_user_route_except_the_public_ones(graph):
    authorizer = graph.one("aws:apigatewayv2/authorizer:Authorizer")
    client = "synthclientid0000000000000" if graph.stack != "us-east-1" else None
    audiences = authorizer["inputs"]["jwtConfiguration"]["audiences"]
    if client:
        assert audiences == [client]
    # The user pool is replicated by default: one multi-Region issuer, named for the primary.
    assert authorizer["inputs"]["jwtConfiguration"]["issuer"].startswith(
        "https://issuer-cognito-idp.us-east-1.amazonaws.com/us-east-1_"
    )
    for key, route in _routes(graph).items():
        expected = ROUTES[key][1]
        assert route["inputs"]["authorizationType"] == expected, key
        assert (route["inputs"].get("authorizerId") == authorizer["id"]) == (expected == "JWT"), key


def test_slack_api_routes_both_slack_paths_to_the_command_function_without_jwt(graph):
    slack_api = graph.one("aws:apigatewayv2/api:Api", "slack-http")
    routes = [
        r for r in graph.of_type("aws:apigatewayv2/route:Route") if r["inputs"]["apiId"] == slack_api["id"]
    ]
    assert {r["inputs"]["routeKey"] for r in routes} == {"POST /slack/commands", "POST /slack/events"}
    function = graph.function("slack_commands")
    for route in routes:
        assert route["inputs"]["authorizationType"] == "NONE"
        integration = graph.by_id(route["inputs"]["target"].removeprefix("integrations/"))
        assert integration["inputs"]["integrationUri"] == graph.invoke_arn_of(function)


def test_bus_rule_targets_the_writer_with_retry_policy_and_dead_letter_queue(graph):
    target = graph.one("aws:cloudwatch/eventTarget:EventTarget")
    queue = graph.one("aws:sqs/queue:Queue", "dead-letters-queue")
    assert target["inputs"]["arn"] == graph.function("writer")["outputs"]["arn"]
    assert target["inputs"]["retryPolicy"]["maximumRetryAttempts"] >= 1
    assert target["inputs"]["retryPolicy"]["maximumEventAgeInSeconds"] >= 60
    assert target["inputs"]["deadLetterConfig"]["arn"] == queue["outputs"]["arn"]
    rule = graph.one("aws:cloudwatch/eventRule:EventRule")
    assert json.loads(rule["inputs"]["eventPattern"])["detail-type"] == ["PageViewed"]


def test_writer_async_failures_go_to_the_dead_letter_queue(graph):
    queue = graph.one("aws:sqs/queue:Queue", "dead-letters-queue")
    writer = graph.function("writer")
    configs = [
        c
        for c in graph.of_type("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
        if c["inputs"]["functionName"] == writer["outputs"]["name"]
    ]
    assert len(configs) == 1
    assert configs[0]["inputs"]["destinationConfig"]["onFailure"]["destination"] == queue["outputs"]["arn"]


def test_dead_letter_queue_feeds_its_handler_with_partial_batch_responses(graph):
    mapping = graph.one("aws:lambda/eventSourceMapping:EventSourceMapping")
    queue = graph.one("aws:sqs/queue:Queue", "dead-letters-queue")
    assert mapping["inputs"]["eventSourceArn"] == queue["outputs"]["arn"]
    assert mapping["inputs"]["functionName"] == graph.function("dead_letters")["outputs"]["arn"]
    assert mapping["inputs"]["functionResponseTypes"] == ["ReportBatchItemFailures"]


def test_table_changes_flow_through_kinesis_and_firehose_to_the_archive_bucket(graph):
    stream = graph.one("aws:kinesis/stream:Stream")
    destination = graph.one("aws:dynamodb/kinesisStreamingDestination:KinesisStreamingDestination")
    assert destination["inputs"]["streamArn"] == stream["outputs"]["arn"]
    assert (
        destination["inputs"]["tableName"]
        == graph.function("writer")["inputs"]["environment"]["variables"]["TABLE_NAME"]
    )
    delivery = graph.one("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")
    archive = graph.one("aws:s3/bucket:Bucket", "archive-bucket")
    assert delivery["inputs"]["kinesisSourceConfiguration"]["kinesisStreamArn"] == stream["outputs"]["arn"]
    s3 = delivery["inputs"]["extendedS3Configuration"]
    assert s3["bucketArn"] == archive["outputs"]["arn"]
    assert s3["prefix"].startswith(f"changes/region={graph.stack}/year=!{{timestamp:yyyy}}/month=")


def test_failed_login_alarm_invokes_the_security_function(graph):
    alarm = graph.one("aws:cloudwatch/metricAlarm:MetricAlarm", "failed-logins")
    security = graph.function("security")
    assert alarm["inputs"]["metricName"] == "FailedLogins"
    assert alarm["inputs"]["namespace"] == PROJECT
    assert alarm["inputs"]["alarmActions"] == [security["outputs"]["arn"]]
    permission = [
        p
        for p in graph.of_type("aws:lambda/permission:Permission")
        if p["inputs"]["function"] == security["outputs"]["name"]
    ]
    assert [p["inputs"]["principal"] for p in permission] == ["lambda.alarms.cloudwatch.amazonaws.com"]
    assert permission[0]["inputs"]["sourceArn"] == alarm["outputs"]["arn"]


def test_error_rate_and_queue_alarms_notify_slack_through_sns(graph):
    topic = graph.one("aws:sns/topic:Topic")
    alarms = [
        a for a in graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if "failed-logins" not in a["name"]
    ]
    assert {a["name"].split("monitoring-")[1] for a in alarms} == {
        "error-rate",
        "dead-letters-not-empty",
        "parked-not-empty",
    }
    for alarm in alarms:
        assert alarm["inputs"]["alarmActions"] == [topic["outputs"]["arn"]], alarm["name"]
        assert alarm["inputs"]["okActions"] == [topic["outputs"]["arn"]], alarm["name"]
    subscription = graph.one("aws:sns/topicSubscription:TopicSubscription")
    assert subscription["inputs"]["topic"] == topic["outputs"]["arn"]
    assert subscription["inputs"]["endpoint"] == graph.function("notifier")["outputs"]["arn"]


def test_error_rate_alarm_divides_user_api_5xx_by_requests(graph):
    alarm = graph.one("aws:cloudwatch/metricAlarm:MetricAlarm", "error-rate")
    user_api = graph.one("aws:apigatewayv2/api:Api", "user-http")
    queries = {q["id"]: q for q in alarm["inputs"]["metricQueries"]}
    assert queries["errors"]["metric"]["metricName"] == "5xx"
    assert queries["requests"]["metric"]["metricName"] == "Count"
    assert queries["errors"]["metric"]["dimensions"]["ApiId"] == user_api["id"]
    assert "errors / requests" in queries["rate"]["expression"]


def test_dashboard_widgets_name_the_real_functions_queues_and_apis(graph):
    body = json.loads(graph.one("aws:cloudwatch/dashboard:Dashboard")["inputs"]["dashboardBody"])
    text = json.dumps(body)
    for function in graph.of_type("aws:lambda/function:Function"):
        assert function["outputs"]["name"] in text, function["name"]
    for queue in graph.of_type("aws:sqs/queue:Queue"):
        assert queue["outputs"]["name"] in text, queue["name"]
    for api in graph.of_type("aws:apigatewayv2/api:Api"):
        assert api["id"] in text, api["name"]
    titles = [widget["properties"]["title"] for widget in body["widgets"]]
    for expected in (
        "Lambda invocations",
        "Lambda errors",
        "Dead letter queue depth",
        "Replication latency (ms)",
    ):
        assert expected in titles


def test_primary_publishes_its_global_pieces_to_ssm(primary):
    names = {p["inputs"]["name"] for p in primary.of_type("aws:ssm/parameter:Parameter")}
    for key in ("user-pool-id", "user-pool-client-id", "table-name", "table-arn"):
        assert f"/{PROJECT}/global/{key}" in names


def test_each_stack_registers_its_endpoints_in_the_primary_region(graph):
    registration = [
        p
        for p in graph.of_type("aws:ssm/parameter:Parameter")
        if p["inputs"]["name"] == f"/{PROJECT}/regions/{graph.stack}"
        and p["inputs"].get("region") == "us-east-1"
    ]
    assert len(registration) == 1
    endpoints = json.loads(registration[0]["inputs"]["insecureValue"])
    assert endpoints["api"].startswith("https://") and endpoints["slackApi"].startswith("https://")


def test_a_secondary_keeps_its_own_copy_of_the_registry_with_its_entry_and_the_primarys(graph):
    """Read by its functions when the primary region does not answer (shared.registry)."""
    copies = {
        p["inputs"]["name"].rsplit("/", 1)[-1]: p["inputs"]
        for p in graph.of_type("aws:ssm/parameter:Parameter")
        if p["inputs"]["name"].startswith(f"/{PROJECT}/regions/") and p["inputs"].get("region") is None
    }
    if graph.stack == "us-east-1":
        assert copies == {}
        return
    assert sorted(copies) == ["us-east-1", graph.stack]
    (own,) = [
        p["inputs"]
        for p in graph.of_type("aws:ssm/parameter:Parameter")
        if p["inputs"]["name"] == f"/{PROJECT}/regions/{graph.stack}"
        and p["inputs"].get("region") == "us-east-1"
    ]
    assert copies[graph.stack]["insecureValue"] == own["insecureValue"]
    assert json.loads(copies["us-east-1"]["insecureValue"])["api"].startswith("https://")


def test_with_a_custom_domain_each_region_registers_its_own_execute_api_url(featured):
    urls = set()
    for graph in featured:
        (registration,) = [
            p
            for p in graph.of_type("aws:ssm/parameter:Parameter")
            if p["inputs"]["name"].startswith(f"/{PROJECT}/regions/")
            and p["inputs"].get("region") == "us-east-1"
        ]
        region = registration["inputs"]["name"].rsplit("/", 1)[-1]
        api = json.loads(registration["inputs"]["insecureValue"])["api"]
        user_api = graph.one("aws:apigatewayv2/api:Api", "user-http")
        # The browser probes and fails over region by region: the shared domain would hide them.
        assert re.fullmatch(rf"https://\w+\.execute-api\.{region}\.amazonaws\.com", api), registration["urn"]
        assert api == user_api["outputs"]["apiEndpoint"], registration["urn"]
        urls.add(api)
    assert len(urls) == len(featured), urls


def test_secondary_uses_the_primary_pool_and_table_looked_up_in_ssm(secondary):
    login = secondary.function("login")
    variables = login["inputs"]["environment"]["variables"]
    assert variables["USER_POOL_CLIENT_ID"] == "synthclientid0000000000000"
    assert variables["TABLE_NAME"].startswith(f"{PROJECT}-table-")


def test_secondary_publishes_no_global_pieces(secondary):
    names = {p["inputs"]["name"] for p in secondary.of_type("aws:ssm/parameter:Parameter")}
    assert not any(name.startswith(f"/{PROJECT}/global/") for name in names)


def test_chaos_parameter_holds_a_state_the_functions_can_read(graph):
    from shared.chaos import ChaosState

    parameter = [
        p
        for p in graph.of_type("aws:ssm/parameter:Parameter")
        if p["inputs"]["name"].startswith(f"/{PROJECT}/chaos/")
    ]
    assert [p["inputs"]["name"] for p in parameter] == [f"/{PROJECT}/chaos/{graph.stack}"]
    state = ChaosState.from_json(parameter[0]["inputs"]["insecureValue"])
    assert state.failed is False
    assert state.error_rate == 0.1


def test_slack_secrets_are_secure_strings_and_redacted(graph):
    for suffix in ("signing-secret", "webhook-url"):
        parameter = [
            p
            for p in graph.of_type("aws:ssm/parameter:Parameter")
            if p["inputs"]["name"].endswith(f"/slack/{suffix}")
        ]
        assert len(parameter) == 1
        assert parameter[0]["inputs"]["type"] == "SecureString"
        assert parameter[0]["inputs"]["value"] == "[secret]"


def test_functions_get_the_environment_their_code_reads(graph):
    expected = {
        "login": {"TABLE_NAME", "USER_POOL_CLIENT_ID", "USER_POOL_REGION", "CHAOS_PARAMETER_PREFIX"},
        "hello": {"STATIC_BUCKET", "CHAOS_PARAMETER_PREFIX"},
        "clicks": {"TABLE_NAME", "BUS_NAME", "EVENT_SOURCE", "CHAOS_PARAMETER_PREFIX"},
        "health": {"CHAOS_PARAMETER_PREFIX"},
        "discovery": {"REGISTRY_PATH", "PRIMARY_REGION", "USER_POOL_ID", "USER_POOL_CLIENT_ID"},
        "web": {"STATIC_BUCKET", "REGISTRY_PATH", "PRIMARY_REGION"},
        "writer": {"TABLE_NAME", "CHAOS_PARAMETER_PREFIX"},
        "dead_letters": {"TABLE_NAME", "SLACK_WEBHOOK_PARAMETER"},
        "notifier": {"SLACK_WEBHOOK_PARAMETER"},
        "security": {"TABLE_NAME", "SLACK_WEBHOOK_PARAMETER", "SECURITY_WINDOW_MINUTES"},
        "slack_commands": {
            "SLACK_SIGNING_SECRET_PARAMETER",
            "ALLOWED_TEAM_IDS",
            "CHAOS_PARAMETER_PREFIX",
            "REGISTRY_PATH",
            "PRIMARY_REGION",
        },
    }
    for source, keys in expected.items():
        variables = graph.function(source)["inputs"]["environment"]["variables"]
        assert keys <= set(variables), f"{source} lacks {keys - set(variables)}"
        assert variables["POWERTOOLS_SERVICE_NAME"] == source


def _variables_read(source: str) -> set[str]:
    """Environment variables the function's code reads: its folder and the shared modules it
    imports directly (shared helpers it reaches only through others may go unused)."""
    functions = ROOT / "functions"
    read: set[str] = set()
    pattern = re.compile(r"os\.environ(?:\.get\(|\[)\s*[\"']([A-Z_]+)[\"']")
    for path in (functions / source).glob("*.py"):
        text = path.read_text()
        read |= set(pattern.findall(text))
        for module, names in re.findall(r"from shared(?:\.(\w+))? import ([\w, ]+)", text):
            for name in [module] if module else [name.strip() for name in names.split(",")]:
                shared = functions / "shared" / f"{name}.py"
                if shared.exists():
                    read |= set(pattern.findall(shared.read_text()))
    return read


LAMBDA_PROVIDED = {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME"}
OPTIONAL = {"CHAOS_MAX_AGE_SECONDS"}  # read with a default


def test_every_environment_variable_a_function_reads_is_set(graph):
    for function in graph.of_type("aws:lambda/function:Function"):
        source = function["inputs"]["handler"].split(".")[0]
        variables = set(function["inputs"]["environment"]["variables"])
        missing = _variables_read(source) - variables - LAMBDA_PROVIDED - OPTIONAL
        assert not missing, f"{source} reads {sorted(missing)} but the program does not set them"


def test_provisioned_concurrency_runs_on_an_alias_named_live(featured):
    for graph in featured:
        aliases = graph.of_type("aws:lambda/alias:Alias")
        assert {graph.function_for(a["inputs"]["functionName"])["inputs"]["handler"] for a in aliases} == {
            f"{source}.app.handler" for source, _ in ROUTES.values()
        }
        for alias in aliases:
            assert alias["inputs"].get("name") == "live", alias["urn"]
        for config in graph.of_type("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig"):
            assert config["inputs"]["qualifier"] == "live", config["urn"]


def _archive_rule(graph: Graph) -> dict:
    lifecycle = graph.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "archive")
    (rule,) = [r for r in lifecycle["inputs"]["rules"] if r["filter"]["prefix"] == "changes/"]
    return rule


def test_archive_moves_to_infrequent_access_only_when_kept_60_days_or_more(tmp_path):
    files = {}
    for days in (59, 60):
        path = tmp_path / str(days) / "Pulumi.us-east-1.yaml"
        path.parent.mkdir()
        path.write_text(f"config:\n  aws:region: us-east-1\n  {PROJECT}:archiveRetentionDays: '{days}'\n")
        files[f"kept {days} days"] = path
    raw = synthesize(list(files), stack_files=files)
    short, long = (Graph(label, raw[label]["resources"]) for label in files)
    assert _archive_rule(short)["expiration"]["days"] == 59
    assert not _archive_rule(short).get("transitions"), short.stack
    assert _archive_rule(long)["expiration"]["days"] == 60
    assert _archive_rule(long)["transitions"] == [{"days": 30, "storageClass": "STANDARD_IA"}], long.stack
