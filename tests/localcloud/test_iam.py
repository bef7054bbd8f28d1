"""IAM on every call (localcloud.iam): an assumed execution role can do what its policy allows,
and gets AWS's AccessDenied for what it lacks; requests are authorized against the resources
and per-item actions AWS names, not moto's one action on "*"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import moto_server
from moto import mock_aws
from moto.core.authorization import ActionAuthenticatorMixin, enable_iam_authentication

from localcloud.iam import authorization, principals
from localcloud.settings import ACCOUNT

REGION = "us-east-1"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/app"
PARAMETER_ARN = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/app/chaos/{REGION}"


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _trust(service: str) -> str:
    return _policy({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"})


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[principals.Principals]:
    """moto in-process with the local cloud's authorization, a table, parameters and roles; IAM
    enforced from the first request the test makes."""
    monkeypatch.setattr(
        ActionAuthenticatorMixin, "_authenticate_and_authorize_normal_action", authorization._authorize
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "setup")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "setup")
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        iam.create_role(RoleName="writer", AssumeRolePolicyDocument=_trust("lambda.amazonaws.com"))
        iam.put_role_policy(
            RoleName="writer",
            PolicyName="writer",
            PolicyDocument=_policy(
                {
                    "Effect": "Allow",
                    "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"],
                    "Resource": TABLE_ARN,
                },
                {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": PARAMETER_ARN},
            ),
        )
        iam.create_role(RoleName="firehose", AssumeRolePolicyDocument=_trust("firehose.amazonaws.com"))
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName="app",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ssm = boto3.client("ssm", region_name=REGION)
        ssm.put_parameter(Name=f"/app/chaos/{REGION}", Value="{}", Type="String")
        ssm.put_parameter(Name="/app/regions/us-east-1", Value="{}", Type="String")
        created = principals.create(None)
        with enable_iam_authentication():
            yield created


def _role(cloud: principals.Principals, name: str) -> boto3.session.Session:
    credentials = cloud.assume(f"arn:aws:iam::{ACCOUNT}:role/{name}", f"app-{name}", REGION)
    return boto3.session.Session(region_name=REGION, **credentials.client_options())


def _error(call: Any, **request: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**request)
    return {
        **caught.value.response["Error"],
        "status": caught.value.response["ResponseMetadata"]["HTTPStatusCode"],
    }


def test_assumed_role_reads_the_parameter_its_policy_names(cloud: principals.Principals) -> None:
    ssm = _role(cloud, "writer").client("ssm")
    assert ssm.get_parameter(Name=f"/app/chaos/{REGION}")["Parameter"]["Value"] == "{}"


def test_assumed_role_is_denied_put_parameter_with_aws_error(cloud: principals.Principals) -> None:
    ssm = _role(cloud, "writer").client("ssm")
    error = _error(ssm.put_parameter, Name=f"/app/chaos/{REGION}", Value="{}", Type="String", Overwrite=True)
    assert error["Code"] == "AccessDeniedException"
    assert error["status"] == 400
    assert error["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/writer/app-writer is not authorized to perform: "
        f"ssm:PutParameter on resource: {PARAMETER_ARN} because no identity-based policy allows the "
        "ssm:PutParameter action"
    )


def test_assumed_role_is_denied_a_parameter_its_policy_does_not_name(cloud: principals.Principals) -> None:
    ssm = _role(cloud, "writer").client("ssm")
    assert _error(ssm.get_parameter, Name="/app/regions/us-east-1")["Code"] == "AccessDeniedException"


def _transaction(table: str = "app") -> dict[str, Any]:
    return {
        "TransactItems": [
            {"Put": {"TableName": table, "Item": {"pk": {"S": "guard"}}}},
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": "counter"}},
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
        ]
    }


def test_transact_write_items_is_authorized_per_item_action(cloud: principals.Principals) -> None:
    # The role has PutItem and UpdateItem, not moto's dynamodb:TransactWriteItems.
    _role(cloud, "writer").client("dynamodb").transact_write_items(**_transaction())
    admin = boto3.session.Session(region_name=REGION, **cloud.admin.client_options()).client("dynamodb")
    assert admin.get_item(TableName="app", Key={"pk": {"S": "counter"}})["Item"]["n"] == {"N": "1"}


def test_transact_write_items_is_denied_the_item_action_the_role_lacks(cloud: principals.Principals) -> None:
    iam = boto3.session.Session(region_name=REGION, **cloud.admin.client_options()).client("iam")
    iam.put_role_policy(
        RoleName="writer",
        PolicyName="writer",
        PolicyDocument=_policy({"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": TABLE_ARN}),
    )
    dynamodb = _role(cloud, "writer").client("dynamodb")
    error = _error(dynamodb.transact_write_items, **_transaction())
    assert error["Code"] == "AccessDeniedException"
    assert f"dynamodb:UpdateItem on resource: {TABLE_ARN}" in error["Message"]


def test_get_parameters_by_path_is_authorized_against_the_path(cloud: principals.Principals) -> None:
    iam = boto3.session.Session(region_name=REGION, **cloud.admin.client_options()).client("iam")
    path_arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/app/regions"
    iam.put_role_policy(
        RoleName="writer",
        PolicyName="discovery",
        PolicyDocument=_policy(
            {"Effect": "Allow", "Action": "ssm:GetParametersByPath", "Resource": path_arn}
        ),
    )
    ssm = _role(cloud, "writer").client("ssm")
    found = ssm.get_parameters_by_path(Path="/app/regions")["Parameters"]
    assert [parameter["Name"] for parameter in found] == ["/app/regions/us-east-1"]
    assert _error(ssm.get_parameters_by_path, Path="/app")["Code"] == "AccessDeniedException"


def test_put_events_is_authorized_on_each_entry_s_bus(cloud: principals.Principals) -> None:
    bus = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/app"
    admin = boto3.session.Session(region_name=REGION, **cloud.admin.client_options())
    admin.client("events").create_event_bus(Name="app")
    iam = admin.client("iam")
    grant = _policy({"Effect": "Allow", "Action": "events:PutEvents", "Resource": bus})
    iam.put_role_policy(RoleName="writer", PolicyName="bus", PolicyDocument=grant)
    events = _role(cloud, "writer").client("events")
    entry = {"Source": "app.clicks", "DetailType": "PageViewed", "Detail": "{}"}
    assert events.put_events(Entries=[{**entry, "EventBusName": "app"}])["FailedEntryCount"] == 0
    error = _error(events.put_events, Entries=[{**entry, "EventBusName": "app"}, entry])
    assert error["Code"] == "AccessDeniedException"
    assert "event-bus/default" in error["Message"]


def test_managed_policy_attached_to_the_role_is_honoured(cloud: principals.Principals) -> None:
    iam = boto3.session.Session(region_name=REGION, **cloud.admin.client_options()).client("iam")
    arn = iam.create_policy(
        PolicyName="read-table",
        PolicyDocument=_policy({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE_ARN}),
    )["Policy"]["Arn"]
    dynamodb = _role(cloud, "writer").client("dynamodb")
    assert (
        _error(dynamodb.get_item, TableName="app", Key={"pk": {"S": "x"}})["Code"] == "AccessDeniedException"
    )
    iam.attach_role_policy(RoleName="writer", PolicyArn=arn)
    assert "Item" not in dynamodb.get_item(TableName="app", Key={"pk": {"S": "x"}})


def test_lambda_cannot_assume_a_role_that_trusts_another_service(cloud: principals.Principals) -> None:
    with pytest.raises(ClientError) as caught:
        cloud.assume(f"arn:aws:iam::{ACCOUNT}:role/firehose", "app-firehose", REGION)
    assert caught.value.response["Error"]["Code"] == "AccessDenied"


def test_a_user_cannot_assume_a_role_that_trusts_only_lambda(cloud: principals.Principals) -> None:
    sts = boto3.session.Session(region_name=REGION, **cloud.admin.client_options()).client("sts")
    error = _error(sts.assume_role, RoleArn=f"arn:aws:iam::{ACCOUNT}:role/writer", RoleSessionName="admin")
    assert error["Code"] == "AccessDenied"


def test_unknown_keys_are_refused(cloud: principals.Principals) -> None:
    ssm = boto3.session.Session(
        region_name=REGION, **principals.UNENFORCED_CREDENTIALS.client_options()
    ).client("ssm")
    assert _error(ssm.get_parameter, Name=f"/app/chaos/{REGION}")["Code"] == "UnrecognizedClientException"


def test_enforce_leaves_the_admin_as_the_only_way_in_to_the_local_cloud_s_moto() -> None:
    with moto_server() as url:
        admin = principals.enforce(url).admin
        session = boto3.session.Session(region_name=REGION)
        sqs = session.client("sqs", endpoint_url=url, **admin.client_options())
        assert sqs.create_queue(QueueName="q")["QueueUrl"].endswith("/q")
        unknown = session.client(
            "sqs", endpoint_url=url, **principals.UNENFORCED_CREDENTIALS.client_options()
        )
        assert _error(unknown.list_queues)["Code"] == "UnrecognizedClientException"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, principals.Principals]]:
    """The local cloud's moto server (which installs localcloud.iam.authorization) under
    enforcement, with a bucket and an object."""
    with moto_server() as url:
        open_keys = principals.UNENFORCED_CREDENTIALS.client_options()
        s3 = boto3.session.Session(region_name=REGION).client("s3", endpoint_url=url, **open_keys)
        s3.create_bucket(Bucket="static")
        s3.put_object(Bucket="static", Key="assets/a.png", Body=b"png")
        yield url, principals.enforce(url)


def _site_role(served: tuple[str, principals.Principals], name: str, *statements: dict[str, Any]) -> Any:
    url, cloud = served
    iam = boto3.session.Session(region_name=REGION).client(
        "iam", endpoint_url=url, **cloud.admin.client_options()
    )
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=_trust("lambda.amazonaws.com"))
    iam.put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=_policy(*statements))
    credentials = cloud.assume(f"arn:aws:iam::{ACCOUNT}:role/{name}", name, REGION)
    return boto3.session.Session(region_name=REGION).client(
        "s3", endpoint_url=url, **credentials.client_options()
    )


GET_OBJECT = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::static/*"}


def test_get_object_of_a_missing_key_is_403_without_list_bucket(
    served: tuple[str, principals.Principals],
) -> None:
    s3 = _site_role(served, "images", GET_OBJECT)
    assert s3.get_object(Bucket="static", Key="assets/a.png")["Body"].read() == b"png"
    error = _error(s3.get_object, Bucket="static", Key="assets/missing.png")
    assert (error["Code"], error["status"]) == ("AccessDenied", 403)


def test_get_object_of_a_missing_key_is_404_with_list_bucket(
    served: tuple[str, principals.Principals],
) -> None:
    listing = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::static"}
    s3 = _site_role(served, "site", GET_OBJECT, listing)
    error = _error(s3.get_object, Bucket="static", Key="assets/missing.png")
    assert (error["Code"], error["status"]) == ("NoSuchKey", 404)


def _secret_reader(
    cloud: principals.Principals, key_policy: str, *, decrypt: dict[str, Any] | None
) -> tuple[Any, str]:
    """A role that may ssm:GetParameter a SecureString under a new customer managed key with
    `key_policy` (and kms:Decrypt by its own policy when `decrypt` is given); its SSM client and
    the key's ARN. Set up as the admin."""
    admin = boto3.session.Session(region_name=REGION, **cloud.admin.client_options())
    key = admin.client("kms").create_key(Policy=key_policy)["KeyMetadata"]
    admin.client("ssm").put_parameter(
        Name="/app/slack/signing-secret", Value="s3cret", Type="SecureString", KeyId=key["KeyId"]
    )
    statements = [
        {
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/app/slack/signing-secret",
        }
    ]
    if decrypt is not None:
        statements.append({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key["Arn"], **decrypt})
    iam = admin.client("iam")
    iam.create_role(RoleName="slack", AssumeRolePolicyDocument=_trust("lambda.amazonaws.com"))
    iam.put_role_policy(RoleName="slack", PolicyName="slack", PolicyDocument=_policy(*statements))
    return _role(cloud, "slack").client("ssm"), key["Arn"]


