"""Bad input of every kind, end to end: each request gets its expected 4xx with a clear message, and
nothing is written anywhere (every DynamoDB item, SSM parameter and S3 object in moto, in both
regions, is the same after the request as before it).

Tokens are minted with the private key moto's Cognito signs with (it ships inside moto), so the
expired, not-yet-valid, wrong-issuer and wrong-audience cases are correctly signed and fail for
the one reason they are about; a correctly minted token is shown to pass first.
HTTP to 127.0.0.1 only."""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import hmac
import json
import re
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest

from .cloud import Cloud, Reply, http

pytestmark = pytest.mark.e2e
REGIONS = ("us-east-1", "us-west-2")
TEN_MB = 10 * 1024 * 1024
FUNCTION_LIMIT = 16 * 1024  # functions/shared/http.py MAX_BODY_BYTES
SLACK_LIMIT = 64 * 1024  # functions/slack_commands/verify.py MAX_BODY_BYTES
FORM = "application/x-www-form-urlencoded"
SETTLE_SECONDS = 2.0
INVALID_PATH = "invalid path"


# --- the state of every store in moto --------------------------------------------------------


class Moto:
    """Every DynamoDB item, SSM parameter (decrypted value and version) and S3 object (key and
    ETag) in both regions: what "nothing written" is checked against."""

    def __init__(self, cloud: Cloud) -> None:
        self.clients = {
            (service, region): cloud.aws(service, region)
            for service in ("dynamodb", "ssm", "s3")
            for region in REGIONS
        }

    def snapshot(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for region in REGIONS:
            dynamodb = self.clients["dynamodb", region]
            for table in dynamodb.list_tables()["TableNames"]:
                pages = dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
                for item in (item for page in pages for item in page["Items"]):
                    state[f"dynamodb {region} {table} {_item_key(item)}"] = json.dumps(item, sort_keys=True)
            ssm = self.clients["ssm", region]
            for page in ssm.get_paginator("get_parameters_by_path").paginate(
                Path="/", Recursive=True, WithDecryption=True
            ):
                for parameter in page["Parameters"]:
                    state[f"ssm {region} {parameter['Name']}"] = (parameter["Value"], parameter["Version"])
        s3 = self.clients["s3", REGIONS[0]]
        for bucket in s3.list_buckets()["Buckets"]:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
                for found in page.get("Contents", []):
                    state[f"s3 {bucket['Name']} {found['Key']}"] = found["ETag"]
        return state


def _item_key(item: dict[str, Any]) -> str:
    return "|".join(str(next(iter(item[name].values()))) for name in sorted(item) if name in ("pk", "sk"))


def _diff(before: dict[str, Any], after: dict[str, Any]) -> str:
    lines = [f"+ {key}" for key in after.keys() - before.keys()]
    lines += [f"- {key}" for key in before.keys() - after.keys()]
    lines += [f"~ {key}" for key in before.keys() & after.keys() if before[key] != after[key]]
    return "\n".join(sorted(lines)[:20])


# --- the world the cases run in ---------------------------------------------------------------


def _moto_private_jwk() -> dict[str, Any]:
    import moto

    resources = Path(moto.__file__).parent / "cognitoidp" / "resources"
    for name in ("jwks-private.json", "jwks-private.json.gz"):
        path = resources / name
        if path.exists():
            data = path.read_bytes()
            return json.loads(gzip.decompress(data) if name.endswith(".gz") else data)
    raise FileNotFoundError(f"moto's Cognito signing key is not in {resources}")


@dataclass
class World:
    cloud: Cloud
    moto: Moto
    issuer: str
    client_id: str
    id_token: str
    access_token: str
    claims: dict[str, Any]  # the real ID token's claims, the template for minted ones
    signing_key: Any  # moto's Cognito private key
    public_pem: bytes
    baseline: dict[str, Any] | None = None  # before the first case
    last: dict[str, Any] | None = None

    def settled(self) -> dict[str, Any]:
        """The state once two snapshots SETTLE_SECONDS apart agree (background work is done)."""
        current = self.moto.snapshot()
        deadline = time.monotonic() + 90
        while current != self.last:
            assert time.monotonic() < deadline, "moto's state never settled:\n" + _diff(self.last, current)
            self.last = current
            time.sleep(SETTLE_SECONDS)
            current = self.moto.snapshot()
        return current

    @contextlib.contextmanager
    def unchanged(self) -> Iterator[None]:
        before = self.settled()
        yield
        after = self.moto.snapshot()
        assert after == before, "bad input changed state in moto:\n" + _diff(before, after)

    def secrets(self) -> list[str]:
        state = self.cloud.state
        return [
            state["slack"]["signingSecret"],
            state["demoUser"]["password"],
            self.id_token,
            self.access_token,
            self.id_token.split(".")[2],
        ]

    def mint(
        self,
        *,
        key: Any = None,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """An ID token like Cognito's, signed with moto's key unless told otherwise; a claim set to
        None is left out."""
        now = int(time.time())
        payload = {**self.claims, "iat": now, "auth_time": now, "exp": now + 3600, **claims}
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(
            payload,
            self.signing_key if key is None else key,
            algorithm="RS256",
            headers={"kid": "dummy", **(headers or {})},
        )

    def mint_access(self, **claims: Any) -> str:
        payload = {
            "aud": None,
            "cognito:username": None,
            "token_use": "access",
            "client_id": self.client_id,
            "username": self.claims["cognito:username"],
            "scope": "aws.cognito.signin.user.admin",
        }
        return self.mint(**{**payload, **claims})


@pytest.fixture(scope="module")
def world(cloud: Cloud) -> World:
    config = http("GET", f"{cloud.api(REGIONS[0])}/config").json()
    pool = config["cognito"]["userPoolId"]
    user = cloud.state["demoUser"]
    login = http(
        "POST", f"{cloud.api(REGIONS[0])}/login", {"username": user["username"], "password": user["password"]}
    )
    assert login.status == 200, login.body
    tokens = login.json()
    # The issuer the authorizers trust: the multi-Region one while the pool is replicated.
    issuer = jwt.decode(tokens["idToken"], options={"verify_signature": False})["iss"]
    assert issuer.endswith(f".amazonaws.com/{pool}"), issuer
    jwk = _moto_private_jwk()
    private_key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk))
    from cryptography.hazmat.primitives import serialization

    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    world = World(
        cloud=cloud,
        moto=Moto(cloud),
        issuer=issuer,
        client_id=config["cognito"]["clientId"],
        id_token=tokens["idToken"],
        access_token=tokens["accessToken"],
        claims=jwt.decode(tokens["idToken"], options={"verify_signature": False}),
        signing_key=private_key,
        public_pem=public_pem,
    )
    world.baseline = world.settled()
    return world


