"""Shared fixtures: fake AWS credentials, moto, and events built from the JSON files in events/.

Unit tests never reach the network: boto3 talks to moto in-process (``mock_aws``).

Tests are laid out by what they test: ``functions/`` (the Lambda functions on moto, with their
helpers ``webhook_helpers`` and ``slack_helpers``), ``localcloud/`` (the local cloud's services),
``program/`` (the Pulumi program under mocks) and ``e2e/`` (against a running local cloud).
``functions/`` and ``localcloud/`` have no ``__init__.py`` (as packages they would shadow the
real ``functions`` and ``localcloud``), so pytest imports their test modules by file name:
a file name is used once across both folders. This file is the one ``conftest`` module that
tests import constants and builders from.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "static"
EVENTS = Path(__file__).resolve().parent / "events"
sys.path.insert(0, str(ROOT / "functions"))
# The function tests' helpers, importable by name wherever a test or fixture needs them.
sys.path.insert(0, str(Path(__file__).resolve().parent / "functions"))

APP = "active-active"
PRIMARY = "us-east-1"
SECONDARY = "us-west-2"
REGIONS = (PRIMARY, SECONDARY)
TABLE = "active-active-table"
BUS = "active-active-bus"
BUCKET = "active-active-static"
WEBHOOK_URL = "https://hooks.slack.com/services/T000/B000/XXXX"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM_ID = "T0001"
DEMO_USER = "demo"
DEMO_PASSWORD = "Demo-Passw0rd!2026"

FUNCTION_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": PRIMARY,
    "AWS_REGION": PRIMARY,
    "APP_NAME": APP,
    "PRIMARY_REGION": PRIMARY,
    "USER_POOL_REGION": PRIMARY,
    "TABLE_NAME": TABLE,
    "BUS_NAME": BUS,
    "STATIC_BUCKET": BUCKET,
    "CHAOS_PARAMETER_PREFIX": f"/{APP}/chaos",
    "REGISTRY_PATH": f"/{APP}/regions",
    "DRILL_PARAMETER_PREFIX": f"/{APP}/drill",
    "SLACK_WEBHOOK_PARAMETER": f"/{APP}/slack/webhook-url",
    "SLACK_SIGNING_SECRET_PARAMETER": f"/{APP}/slack/signing-secret",
    "ALLOWED_TEAM_IDS": TEAM_ID,
    "EVENT_SOURCE": "app.clicks",
    "POWERTOOLS_SERVICE_NAME": "test",
    "POWERTOOLS_METRICS_NAMESPACE": APP,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The end-to-end tests run last, after every in-process test: ``make test`` runs the
    function tests on the runtime's Python alongside, and both are CPU-bound while the end-to-end
    tests mostly wait for a local cloud. The order within each group is unchanged."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


@pytest.fixture(scope="session", autouse=True)
def one_botocore_loader() -> Iterator[None]:
    """Every botocore session of the test run shares one loader of botocore's own data, so each
    service model and endpoints.json is parsed once, not once per test: ``mock_aws`` drops
    boto3's default session each time, and a new session has a new loader with an empty cache.
    Sessions on a function's packaged data register their own loader and are not affected."""
    from botocore import loaders, session

    shared: dict[str | None, loaders.Loader] = {}
    original = session.create_loader

    def create_loader(search_path_string: str | None = None) -> loaders.Loader:
        if search_path_string not in shared:
            shared[search_path_string] = original(search_path_string)
        return shared[search_path_string]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(session, "create_loader", create_loader)
        yield