ACCOUNT_ADMINISTERS = {
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}
THROUGH_SSM = {"Condition": {"StringEquals": {"kms:ViaService": f"ssm.{REGION}.amazonaws.com"}}}


def test_a_secure_string_is_read_with_kms_decrypt_allowed_by_iam_through_the_key_policy(
    cloud: principals.Principals,
) -> None:
    ssm, _ = _secret_reader(cloud, _policy(ACCOUNT_ADMINISTERS), decrypt=THROUGH_SSM)
    found = ssm.get_parameter(Name="/app/slack/signing-secret", WithDecryption=True)
    assert found["Parameter"]["Value"] == "s3cret"


def test_a_secure_string_is_not_decrypted_without_kms_decrypt(cloud: principals.Principals) -> None:
    ssm, key_arn = _secret_reader(cloud, _policy(ACCOUNT_ADMINISTERS), decrypt=None)
    error = _error(ssm.get_parameter, Name="/app/slack/signing-secret", WithDecryption=True)
    assert error["Code"] == "AccessDeniedException"
    assert f"kms:Decrypt on resource: {key_arn}" in error["Message"]
    # Without decryption, SSM needs no key: the value comes back encrypted.
    assert ssm.get_parameter(Name="/app/slack/signing-secret")["Parameter"]["Value"] != "s3cret"


