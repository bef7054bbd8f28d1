"""Policy rules over every resource of every synthesized stack (FSBP, cdk-nag, Checkov and
AWS Guard style). A resource added tomorrow is checked by the same loops. Each exception lives
in EXCEPTIONS below with its reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from .graphs import AWS_FEATURES, PROJECT, allows, as_list

SUPPORTED_PYTHON_RUNTIMES = {"python3.12", "python3.13", "python3.14"}


@dataclass(frozen=True)
class PolicyException:
    rule: str
    applies: Callable[[dict[str, Any]], bool]
    reason: str


def _only_actions(*actions: str) -> Callable[[dict[str, Any]], bool]:
    return lambda statement: set(as_list(statement.get("Action"))) <= set(actions)


EXCEPTIONS = [
    PolicyException(
        "iam-wildcard-resource",
        _only_actions("xray:PutTraceSegments", "xray:PutTelemetryRecords"),
        "X-Ray has no resource-level permissions: AWS requires Resource '*'",
    ),
    PolicyException(
        "iam-wildcard-resource",
        _only_actions("fis:ListExperiments"),
        "fis:ListExperiments names no resource type (Service Authorization Reference): Resource '*'",
    ),
    PolicyException(
        "iam-wildcard-resource",
        _only_actions("tag:GetResources"),
        "FIS resolves targets with tag:GetResources, which has no resource-level permissions",
    ),
]


def excepted(rule: str, subject: dict[str, Any]) -> bool:
    return any(exception.rule == rule and exception.applies(subject) for exception in EXCEPTIONS)


def each(all_resources: list[tuple[str, dict[str, Any]]], typ: str) -> list[tuple[str, dict[str, Any]]]:
    found = [(stack, resource) for stack, resource in all_resources if resource["type"] == typ]
    assert found, f"no {typ} in any stack: the rule would check nothing"
    return found


def for_bucket(all_resources, typ: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(stack, r["inputs"]["bucket"]): r for stack, r in all_resources if r["type"] == typ}


def buckets(all_resources):
    return each(all_resources, "aws:s3/bucket:Bucket")


# Tags


def test_the_stacks_provider_keeps_the_aws_settings_of_the_stack_file(featured):
    # An explicit provider reads no stack config; components/provider.py passes it on.
    for graph in featured:
        (provider,) = graph.of_type("pulumi:providers:aws")
        assert provider["inputs"]["profile"] == AWS_FEATURES["profile"], graph.stack
        assert json.loads(provider["inputs"]["allowedAccountIds"]) == ["123456789012"], graph.stack


def test_every_aws_resource_gets_app_stack_and_region_tags_from_its_provider(graphs):
    for label, graph in graphs.items():
        (provider,) = graph.of_type("pulumi:providers:aws")
        stack = provider["urn"].split(":")[2]
        default_tags = provider["inputs"]["defaultTags"]
        tags = (json.loads(default_tags) if isinstance(default_tags, str) else default_tags)["tags"]
        assert tags == {"app": PROJECT, "stack": stack, "region": provider["inputs"]["region"]}, label
        assert provider["inputs"]["region"] == stack, label
        # The provider tags every taggable resource it manages; none may bypass it.
        reference = f"{provider['urn']}::{provider['id']}"
        for resource in graph.resources:
            if resource["type"].startswith("aws:"):
                assert resource["provider"] == reference, f"{label} {resource['urn']} is not tagged"


# S3


def test_every_bucket_has_default_encryption(all_resources):
    sse = for_bucket(
        all_resources,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    )
    for stack, bucket in buckets(all_resources):
        config = sse.get((stack, bucket["id"]))
        assert config, f"{bucket['urn']} has no default encryption"
        algorithm = config["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"]
        assert algorithm in ("AES256", "aws:kms", "aws:kms:dsse"), bucket["urn"]


def test_every_bucket_blocks_all_public_access(all_resources):
    blocks = for_bucket(all_resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    for stack, bucket in buckets(all_resources):
        block = blocks.get((stack, bucket["id"]))
        assert block, f"{bucket['urn']} has no public access block"
        for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
            assert block["inputs"][flag] is True, f"{bucket['urn']}: {flag}"


def test_every_bucket_policy_denies_plain_http_and_tls_below_1_2(all_resources):
    policies = for_bucket(all_resources, "aws:s3/bucketPolicy:BucketPolicy")
    for stack, bucket in buckets(all_resources):
        policy = policies.get((stack, bucket["id"]))
        assert policy, f"{bucket['urn']} has no bucket policy"
        denies = [s for s in json.loads(policy["inputs"]["policy"])["Statement"] if s["Effect"] == "Deny"]
        conditions = [s["Condition"] for s in denies if s["Principal"] == "*" and s["Action"] == "s3:*"]
        assert {"Bool": {"aws:SecureTransport": "false"}} in conditions, bucket["urn"]
        assert {"NumericLessThan": {"s3:TlsVersion": "1.2"}} in conditions, bucket["urn"]


def test_every_bucket_is_versioned(all_resources):
    versioning = for_bucket(all_resources, "aws:s3/bucketVersioning:BucketVersioning")
    for stack, bucket in buckets(all_resources):
        config = versioning.get((stack, bucket["id"]))
        assert config and config["inputs"]["versioningConfiguration"]["status"] == "Enabled", bucket["urn"]


# S3 Standard-IA takes objects 30 days old or more and bills each at least 30 days there.
INFREQUENT_ACCESS = {"STANDARD_IA", "ONEZONE_IA"}
INFREQUENT_ACCESS_DAYS = 30


def test_lifecycle_rules_move_objects_to_infrequent_access_only_when_they_stay_there_30_days(all_resources):
    typ = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    for stack, config in each(all_resources, typ):
        for rule in config["inputs"]["rules"]:
            expires = (rule.get("expiration") or {}).get("days")
            for transition in rule.get("transitions") or []:
                where = f"{stack} {config['urn']}: rule {rule['id']} moves to {transition['storageClass']}"
                if expires is not None:
                    assert transition["days"] < expires, f"{where} on or after its expiration"
                if transition["storageClass"] in INFREQUENT_ACCESS:
                    assert transition["days"] >= INFREQUENT_ACCESS_DAYS, f"{where} before day 30"
                    if expires is not None:
                        assert expires - transition["days"] >= INFREQUENT_ACCESS_DAYS, (
                            f"{where} for fewer than 30 days"
                        )


# DynamoDB


def test_every_table_has_point_in_time_recovery_and_encryption(all_resources):
    for _, table in each(all_resources, "aws:dynamodb/table:Table"):
        assert table["inputs"]["pointInTimeRecovery"]["enabled"] is True, table["urn"]
        assert table["inputs"]["serverSideEncryption"]["enabled"] is True, table["urn"]
    for _, replica in each(all_resources, "aws:dynamodb/tableReplica:TableReplica"):
        assert replica["inputs"]["pointInTimeRecovery"] is True, replica["urn"]


# SQS, SNS, Kinesis, KMS


def test_every_queue_is_encrypted(all_resources):
    for _, queue in each(all_resources, "aws:sqs/queue:Queue"):
        inputs = queue["inputs"]
        assert inputs.get("sqsManagedSseEnabled") is True or inputs.get("kmsMasterKeyId"), queue["urn"]


def test_queue_policies_allow_services_only_from_a_source_arn(all_resources):
    for _, policy in each(all_resources, "aws:sqs/queuePolicy:QueuePolicy"):
        for statement in json.loads(policy["inputs"]["policy"])["Statement"]:
            if statement["Effect"] == "Allow" and "Service" in statement["Principal"]:
                condition = json.dumps(statement.get("Condition", {}))
                assert "aws:SourceArn" in condition, f"{policy['urn']}: {statement.get('Sid')}"


def test_redrive_allows_at_least_five_receives(all_resources):
    redriven = [q for _, q in each(all_resources, "aws:sqs/queue:Queue") if q["inputs"].get("redrivePolicy")]
    assert redriven
    for queue in redriven:
        assert json.loads(queue["inputs"]["redrivePolicy"])["maxReceiveCount"] >= 5, queue["urn"]


def test_queue_visibility_is_at_least_six_times_its_consumers_timeout(all_resources, graphs):
    for stack, mapping in each(all_resources, "aws:lambda/eventSourceMapping:EventSourceMapping"):
        graph = graphs[stack]
        queue = next(
            q
            for q in graph.of_type("aws:sqs/queue:Queue")
            if q["outputs"]["arn"] == mapping["inputs"]["eventSourceArn"]
        )
        function = graph.function_for(mapping["inputs"]["functionName"])
        assert queue["inputs"]["visibilityTimeoutSeconds"] >= 6 * function["inputs"]["timeout"], queue["urn"]


def test_every_topic_is_encrypted_with_kms(all_resources):
    for _, topic in each(all_resources, "aws:sns/topic:Topic"):
        assert topic["inputs"].get("kmsMasterKeyId"), topic["urn"]


def test_every_kinesis_stream_is_encrypted(all_resources):
    for _, stream in each(all_resources, "aws:kinesis/stream:Stream"):
        assert stream["inputs"]["encryptionType"] == "KMS", stream["urn"]
        assert stream["inputs"].get("kmsKeyId"), stream["urn"]


def test_every_kms_key_rotates(all_resources):
    for _, key in each(all_resources, "aws:kms/key:Key"):
        assert key["inputs"]["enableKeyRotation"] is True, key["urn"]


def test_every_kms_key_has_an_alias_of_this_app(all_resources, graphs):
    for stack, key in each(all_resources, "aws:kms/key:Key"):
        aliases = [
            a["inputs"]["name"]
            for a in graphs[stack].of_type("aws:kms/alias:Alias")
            if a["inputs"]["targetKeyId"] in (key["outputs"]["keyId"], key["outputs"]["arn"])
        ]
        assert len(aliases) == 1, f"{stack} {key['urn']} has aliases {aliases}"
        assert aliases[0].startswith(f"alias/{PROJECT}-"), f"{stack} {key['urn']}: {aliases[0]}"


def test_alarm_key_lets_cloudwatch_encrypt_for_the_topic(all_resources):
    alarm_keys = [
        (s, k) for s, k in each(all_resources, "aws:kms/key:Key") if "alarm" in k["inputs"]["description"]
    ]
    assert alarm_keys
    for _, key in alarm_keys:
        statements = json.loads(key["inputs"]["policy"])["Statement"]
        cloudwatch = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
        assert cloudwatch, key["urn"]
        assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch[0]["Action"]), key["urn"]


# Lambda


def functions(all_resources):
    return each(all_resources, "aws:lambda/function:Function")


def test_every_function_runs_a_supported_python_runtime(all_resources):
    for _, function in functions(all_resources):
        assert function["inputs"]["runtime"] in SUPPORTED_PYTHON_RUNTIMES, function["urn"]


def test_every_function_is_arm64(all_resources):
    for _, function in functions(all_resources):
        assert function["inputs"]["architectures"] == ["arm64"], function["urn"]


def test_every_function_is_traced(all_resources):
    for _, function in functions(all_resources):
        assert function["inputs"]["tracingConfig"] == {"mode": "Active"}, function["urn"]


def test_slack_secrets_use_a_customer_managed_key_only_their_readers_may_use(all_resources, graphs):
    for stack, parameter in each(all_resources, "aws:ssm/parameter:Parameter"):
        if parameter["inputs"]["type"] != "SecureString":
            continue
        assert parameter["inputs"].get("keyId"), parameter["urn"]
        key = next(
            k
            for k in graphs[stack].of_type("aws:kms/key:Key")
            if k["outputs"]["keyId"] == parameter["inputs"]["keyId"]
        )
        readers = [
            policy
            for policy in graphs[stack].of_type("aws:iam/rolePolicy:RolePolicy")
            if key["outputs"]["arn"] in policy["inputs"]["policy"]
        ]
        assert readers, parameter["urn"]
        for policy in readers:
            for statement in json.loads(policy["inputs"]["policy"])["Statement"]:
                if statement["Resource"] == key["outputs"]["arn"]:
                    assert statement["Action"] == "kms:Decrypt", policy["urn"]
                    assert "kms:ViaService" in json.dumps(statement["Condition"]), policy["urn"]


def test_functions_behind_an_api_answer_within_the_gateways_limit(all_resources, graphs):
    for stack, integration in each(all_resources, "aws:apigatewayv2/integration:Integration"):
        function = graphs[stack].function_for(integration["inputs"]["integrationUri"])
        # HTTP APIs give an integration at most 30 s; the function must give up first.
        assert function["inputs"]["timeout"] * 1000 < integration["inputs"]["timeoutMilliseconds"] + 1, (
            function["urn"]
        )
        assert integration["inputs"]["timeoutMilliseconds"] <= 30_000, integration["urn"]


def test_every_function_has_a_timeout_and_the_powertools_layer(all_resources):
    for _, function in functions(all_resources):
        assert 1 <= function["inputs"]["timeout"] <= 900, function["urn"]
        layers = function["inputs"]["layers"]
        assert any(":017000801446:layer:AWSLambdaPowertoolsPythonV3-" in layer for layer in layers), function[
            "urn"
        ]


def test_functions_their_mappings_and_async_configs_wait_for_the_role_policy(all_resources, graphs):
    # Lambda checks the role when a mapping or destination is created, and a first invocation needs it.
    for typ in (
        "aws:lambda/function:Function",
        "aws:lambda/eventSourceMapping:EventSourceMapping",
        "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
    ):
        for stack, resource in each(all_resources, typ):
            graph = graphs[stack]
            function = (
                resource
                if "functionName" not in resource["inputs"]
                else graph.function_for(resource["inputs"]["functionName"])
            )
            policy = graph.role_policy_of(function)
            assert policy["urn"] in resource["dependencies"], (
                f"{stack} {resource['urn']} does not wait for {policy['urn']}"
            )


def test_every_log_group_has_retention(all_resources):
    for _, group in each(all_resources, "aws:cloudwatch/logGroup:LogGroup"):
        assert group["inputs"].get("retentionInDays", 0) > 0, group["urn"]


def test_every_function_logs_to_its_own_group_with_retention(all_resources, graphs):
    for stack, function in functions(all_resources):
        group_name = function["inputs"]["loggingConfig"]["logGroup"]
        groups = [
            g
            for g in graphs[stack].of_type("aws:cloudwatch/logGroup:LogGroup")
            if g["outputs"]["name"] == group_name
        ]
        assert len(groups) == 1, function["urn"]
        assert groups[0]["inputs"]["retentionInDays"] > 0


def test_every_lambda_permission_names_a_source_arn(all_resources):
    for _, permission in each(all_resources, "aws:lambda/permission:Permission"):
        assert permission["inputs"].get("sourceArn"), permission["urn"]
        assert permission["inputs"]["action"] == "lambda:InvokeFunction", permission["urn"]


def test_no_function_environment_holds_a_secret(all_resources):
    for _, function in functions(all_resources):
        for key, value in function["inputs"]["environment"]["variables"].items():
            assert value != "[secret]", f"{function['urn']}: {key}"
            if any(word in key for word in ("SECRET", "PASSWORD", "TOKEN", "WEBHOOK")):
                assert key.endswith("_PARAMETER"), f"{function['urn']}: {key} should name an SSM parameter"


# SnapStart: the functions someone waits for (user routes, the Slack command) start from a snapshot
# of a published version, invoked through the alias `live`; never $LATEST, which SnapStart does not
# cover (https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html#snapstart-runtimes).
SNAP_START_SOURCES = {"health", "login", "hello", "clicks", "discovery", "web", "slack_commands"}


def _source(function: dict[str, Any]) -> str:
    return function["inputs"]["handler"].split(".")[0]


def _live_alias(graph, function: dict[str, Any]) -> dict[str, Any]:
    found = [
        alias
        for alias in graph.of_type("aws:lambda/alias:Alias")
        if alias["inputs"]["functionName"] == function["outputs"]["name"]
    ]
    assert len(found) == 1, f"{graph.stack} {function['urn']}: expected one alias, found {len(found)}"
    return found[0]


def test_user_facing_and_slack_functions_run_snapstart_on_published_versions(graphs):
    for label, graph in graphs.items():
        for function in graph.of_type("aws:lambda/function:Function"):
            snap_start = function["inputs"].get("snapStart")
            if _source(function) in SNAP_START_SOURCES and not label.endswith("+features"):
                assert snap_start == {"applyOn": "PublishedVersions"}, f"{label} {function['urn']}"
                assert function["inputs"].get("publish") is True, (
                    f"{label} {function['urn']} is not published"
                )
            else:
                # The asynchronous functions, and every function of a stack with provisioned concurrency.
                assert snap_start is None, f"{label} {function['urn']} has SnapStart"


def test_every_published_function_has_the_alias_live_on_its_published_version(graphs):
    for label, graph in graphs.items():
        for function in graph.of_type("aws:lambda/function:Function"):
            if not function["inputs"].get("publish"):
                continue
            alias = _live_alias(graph, function)
            assert alias["inputs"]["name"] == "live", f"{label} {alias['urn']}"
            version = alias["inputs"]["functionVersion"]
            assert version == function["outputs"]["version"] and version != "$LATEST", (
                f"{label} {alias['urn']}"
            )


def test_integrations_and_permissions_of_published_functions_name_their_alias(graphs):
    checked = 0
    for label, graph in graphs.items():
        published = [f for f in graph.of_type("aws:lambda/function:Function") if f["inputs"].get("publish")]
        for function in published:
            alias = _live_alias(graph, function)
            integrations = [
                i
                for i in graph.of_type("aws:apigatewayv2/integration:Integration")
                if graph.function_for(i["inputs"]["integrationUri"])["urn"] == function["urn"]
            ]
            assert integrations, f"{label} {function['urn']}: no integration invokes it"
            for integration in integrations:
                assert integration["inputs"]["integrationUri"] == alias["outputs"]["invokeArn"], (
                    f"{label} {integration['urn']} invokes {integration['inputs']['integrationUri']}"
                )
            permissions = [
                p
                for p in graph.of_type("aws:lambda/permission:Permission")
                if p["inputs"]["function"] == function["outputs"]["name"]
            ]
            assert permissions, f"{label} {function['urn']}: nothing may invoke it"
            for permission in permissions:
                assert permission["inputs"].get("qualifier") == "live", f"{label} {permission['urn']}"
            checked += 1
    assert checked >= len(SNAP_START_SOURCES), "no published function was checked"


# IAM


def allow_statements(all_resources):
    for _, policy in each(all_resources, "aws:iam/rolePolicy:RolePolicy"):
        for statement in json.loads(policy["inputs"]["policy"])["Statement"]:
            if statement["Effect"] == "Allow":
                yield policy, statement


def test_functions_may_read_and_decrypt_every_secure_string_their_environment_names(all_resources, graphs):
    readers = 0
    for stack, function in functions(all_resources):
        graph = graphs[stack]
        secure = {
            p["outputs"]["name"]: p
            for p in graph.of_type("aws:ssm/parameter:Parameter")
            if p["inputs"]["type"] == "SecureString"
        }
        policy = json.loads(graph.role_policy_of(function)["inputs"]["policy"])
        for variable, value in function["inputs"]["environment"]["variables"].items():
            parameter = secure.get(value)
            if parameter is None:
                continue
            readers += 1
            (key,) = [
                k
                for k in graph.of_type("aws:kms/key:Key")
                if k["outputs"]["keyId"] == parameter["inputs"]["keyId"]
            ]
            where = f"{function['urn']} ({variable} names {parameter['urn']})"
            assert allows(policy, "ssm:GetParameter", parameter["outputs"]["arn"]), (
                f"{where}: no ssm:GetParameter"
            )
            assert allows(policy, "kms:Decrypt", key["outputs"]["arn"]), (
                f"{where}: no kms:Decrypt on {key['urn']}"
            )
    assert readers, "no function names a SecureString parameter: the rule would check nothing"


def test_iam_policies_grant_no_wildcard_actions(all_resources):
    for policy, statement in allow_statements(all_resources):
        for action in as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), f"{policy['urn']}: {action}"


def test_iam_policies_use_wildcard_resources_only_where_aws_requires_it(all_resources):
    for policy, statement in allow_statements(all_resources):
        if "*" in as_list(statement["Resource"]) and not excepted("iam-wildcard-resource", statement):
            pytest.fail(f"{policy['urn']}: Resource '*' for {statement['Action']}")


# S3 authorizes these on the object (bucket/key), never on the bucket.
S3_OBJECT_ACTIONS = {"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"}


def test_s3_object_actions_name_object_arns(all_resources):
    for policy, statement in allow_statements(all_resources):
        actions = set(as_list(statement["Action"])) & S3_OBJECT_ACTIONS
        for resource in as_list(statement["Resource"]):
            if actions and resource.startswith("arn:aws:s3:::"):
                assert "/" in resource, f"{policy['urn']}: {sorted(actions)} on the bucket {resource}"


def test_firehose_assumes_its_role_only_for_this_account(all_resources):
    roles = [
        (stack, role)
        for stack, role in each(all_resources, "aws:iam/role:Role")
        if "firehose.amazonaws.com" in role["inputs"]["assumeRolePolicy"]
    ]
    assert roles
    for stack, role in roles:
        (statement,) = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
        account = role["outputs"]["arn"].split(":")[4]
        assert statement.get("Condition") == {"StringEquals": {"sts:ExternalId": account}}, (
            f"{stack} {role['urn']}"
        )


def test_every_role_is_assumable_only_by_one_aws_service(all_resources):
    for _, role in each(all_resources, "aws:iam/role:Role"):
        statements = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
        assert len(statements) == 1, role["urn"]
        assert list(statements[0]["Principal"]) == ["Service"], role["urn"]


# API Gateway


def test_every_stage_is_throttled(all_resources):
    for _, stage in each(all_resources, "aws:apigatewayv2/stage:Stage"):
        defaults = stage["inputs"]["defaultRouteSettings"]
        assert defaults["throttlingRateLimit"] > 0, stage["urn"]
        assert defaults["throttlingBurstLimit"] > 0, stage["urn"]


def test_login_route_is_throttled_stricter_than_its_stage(all_resources):
    stages = [
        s for _, s in each(all_resources, "aws:apigatewayv2/stage:Stage") if s["inputs"].get("routeSettings")
    ]
    assert stages
    for stage in stages:
        (login,) = [r for r in stage["inputs"]["routeSettings"] if r["routeKey"] == "POST /login"]
        defaults = stage["inputs"]["defaultRouteSettings"]
        assert login["throttlingRateLimit"] < defaults["throttlingRateLimit"], stage["urn"]
        assert login["throttlingBurstLimit"] < defaults["throttlingBurstLimit"], stage["urn"]


def test_every_stage_writes_json_access_logs_with_request_id(all_resources):
    for _, stage in each(all_resources, "aws:apigatewayv2/stage:Stage"):
        settings = stage["inputs"]["accessLogSettings"]
        assert settings["destinationArn"].startswith("arn:aws:logs:"), stage["urn"]
        assert json.loads(settings["format"])["requestId"] == "$context.requestId", stage["urn"]


def test_custom_domains_use_tls_1_2(all_resources):
    for _, domain in each(all_resources, "aws:apigatewayv2/domainName:DomainName"):
        assert domain["inputs"]["domainNameConfiguration"]["securityPolicy"] == "TLS_1_2", domain["urn"]


def test_latency_records_are_health_checked(all_resources):
    for _, record in each(all_resources, "aws:route53/record:Record"):
        if record["inputs"].get("latencyRoutingPolicies"):
            assert record["inputs"].get("healthCheckId"), record["urn"]
    for _, check in each(all_resources, "aws:route53/healthCheck:HealthCheck"):
        assert check["inputs"]["type"] == "HTTPS" and check["inputs"]["resourcePath"] == "/health", check[
            "urn"
        ]


def test_certificate_validation_records_outlive_any_one_regional_stack(all_resources, graphs):
    for stack, validation in each(all_resources, "aws:acm/certificateValidation:CertificateValidation"):
        for fqdn in validation["inputs"]["validationRecordFqdns"]:
            (record,) = [
                r
                for r in graphs[stack].of_type("aws:route53/record:Record")
                if r["outputs"].get("fqdn") == fqdn
            ]
            # Every region's certificate for the domain renews through this one record.
            assert record["retainOnDelete"] is True, f"{stack} {record['urn']} is deleted with its stack"


# Cognito


def test_user_pool_password_policy_is_strong(all_resources):
    for _, pool in each(all_resources, "aws:cognito/userPool:UserPool"):
        policy = pool["inputs"]["passwordPolicy"]
        assert policy["minimumLength"] >= 12, pool["urn"]
        for flag in ("requireLowercase", "requireUppercase", "requireNumbers", "requireSymbols"):
            assert policy[flag] is True, f"{pool['urn']}: {flag}"


def test_user_pool_client_has_no_secret_and_hides_user_existence(all_resources):
    for _, client in each(all_resources, "aws:cognito/userPoolClient:UserPoolClient"):
        assert client["inputs"]["generateSecret"] is False, client["urn"]
        assert client["inputs"]["preventUserExistenceErrors"] == "ENABLED", client["urn"]


# Cognito: logins that survive the primary's outage (components/user_pool_replica.py)

DYNAMIC = "pulumi-python:dynamic:Resource"
PRIMARY_REGION = "us-east-1"


def _dynamic(graph, kind: str) -> list[dict[str, Any]]:
    return [r for r in graph.of_type(DYNAMIC) if r["inputs"].get("kind") == kind]


def test_every_dynamic_resource_is_one_the_local_cloud_deploys_and_its_provider_stays_secret(all_resources):
    for _, resource in each(all_resources, DYNAMIC):
        assert resource["inputs"]["kind"] in ("UserPoolReplica", "UserPoolMultiRegion"), resource["urn"]
        # The serialized provider is a secret: the synth shows it redacted.
        assert resource["inputs"]["__provider"] == "[secret]", resource["urn"]


# Cognito allows "at most one secondary replica in an additional Region per user directory"
# (https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-multi-region.html): us-west-2's,
# by default, however many regions there are.
REPLICA_REGION = "us-west-2"


def test_with_replication_only_the_replica_region_has_the_pools_one_active_replica_made_from_the_primary(
    graphs,
):
    for label, graph in graphs.items():
        replicas = _dynamic(graph, "UserPoolReplica")
        region = graph.one("pulumi:providers:aws")["inputs"]["region"]
        replicated = "+features" not in label  # the feature stacks turn replication off
        if region != REPLICA_REGION or not replicated:
            assert replicas == [], f"{label}: no replica expected"
            continue
        [replica] = replicas
        inputs = replica["inputs"]
        assert (inputs["regionName"], inputs["primaryRegion"], inputs["status"]) == (
            region,
            PRIMARY_REGION,
            "ACTIVE",
        )
        assert inputs["userPoolId"].startswith(f"{PRIMARY_REGION}_"), replica["urn"]


def test_a_replicated_pool_has_a_plan_a_multi_region_key_and_the_multi_region_issuer(graphs):
    for label in ("us-east-1", "us-east-1+features"):
        graph = graphs[label]
        pool = graph.one("aws:cognito/userPool:UserPool")
        setups = _dynamic(graph, "UserPoolMultiRegion")
        if "+features" in label:
            assert setups == [] and pool["inputs"].get("userPoolTier") is None, label
            continue
        # https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-multi-region.html
        assert pool["inputs"]["userPoolTier"] in ("ESSENTIALS", "PLUS"), pool["urn"]
        [setup] = setups
        assert setup["inputs"]["userPoolId"] == pool["id"], setup["urn"]
        [key] = [
            k for k in graph.of_type("aws:kms/key:Key") if k["outputs"]["arn"] == setup["inputs"]["kmsKeyArn"]
        ]
        assert key["inputs"]["multiRegion"] is True, key["urn"]


def test_every_authorizer_trusts_the_issuer_tokens_of_every_region_carry(graphs):
    for label, graph in graphs.items():
        for authorizer in graph.of_type("aws:apigatewayv2/authorizer:Authorizer"):
            issuer = authorizer["inputs"]["jwtConfiguration"]["issuer"]
            pool_id = issuer.rsplit("/", 1)[-1]
            assert pool_id.startswith(f"{PRIMARY_REGION}_"), authorizer["urn"]
            # Replicated: the multi-Region issuer, named for the primary region, in every replica.
            host = "issuer-cognito-idp" if "+features" not in label else "cognito-idp"
            assert issuer == f"https://{host}.{PRIMARY_REGION}.amazonaws.com/{pool_id}", authorizer["urn"]


def test_every_login_signs_in_against_its_own_regions_pool_if_it_has_one_else_the_primarys(graphs):
    for label, graph in graphs.items():
        region = graph.one("pulumi:providers:aws")["inputs"]["region"]
        has_pool = region == PRIMARY_REGION or (region == REPLICA_REGION and "+features" not in label)
        expected = region if has_pool else PRIMARY_REGION
        login = graph.function("login")
        assert login["inputs"]["environment"]["variables"]["USER_POOL_REGION"] == expected, login["urn"]
