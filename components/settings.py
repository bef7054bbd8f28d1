"""The stack's configuration: every key read and checked once, before any resource exists.

Each setting has a safe default except the two Slack secrets. A bad or missing value raises
``ConfigError`` with one message naming the key, what is wrong and the command that fixes it.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pulumi

from components import powertools

T = TypeVar("T")

# CloudWatch Logs accepts only these retention periods.
# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
TEAM_ID_PATTERN = re.compile(r"^T[A-Z0-9]{2,20}$")
DOMAIN_PATTERN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
USERNAME_PATTERN = re.compile(r"^[\w.@+-]{1,128}$")
# What Cognito takes in a password: Basic Latin letters, digits, these symbols and spaces (not
# leading or trailing), at most 256 characters; the pool's policy asks for 12 and one of each kind.
# https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-settings-policies.html
PASSWORD_SYMBOLS = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-"  # noqa: S105 - a character set, not a password
PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH = 12, 256
# The primary when `primaryRegion` is not set and `regions` comes from the stack files: fixed, so
# adding a stack file never moves the primary.
DEFAULT_PRIMARY = "us-east-1"
# Cognito allows "at most one secondary replica in an additional Region per user directory"
# (https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-multi-region.html, Limitations):
# the replica's region when `userPoolReplicaRegion` is not set and `regions` comes from the stack files,
# fixed for the same reason as the primary.
DEFAULT_REPLICA = "us-west-2"
# Where the program lives when no Pulumi engine says (tools.program runs it under mocks).
PROJECT_DIR = Path(__file__).resolve().parent.parent


def project_regions(project_dir: Path | None = None) -> tuple[str, ...]:
    """The regions with a stack file (``Pulumi.<region>.yaml``) beside Pulumi.yaml, sorted: each
    stack is named for its region, so adding a region is adding its stack file."""
    if project_dir is None:
        # The engine's project root; under mocks the runtime holds a placeholder there.
        engine_root = Path(pulumi.get_root_directory() or PROJECT_DIR)
        project_dir = engine_root if (engine_root / "Pulumi.yaml").is_file() else PROJECT_DIR
    stack_files = project_dir.glob("Pulumi.*.yaml")
    names = (path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in stack_files)
    return tuple(sorted(name for name in names if REGION_PATTERN.match(name)))


def default_primary(regions: tuple[str, ...], explicit: bool) -> str | None:
    """`primaryRegion`'s default: the first of an explicit `regions`, else us-east-1 if it is one of
    them (None: it must be set)."""
    if explicit:
        return regions[0]
    return DEFAULT_PRIMARY if DEFAULT_PRIMARY in regions else None


class ConfigError(pulumi.RunError):
    """A configuration value the program cannot deploy; the message says how to fix it."""


@dataclass(frozen=True)
class Throttle:
    """API Gateway throttling: steady requests per second and burst size."""

    rate_limit: float
    burst_limit: int


@dataclass(frozen=True)
class CustomDomain:
    name: str
    hosted_zone_id: str


@dataclass(frozen=True)
class FunctionDefaults:
    """How every Lambda function of the stack is built."""

    architecture: str = "arm64"
    memory_mb: int = 256
    runtime: str = "python3.13"
    log_retention_days: int = 30
    reserved_concurrency: int | None = None
    provisioned_concurrency: int | None = None
    # Lambda SnapStart on the functions that allow it (user-facing and Slack): published versions
    # behind the alias `live`. Python 3.12 and later only; never with provisioned concurrency, EFS or
    # more than 512 MB of ephemeral storage: https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html
    snap_start: bool = True
    # The layer holding the Powertools release the tests run (components/powertools.py).
    powertools_layer_version: int = powertools.LAYER_VERSION


@dataclass(frozen=True)
class Settings:
    app: str
    region: str
    primary_region: str
    regions: tuple[str, ...]
    user_api_throttle: Throttle
    login_throttle: Throttle
    slack_api_throttle: Throttle
    error_rate: float
    failed_login_threshold: int
    error_rate_threshold: float
    functions: FunctionDefaults
    domain: CustomDomain | None
    slack_signing_secret: pulumi.Output[str]
    slack_webhook_url: pulumi.Output[str]
    slack_team_ids: tuple[str, ...]
    demo_username: str
    demo_password: pulumi.Output[str] | None
    deletion_protection: bool
    audit_trail: bool
    archive_retention_days: int
    # Cognito multi-Region replication: the user pool's one replica (AWS allows one) in
    # `user_pool_replica_region`, whose login signs in there; the other regions' sign in against the
    # primary. Off keeps the pool in the primary region only.
    user_pool_replication: bool = True
    user_pool_replica_region: str | None = None

    @property
    def user_pool_region(self) -> str:
        """Where this region's login signs in: its own pool (the primary's or the replica), else the
        primary's."""
        if self.region in (self.primary_region, self.user_pool_replica_region):
            return self.region
        return self.primary_region

    @property
    def is_primary(self) -> bool:
        return self.region == self.primary_region

    def parameter(self, *parts: str) -> str:
        """An SSM parameter name under this app's prefix: ``/<app>/<parts...>``."""
        return "/" + "/".join((self.app, *parts))


