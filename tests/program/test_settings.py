"""Configuration: defaults are safe, and every bad value fails with one message that names the
key, says what is wrong and gives the command that fixes it."""

from __future__ import annotations

import subprocess
import sys

import pulumi
import pytest

from components.settings import ConfigError, load

from .graphs import PROJECT, ROOT

SIGNING_SECRET = "0123456789abcdef0123456789abcdef"
WEBHOOK = "https://hooks.slack.com/services/T000/B000/XYZ"


def configure(stack: str = "us-east-1", secrets: tuple[str, ...] = (), **values: str) -> None:
    config = {"aws:region": stack}
    config.update({f"{PROJECT}:slackSigningSecret": SIGNING_SECRET, f"{PROJECT}:slackWebhookUrl": WEBHOOK})
    secret_keys = [f"{PROJECT}:slackSigningSecret", f"{PROJECT}:slackWebhookUrl"]
    for key, value in values.items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if value is None:
            config.pop(full_key, None)
        else:
            config[full_key] = value
    secret_keys += [f"{PROJECT}:{key}" for key in secrets]
    pulumi.runtime.set_all_config(config, [key for key in secret_keys if key in config])


def settings(stack: str = "us-east-1"):
    return load(pulumi.Config(PROJECT), stack)


def error_for(stack: str = "us-east-1", **values: str) -> str:
    secrets = tuple(k for k in ("demoPassword",) if k in values)
    configure(stack, secrets, **values)
    with pytest.raises(ConfigError) as caught:
        settings(stack)
    return str(caught.value)


@pytest.fixture(autouse=True)
def clean_config():
    yield
    pulumi.runtime.set_all_config({}, [])


def test_defaults_are_safe_and_complete():
    configure()
    s = settings()
    assert (s.primary_region, s.regions, s.is_primary) == ("us-east-1", ("us-east-1", "us-west-2"), True)
    assert s.functions.architecture == "arm64"
    assert s.functions.reserved_concurrency is None  # new accounts have only 10 concurrent executions
    assert s.login_throttle.rate_limit < s.user_api_throttle.rate_limit
    assert s.slack_team_ids == ()  # no workspace is allowed until one is configured
    assert s.deletion_protection is True
    assert s.domain is None
    assert s.functions.snap_start is True
    assert s.user_pool_replication is True


def test_user_pool_replication_can_be_turned_off():
    configure(userPoolReplication="false")
    assert settings().user_pool_replication is False


def test_provisioned_concurrency_is_accepted_with_snapstart_off():
    configure(provisionedConcurrency="2", snapStart="false")
    functions = settings().functions
    assert (functions.snap_start, functions.provisioned_concurrency) == (False, 2)


def test_secondary_stack_is_not_primary():
    configure("us-west-2")
    assert settings("us-west-2").is_primary is False


def project_with(tmp_path, *regions: str):
    """A project folder holding a stack file for each region, as `pulumi stack init` leaves it."""
    (tmp_path / "Pulumi.yaml").write_text(f"name: {PROJECT}\n")
    for region in regions:
        (tmp_path / f"Pulumi.{region}.yaml").write_text(f"config:\n  aws:region: {region}\n")
    return tmp_path


def test_regions_default_to_the_stack_files_and_the_primary_stays_us_east_1(tmp_path):
    project = project_with(tmp_path, "us-east-1", "us-west-2", "eu-west-1")
    configure("eu-west-1")
    loaded = load(pulumi.Config(PROJECT), "eu-west-1", project)
    assert loaded.regions == ("eu-west-1", "us-east-1", "us-west-2")
    assert (loaded.primary_region, loaded.is_primary) == ("us-east-1", False)


def test_a_stack_without_a_stack_file_is_one_of_the_regions(tmp_path):
    # Its config may live elsewhere (--stack-file, the service): this stack is deployed all the same.
    configure("eu-west-1")
    loaded = load(pulumi.Config(PROJECT), "eu-west-1", project_with(tmp_path, "us-east-1", "us-west-2"))
    assert loaded.regions == ("eu-west-1", "us-east-1", "us-west-2")


