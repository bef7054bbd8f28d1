"""moto during a blackout: a request for a blacked-out region is dropped unanswered (as from an
AWS endpoint in a regional outage), whoever signs it; every other region is served. The region is
the request's SigV4 credential scope, or for Cognito's unsigned operations its user pool's."""

from __future__ import annotations

import base64
import io
import json
import socket
import subprocess
from collections.abc import Iterator

import boto3
import botocore.config
import botocore.exceptions
import pytest
from moto import mock_aws

from localcloud.blackout import MotoLink
from localcloud.main import start_moto, wait_for_moto
from localcloud.motoserver import Blackout, region_of

SIGNED = (
    "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261202/{region}/dynamodb/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=abc"
)


def _environ(**extra: object) -> dict[str, object]:
    environ: dict[str, object] = {"PATH_INFO": "/", "QUERY_STRING": "", "wsgi.input": io.BytesIO(b"")}
    environ.update(extra)
    return environ


def _cognito(body: dict[str, object]) -> dict[str, object]:
    raw = json.dumps(body).encode()
    return _environ(
        HTTP_X_AMZ_TARGET="AWSCognitoIdentityProviderService.InitiateAuth",
        CONTENT_LENGTH=str(len(raw)),
        **{"wsgi.input": io.BytesIO(raw)},
    )


def test_a_signed_request_is_for_its_credential_scopes_region():
    assert region_of(_environ(HTTP_AUTHORIZATION=SIGNED.format(region="us-west-2"))) == "us-west-2"


def test_a_presigned_url_is_for_its_credential_scopes_region():
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAEXAMPLE%2F20261202%2Feu-west-1%2Fs3%2Faws4_request"
    )
    assert region_of(_environ(QUERY_STRING=query)) == "eu-west-1"


def test_a_pools_jwks_is_in_the_pools_region():
    assert region_of(_environ(PATH_INFO="/us-east-1_AbC123/.well-known/jwks.json")) == "us-east-1"


def test_an_unsigned_cognito_request_is_in_its_pools_region_by_pool_id():
    assert region_of(_cognito({"UserPoolId": "us-west-2_Xyz789", "Username": "demo"})) == "us-west-2"