class _Reader:
    """Reads one project-namespace key at a time and explains any bad value."""

    def __init__(self, config: pulumi.Config, stack: str) -> None:
        self.config = config
        self.stack = stack

    def fail(self, key: str, problem: str, example: str, *, secret: bool = False) -> ConfigError:
        flag = " --secret" if secret else ""
        return ConfigError(
            f"config {self.config.name}:{key} {problem}. "
            f"Fix: pulumi config set{flag} {self.config.name}:{key} {example} --stack {self.stack}"
        )

    def value(self, key: str, default: T, parse: Callable[[str], T], problem: str, example: str) -> T:
        raw = self.config.get(key)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError:
            raise self.fail(key, f"{problem} (got {raw!r})", example) from None

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        def parse(raw: str) -> int:
            number = int(raw)
            if not low <= number <= high:
                raise ValueError
            return number

        return self.value(key, default, parse, f"must be a whole number from {low} to {high}", str(default))

    def optional_integer(self, key: str, low: int, high: int, example: int) -> int | None:
        if self.config.get(key) is None:
            return None
        return self.integer(key, example, low, high)

    def number(self, key: str, default: float, low: float, high: float, example: str) -> float:
        def parse(raw: str) -> float:
            number = float(raw)
            if not math.isfinite(number) or not low <= number <= high:
                raise ValueError
            return number

        return self.value(key, default, parse, f"must be a number from {low:g} to {high:g}", example)

    def boolean(self, key: str, default: bool) -> bool:
        def parse(raw: str) -> bool:
            if raw.lower() in ("true", "false"):
                return raw.lower() == "true"
            raise ValueError

        return self.value(key, default, parse, "must be true or false", str(default).lower())

    def string_list(
        self, key: str, default: tuple[str, ...], pattern: re.Pattern[str], example: str
    ) -> tuple[str, ...]:
        def parse(raw: str) -> tuple[str, ...]:
            items = json.loads(raw) if raw.strip().startswith("[") else raw.split(",")
            if not isinstance(items, list):
                raise ValueError
            values = tuple(str(item).strip() for item in items if str(item).strip())
            if len(set(values)) != len(values) or not all(pattern.match(value) for value in values):
                raise ValueError
            return values

        problem = "must be a comma-separated list (or JSON list) of distinct valid values"
        return self.value(key, default, parse, problem, example)

    def required_secret(self, key: str, check: Callable[[str], bool], problem: str, example: str) -> str:
        raw = self.config.get(key)
        if raw is None:
            raise self.fail(key, "is not set", example, secret=True)
        if not pulumi.runtime.is_config_secret(self.config.full_key(key)):
            raise self.fail(key, "must be stored as a secret", example, secret=True)
        if not check(raw):
            raise self.fail(key, problem, example, secret=True)
        return raw


