"""The deployer's calls are checked as AWS checks them: botocore's service model (required
members, lengths, patterns, enums, ranges, nested) and the rules the model does not state
(Lambda's limits, log retention periods, S3 lifecycle days), refused with AWS's error code and
the Pulumi resource's name. The last tests deploy small programs through the deployer into a
moto server."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from conftest import moto_server

from localcloud import validation

ROOT = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/health"
FUNCTION = {
    "FunctionName": "user-api-health-function-1a2b3c4",
    "Runtime": "python3.13",
    "Role": ROLE,
    "Handler": "app.handler",
    "Code": {"ZipFile": b"PK"},
    "Timeout": 10,
    "MemorySize": 256,
    "Architectures": ["arm64"],
}
_models = botocore.session.get_session()


def problems(service: str, operation: str, params: dict[str, Any]) -> list[validation.Problem]:
    model = _models.get_service_model(service).operation_model(operation)
    return validation.check(service, model, params)


def lifecycle(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"Bucket": "archive-bucket-1a2b3c4", "LifecycleConfiguration": {"Rules": list(rules)}}


def test_a_valid_function_passes():
    assert problems("lambda", "CreateFunction", FUNCTION) == []


def test_a_timeout_of_901_seconds_is_refused_as_lambda_refuses_it():
    [problem] = problems("lambda", "CreateFunction", {**FUNCTION, "Timeout": 901})
    assert (problem.path, problem.code) == ("Timeout", "InvalidParameterValueException")
    assert str(problem) == "Timeout 901 is above the maximum 900"


def test_a_managed_instances_function_may_run_longer_than_900_seconds():
    arn = "arn:aws:lambda:us-east-1:123456789012:capacity-provider:fleet"
    config = {"LambdaManagedInstancesCapacityProviderConfig": {"CapacityProviderArn": arn}}
    params = {**FUNCTION, "Timeout": 3600, "CapacityProviderConfig": config}
    assert problems("lambda", "CreateFunction", params) == []


def test_memory_above_10240_mb_is_refused_though_the_model_allows_more():
    [problem] = problems("lambda", "CreateFunction", {**FUNCTION, "MemorySize": 10_241})
    assert str(problem) == "MemorySize 10241 is above the maximum 10240"


def test_model_minimums_enums_and_patterns_are_each_reported_by_member():
    params = {**FUNCTION, "MemorySize": 64, "Runtime": "python2.5", "FunctionName": "user api"}
    found = {problem.path: problem.text for problem in problems("lambda", "CreateFunction", params)}
    assert found["MemorySize"] == "64 is below the minimum 128"
    assert found["Runtime"].startswith("'python2.5' is not one of ")
    assert found["FunctionName"].startswith("'user api' does not match the pattern ")
    assert set(found) == {"MemorySize", "Runtime", "FunctionName"}


def test_a_missing_required_member_is_named():
    params = {key: value for key, value in FUNCTION.items() if key != "Role"}
    assert [str(p) for p in problems("lambda", "CreateFunction", params)] == ["Role is required but missing"]


def test_nested_list_and_string_lengths_are_checked():
    params = {
        "TableName": "t" * 1025,  # the model allows a table's ARN, hence 1024
        "KeySchema": [],
        "AttributeDefinitions": [{"AttributeName": "", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    found = [str(problem) for problem in problems("dynamodb", "CreateTable", params)]
    assert found == [
        "TableName is 1025 characters long, above the maximum 1024",
        "KeySchema is 0 items long, below the minimum 1",
        "AttributeDefinitions[0].AttributeName is 0 characters long, below the minimum 1",
    ]


def test_map_keys_are_checked_against_their_enum():
    [problem] = problems("sqs", "CreateQueue", {"QueueName": "q", "Attributes": {"VisibilityTimout": "30"}})
    assert problem.path == "Attributes key"
    assert problem.text.startswith("'VisibilityTimout' is not one of ")


def test_unicode_category_patterns_refuse_a_space_in_a_username_and_take_letters():
    pool = "us-east-1_AbCdEf123"
    assert problems("cognito-idp", "AdminCreateUser", {"UserPoolId": pool, "Username": "dé.mo"}) == []
    [problem] = problems("cognito-idp", "AdminCreateUser", {"UserPoolId": pool, "Username": "de mo"})
    assert problem.path == "Username"
    assert problem.text.startswith("(sensitive value) does not match")  # the model marks it sensitive


def test_a_log_retention_of_2_days_is_refused_as_cloudwatch_logs_refuses_it():
    [problem] = problems(
        "logs", "PutRetentionPolicy", {"logGroupName": "/aws/lambda/f", "retentionInDays": 2}
    )
    assert (problem.path, problem.code) == ("retentionInDays", "InvalidParameterException")
    assert problem.text.startswith("2 is not one of 1, 3, 5, 7, 14, 30,")


def test_every_documented_log_retention_period_is_accepted():
    for days in validation.LOG_RETENTION_DAYS:
        assert problems("logs", "PutRetentionPolicy", {"logGroupName": "/g", "retentionInDays": days}) == []


def test_an_http_api_integration_timeout_above_30_s_is_refused_by_the_model():
    params = {"ApiId": "a1b2c3", "IntegrationType": "AWS_PROXY", "TimeoutInMillis": 30_001}
    [problem] = problems("apigatewayv2", "CreateIntegration", params)
    assert str(problem) == "TimeoutInMillis 30001 is above the maximum 30000"


def test_the_programs_own_lifecycle_rules_pass():
    archive = {
        "ID": "archive-then-expire",
        "Status": "Enabled",
        "Filter": {"Prefix": "changes/"},
        "Expiration": {"Days": 365},
        "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}],
    }
    versions = {
        "ID": "expire-old-versions",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }
    assert problems("s3", "PutBucketLifecycleConfiguration", lifecycle(archive, versions)) == []


def test_a_move_to_standard_ia_before_day_30_is_refused():
    rule = {"Status": "Enabled", "Filter": {}, "Transitions": [{"Days": 10, "StorageClass": "STANDARD_IA"}]}
    [problem] = problems("s3", "PutBucketLifecycleConfiguration", lifecycle(rule))
    assert problem.code == "InvalidArgument"
    assert str(problem) == (
        "LifecycleConfiguration.Rules[0].Transitions[0].Days 10 is below 30, the minimum for STANDARD_IA"
    )


def test_an_expiration_on_or_before_the_last_transition_is_refused():
    rule = {
        "Status": "Enabled",
        "Filter": {"Prefix": "changes/"},
        "Expiration": {"Days": 30},
        "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}],
    }
    [problem] = problems("s3", "PutBucketLifecycleConfiguration", lifecycle(rule))
    assert problem.path == "LifecycleConfiguration.Rules[0].Expiration.Days"
    assert problem.text == "30 must be after every transition (the last on day 30)"


def test_transitions_out_of_waterfall_order_are_refused():
    transitions = [{"Days": 60, "StorageClass": "GLACIER"}, {"Days": 90, "StorageClass": "STANDARD_IA"}]
    rule = {"Status": "Enabled", "Filter": {}, "Transitions": transitions}
    [problem] = problems("s3", "PutBucketLifecycleConfiguration", lifecycle(rule))
    assert problem.text == "moves to STANDARD_IA on day 90, not after GLACIER on day 60"


def test_a_noncurrent_expiration_before_its_transition_is_refused():
    rule = {
        "Status": "Enabled",
        "Filter": {},
        "NoncurrentVersionTransitions": [{"NoncurrentDays": 30, "StorageClass": "ONEZONE_IA"}],
        "NoncurrentVersionExpiration": {"NoncurrentDays": 20},
    }
    [problem] = problems("s3", "PutBucketLifecycleConfiguration", lifecycle(rule))
    assert problem.path == "LifecycleConfiguration.Rules[0].NoncurrentVersionExpiration.NoncurrentDays"


def test_an_installed_session_refuses_before_sending_and_names_the_resource():
    session = boto3.session.Session()
    validation.install(session)
    client = session.client(
        "lambda",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:1",  # never reached: the call is refused before it is sent
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    with (
        validation.deploying('aws:lambda/function:Function "user-api-health-function"'),
        pytest.raises(validation.Refused) as refused,
    ):
        client.create_function(**{**FUNCTION, "Timeout": 901})
    assert str(refused.value) == (
        'aws:lambda/function:Function "user-api-health-function": Timeout 901 is above the maximum 900 '
        "(InvalidParameterValueException, lambda CreateFunction)"
    )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"


# Through the deployer: a small Pulumi program deployed into a moto server


@pytest.fixture
def moto_url() -> Iterator[str]:
    """A fresh moto server per test: each deploys resources of the same names."""
    with moto_server() as url:
        yield url


PROGRAM = """\
import json