@pytest.fixture(scope="session", autouse=True)
def one_cognito_signing_key() -> Iterator[None]:
    """moto gives every user pool the same private key, parsed from its JSON file each time (about
    0.1 s of RSA arithmetic per pool, so per test): parse that file once."""
    from moto.cognitoidp import models

    original = models.jwk.RSAKey.import_key
    parsed: dict[str, Any] = {}

    def import_key(value: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs or not isinstance(value, dict):
            return original(value, *args, **kwargs)
        text = json.dumps(value, sort_keys=True)
        if text not in parsed:
            parsed[text] = original(value)
        return parsed[text]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(models.jwk.RSAKey, "import_key", import_key)
        yield


@pytest.fixture(autouse=True)
def function_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FUNCTION_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


FUNCTIONS = sorted(path.parent.name for path in (ROOT / "functions").glob("*/app.py"))


def function_under_test(module: str) -> str | None:
    """The function a test module is about, by its name: ``test_<function>[_<aspect>]``."""
    name = module.rpartition(".")[2].removeprefix("test_")
    matches = [function for function in FUNCTIONS if name == function or name.startswith(f"{function}_")]
    return max(matches, key=len, default=None)


@pytest.fixture(scope="session")
def package_roots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every function's packaged data, exactly as packaging puts it in the zip, in a folder per
    function: ``botocore-data/`` and the static content it carries."""
    from components import botocore_data
    from components.packaged_files import packaged_files

    root = tmp_path_factory.mktemp("packages")
    for function, operations in botocore_data.declared_operations().items():
        data = botocore_data.botocore_data(operations)
        entries = [(f"{botocore_data.FOLDER}/{name}", content) for name, content in data.items()]
        for name, content in entries + packaged_files(function):
            path = root / function / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    return root


@pytest.fixture(autouse=True)
def packaged_data(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, package_roots: Path
) -> Iterator[None]:
    """A function's tests run its clients on its packaged botocore data only, as in AWS, but
    with no fallback: a call to an operation missing from functions/aws-operations.toml fails
    (the client has no such method, or botocore finds no data for the service). What it reads
    from its package (``shared.images.from_package``) is what its package carries."""
    from shared import aws, images

    from components import botocore_data

    function = function_under_test(request.module.__name__)
    if function is not None:
        monkeypatch.setattr(aws, "DATA_PATH", package_roots / function / botocore_data.FOLDER)
        monkeypatch.setattr(aws, "_fall_back", _refuse_fallback)
        monkeypatch.setattr(images, "PACKAGE_ROOT", package_roots / function)
    else:  # a test of several functions: their packaged files where packaging takes them from
        monkeypatch.setattr(images, "PACKAGE_ROOT", STATIC)
    aws.reset()
    yield
    aws.reset()


def _refuse_fallback(reason: str) -> None:
    raise AssertionError(f"the function's packaged botocore data is not enough: {reason}")


@dataclass
class Cloud:
    """What the `aws` fixture created, for tests to read and change."""

    user_pool_id: str
    client_id: str
    events_queue_url: str

    def sqs_messages(self) -> list[dict[str, Any]]:
        import boto3

        sqs = boto3.client("sqs", region_name=PRIMARY)
        messages = sqs.receive_message(QueueUrl=self.events_queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        return [json.loads(message["Body"]) for message in messages]


def _reset_function_caches() -> None:
    from shared import aws, images, parameters

    aws.reset()
    images.from_bucket.cache_clear()
    images.from_package.cache_clear()
    parameters.clear_caches()


@functools.cache
def _setup_client(service: str, region: str) -> Any:
    """The `aws` fixture's clients, made once for the whole run (about 10 ms each, ten per test):
    moto answers them inside every test's ``mock_aws``, with that test's fresh state."""
    import boto3

    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
    ).client(service)


@pytest.fixture
def aws() -> Iterator[Cloud]:
    """Both regions' resources in moto, shaped as the Pulumi program creates them."""
    from moto import mock_aws
    from shared import model

    with mock_aws():
        _reset_function_caches()
        for region in REGIONS:
            _setup_client("dynamodb", region).create_table(
                TableName=TABLE,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[
                    {"AttributeName": model.PARTITION_KEY, "AttributeType": "S"},
                    {"AttributeName": model.SORT_KEY, "AttributeType": "S"},
                ],
                KeySchema=[
                    {"AttributeName": model.PARTITION_KEY, "KeyType": "HASH"},
                    {"AttributeName": model.SORT_KEY, "KeyType": "RANGE"},
                ],
            )
            ssm = _setup_client("ssm", region)
            ssm.put_parameter(
                Name=f"/{APP}/chaos/{region}",
                Type="String",
                Value=json.dumps({"failed": False, "errorRate": 0.0, "writerFailureRate": 0.0}),
            )
            ssm.put_parameter(Name=f"/{APP}/slack/webhook-url", Type="SecureString", Value=WEBHOOK_URL)
            ssm.put_parameter(Name=f"/{APP}/slack/signing-secret", Type="SecureString", Value=SIGNING_SECRET)
            _setup_client("ssm", PRIMARY).put_parameter(
                Name=f"/{APP}/regions/{region}",
                Type="String",
                Value=json.dumps(
                    {
                        "api": f"https://api-{region}.example.com",
                        "slackApi": f"https://slack-{region}.example.com",
                    }
                ),
            )

        s3 = _setup_client("s3", PRIMARY)
        s3.create_bucket(Bucket=BUCKET)
        static = ROOT / "static"
        for path in static.rglob("*"):
            if path.is_file():
                key = path.relative_to(static).as_posix()
                s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes(), ContentType=_content_type(key))

        cognito = _setup_client("cognito-idp", PRIMARY)
        pool_id = cognito.create_user_pool(PoolName=f"{APP}-users")["UserPool"]["Id"]
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName="web",
            GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
        cognito.admin_create_user(UserPoolId=pool_id, Username=DEMO_USER, MessageAction="SUPPRESS")
        cognito.admin_set_user_password(
            UserPoolId=pool_id, Username=DEMO_USER, Password=DEMO_PASSWORD, Permanent=True
        )
        os.environ["USER_POOL_ID"] = pool_id
        os.environ["USER_POOL_CLIENT_ID"] = client_id

        events = _setup_client("events", PRIMARY)
        events.create_event_bus(Name=BUS)
        sqs = _setup_client("sqs", PRIMARY)
        queue_url = sqs.create_queue(QueueName="bus-capture")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name="capture", EventBusName=BUS, EventPattern=json.dumps({"source": ["app.clicks"]}))
        events.put_targets(Rule="capture", EventBusName=BUS, Targets=[{"Id": "q", "Arn": queue_arn}])

        yield Cloud(user_pool_id=pool_id, client_id=client_id, events_queue_url=queue_url)
        _reset_function_caches()