def load(
    config: pulumi.Config | None = None, stack: str | None = None, project_dir: Path | None = None
) -> Settings:
    """Read and check every key; raise ConfigError on the first bad one. `project_dir` holds the
    stack files (default: the engine's project root, else this program's folder)."""
    config = config or pulumi.Config()
    stack = stack or pulumi.get_stack()
    read = _Reader(config, stack)

    region = pulumi.Config("aws").get("region")
    if not region:
        raise ConfigError(
            f"config aws:region is not set. Fix: pulumi config set aws:region {stack} --stack {stack}"
        )
    if region != stack:
        raise ConfigError(
            f"config aws:region is {region!r} but the stack is named {stack!r}: each stack is named for its "
            f"region. Fix: pulumi config set aws:region {stack} --stack {stack}"
        )
    # By default every region with a stack file, and this one (its config may live elsewhere).
    found = tuple(sorted({*project_regions(project_dir), region}))
    explicit = config.get("regions") is not None
    regions = read.string_list("regions", found, REGION_PATTERN, f"'{json.dumps(list(found))}'")
    primary_default = default_primary(regions, explicit)
    if primary_default is None and config.get("primaryRegion") is None:
        raise read.fail(
            "primaryRegion",
            f"is not set and {DEFAULT_PRIMARY} has no stack file, so no region of {list(regions)} is the "
            "primary by default",
            regions[0],
        )
    primary_region = read.value(
        "primaryRegion",
        primary_default or regions[0],
        _region,
        "must be an AWS region name such as us-east-1",
        primary_default or regions[0],
    )
    if primary_region not in regions:
        raise read.fail(
            "primaryRegion", f"is {primary_region!r}, which is not one of regions {list(regions)}", regions[0]
        )
    if region not in regions:
        raise read.fail(
            "regions", f"does not include this stack's region {region!r}", json.dumps([*regions, region])
        )

    user_api = Throttle(
        read.number("userApiRateLimit", 50, 1, 10_000, "50"), read.integer("userApiBurstLimit", 100, 1, 5_000)
    )
    login = Throttle(
        read.number("loginRateLimit", 5, 1, 10_000, "5"), read.integer("loginBurstLimit", 10, 1, 5_000)
    )
    slack = Throttle(
        read.number("slackApiRateLimit", 5, 1, 10_000, "5"), read.integer("slackApiBurstLimit", 10, 1, 5_000)
    )
    if login.rate_limit > user_api.rate_limit or login.burst_limit > user_api.burst_limit:
        raise read.fail(
            "loginRateLimit",
            "must be stricter than the user API's stage limits (userApiRateLimit, userApiBurstLimit)",
            "5",
        )

    functions = FunctionDefaults(
        architecture=read.value(
            "lambdaArchitecture", "arm64", _choice("arm64", "x86_64"), "must be arm64 or x86_64", "arm64"
        ),
        memory_mb=read.integer("lambdaMemory", 256, 128, 10_240),
        log_retention_days=read.value(
            "logRetentionDays",
            30,
            _choice_int(LOG_RETENTION_DAYS),
            f"must be one of CloudWatch's retention periods {list(LOG_RETENTION_DAYS)}",
            "30",
        ),
        reserved_concurrency=read.optional_integer("reservedConcurrency", 1, 1000, 5),
        provisioned_concurrency=read.optional_integer("provisionedConcurrency", 1, 100, 1),
        powertools_layer_version=read.integer("powertoolsLayerVersion", powertools.LAYER_VERSION, 1, 1000),
        snap_start=read.boolean("snapStart", True),
    )
    if (
        functions.reserved_concurrency is not None
        and functions.provisioned_concurrency is not None
        and functions.provisioned_concurrency > functions.reserved_concurrency
    ):
        raise read.fail(
            "provisionedConcurrency",
            "must not exceed reservedConcurrency",
            str(functions.reserved_concurrency),
        )

    if functions.snap_start and functions.provisioned_concurrency is not None:
        # "SnapStart does not support provisioned concurrency":
        # https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html#snapstart-runtimes
        raise read.fail(
            "snapStart",
            f"is on together with {config.name}:provisionedConcurrency, which SnapStart does not support "
            f"(to keep SnapStart instead: pulumi config rm {config.name}:provisionedConcurrency)",
            "false",
        )

    domain_name = read.value(
        "domainName", "", _domain, "must be a lower-case DNS name such as api.example.com", "api.example.com"
    )
    zone_id = read.value(
        "hostedZoneId",
        "",
        _zone_id,
        "must be a Route 53 hosted zone id such as Z0123456789ABC",
        "Z0123456789ABC",
    )
    if bool(domain_name) != bool(zone_id):
        missing = "hostedZoneId" if domain_name else "domainName"
        raise read.fail(
            missing,
            "must be set together with " + ("domainName" if domain_name else "hostedZoneId"),
            "<value>",
        )

    signing_secret = read.required_secret(
        "slackSigningSecret",
        lambda raw: re.fullmatch(r"[0-9a-f]{32}", raw) is not None,
        "must be the 32 hex characters of the Slack app's Signing Secret",
        "<Slack app → Basic Information → Signing Secret>",
    )
    webhook_url = read.required_secret(
        "slackWebhookUrl",
        lambda raw: (
            re.fullmatch(r"https://hooks\.slack\.com/services/\S+|http://127\.0\.0\.1:\d+/\S*", raw)
            is not None
        ),
        "must be a Slack incoming webhook URL (https://hooks.slack.com/services/...)",
        "<Slack app → Incoming Webhooks → Webhook URL>",
    )
    demo_password = config.get("demoPassword")
    if demo_password is not None and not _strong_password(demo_password):
        raise read.fail(
            "demoPassword",
            f"must be {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters with upper and lower case "
            f"letters A-Z, a digit and one of Cognito's symbols {' '.join(PASSWORD_SYMBOLS)}; inner spaces "
            "are allowed, nothing else",
            "'<a strong password>'",
            secret=True,
        )

    replication = read.boolean("userPoolReplication", True)
    replica_region = _replica_region(read, regions, primary_region, explicit) if replication else None

    return Settings(
        app=config.name,
        region=region,
        primary_region=primary_region,
        regions=regions,
        user_api_throttle=user_api,
        login_throttle=login,
        slack_api_throttle=slack,
        error_rate=read.number("errorRate", 0.1, 0, 1, "0.1"),
        failed_login_threshold=read.integer("failedLoginThreshold", 5, 1, 10_000),
        error_rate_threshold=read.number("errorRateThreshold", 0.2, 0.01, 1, "0.2"),
        functions=functions,
        domain=CustomDomain(domain_name, zone_id) if domain_name else None,
        slack_signing_secret=pulumi.Output.secret(signing_secret),
        slack_webhook_url=pulumi.Output.secret(webhook_url),
        slack_team_ids=read.string_list("slackTeamIds", (), TEAM_ID_PATTERN, "T0123ABCD"),
        demo_username=read.value(
            "demoUsername", "demo", _username, "must be 1 to 128 letters, digits or . _ @ + -", "demo"
        ),
        demo_password=pulumi.Output.secret(demo_password) if demo_password is not None else None,
        deletion_protection=read.boolean("deletionProtection", True),
        audit_trail=read.boolean("auditTrail", False),
        archive_retention_days=read.integer("archiveRetentionDays", 365, 1, 3650),
        user_pool_replication=replication,
        user_pool_replica_region=replica_region,
    )