def test_kms_decrypt_outside_ssm_does_not_count(cloud: principals.Principals) -> None:
    other_service = {"Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}}
    ssm, _ = _secret_reader(cloud, _policy(ACCOUNT_ADMINISTERS), decrypt=other_service)
    error = _error(ssm.get_parameter, Name="/app/slack/signing-secret", WithDecryption=True)
    assert error["Code"] == "AccessDeniedException"


def test_a_key_policy_that_does_not_delegate_to_iam_refuses_the_role_its_iam_allows(
    cloud: principals.Principals,
) -> None:
    admin_only = {
        **ACCOUNT_ADMINISTERS,
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{principals.ADMIN}"},
    }
    ssm, _ = _secret_reader(cloud, _policy(admin_only), decrypt=THROUGH_SSM)
    error = _error(ssm.get_parameter, Name="/app/slack/signing-secret", WithDecryption=True)
    assert error["Code"] == "AccessDeniedException"


def test_a_role_ships_logs_to_its_own_log_group_only(cloud: principals.Principals) -> None:
    admin = boto3.session.Session(region_name=REGION, **cloud.admin.client_options())
    logs = admin.client("logs")
    for group in ("/aws/lambda/writer", "/aws/lambda/other"):
        logs.create_log_group(logGroupName=group)
    own = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/writer:*"
    statement = {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": own}
    admin.client("iam").put_role_policy(
        RoleName="writer", PolicyName="logs", PolicyDocument=_policy(statement)
    )
    role_logs = _role(cloud, "writer").client("logs")
    role_logs.create_log_stream(logGroupName="/aws/lambda/writer", logStreamName="s")
    event = [{"timestamp": 1_700_000_000_000, "message": "hello"}]
    role_logs.put_log_events(logGroupName="/aws/lambda/writer", logStreamName="s", logEvents=event)
    error = _error(role_logs.create_log_stream, logGroupName="/aws/lambda/other", logStreamName="s")
    assert error["Code"] == "AccessDeniedException"


def test_the_admin_reads_every_secure_string_by_path_through_the_key_policy_delegation(
    cloud: principals.Principals,
) -> None:
    admin = boto3.session.Session(region_name=REGION, **cloud.admin.client_options())
    key = admin.client("kms").create_key(Policy=_policy(ACCOUNT_ADMINISTERS))["KeyMetadata"]
    admin.client("ssm").put_parameter(Name="/app/slack/x", Value="v", Type="SecureString", KeyId=key["KeyId"])
    pages = admin.client("ssm").get_paginator("get_parameters_by_path")
    found = {
        p["Name"]: p["Value"]
        for page in pages.paginate(Path="/", Recursive=True, WithDecryption=True)
        for p in page["Parameters"]
    }
    assert found["/app/slack/x"] == "v"


def test_the_local_services_write_a_large_batch_of_metrics_to_an_enforcing_moto(
    served: tuple[str, principals.Principals],
) -> None:
    """botocore gzips a PutMetricData body over 10 KB, and moto checked the signature over the
    unzipped body: the local services' clients send it plain (graph.UNCOMPRESSED)."""

    from localcloud.graph import aws_client

    url, cloud = served
    cloudwatch = aws_client("cloudwatch", REGION, url, cloud.admin)
    data = [
        {
            "MetricName": f"Metric{n}",
            "Dimensions": [{"Name": "FunctionName", "Value": "f" * 200}],
            "Value": 1.0,
        }
        for n in range(100)
    ]
    cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=data)
    names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace="AWS/Lambda")["Metrics"]}
    assert {"Metric0", "Metric99"} <= names


