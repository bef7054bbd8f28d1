"""Who calls the local cloud's moto, and with which keys.

At start, before enforcement begins, the local cloud creates two IAM users and their access keys
(moto accepts any key until then), then turns enforcement on with moto's ``/moto-api/reset-auth``
(what ``moto.core.set_initial_no_auth_action_count`` does in server mode):

- the admin (``localcloud-admin``, allowed ``*``): the deployer creates every resource as it, and
  the local services that stand for AWS's own (gateways, event delivery, streams, CloudWatch)
  call as it;
- the Lambda service (``lambda.amazonaws.com`` under ``SERVICE_PATH``): it assumes
  each function's execution role, which moto allows only when the role's trust policy names
  ``lambda.amazonaws.com`` (``localcloud.iam.authorization``).

Every Lambda worker runs with credentials from ``sts:AssumeRole`` of its own execution role, the
session named after the function as Lambda names it. Lambda's credentials last hours and are
renewed for a running environment; a local worker lives for minutes (it is stopped when idle),
so the runner takes credentials per worker start and retires a warm worker before they expire.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3

# Users under this path stand for the AWS service whose principal is their name.
SERVICE_PATH = "/localcloud/service/"
ADMIN = "localcloud-admin"
LAMBDA = "lambda.amazonaws.com"
SESSION_SECONDS = 3600  # sts:AssumeRole's default duration
# Keys moto accepts before enforcement begins (and always, on a server that never enforces).
UNENFORCED = ("localcloud", "localcloud")


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None
    expires_at: float | None = None  # time.time() when they expire; None: an IAM user's keys

    def client_options(self) -> dict[str, str]:
        options = {"aws_access_key_id": self.access_key_id, "aws_secret_access_key": self.secret_access_key}
        if self.session_token:
            options["aws_session_token"] = self.session_token
        return options

    def environment(self) -> dict[str, str]:
        """As Lambda sets them in a function's environment."""
        variables = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            variables["AWS_SESSION_TOKEN"] = self.session_token
        return variables


UNENFORCED_CREDENTIALS = Credentials(*UNENFORCED)


@dataclass(frozen=True)
class Principals:
    endpoint: str | None  # None: boto3's own (moto in-process, in tests)
    admin: Credentials
    lambda_service: Credentials
    _clients: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def assume(self, role_arn: str, session_name: str, region: str) -> Credentials:
        """Credentials of `role_arn` as Lambda gets them for a function (AccessDenied if the
        role does not trust lambda.amazonaws.com)."""
        issued = self._sts(region).assume_role(
            RoleArn=role_arn, RoleSessionName=session_name[:64], DurationSeconds=SESSION_SECONDS
        )["Credentials"]
        return Credentials(
            issued["AccessKeyId"],
            issued["SecretAccessKey"],
            issued["SessionToken"],
            issued["Expiration"].timestamp(),
        )

    def _sts(self, region: str) -> Any:
        """The Lambda service's STS client for `region`, made once (clients are thread-safe)."""
        with self._lock:
            if region not in self._clients:
                self._clients[region] = boto3.session.Session().client(
                    "sts",
                    region_name=region,
                    endpoint_url=self.endpoint,
                    **self.lambda_service.client_options(),
                )
            return self._clients[region]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"endpoint": self.endpoint, **{k: asdict(v) for k, v in self._keys()}}))
        path.chmod(0o600)

    def _keys(self) -> list[tuple[str, Credentials]]:
        return [("admin", self.admin), ("lambdaService", self.lambda_service)]

    @classmethod
    def load(cls, path: Path) -> Principals:
        data = json.loads(path.read_text())
        return cls(data["endpoint"], Credentials(**data["admin"]), Credentials(**data["lambdaService"]))


def enforce(endpoint: str) -> Principals:
    """Create the admin and the Lambda service on a fresh moto server, then enforce IAM there."""
    principals = create(endpoint)
    # The count of requests still let through unauthenticated: none from now on. Not a form (the
    # server reads the raw body, which werkzeug leaves empty for form-encoded data).
    request = urllib.request.Request(  # noqa: S310 - the local moto
        f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the local moto
        response.read()
    return principals


def create(endpoint: str | None) -> Principals:
    """The admin and the Lambda service, created while moto does not yet enforce IAM."""
    iam = boto3.session.Session().client(
        "iam", region_name="us-east-1", endpoint_url=endpoint, **UNENFORCED_CREDENTIALS.client_options()
    )

    def user(name: str, path: str, statement: dict[str, Any]) -> Credentials:
        iam.create_user(UserName=name, Path=path)
        document = {"Version": "2012-10-17", "Statement": [statement]}
        iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(document))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return Credentials(key["AccessKeyId"], key["SecretAccessKey"])

    admin = user(ADMIN, "/localcloud/", {"Effect": "Allow", "Action": "*", "Resource": "*"})
    # A service needs no identity policy of its own in AWS: the role's trust policy decides.
    lambda_service = user(
        LAMBDA, SERVICE_PATH, {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}
    )
    return Principals(endpoint, admin, lambda_service)


def admin_of(state: dict[str, Any]) -> Credentials:
    """The admin's keys from a running local cloud's state.json (the unenforced keys if none)."""
    keys = state.get("admin")
    return Credentials(keys["accessKeyId"], keys["secretAccessKey"]) if keys else UNENFORCED_CREDENTIALS


def expiring(credentials: Credentials | None, within: float) -> bool:
    """Whether credentials expire within `within` seconds (an IAM user's keys never do)."""
    return (
        credentials is not None
        and credentials.expires_at is not None
        and (credentials.expires_at - time.time() < within)
    )