# --- sending and checking ---------------------------------------------------------------------


def send(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
    """The request; a stage or route throttle's 429 is waited out (the throttle is not under test)."""
    for _ in range(10):
        reply = http(method, url, body, headers)
        if reply.status != 429:
            return reply
        time.sleep(1)
    return reply


def raw_request(url: str, request: bytes) -> Reply:
    """Bytes on the wire that urllib refuses to send (control characters, folded headers)."""
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as connection:
        connection.sendall(request)
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(int(status_line.split()[1]), headers, body)


_STACK_TRACE = re.compile(r"Traceback|File \"|line \d+, in |Exception:|\bat [\w.]+\(")


def assert_clear(reply: Reply, world: World, status: int, says: str, *, field: str = "error") -> str:
    """The status, and a JSON message in ``field`` that says ``says``, is human-readable and gives
    nothing away."""
    assert reply.status == status, (reply.status, reply.body[:300])
    text = reply.body.decode("utf-8", "replace")
    for secret in world.secrets():
        assert secret not in text, "the response echoes a secret"
    assert not _STACK_TRACE.search(text), text[:300]
    assert reply.headers.get("content-type", "").startswith("application/json"), reply.headers
    message = reply.json()[field]
    assert isinstance(message, str)
    assert message.strip()
    assert message.replace("\n", " ").isprintable(), message
    assert re.search(r"[A-Za-z]{3,}", message), message
    assert says.lower() in message.lower(), (says, message)
    return message


def assert_unauthorized(reply: Reply, world: World, description: str) -> None:
    """API Gateway's JWT authorizer 401: ``{"message": "Unauthorized"}`` and an explaining challenge."""
    assert_clear(reply, world, 401, "Unauthorized", field="message")
    assert reply.json() == {"message": "Unauthorized"}
    challenge = reply.headers.get("www-authenticate", "")
    assert challenge.startswith("Bearer "), challenge
    assert 'error="invalid_token"' in challenge
    assert f'error_description="{description}"' in challenge, challenge


# --- the control for "nothing written" -----------------------------------------------------


def test_the_state_check_sees_a_write(world):
    """A wrong password is not bad input: the attempt is recorded by design. The check must see
    that record, or its silence in every case below would prove nothing."""
    user = world.cloud.state["demoUser"]["username"]
    with pytest.raises(AssertionError, match="bad input changed state"), world.unchanged():
        reply = send(
            "POST", f"{world.cloud.api(REGIONS[0])}/login", {"username": user, "password": "Wrong-Passw0rd!"}
        )
    assert reply.status == 401
    world.baseline = world.settled()


# --- tokens: the JWT authorizer of the user API -----------------------------------------------

NOT_VALID = "the token is not valid"
MISSING = "missing authorization token"
EXPIRED = "the token has expired"
NOT_YET = "the token is not valid yet"
AUDIENCE = "the token does not have a valid audience"


def _forged_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _unsigned(world: World, algorithm: str) -> str:
    header = {"alg": algorithm, "kid": "dummy", "typ": "JWT"}
    now = int(time.time())
    claims = {**world.claims, "iat": now, "exp": now + 3600}
    return ".".join(_b64(json.dumps(part).encode()) for part in (header, claims)) + "."


def _hs256_with_public_key(world: World) -> str:
    """The classic key-confusion attack: HMAC with the RSA public key as the shared secret."""
    signing_input = _unsigned(world, "HS256")[:-1]
    signature = hmac.new(world.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _tampered(token: str) -> str:
    """The real token with the payload changed (another user) and the signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "00000000-0000-4000-8000-000000000000"
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


AuthHeader = Callable[[World], str | None]
HOUR = 3600

TOKEN_CASES: list[Any] = [
    pytest.param(lambda w: None, MISSING, id="no-authorization-header"),
    pytest.param(lambda w: "", MISSING, id="empty-authorization-header"),
    pytest.param(lambda w: "Bearer", NOT_VALID, id="bearer-without-token"),
    pytest.param(lambda w: "Bearer not-a-jwt", NOT_VALID, id="garbage"),
    pytest.param(lambda w: "Bearer " + w.id_token[:-20], NOT_VALID, id="truncated-signature"),
    pytest.param(lambda w: "Bearer " + w.id_token.rsplit(".", 1)[0], NOT_VALID, id="signature-removed"),
    pytest.param(lambda w: "Bearer " + _tampered(w.id_token), NOT_VALID, id="payload-tampered"),
    pytest.param(lambda w: "Basic " + w.id_token, NOT_VALID, id="basic-scheme-not-bearer"),
    pytest.param(lambda w: "Token " + w.id_token, NOT_VALID, id="unknown-scheme-not-bearer"),
    pytest.param(lambda w: f"Bearer {w.id_token} {w.id_token}", NOT_VALID, id="two-tokens"),
    pytest.param(lambda w: "Bearer " + w.mint(key=_forged_key()), NOT_VALID, id="forged-other-rsa-key"),
    pytest.param(
        lambda w: "Bearer " + w.mint(key=_forged_key(), headers={"kid": "attacker"}),
        NOT_VALID,
        id="forged-unknown-kid",
    ),
    pytest.param(lambda w: "Bearer " + _unsigned(w, "none"), NOT_VALID, id="alg-none"),
    pytest.param(lambda w: "Bearer " + _hs256_with_public_key(w), NOT_VALID, id="hs256-with-public-key"),
    pytest.param(
        lambda w: "Bearer " + w.mint(iat=int(time.time()) - 2 * HOUR, exp=int(time.time()) - HOUR),
        EXPIRED,
        id="expired",
    ),
    pytest.param(
        lambda w: "Bearer " + w.mint_access(iat=int(time.time()) - 2 * HOUR, exp=int(time.time()) - 60),
        EXPIRED,
        id="expired-access-token",
    ),
    pytest.param(lambda w: "Bearer " + w.mint(nbf=int(time.time()) + HOUR), NOT_YET, id="not-before-future"),
    pytest.param(lambda w: "Bearer " + w.mint(iat=int(time.time()) + HOUR), NOT_YET, id="issued-in-future"),
    pytest.param(lambda w: "Bearer " + w.mint(exp=None), NOT_VALID, id="no-expiry"),
    pytest.param(
        lambda w: "Bearer " + w.mint(iss=w.issuer.rsplit("/", 1)[0] + "/us-east-1_someoneElse"),
        NOT_VALID,
        id="wrong-issuer-pool",
    ),
    pytest.param(
        lambda w: "Bearer " + w.mint(iss=w.issuer.replace("us-east-1.amazonaws", "us-west-2.amazonaws")),
        NOT_VALID,
        id="wrong-issuer-region",
    ),
    pytest.param(lambda w: "Bearer " + w.mint(iss=None), NOT_VALID, id="no-issuer"),
    pytest.param(lambda w: "Bearer " + w.mint(aud="another-app-client"), AUDIENCE, id="wrong-audience"),
    pytest.param(lambda w: "Bearer " + w.mint(aud=None), AUDIENCE, id="no-audience"),
    pytest.param(
        lambda w: "Bearer " + w.mint_access(client_id="another-app-client"), AUDIENCE, id="wrong-client-id"
    ),
    pytest.param(lambda w: "Bearer " + "A" * 9000, NOT_VALID, id="huge-9kb-token"),
    pytest.param(
        lambda w: "Bearer " + w.id_token[:40] + "\x00" + w.id_token[40:], NOT_VALID, id="nul-in-token"
    ),
]


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(lambda w: "Bearer " + w.mint(), id="minted-id-token"),
        pytest.param(lambda w: "Bearer " + w.mint_access(), id="minted-access-token"),
        pytest.param(lambda w: "bearer " + w.mint(), id="lower-case-scheme"),
        # API Gateway takes the token with or without the "Bearer " prefix.
        pytest.param(lambda w: w.mint(), id="token-without-bearer-prefix"),
    ],
)
@pytest.mark.parametrize("region", REGIONS)
def test_a_correctly_minted_token_is_accepted(world, region, authorization):
    """The control for every token case below: minting is right, so their 401s are for their reason."""
    with world.unchanged():
        reply = send(
            "GET", f"{world.cloud.api(region)}/hello", headers={"authorization": authorization(world)}
        )
    assert reply.status == 200, reply.body[:300]
    assert reply.json()["message"] == f"hello from {region}"


@pytest.mark.parametrize(("authorization", "description"), TOKEN_CASES)
@pytest.mark.parametrize("region", REGIONS)
def test_bad_token_gets_401_from_the_authorizer(world, region, authorization, description):
    value = authorization(world)
    headers = {} if value is None else {"authorization": value}
    with world.unchanged():
        reply = send("POST", f"{world.cloud.api(region)}/click", {}, headers)
    assert_unauthorized(reply, world, description)


# --- login: the JSON body -----------------------------------------------------------------

LOGIN_CASES: list[Any] = [
    pytest.param(b"", "application/json", 400, "must be a JSON object", id="empty-body"),
    pytest.param(b"{not json", "application/json", 400, "not valid JSON", id="malformed-json"),
    pytest.param(
        b'{"username": "demo", "password": "x"',
        "application/json",
        400,
        "not valid JSON",
        id="unclosed-object",
    ),
    pytest.param(
        b'["demo", "secret"]', "application/json", 400, "must be a JSON object", id="array-not-object"
    ),
    pytest.param(b'"demo"', "application/json", 400, "must be a JSON object", id="string-not-object"),
    pytest.param(b"null", "application/json", 400, "must be a JSON object", id="null-not-object"),
    pytest.param(
        {"password": "Passw0rd!"}, None, 400, "'username' must be a non-empty string", id="no-username"
    ),
    pytest.param({"username": "demo"}, None, 400, "'password' must be a non-empty string", id="no-password"),
    pytest.param(
        {"username": 42, "password": "x"},
        None,
        400,
        "'username' must be a non-empty string",
        id="username-number",
    ),
    pytest.param(
        {"username": ["demo"], "password": "x"}, None, 400, "'username' must be", id="username-list"
    ),
    pytest.param(
        {"username": "demo", "password": {"$ne": ""}},
        None,
        400,
        "'password' must be",
        id="password-object-injection",
    ),
    pytest.param(
        {"username": "demo", "password": True}, None, 400, "'password' must be", id="password-boolean"
    ),
    pytest.param(
        {"username": "", "password": "x"},
        None,
        400,
        "'username' must be a non-empty string",
        id="username-empty",
    ),
    pytest.param(
        {"username": "a" * 129, "password": "x"}, None, 400, "at most 128 characters", id="username-too-long"
    ),
    pytest.param(
        {"username": "demo", "password": "p" * 257},
        None,
        400,
        "at most 256 characters",
        id="password-too-long",
    ),
    pytest.param(
        {"username": "😀" * 129, "password": "x"},
        None,
        400,
        "at most 128 characters",
        id="username-emoji-too-long",
    ),
    pytest.param({"username": "de\x00mo", "password": "x"}, None, 400, "NUL", id="username-nul"),
    pytest.param({"username": "demo", "password": "pass\x00word"}, None, 400, "NUL", id="password-nul"),
    pytest.param(
        b'{"username": "\\ud800demo", "password": "x"}',
        "application/json",
        400,
        "Unicode",
        id="username-lone-surrogate",
    ),
    pytest.param(b"[" * 5000 + b"]" * 5000, "application/json", 400, "nested too deeply", id="deeply-nested"),
    pytest.param(
        b'{"username": ' + b"9" * 5000 + b', "password": "x"}',
        "application/json",
        400,
        "not valid JSON",
        id="huge-integer",
    ),
    pytest.param(
        b'{"username": "demo", "password": NaN}', "application/json", 400, "'password' must be", id="nan"
    ),
    pytest.param(b"\xff\xfe{\x00", "application/json", 400, "not valid JSON", id="invalid-utf8"),
    pytest.param(
        b"\x89PNG\r\n\x1a\n" + bytes(64), "application/octet-stream", 400, "not valid JSON", id="binary-body"
    ),
    pytest.param(b"username=demo&password=x", FORM, 400, "not valid JSON", id="form-not-json"),
    pytest.param(
        json.dumps({"username": "demo", "password": "x" * FUNCTION_LIMIT}).encode(),
        "application/json",
        413,
        f"larger than {FUNCTION_LIMIT} bytes",
        id="over-function-limit",
    ),
]


@pytest.mark.parametrize(("body", "content_type", "status", "says"), LOGIN_CASES)
def test_bad_login_body_gets_a_clear_4xx_and_is_not_recorded(world, body, content_type, status, says):
    headers = {"content-type": content_type} if content_type else {}
    with world.unchanged():
        reply = send("POST", f"{world.cloud.api(REGIONS[0])}/login", body, headers)
    assert_clear(reply, world, status, says)


@pytest.mark.parametrize("region", REGIONS)
def test_login_body_over_10_mb_gets_413_from_the_gateway(world, region):
    with world.unchanged():
        reply = send("POST", f"{world.cloud.api(region)}/login", b"{" + b" " * TEN_MB + b"}")
    assert_clear(reply, world, 413, "Request Entity Too Large", field="message")


# --- click: the optional clickId, with a valid token ----------------------------------------

CLICK_CASES: list[Any] = [
    pytest.param(b"{not json", "application/json", 400, "not valid JSON", id="malformed-json"),
    pytest.param(b"[]", "application/json", 400, "must be a JSON object", id="array-not-object"),
    pytest.param(b"42", "application/json", 400, "must be a JSON object", id="number-not-object"),
    pytest.param({"clickId": ""}, None, 400, "'clickId' must be a UUID", id="click-id-empty"),
    pytest.param({"clickId": 7}, None, 400, "'clickId' must be a UUID", id="click-id-number"),
    pytest.param({"clickId": None}, None, 400, "'clickId' must be a UUID", id="click-id-null"),
    pytest.param(
        {"clickId": ["3f2b8c1e-0d6a-4c59-9a57-1b2b3c4d5e6f"]},
        None,
        400,
        "'clickId' must be a UUID",
        id="click-id-list",
    ),
    pytest.param({"clickId": "not-a-uuid"}, None, 400, "'clickId' must be a UUID", id="click-id-not-uuid"),
    pytest.param(
        {"clickId": "{3f2b8c1e-0d6a-4c59-9a57-1b2b3c4d5e6f}"},
        None,
        400,
        "'clickId' must be a UUID",
        id="click-id-braces",
    ),
    pytest.param(
        {"clickId": "urn:uuid:3f2b8c1e-0d6a-4c59-9a57-1b2b3c4d5e6f"},
        None,
        400,
        "'clickId' must be a UUID",
        id="click-id-urn",
    ),
    pytest.param(
        {"clickId": "3f2b8c1e0d6a4c599a571b2b3c4d5e6f"},
        None,
        400,
        "'clickId' must be a UUID",
        id="click-id-no-hyphens",
    ),
    pytest.param(
        {"clickId": "3f2b8c1e-0d6a-4c59-9a57-1b2b3c4d5e6f\x00"},
        None,
        400,
        "'clickId' must be a UUID",
        id="click-id-nul",
    ),
    pytest.param({"clickId": "🖱️" * 36}, None, 400, "'clickId' must be a UUID", id="click-id-emoji"),
    pytest.param({"clickId": "x" * 10_000}, None, 400, "'clickId' must be a UUID", id="click-id-huge"),
    pytest.param(
        b'{"clickId": "\\udfff"}',
        "application/json",
        400,
        "'clickId' must be a UUID",
        id="click-id-lone-surrogate",
    ),
    pytest.param(
        b'{"clickId": ' + b"1" * 5000 + b"}", "application/json", 400, "not valid JSON", id="huge-integer"
    ),
    pytest.param(
        b'{"a":' * 2000 + b"1" + b"}" * 2000, "application/json", 400, "nested too deeply", id="deeply-nested"
    ),
    pytest.param(b"\x00\x01\x02", "application/octet-stream", 400, "not valid JSON", id="binary-body"),
    pytest.param(
        json.dumps({"clickId": "x" * FUNCTION_LIMIT}).encode(),
        "application/json",
        413,
        "larger than",
        id="over-function-limit",
    ),
]


@pytest.mark.parametrize(("body", "content_type", "status", "says"), CLICK_CASES)
def test_bad_click_body_gets_a_clear_4xx_and_counts_nothing(world, body, content_type, status, says):
    headers = {"authorization": f"Bearer {world.id_token}"}
    if content_type:
        headers["content-type"] = content_type
    with world.unchanged():
        reply = send("POST", f"{world.cloud.api(REGIONS[0])}/click", body, headers)
    assert_clear(reply, world, status, says)


def test_click_body_over_10_mb_gets_413_from_the_gateway(world):
    headers = {"authorization": f"Bearer {world.id_token}"}
    with world.unchanged():
        reply = send("POST", f"{world.cloud.api(REGIONS[1])}/click", b"x" * (TEN_MB + 1), headers)
    assert_clear(reply, world, 413, "Request Entity Too Large", field="message")


# --- config -----------------------------------------------------------------------------------

CONFIG_CASES: list[Any] = [
    pytest.param("POST", "/config", b"{}", 404, "not found: POST /config", id="post"),
    pytest.param("DELETE", "/config", None, 404, "not found: DELETE /config", id="delete"),
    pytest.param("GET", "/config/..%2flogin", None, 400, INVALID_PATH, id="encoded-dot-dot"),
    pytest.param("GET", "/config/../../etc/passwd", None, 400, INVALID_PATH, id="dot-dot"),
    pytest.param("GET", "/config%00", None, 400, INVALID_PATH, id="nul"),
    pytest.param(
        "GET", "/config", b"x" * (TEN_MB + 1), 413, "Request Entity Too Large", id="get-with-body-over-10-mb"
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "says"), CONFIG_CASES)
def test_bad_config_request_gets_a_clear_4xx(world, method, path, body, status, says):
    with world.unchanged():
        reply = send(method, world.cloud.api(REGIONS[1]) + path, body)
    assert_clear(reply, world, status, says, field="message" if status == 413 else "error")


def test_config_ignores_a_hostile_query_string(world):
    api = world.cloud.api(REGIONS[0])
    expected = send("GET", f"{api}/config").json()
    query = urllib.parse.urlencode(
        {"region": "../../etc/passwd", "regions": "x" * 4000, "nul": "\x00", "é": "😀"}
    )
    with world.unchanged():
        reply = send("GET", f"{api}/config?{query}")
    assert reply.status == 200
    assert reply.json() == expected


# --- site: the web function's paths ---------------------------------------------------------

SITE_CASES: list[Any] = [
    pytest.param("/assets/../../etc/passwd", 400, INVALID_PATH, id="dot-dot"),
    pytest.param("/assets/%2e%2e/%2e%2e/etc/passwd", 400, INVALID_PATH, id="encoded-dots"),
    pytest.param("/assets/%2e%2e%2f%2e%2e%2fetc%2fpasswd", 400, INVALID_PATH, id="encoded-dots-and-slashes"),
    pytest.param("/assets/..%5c..%5cwindows%5cwin.ini", 400, INVALID_PATH, id="encoded-backslashes"),
    pytest.param("/assets/%252e%252e%252fetc%252fpasswd", 400, INVALID_PATH, id="double-encoded"),
    pytest.param("/assets/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", 400, INVALID_PATH, id="overlong-utf8-dots"),
    pytest.param("/assets/images/../../404.html", 400, INVALID_PATH, id="dot-dot-inside-the-site"),
    pytest.param("/..%2f..%2fetc/passwd", 400, INVALID_PATH, id="default-route-dot-dot"),
    pytest.param("/assets//etc/passwd", 400, INVALID_PATH, id="absolute-path-in-assets"),
    pytest.param("/assets/app.js%00.png", 400, INVALID_PATH, id="nul-byte"),
    pytest.param("/assets/.env", 400, INVALID_PATH, id="hidden-file"),
    pytest.param("/assets/%ff%fe.js", 400, INVALID_PATH, id="invalid-utf8"),
    pytest.param("/assets/" + "a" * 600 + ".js", 400, INVALID_PATH, id="path-too-long"),
    pytest.param("/assets/app.js.bak", 404, "not found: GET /assets/app.js.bak", id="type-not-served"),
    pytest.param(
        "/assets/no-such-file.js", 404, "not found: GET /assets/no-such-file.js", id="missing-asset"
    ),
    pytest.param("/etc/passwd", 404, "not found: GET /etc/passwd", id="default-route-unknown-path"),
]


@pytest.mark.parametrize(("path", "status", "says"), SITE_CASES)
def test_bad_site_path_serves_nothing_outside_the_site(world, path, status, says):
    with world.unchanged():
        reply = send("GET", world.cloud.api(REGIONS[0]) + path, headers={"accept": "application/json"})
    assert_clear(reply, world, status, says)
    assert b"root:" not in reply.body


def test_unknown_page_gets_the_404_page_in_a_browser(world):
    with world.unchanged():
        reply = send("GET", f"{world.cloud.api(REGIONS[1])}/no/such/page", headers={"accept": "text/html"})
    assert reply.status == 404
    assert reply.headers["content-type"].startswith("text/html")
    assert b"404" in reply.body
    assert b"not found" in reply.body.lower()


@pytest.mark.parametrize(
    "request_line",
    [
        pytest.param(b"GET /assets/app\x00.js", id="raw-nul-in-path"),
        pytest.param(b"GET /assets/\xff\xfe.js", id="raw-invalid-utf8-in-path"),
        pytest.param(b"GET \\etc\\passwd", id="raw-backslash-absolute-path"),
        pytest.param(b"GET http://evil.example/assets/../../etc/passwd", id="raw-absolute-url"),
    ],
)
def test_raw_bad_path_gets_400(world, request_line):
    request = (
        request_line
        + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    with world.unchanged():
        reply = raw_request(world.cloud.api(REGIONS[0]), request)
    assert_clear(reply, world, 400, INVALID_PATH)


# --- Slack: signatures, replays, teams, bodies ----------------------------------------------


def slack_sign(world: World, body: bytes, timestamp: int | str, secret: str | None = None) -> str:
    key = (secret or world.cloud.state["slack"]["signingSecret"]).encode()
    return "v0=" + hmac.new(key, f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()


def command_body(world: World, text: str, **fields: str) -> bytes:
    form = {
        "token": "deprecated",
        "team_id": world.cloud.state["slack"]["teamId"],
        "team_domain": "local",
        "channel_id": "C0001",
        "user_id": "U0001",
        "user_name": "mallory",
        "command": "/chaos",
        "text": text,
        "response_url": "https://hooks.slack.com/commands/T0001/1/x",
        "trigger_id": "1.2.3",
        **fields,
    }
    return urllib.parse.urlencode(form).encode()


@dataclass(frozen=True)
class SlackRequest:
    body: bytes
    headers: dict[str, str]


def signed(world: World, body: bytes, *, age: int = 0, secret: str | None = None) -> SlackRequest:
    timestamp = int(time.time()) - age
    return SlackRequest(
        body,
        {
            "content-type": FORM,
            "x-slack-request-timestamp": str(timestamp),
            "x-slack-signature": slack_sign(world, body, timestamp, secret),
        },
    )


def _without(request: SlackRequest, *names: str) -> SlackRequest:
    return SlackRequest(request.body, {k: v for k, v in request.headers.items() if k not in names})


def _with(request: SlackRequest, **headers: str) -> SlackRequest:
    return SlackRequest(
        request.body, {**request.headers, **{k.replace("_", "-"): v for k, v in headers.items()}}
    )


def _tampered_body(world: World) -> SlackRequest:
    request = signed(world, command_body(world, "status"))
    return SlackRequest(command_body(world, "fail us-east-1"), request.headers)


INVALID_SIGNATURE = "invalid Slack signature"
MISSING_HEADERS = "missing Slack signature headers"
WRONG_TEAM = "this Slack team is not allowed"
FAIL = "fail us-east-1"

SLACK_COMMAND_CASES: list[Any] = [
    pytest.param(
        lambda w: signed(w, command_body(w, FAIL), secret="forged-secret"),
        401,
        INVALID_SIGNATURE,
        id="forged-signature",
    ),
    pytest.param(
        lambda w: signed(w, command_body(w, FAIL), age=301),
        401,
        INVALID_SIGNATURE,
        id="replayed-after-5-minutes",
    ),
    pytest.param(
        lambda w: signed(w, command_body(w, FAIL), age=3600),
        401,
        INVALID_SIGNATURE,
        id="replayed-an-hour-later",
    ),
    pytest.param(
        lambda w: signed(w, command_body(w, FAIL), age=-600), 401, INVALID_SIGNATURE, id="timestamp-in-future"
    ),
    pytest.param(_tampered_body, 401, INVALID_SIGNATURE, id="body-tampered-after-signing"),
    pytest.param(
        lambda w: _without(
            signed(w, command_body(w, FAIL)), "x-slack-signature", "x-slack-request-timestamp"
        ),
        401,
        MISSING_HEADERS,
        id="no-slack-headers",
    ),
    pytest.param(
        lambda w: _without(signed(w, command_body(w, FAIL)), "x-slack-signature"),
        401,
        MISSING_HEADERS,
        id="no-signature",
    ),
    pytest.param(
        lambda w: _without(signed(w, command_body(w, FAIL)), "x-slack-request-timestamp"),
        401,
        MISSING_HEADERS,
        id="no-timestamp",
    ),
    pytest.param(
        lambda w: _with(signed(w, command_body(w, FAIL)), x_slack_signature="v1=" + "0" * 64),
        401,
        INVALID_SIGNATURE,
        id="signature-wrong-version",
    ),
    pytest.param(
        lambda w: _with(signed(w, command_body(w, FAIL)), x_slack_request_timestamp="yesterday"),
        401,
        INVALID_SIGNATURE,
        id="timestamp-not-a-number",
    ),
    pytest.param(
        lambda w: _with(signed(w, command_body(w, FAIL)), x_slack_signature="v0=" + "\x00" * 64),
        401,
        INVALID_SIGNATURE,
        id="signature-nul-bytes",
    ),
    pytest.param(
        lambda w: signed(w, command_body(w, FAIL, team_id="T0EVIL")),
        403,
        WRONG_TEAM,
        id="wrong-team-correctly-signed",
    ),
    pytest.param(
        lambda w: signed(w, command_body(w, FAIL, team_id="")),
        403,
        WRONG_TEAM,
        id="empty-team-correctly-signed",
    ),
    pytest.param(
        lambda w: signed(w, command_body(w, FAIL) + b"&team_id=T0EVIL"),
        400,
        "form field 'team_id' is repeated",
        id="repeated-team-field",
    ),
    pytest.param(lambda w: signed(w, b"text=status&%zz"), 400, "not a valid form", id="malformed-form"),
    pytest.param(
        lambda w: signed(w, command_body(w, "x" * SLACK_LIMIT)),
        413,
        f"larger than {SLACK_LIMIT} bytes",
        id="over-function-limit",
    ),
]


@pytest.mark.parametrize(("request_for", "status", "says"), SLACK_COMMAND_CASES)
@pytest.mark.parametrize("region", REGIONS)
def test_bad_slack_command_gets_a_clear_4xx_and_changes_no_region(world, region, request_for, status, says):
    request = request_for(world)
    url = world.cloud.state["regions"][region]["slackApi"] + "/slack/commands"
    with world.unchanged():
        reply = send("POST", url, request.body, request.headers)
    assert_clear(reply, world, status, says)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("fail mars-east-1", id="unknown-region"),
        pytest.param("errors 2", id="rate-over-1"),
        pytest.param("errors nan us-east-1", id="rate-nan"),
        pytest.param("fail us-east-1 us-west-2", id="too-many-arguments"),
        pytest.param("recover 🌋\u202e", id="emoji-and-rtl-override"),
        pytest.param("launch-missiles", id="unknown-command"),
    ],
)
def test_malformed_chaos_command_gets_an_ephemeral_usage_and_changes_nothing(world, text):
    """Slack shows a 200 answer to the user, so a wrong command is a 200 ephemeral message."""
    request = signed(world, command_body(world, text))
    url = world.cloud.state["regions"][REGIONS[1]]["slackApi"] + "/slack/commands"
    with world.unchanged():
        reply = send("POST", url, request.body, request.headers)
    message = assert_clear(reply, world, 200, "Sorry", field="text")
    assert reply.json()["response_type"] == "ephemeral"
    assert all(region in message for region in REGIONS), message


def _event(world: World, payload: Any, **kwargs: Any) -> SlackRequest:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = signed(world, body, **kwargs)
    return _with(request, content_type="application/json")


def _verification(world: World, **fields: Any) -> dict[str, Any]:
    return {
        "type": "url_verification",
        "token": "x",
        "challenge": "c-123",
        "team_id": world.cloud.state["slack"]["teamId"],
        **fields,
    }


SLACK_EVENT_CASES: list[Any] = [
    pytest.param(
        lambda w: _event(w, _verification(w), secret="forged-secret"),
        401,
        INVALID_SIGNATURE,
        id="forged-signature",
    ),
    pytest.param(lambda w: _event(w, _verification(w), age=400), 401, INVALID_SIGNATURE, id="replayed"),
    pytest.param(
        lambda w: _without(_event(w, _verification(w)), "x-slack-signature", "x-slack-request-timestamp"),
        401,
        MISSING_HEADERS,
        id="no-slack-headers",
    ),
    pytest.param(
        lambda w: _event(w, _verification(w, team_id="T0EVIL")),
        403,
        WRONG_TEAM,
        id="wrong-team-correctly-signed",
    ),
    pytest.param(lambda w: _event(w, b"{not json"), 400, "not valid JSON", id="malformed-json"),
    pytest.param(lambda w: _event(w, [1, 2, 3]), 400, "must be a JSON object", id="array-not-object"),
    pytest.param(
        lambda w: _event(w, b"[" * 5000 + b"]" * 5000), 400, "nested too deeply", id="deeply-nested"
    ),
    pytest.param(
        lambda w: _event(w, _verification(w, challenge=None)),
        400,
        "needs a 'challenge' string",
        id="challenge-missing",
    ),
    pytest.param(
        lambda w: _event(w, _verification(w, challenge={"x": 1})),
        400,
        "needs a 'challenge' string",
        id="challenge-object",
    ),
]


@pytest.mark.parametrize(("request_for", "status", "says"), SLACK_EVENT_CASES)
def test_bad_slack_event_gets_a_clear_4xx(world, request_for, status, says):
    request = request_for(world)
    url = world.cloud.state["regions"][REGIONS[0]]["slackApi"] + "/slack/events"
    with world.unchanged():
        reply = send("POST", url, request.body, request.headers)
    assert_clear(reply, world, status, says)


def test_slack_body_over_10_mb_gets_413_from_the_gateway(world):
    url = world.cloud.state["regions"][REGIONS[1]]["slackApi"] + "/slack/commands"
    request = signed(world, command_body(world, "status") + b"&pad=" + b"x" * TEN_MB)
    with world.unchanged():
        reply = send("POST", url, request.body, request.headers)
    assert_clear(reply, world, 413, "Request Entity Too Large", field="message")


# --- headers ----------------------------------------------------------------------------------


def test_header_over_the_servers_line_limit_gets_431(world):
    with world.unchanged():
        reply = send("GET", f"{world.cloud.api(REGIONS[0])}/config", headers={"x-padding": "a" * 70_000})
    assert reply.status == 431
    assert b"Line too long" in reply.body


def test_too_many_headers_get_431(world):
    headers = {f"x-header-{index}": "a" for index in range(150)}
    with world.unchanged():
        reply = send("GET", f"{world.cloud.api(REGIONS[1])}/config", headers=headers)
    assert reply.status == 431
    assert b"Too many headers" in reply.body


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(b"Bearer abc\r\n folded-into-the-token", id="obs-fold-continuation"),
        pytest.param(b"Bearer \xff\xfe\xfd", id="non-ascii-bytes"),
        pytest.param(b"Bearer \x00\x00\x00", id="nul-bytes"),
    ],
)
def test_raw_bad_authorization_header_gets_401(world, authorization):
    body = b"{}"
    request = (
        b"POST /click HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + authorization + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n" + body
    )
    with world.unchanged():
        reply = raw_request(world.cloud.api(REGIONS[0]), request)
    assert_unauthorized(reply, world, NOT_VALID)


@pytest.mark.parametrize(
    ("content_length", "says"),
    [
        pytest.param(b"abc", "must be a JSON object", id="content-length-not-a-number"),
        pytest.param(b"-5", "must be a JSON object", id="content-length-negative"),
    ],
)
def test_bad_content_length_reads_no_body(world, content_length, says):
    request = (
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + content_length + b"\r\nConnection: close\r\n\r\n{}"
    )
    with world.unchanged():
        reply = raw_request(world.cloud.api(REGIONS[0]), request)
    assert_clear(reply, world, 400, says)


# --- after everything -------------------------------------------------------------------------


def test_no_bad_request_wrote_anything_later(world):
    """Writes that happen after the answer (events, retries, dead letters, the archive) would miss
    the per-case checks: once everything has settled, the state is still the first snapshot's."""
    time.sleep(3 * SETTLE_SECONDS)
    world.last = None
    final = world.settled()
    assert final == world.baseline, "state changed after the answers:\n" + _diff(world.baseline, final)