def _replica_region(read: _Reader, regions: tuple[str, ...], primary: str, explicit: bool) -> str | None:
    """The one region of the user pool's replica: `userPoolReplicaRegion`, else us-west-2 if it is a
    secondary, else the first secondary of an explicit `regions`; None with no secondary."""
    secondaries = [region for region in regions if region != primary]
    if not secondaries:
        return None
    default = DEFAULT_REPLICA if DEFAULT_REPLICA in secondaries else (secondaries[0] if explicit else None)
    if default is None and read.config.get("userPoolReplicaRegion") is None:
        raise read.fail(
            "userPoolReplicaRegion",
            f"is not set and {DEFAULT_REPLICA} has no stack file: Cognito allows one replica of the user "
            f"pool, in one of {secondaries} (or pulumi config set "
            f"{read.config.name}:userPoolReplication false)",
            secondaries[0],
        )
    replica = read.value(
        "userPoolReplicaRegion",
        default or secondaries[0],
        _region,
        "must be an AWS region name such as us-west-2",
        default or secondaries[0],
    )
    if replica not in secondaries:
        raise read.fail(
            "userPoolReplicaRegion",
            f"is {replica!r}, which is not one of the secondary regions {secondaries}",
            secondaries[0],
        )
    return replica


def _region(raw: str) -> str:
    if not REGION_PATTERN.match(raw):
        raise ValueError
    return raw


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in allowed:
            raise ValueError
        return raw

    return parse


def _choice_int(allowed: tuple[int, ...]) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        number = int(raw)
        if number not in allowed:
            raise ValueError
        return number

    return parse


def _domain(raw: str) -> str:
    if raw and not DOMAIN_PATTERN.match(raw):
        raise ValueError
    return raw


def _zone_id(raw: str) -> str:
    if raw and not re.fullmatch(r"Z[A-Z0-9]{4,32}", raw):
        raise ValueError
    return raw


def _username(raw: str) -> str:
    if not USERNAME_PATTERN.match(raw):
        raise ValueError
    return raw


def _strong_password(raw: str) -> bool:
    allowed = string.ascii_letters + string.digits + PASSWORD_SYMBOLS + " "
    return (
        PASSWORD_MIN_LENGTH <= len(raw) <= PASSWORD_MAX_LENGTH
        and raw == raw.strip(" ")
        and all(c in allowed for c in raw)
        and any(c in string.ascii_lowercase for c in raw)
        and any(c in string.ascii_uppercase for c in raw)
        and any(c in string.digits for c in raw)
        and any(c in PASSWORD_SYMBOLS or c == " " for c in raw)
    )