def test_stack_files_that_name_no_region_are_not_regions(tmp_path):
    project = project_with(tmp_path, "us-east-1")
    (project / "Pulumi.dev.yaml").write_text("config: {}\n")
    configure()
    assert load(pulumi.Config(PROJECT), "us-east-1", project).regions == ("us-east-1",)


def test_explicit_regions_override_the_stack_files_and_lead_with_the_primary(tmp_path):
    configure("eu-west-1", regions='["eu-west-1","us-west-2"]')
    loaded = load(pulumi.Config(PROJECT), "eu-west-1", project_with(tmp_path, "us-east-1", "us-west-2"))
    assert (loaded.regions, loaded.primary_region) == (("eu-west-1", "us-west-2"), "eu-west-1")


def test_without_a_us_east_1_stack_file_the_primary_must_be_set(tmp_path):
    configure("eu-west-1")
    with pytest.raises(ConfigError) as caught:
        load(pulumi.Config(PROJECT), "eu-west-1", project_with(tmp_path, "eu-west-1", "ap-south-1"))
    message = str(caught.value)
    assert f"config {PROJECT}:primaryRegion is not set and us-east-1 has no stack file" in message
    assert message.endswith(f"pulumi config set {PROJECT}:primaryRegion ap-south-1 --stack eu-west-1")
    configure("eu-west-1", primaryRegion="eu-west-1", userPoolReplicaRegion="ap-south-1")
    loaded = load(pulumi.Config(PROJECT), "eu-west-1", project_with(tmp_path, "eu-west-1", "ap-south-1"))
    assert (loaded.primary_region, loaded.is_primary) == ("eu-west-1", True)


def test_the_user_pools_one_replica_stays_in_us_west_2_when_a_third_region_is_added(tmp_path):
    # Cognito allows one secondary replica per user pool: the third region signs in at the primary.
    project = project_with(tmp_path, "us-east-1", "us-west-2", "eu-west-1")
    for stack, signs_in_at in (
        ("us-east-1", "us-east-1"),
        ("us-west-2", "us-west-2"),
        ("eu-west-1", "us-east-1"),
    ):
        configure(stack)
        loaded = load(pulumi.Config(PROJECT), stack, project)
        assert (loaded.user_pool_replica_region, loaded.user_pool_region) == ("us-west-2", signs_in_at), stack


def test_the_replica_stays_in_us_west_2_whatever_the_order_of_an_explicit_regions():
    configure("eu-west-1", regions='["us-east-1","eu-west-1","us-west-2"]')
    assert settings("eu-west-1").user_pool_replica_region == "us-west-2"
    configure("eu-west-1", regions='["us-east-1","eu-west-1"]')
    assert settings("eu-west-1").user_pool_replica_region == "eu-west-1"


def test_the_replica_region_can_be_set_to_another_secondary(tmp_path):
    project = project_with(tmp_path, "us-east-1", "us-west-2", "eu-west-1")
    configure("eu-west-1", userPoolReplicaRegion="eu-west-1")
    loaded = load(pulumi.Config(PROJECT), "eu-west-1", project)
    assert (loaded.user_pool_replica_region, loaded.user_pool_region) == ("eu-west-1", "eu-west-1")


def test_without_replication_there_is_no_replica_and_every_region_signs_in_at_the_primary():
    configure("us-west-2", userPoolReplication="false")
    loaded = settings("us-west-2")
    assert (loaded.user_pool_replica_region, loaded.user_pool_region) == (None, "us-east-1")


def test_without_a_us_west_2_stack_file_the_replica_region_must_be_set(tmp_path):
    configure("eu-west-1")
    with pytest.raises(ConfigError) as caught:
        load(pulumi.Config(PROJECT), "eu-west-1", project_with(tmp_path, "us-east-1", "eu-west-1"))
    message = str(caught.value)
    assert f"config {PROJECT}:userPoolReplicaRegion is not set and us-west-2 has no stack file" in message
    assert f"pulumi config set {PROJECT}:userPoolReplication false" in message
    assert message.endswith(f"pulumi config set {PROJECT}:userPoolReplicaRegion eu-west-1 --stack eu-west-1")