def _content_type(key: str) -> str:
    suffix = key.rsplit(".", 1)[-1]
    return {
        "svg": "image/svg+xml",
        "html": "text/html; charset=utf-8",
        "js": "text/javascript; charset=utf-8",
        "css": "text/css; charset=utf-8",
    }.get(suffix, "application/octet-stream")


def set_chaos(region: str = PRIMARY, **state: Any) -> None:
    import boto3

    value = {"failed": False, "errorRate": 0.0, "writerFailureRate": 0.0, **state}
    boto3.client("ssm", region_name=region).put_parameter(
        Name=f"/{APP}/chaos/{region}", Type="String", Value=json.dumps(value), Overwrite=True
    )
    from shared import parameters

    parameters.clear_caches()


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    claims: dict[str, Any] | None = None,
    authorized: bool = True,
    headers: dict[str, str] | None = None,
    base64_body: bool = False,
    source_ip: str = "203.0.113.7",
    route_key: str | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, from events/http_api_request.json."""
    event = copy.deepcopy(load_event("http_api_request.json"))
    event["rawPath"] = path
    event["routeKey"] = route_key or f"{method} {path}"
    event["requestContext"]["routeKey"] = event["routeKey"]
    event["requestContext"]["http"].update({"method": method, "path": path, "sourceIp": source_ip})
    if claims is not None:
        event["requestContext"]["authorizer"]["jwt"]["claims"] = claims
    if not authorized:
        del event["requestContext"]["authorizer"]
    event["headers"].update(headers or {})
    if body is not None:
        text = body if isinstance(body, str | bytes) else json.dumps(body)
        raw = text.encode() if isinstance(text, str) else text
        if base64_body:
            event["body"] = base64.b64encode(raw).decode()
            event["isBase64Encoded"] = True
        else:
            event["body"] = raw.decode()
    return event


@dataclass
class FakeContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "2026/11/25/[$LATEST]abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()


def body_of(response: dict[str, Any]) -> Any:
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body)


@pytest.fixture
def slack_webhook(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Slack's incoming webhook replaced in-process: records messages, can answer with errors."""
    from shared import slack
    from webhook_helpers import SlackWebhook

    hook = SlackWebhook()

    def send(url: str, message: dict[str, Any], timeout: float = slack.TIMEOUT_SECONDS) -> tuple[int, str]:
        return hook.send(url, message.get("text"), message.get("blocks"))

    monkeypatch.setattr(slack, "send", send)
    return hook


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """The local cloud's moto server (``localcloud.motoserver``) on a free port: its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "localcloud.motoserver", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: _accepts(port), timeout=30), "the moto server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)