import pulumi
import pulumi_aws as aws

role = aws.iam.Role(
    "health-role",
    assume_role_policy=json.dumps({{
        "Version": "2012-10-17",
        "Statement": [{{"Effect": "Allow", "Action": "sts:AssumeRole",
                       "Principal": {{"Service": "lambda.amazonaws.com"}}}}],
    }}),
)
aws.cloudwatch.LogGroup("health-logs", retention_in_days={retention})
aws.lambda_.Function(
    "user-api-health-function",
    runtime="python3.13",
    handler="app.handler",
    role=role.arn,
    code=pulumi.FileArchive("code.zip"),
    timeout={timeout},
)
"""


def deploy(program_dir: Path, moto: str, timeout: int, retention: int) -> subprocess.CompletedProcess[str]:
    program_dir.mkdir()
    (program_dir / "Pulumi.yaml").write_text("name: validation-check\nruntime: python\n")
    (program_dir / "__main__.py").write_text(PROGRAM.format(timeout=timeout, retention=retention))
    with zipfile.ZipFile(program_dir / "code.zip", "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {}\n")
    driver = textwrap.dedent(
        f"""
        import json, os, sys
        from pathlib import Path
        from localcloud import deployer, validation
        os.chdir({str(program_dir)!r})
        try:
            graph = deployer.deploy("us-east-1", {moto!r}, {{}}, {{"aws:region": "us-east-1"}}, [],
                                    root=Path({str(program_dir)!r}))
        except validation.Refused as error:
            print(f"error: {{error}}", file=sys.stderr)
            raise SystemExit(1)
        print(json.dumps(sorted(r["type"] for r in graph["resources"])))
        """
    )
    return subprocess.run(
        [sys.executable, "-c", driver], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_deployer_stops_at_a_function_timeout_aws_refuses(moto_url, tmp_path):
    result = deploy(tmp_path / "program", moto_url, timeout=901, retention=30)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        'error: aws:lambda/function:Function "user-api-health-function": Timeout 901 is above the '
        "maximum 900 (InvalidParameterValueException, lambda CreateFunction)"
    )


def test_the_deployer_stops_at_a_log_retention_aws_refuses(moto_url, tmp_path):
    result = deploy(tmp_path / "program", moto_url, timeout=10, retention=2)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        'error: aws:cloudwatch/logGroup:LogGroup "health-logs": retentionInDays 2 is not one of 1, 3, 5,'
    )
    assert last.endswith("(InvalidParameterException, logs PutRetentionPolicy)")


def test_the_deployer_deploys_what_aws_accepts(moto_url, tmp_path):
    result = deploy(tmp_path / "program", moto_url, timeout=900, retention=3653)
    assert result.returncode == 0, result.stderr
    assert "aws:lambda/function:Function" in json.loads(result.stdout.strip().splitlines()[-1])