def test_an_unsigned_cognito_request_is_in_its_pools_region_by_access_token():
    claims = {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123"}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    assert region_of(_cognito({"AccessToken": f"e30.{payload}.sig"})) == "us-east-1"


def test_an_unsigned_cognito_request_is_in_its_pools_region_by_app_client():
    with mock_aws():
        idp = boto3.client("cognito-idp", region_name="us-west-2")
        pool = idp.create_user_pool(PoolName="pool")["UserPool"]["Id"]
        client = idp.create_user_pool_client(UserPoolId=pool, ClientName="app")["UserPoolClient"]["ClientId"]
        environ = _cognito({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client})
        assert region_of(environ) == "us-west-2"
        # The body is put back for moto to read.
        assert json.loads(environ["wsgi.input"].read())["ClientId"] == client  # type: ignore[attr-defined]


def _replicated_pool(replica_region: str) -> tuple[str, str]:
    """A pool in us-east-1 with a replica in `replica_region` (as localcloud.cognito makes one:
    the same pool, under its id, in the replica region's backend); its id and app client id."""
    from moto.cognitoidp.models import cognitoidp_backends

    idp = boto3.client("cognito-idp", region_name="us-east-1")
    pool = idp.create_user_pool(PoolName="pool")["UserPool"]["Id"]
    client = idp.create_user_pool_client(UserPoolId=pool, ClientName="app")["UserPoolClient"]["ClientId"]
    primary = cognitoidp_backends["123456789012"]["us-east-1"].user_pools[pool]
    cognitoidp_backends["123456789012"][replica_region].user_pools[pool] = primary
    return pool, client


def test_an_unsigned_sign_in_sent_to_a_replicas_endpoint_is_for_the_replicas_region():
    # Nothing in an unsigned InitiateAuth names a region: the endpoint it went to does.
    with mock_aws():
        pool, client = _replicated_pool("us-west-2")
        sign_in = {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client}
        assert region_of(_cognito(sign_in), endpoint="us-west-2") == "us-west-2"
        assert region_of(_cognito(sign_in), endpoint="us-east-1") == "us-east-1"
        assert region_of(_cognito({"UserPoolId": pool}), endpoint="us-west-2") == "us-west-2"
        jwks = _environ(PATH_INFO=f"/{pool}/.well-known/jwks.json")
        assert region_of(jwks, endpoint="us-west-2") == "us-west-2"
        # Sent to a region where the pool is not: the pool's own region answers, or nobody.
        assert region_of(_cognito(sign_in), endpoint="eu-west-1") == "us-east-1"


def test_a_signed_request_is_for_its_scope_whatever_endpoint_it_was_sent_to():
    environ = _environ(HTTP_AUTHORIZATION=SIGNED.format(region="us-east-1"))
    assert region_of(environ, endpoint="us-west-2") == "us-east-1"


def test_the_middleware_places_a_request_by_the_port_it_came_in_on():
    with mock_aws():
        _, client = _replicated_pool("us-west-2")
        middleware = Blackout(
            lambda environ, start_response: [b"answer"], {4711: "us-east-1", 4712: "us-west-2"}
        )
        middleware.out.add("us-east-1")
        sign_in = {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client}
        assert middleware({**_cognito(sign_in), "SERVER_PORT": "4712"}, lambda *args: None) == [b"answer"]
        with pytest.raises(ConnectionAbortedError):
            middleware({**_cognito(sign_in), "SERVER_PORT": "4711"}, lambda *args: None)


def test_a_request_naming_no_region_has_none():
    assert region_of(_environ(PATH_INFO="/moto-api/")) is None


class FakeConnection:
    def __init__(self) -> None:
        self.shut: list[int] = []

    def shutdown(self, how: int) -> None:
        self.shut.append(how)


def test_a_request_for_a_blacked_out_region_is_dropped_before_moto_sees_it():
    seen = []
    middleware = Blackout(lambda environ, start_response: seen.append(environ) or [b"answer"])
    middleware.out.add("us-west-2")
    connection = FakeConnection()
    environ = _environ(
        HTTP_AUTHORIZATION=SIGNED.format(region="us-west-2"), **{"werkzeug.socket": connection}
    )
    with pytest.raises(ConnectionAbortedError):
        middleware(environ, lambda *args: None)
    assert connection.shut == [socket.SHUT_RDWR]
    assert seen == []


def test_a_request_for_another_region_is_served_during_a_blackout():
    middleware = Blackout(lambda environ, start_response: [b"answer"])
    middleware.out.add("us-west-2")
    environ = _environ(HTTP_AUTHORIZATION=SIGNED.format(region="us-east-1"))
    assert middleware(environ, lambda *args: None) == [b"answer"]


# Through a real moto process, with the local cloud's link


def _linked_moto() -> tuple[int, MotoLink, subprocess.Popen[bytes]]:
    """A moto process started as the local cloud starts it, with its link, once it listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    link = MotoLink()
    server = start_moto(port, link, {})
    wait_for_moto(server, port)
    return port, link, server


@pytest.fixture(scope="module")
def moto() -> Iterator[tuple[str, MotoLink]]:
    port, link, server = _linked_moto()
    try:
        yield f"http://127.0.0.1:{port}", link
    finally:
        link.close()
        server.terminate()
        server.wait(timeout=10)


def _ssm(url: str, region: str):
    return boto3.client(
        "ssm",
        region_name=region,
        endpoint_url=url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def test_aws_calls_to_a_blacked_out_region_fail_as_an_unreachable_endpoint(moto):
    url, link = moto
    _ssm(url, "us-west-2").put_parameter(Name="/p", Value="west", Type="String")
    link.send("blackout", "us-west-2")
    try:
        with pytest.raises(botocore.exceptions.ConnectionClosedError):
            _ssm(url, "us-west-2").get_parameter(Name="/p")
        # The other region answers as before.
        with pytest.raises(_ssm(url, "us-east-1").exceptions.ParameterNotFound):
            _ssm(url, "us-east-1").get_parameter(Name="/p")
    finally:
        link.send("restore", "us-west-2")
    assert _ssm(url, "us-west-2").get_parameter(Name="/p")["Parameter"]["Value"] == "west"


def test_the_link_refuses_an_unknown_command(moto):
    _, link = moto
    with pytest.raises(RuntimeError, match="unknown command"):
        link.send("explode", "us-west-2")


def test_a_multi_region_issuers_jwks_sent_where_the_pool_is_not_is_answered_by_a_live_region_of_it():
    # "Updated issuers host the same JWKS content in multiple regions": eu-west-1's authorizer, with
    # no replica there, still gets the keys while the primary is out; the sign-in it cannot get.
    with mock_aws():
        pool, client = _replicated_pool("us-west-2")
        boto3.client("cognito-idp", region_name="us-east-1").update_user_pool(
            UserPoolId=pool, IssuerConfiguration={"Type": "UPDATED"}
        )
        jwks = _environ(PATH_INFO=f"/{pool}/.well-known/jwks.json")
        assert region_of(jwks, endpoint="eu-west-1") == "us-east-1"
        assert region_of(jwks, endpoint="eu-west-1", out={"us-east-1"}) == "us-west-2"
        sign_in = {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client}
        assert region_of(_cognito(sign_in), endpoint="eu-west-1", out={"us-east-1"}) == "us-east-1"


def test_a_pools_own_issuers_jwks_is_its_regions_alone():
    with mock_aws():
        pool, _ = _replicated_pool("us-west-2")
        jwks = _environ(PATH_INFO=f"/{pool}/.well-known/jwks.json")
        assert region_of(jwks, endpoint="eu-west-1", out={"us-east-1"}) == "us-east-1"


def test_a_linked_moto_outlives_ctrl_c_and_ends_when_its_link_closes():
    import signal

    from waiting import wait_for

    port, link, server = _linked_moto()
    try:
        server.send_signal(signal.SIGINT)  # as a terminal's Ctrl-C reaches the whole group
        with pytest.raises(botocore.exceptions.ClientError, match="ParameterNotFound"):
            _ssm(f"http://127.0.0.1:{port}", "us-east-1").get_parameter(Name="/after/ctrl-c")
        assert server.poll() is None

        link.close()  # the local cloud is gone
        assert wait_for(lambda: server.poll() is not None, timeout=10), "moto outlived its link"
    finally:
        server.kill()
        server.wait(timeout=10)