@pytest.mark.parametrize("value", ["us-east-1", "ap-south-1"])
def test_a_replica_region_that_is_not_a_secondary_is_refused(value):
    message = error_for("us-west-2", userPoolReplicaRegion=value)
    assert (
        f"config {PROJECT}:userPoolReplicaRegion is {value!r}, which is not one of the secondary" in message
    )
    assert message.endswith("userPoolReplicaRegion us-west-2 --stack us-west-2")


@pytest.mark.parametrize(
    ("values", "key", "problem", "fix"),
    [
        (
            {"lambdaMemory": "64"},
            "lambdaMemory",
            "must be a whole number from 128 to 10240",
            "lambdaMemory 256",
        ),
        ({"lambdaMemory": "lots"}, "lambdaMemory", "got 'lots'", "lambdaMemory 256"),
        (
            {"lambdaArchitecture": "sparc"},
            "lambdaArchitecture",
            "must be arm64 or x86_64",
            "lambdaArchitecture arm64",
        ),
        ({"errorRate": "1.5"}, "errorRate", "must be a number from 0 to 1", "errorRate 0.1"),
        ({"errorRate": "nan"}, "errorRate", "must be a number from 0 to 1", "errorRate 0.1"),
        ({"errorRateThreshold": "0"}, "errorRateThreshold", "from 0.01 to 1", "errorRateThreshold 0.2"),
        ({"failedLoginThreshold": "0"}, "failedLoginThreshold", "from 1 to 10000", "failedLoginThreshold 5"),
        ({"logRetentionDays": "45"}, "logRetentionDays", "retention periods", "logRetentionDays 30"),
        ({"reservedConcurrency": "0"}, "reservedConcurrency", "from 1 to 1000", "reservedConcurrency"),
        (
            {"reservedConcurrency": "2", "provisionedConcurrency": "3"},
            "provisionedConcurrency",
            "must not exceed reservedConcurrency",
            "provisionedConcurrency 2",
        ),
        (
            {"provisionedConcurrency": "1"},
            "snapStart",
            f"is on together with {PROJECT}:provisionedConcurrency, which SnapStart does not support",
            "snapStart false",
        ),
        ({"snapStart": "on"}, "snapStart", "must be true or false", "snapStart true"),
        ({"userApiRateLimit": "-1"}, "userApiRateLimit", "from 1 to 10000", "userApiRateLimit 50"),
        ({"userApiBurstLimit": "x"}, "userApiBurstLimit", "whole number", "userApiBurstLimit 100"),
        (
            {"loginRateLimit": "500"},
            "loginRateLimit",
            "must be stricter than the user API",
            "loginRateLimit 5",
        ),
        ({"slackApiRateLimit": "0"}, "slackApiRateLimit", "from 1 to 10000", "slackApiRateLimit 5"),
        ({"slackApiBurstLimit": "0"}, "slackApiBurstLimit", "from 1 to 5000", "slackApiBurstLimit 10"),
        ({"loginBurstLimit": "0"}, "loginBurstLimit", "from 1 to 5000", "loginBurstLimit 10"),
        ({"regions": '["us-east-1","us-east-1"]'}, "regions", "distinct valid values", "regions"),
        ({"regions": "mars-1"}, "regions", "distinct valid values", "regions"),
        (
            {"regions": '["us-west-2","eu-west-1"]'},
            "regions",
            "does not include this stack's region",
            "regions",
        ),
        ({"primaryRegion": "eu-west-1"}, "primaryRegion", "is not one of regions", "primaryRegion us-east-1"),
        ({"primaryRegion": "Mars"}, "primaryRegion", "must be an AWS region name", "primaryRegion us-east-1"),
        ({"domainName": "API.Example"}, "domainName", "lower-case DNS name", "domainName api.example.com"),
        (
            {"domainName": "api.example.com"},
            "hostedZoneId",
            "must be set together with domainName",
            "hostedZoneId",
        ),
        (
            {"hostedZoneId": "Z0123456789"},
            "domainName",
            "must be set together with hostedZoneId",
            "domainName",
        ),
        ({"hostedZoneId": "zone"}, "hostedZoneId", "hosted zone id", "hostedZoneId Z0123456789ABC"),
        ({"slackTeamIds": "team-one"}, "slackTeamIds", "distinct valid values", "slackTeamIds T0123ABCD"),
        ({"demoUsername": "no spaces"}, "demoUsername", "1 to 128 letters", "demoUsername demo"),
        ({"demoPassword": "short"}, "demoPassword", "12 to 256 characters", "--secret"),
        (
            {"deletionProtection": "yes"},
            "deletionProtection",
            "must be true or false",
            "deletionProtection true",
        ),
        ({"auditTrail": "1"}, "auditTrail", "must be true or false", "auditTrail false"),
        (
            {"userPoolReplication": "off"},
            "userPoolReplication",
            "must be true or false",
            "userPoolReplication true",
        ),
        ({"archiveRetentionDays": "0"}, "archiveRetentionDays", "from 1 to 3650", "archiveRetentionDays 365"),
        (
            {"powertoolsLayerVersion": "0"},
            "powertoolsLayerVersion",
            "from 1 to 1000",
            "powertoolsLayerVersion 27",
        ),
        ({"slackSigningSecret": None}, "slackSigningSecret", "is not set", "--secret"),
        ({"slackSigningSecret": "not-hex"}, "slackSigningSecret", "32 hex characters", "--secret"),
        ({"slackWebhookUrl": None}, "slackWebhookUrl", "is not set", "--secret"),
        (
            {"slackWebhookUrl": "https://evil.example/hook"},
            "slackWebhookUrl",
            "incoming webhook URL",
            "--secret",
        ),
    ],
)
def test_bad_value_fails_with_one_message_naming_key_and_fix(values, key, problem, fix):
    message = error_for(**values)
    assert f"config {PROJECT}:{key} " in message
    assert problem in message
    assert "Fix: pulumi config set" in message and fix in message
    assert message.endswith("--stack us-east-1")
    assert "\n" not in message