def test_a_trust_policy_with_an_external_id_trusts_its_service_only_with_that_id() -> None:
    document = _policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "firehose.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": ACCOUNT}},
        }
    )
    assert authorization.trusts(document, "", "firehose.amazonaws.com", ACCOUNT, {"sts:ExternalId": ACCOUNT})
    assert not authorization.trusts(document, "", "firehose.amazonaws.com", ACCOUNT, {"sts:ExternalId": "x"})
    assert not authorization.trusts(document, "", "firehose.amazonaws.com", ACCOUNT, {})
    assert not authorization.trusts(
        document, "", "lambda.amazonaws.com", ACCOUNT, {"sts:ExternalId": ACCOUNT}
    )


def _drill_starter(cloud: principals.Principals) -> tuple[Any, dict[str, str]]:
    """A role that may start only templates tagged app=app (as the Slack function's), and a tagged
    and an untagged template."""
    iam = boto3.client("iam", region_name=REGION, **cloud.admin.client_options())
    iam.create_role(RoleName="starter", AssumeRolePolicyDocument=_trust("lambda.amazonaws.com"))
    iam.put_role_policy(
        RoleName="starter",
        PolicyName="starter",
        PolicyDocument=_policy(
            {
                "Effect": "Allow",
                "Action": "fis:StartExperiment",
                "Resource": f"arn:aws:fis:*:{ACCOUNT}:experiment-template/*",
                "Condition": {"StringEquals": {"aws:ResourceTag/app": "app"}},
            },
            {
                "Effect": "Allow",
                "Action": "fis:StartExperiment",
                "Resource": f"arn:aws:fis:*:{ACCOUNT}:experiment/*",
            },
            {"Effect": "Allow", "Action": "fis:ListExperiments", "Resource": "*"},
        ),
    )
    admin = boto3.client("fis", region_name=REGION, **cloud.admin.client_options())
    templates = {}
    for name, tags in (("tagged", {"app": "app"}), ("untagged", {})):
        templates[name] = admin.create_experiment_template(
            clientToken=name,
            description=name,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/firehose",
            stopConditions=[{"source": "none"}],
            actions={"wait": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1M"}}},
            tags=tags,
        )["experimentTemplate"]["id"]
    return _role(cloud, "starter").client("fis"), templates


def test_start_experiment_is_authorized_on_the_template_with_its_tags(cloud: principals.Principals) -> None:
    fis, templates = _drill_starter(cloud)

    started = fis.start_experiment(clientToken="one", experimentTemplateId=templates["tagged"])

    assert started["experiment"]["experimentTemplateId"] == templates["tagged"]
    assert len(fis.list_experiments()["experiments"]) == 1


def test_start_experiment_of_a_template_without_the_tag_is_denied(cloud: principals.Principals) -> None:
    fis, templates = _drill_starter(cloud)

    error = _error(fis.start_experiment, clientToken="two", experimentTemplateId=templates["untagged"])

    assert error["Code"] in ("AccessDeniedException", "AccessDenied", "403")
    assert fis.list_experiments()["experiments"] == []
