"""Sign a user in with Cognito and record the attempt, whatever its outcome.

Every attempt becomes one item in the login partition of its UTC minute (``model.login_bucket``),
so the security responder reads an alarm window with one query per minute. Unknown users and
wrong passwords get the same answer, so the API never tells an attacker which usernames exist.

Environment:
- TABLE_NAME: the app's table, where attempts are recorded.
- USER_POOL_CLIENT_ID: the web app's Cognito client (no secret, USER_PASSWORD_AUTH allowed).
- USER_POOL_REGION: where it signs in: this region's replica of the user pool, or the primary
  region's pool when the pool is not replicated.
- AWS_REGION: recorded with each attempt.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError
from shared import aws, model
from shared.http import ApiError

logger = Logger(child=True)

INCORRECT_CREDENTIALS = "incorrect username or password"


class Outcome(StrEnum):
    SUCCESS = "success"
    REJECTED = "rejected"  # wrong password, unknown or unusable user: a failed login
    CHALLENGE = "challenge"  # right password, but Cognito asks for a step this app does not offer
    THROTTLED = "throttled"
    ERROR = "error"  # Cognito failed or was unreachable: not the user's doing


class LoginFailed(ApiError):
    """The sign-in did not succeed; ``outcome`` says why, for the record and the metric."""

    def __init__(self, status: int, message: str, outcome: Outcome, **extra: Any) -> None:
        super().__init__(status, message, **extra)
        self.outcome = outcome


@dataclass(frozen=True)
class Tokens:
    id_token: str
    access_token: str
    refresh_token: str
    expires_in: int

    def to_json(self) -> dict[str, Any]:
        return {
            "idToken": self.id_token,
            "accessToken": self.access_token,
            "refreshToken": self.refresh_token,
            "expiresIn": self.expires_in,
        }


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Login:
    cognito: Any
    dynamodb: Any
    table_name: str
    client_id: str
    region: str
    metrics: Metrics
    clock: Callable[[], datetime] = _now
    new_id: Callable[[], str] = _new_id

    @classmethod
    def from_environment(cls, metrics: Metrics) -> Login:
        return cls(
            cognito=aws.client("cognito-idp", os.environ["USER_POOL_REGION"]),
            dynamodb=aws.client("dynamodb"),
            table_name=os.environ["TABLE_NAME"],
            client_id=os.environ["USER_POOL_CLIENT_ID"],
            region=aws.region(),
            metrics=metrics,
        )

    def attempt(self, username: str, password: str, source_ip: str) -> Tokens:
        """The user's tokens, or LoginFailed; the attempt is recorded either way."""
        try:
            tokens = self.authenticate(username, password)
        except LoginFailed as failure:
            self.record(username, source_ip, failure.outcome)
            if failure.outcome is Outcome.REJECTED:
                self.metrics.add_metric(name="FailedLogins", unit=MetricUnit.Count, value=1)
            logger.info("login failed", extra={"outcome": failure.outcome.value, "sourceIp": source_ip})
            raise
        self.record(username, source_ip, Outcome.SUCCESS)
        logger.info("login succeeded", extra={"sourceIp": source_ip})
        return tokens

    def authenticate(self, username: str, password: str) -> Tokens:
        errors = self.cognito.exceptions
        try:
            response = self.cognito.initiate_auth(
                ClientId=self.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": username, "PASSWORD": password},
            )
        except (
            errors.NotAuthorizedException,
            errors.UserNotFoundException,
            errors.UserNotConfirmedException,
            errors.PasswordResetRequiredException,
        ) as error:
            raise LoginFailed(401, INCORRECT_CREDENTIALS, Outcome.REJECTED) from error
        except errors.TooManyRequestsException as error:
            raise LoginFailed(
                429, "too many sign-in attempts; wait a minute and retry", Outcome.THROTTLED
            ) from error
        except (ClientError, BotoCoreError) as error:
            logger.warning("Cognito sign-in failed", extra={"errorType": type(error).__name__})
            raise LoginFailed(
                503, "sign-in is unavailable right now; please retry", Outcome.ERROR, retry=True
            ) from error
        challenge = response.get("ChallengeName")
        if challenge:
            raise LoginFailed(
                401,
                f"this account needs a sign-in step the app does not support ({challenge}); "
                "ask an administrator to finish setting it up",
                Outcome.CHALLENGE,
            )
        result = response["AuthenticationResult"]
        return Tokens(
            id_token=result["IdToken"],
            access_token=result["AccessToken"],
            refresh_token=result["RefreshToken"],
            expires_in=int(result["ExpiresIn"]),
        )

    def record(self, username: str, source_ip: str, outcome: Outcome) -> None:
        now = self.clock()
        at = now.isoformat()
        self.dynamodb.put_item(
            TableName=self.table_name,
            Item={
                model.PARTITION_KEY: {"S": model.login_bucket(now)},
                model.SORT_KEY: {"S": f"{at}#{self.region}#{self.new_id()}"},
                "username": {"S": username},
                "success": {"BOOL": outcome is Outcome.SUCCESS},
                "outcome": {"S": outcome.value},
                "region": {"S": self.region},
                "sourceIp": {"S": source_ip},
                "at": {"S": at},
                model.TTL_ATTRIBUTE: {"N": str(model.expires_at(now, model.LOGIN_TTL))},
            },
        )