# Cognito's documented password characters: Basic Latin letters, digits, these symbols and inner spaces.
COGNITO_SYMBOLS = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-"


@pytest.mark.parametrize(
    "password",
    [
        "Passwort1234€",  # a symbol Cognito does not list
        "Passwört1234!",  # a letter outside Basic Latin
        "\u043f\u0430\u0440\u043e\u043b\u044c1234AB!",  # Cyrillic letters
        " Password1234!",  # a leading space
        "Password1234! ",
        "Pass\tword1234!",
        "Password1234",  # no symbol
        "Aa1!" + "x" * 253,  # 257 characters
    ],
)
def test_demo_password_cognito_would_refuse_fails_at_config_check(password):
    message = error_for(demoPassword=password)
    assert f"config {PROJECT}:demoPassword " in message
    assert "12 to 256 characters" in message and " ".join(COGNITO_SYMBOLS) in message
    assert f"Fix: pulumi config set --secret {PROJECT}:demoPassword" in message
    assert password not in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "password",
    ["Aa1" + COGNITO_SYMBOLS + " inner space", "Aa1!" + "x" * 8, "Aa1!" + "x" * 252],
)
def test_demo_password_cognito_accepts_passes_the_config_check(password):
    configure(secrets=("demoPassword",), demoPassword=password)
    assert settings().demo_password is not None


def test_secret_stored_in_plain_text_is_refused():
    configure()
    pulumi.runtime.set_all_config(
        {
            "aws:region": "us-east-1",
            f"{PROJECT}:slackSigningSecret": SIGNING_SECRET,
            f"{PROJECT}:slackWebhookUrl": WEBHOOK,
        },
        [f"{PROJECT}:slackWebhookUrl"],
    )
    with pytest.raises(ConfigError, match=r"slackSigningSecret must be stored as a secret.*--secret"):
        settings()


def test_missing_region_names_aws_region():
    pulumi.runtime.set_all_config({}, [])
    with pytest.raises(
        ConfigError, match=r"config aws:region is not set\. Fix: pulumi config set aws:region us-east-1"
    ):
        settings()


def test_stack_named_for_another_region_is_refused():
    message = error_for("us-west-2", **{"aws:region": "us-east-1"})
    assert "aws:region is 'us-east-1' but the stack is named 'us-west-2'" in message


def test_bad_config_fails_before_any_resource_is_registered(tmp_path):
    script = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import pulumi
from tools import program

class Counting(pulumi.runtime.Mocks):
    created = 0
    def new_resource(self, args):
        Counting.created += 1
        return args.name, dict(args.inputs)
    def call(self, args):
        return {{}}

config = {{"aws:region": "us-east-1", "{PROJECT}:lambdaMemory": "64"}}
try:
    program.run("us-east-1", Counting(), config, [])
except pulumi.RunError as error:
    print("ERROR", error)
print("CREATED", Counting.created)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert "ERROR config active-active:lambdaMemory must be a whole number" in result.stdout, result.stderr[
        -2000:
    ]
    assert "CREATED 0" in result.stdout


def test_synth_prints_the_config_error_without_a_stack_trace(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tools.synth", "us-west-2", "--primary-missing"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "deploy the primary region first: pulumi stack select us-east-1 && pulumi up" in result.stderr
    assert "Traceback" not in result.stderr


class FailingLookups(pulumi.runtime.Mocks):
    """The primary's parameters answer with `error`, worded as pulumi-aws reports AWS's answer."""

    def __init__(self, error: str) -> None:
        self.error = error

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:  # type: ignore[override]
        if args.token == "aws:ssm/getParameter:getParameter":
            raise Exception(  # a failed invoke arrives as a plain Exception
                f"reading SSM Parameter ({args.args['name']}): operation error SSM: GetParameter, "
                f"https response error StatusCode: 400, RequestID: 8a1f, {self.error}"
            )
        return {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        return args.name, dict(args.inputs)


def lookup_error(error: str) -> str:
    from components.linking import lookup_global

    configure("us-west-2")
    pulumi.runtime.set_mocks(FailingLookups(error), project=PROJECT, stack="us-west-2", preview=False)
    with pytest.raises(ConfigError) as caught:
        lookup_global(settings("us-west-2"))
    message = str(caught.value)
    assert f"/{PROJECT}/global/user-pool-id in us-east-1" in message
    assert "\n" not in message
    return message


def test_missing_primary_parameter_says_deploy_the_primary_region_first():
    message = lookup_error("ParameterNotFound: ")
    assert "was not found" in message
    assert "deploy the primary region first: pulumi stack select us-east-1 && pulumi up" in message


@pytest.mark.parametrize(
    ("error", "problem", "fix"),
    [
        (
            "api error AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/ci/preview is "
            "not authorized to perform: ssm:GetParameter on resource: arn:aws:ssm:us-east-1:123456789012:"
            "parameter/active-active/global/user-pool-id because no identity-based policy allows it",
            "access was denied (AccessDeniedException)",
            "allow ssm:GetParameter on it",
        ),
        (
            "api error ExpiredTokenException: The security token included in the request is expired",
            "the AWS credentials have expired (ExpiredTokenException)",
            "refresh the credentials",
        ),
        (
            "exceeded maximum number of attempts, 25, api error ThrottlingException: Rate exceeded",
            "SSM throttled the look-up (ThrottlingException)",
            "run pulumi again in a minute",
        ),
    ],
)
def test_primary_parameter_that_cannot_be_read_says_why_not_deploy_the_primary(error, problem, fix):
    message = lookup_error(error)
    assert problem in message and fix in message
    assert "deploy the primary region first" not in message
