"""Every request the deployer sends is checked, before it leaves, as AWS would check it.

moto takes any resource definition; AWS refuses one that breaks its API model or a rule the
model does not state. ``install`` hooks botocore's ``before-parameter-build`` event on a session,
so every client made from it checks each call's parameters against botocore's service model
for the operation (required members, unknown members, types, string and blob lengths, patterns,
enums, numeric ranges, list and map sizes, tagged unions, nested all the way down), then against
the rules in ``RULES``. A refused call raises ``Refused`` (a botocore ``ClientError``, as AWS's
answer would be) with the code AWS returns and a message naming the Pulumi resource
being deployed (``deploying``) and each offending member.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from botocore.validate import ParamValidator, ValidationErrors

_RESOURCE: ContextVar[str] = ContextVar("localcloud_resource", default="the deployer")

# The code AWS answers a request with when it breaks the API model. Services built on AWS's
# Coral framework say ValidationException ("1 validation error detected: Value '600' at
# 'timeout' failed to satisfy constraint", https://github.com/covidatlas/li/pull/575); these
# name it otherwise (each is among the operation's error shapes in botocore's model, or the
# service's common errors for the query protocol).
MODEL_ERROR_CODES = {
    "logs": "InvalidParameterException",
    "cognito-idp": "InvalidParameterException",
    "sns": "InvalidParameter",
    "sqs": "InvalidParameterValue",
    "iam": "ValidationError",
    "sts": "ValidationError",
    "cloudwatch": "InvalidParameterValue",
    "apigatewayv2": "BadRequestException",
    "firehose": "InvalidArgumentException",
    "s3": "InvalidArgument",
}


@dataclass(frozen=True)
class Problem:
    path: str  # the member, as the API names it: "Timeout", "Rules[0].Transitions[1].Days"
    text: str  # what is wrong, after the member's name
    code: str = ""  # the error code AWS answers; empty: the service's model error code

    def __str__(self) -> str:
        return f"{self.path} {self.text}" if self.path else self.text


class Refused(ClientError):
    """AWS's refusal of one request, naming the Pulumi resource that sent it."""

    def __init__(self, resource: str, service: str, operation: str, problems: list[Problem]) -> None:
        self.resource = resource
        self.problems = problems
        self.code = problems[0].code or MODEL_ERROR_CODES.get(service, "ValidationException")
        self.service = service
        self.operation_name = operation
        detail = "; ".join(str(problem) for problem in problems)
        self.description = f"{resource}: {detail} ({self.code}, {service} {operation})"
        super().__init__(
            {"Error": {"Code": self.code, "Message": detail}, "ResponseMetadata": {"HTTPStatusCode": 400}},
            operation,
        )

    def __str__(self) -> str:
        return self.description


@contextmanager
def deploying(resource: str) -> Iterator[None]:
    """Name the resource whose calls this thread makes, for the refusals' messages."""
    token = _RESOURCE.set(resource)
    try:
        yield
    finally:
        _RESOURCE.reset(token)


def install(session: Any) -> None:
    """Check every call of every client later made from this boto3 or botocore session."""
    events = session.events if hasattr(session, "events") else session.get_component("event_emitter")
    events.register("before-parameter-build", _check_call, unique_id="localcloud-validation")


def _check_call(params: dict[str, Any], model: Any, **_: Any) -> None:
    service = model.service_model.service_name
    problems = check(service, model, params)
    if problems:
        raise Refused(_RESOURCE.get(), service, model.name, problems)


def check(service: str, operation: Any, params: dict[str, Any]) -> list[Problem]:
    """Everything AWS would refuse in these parameters of this operation (a botocore
    OperationModel): the model's constraints first, then the rules it does not state."""
    problems: list[Problem] = []
    if operation.input_shape is not None:
        _ModelValidator(problems).validate_all(params, operation.input_shape)
    if not problems:
        for rule in RULES.get((service, operation.name), ()):
            problems.extend(rule(params))
    return problems


# The model


class _Report(ValidationErrors):
    """botocore's error list, kept as Problems in this module's words."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__()
        self.problems = problems

    def report(self, name: str, reason: str, **kwargs: Any) -> None:
        path = name.lstrip(".")
        if reason == "missing required field":
            member = kwargs["required_name"]
            self.problems.append(Problem(_join(path, member), "is required but missing"))
        elif reason == "unknown field":
            self.problems.append(Problem(_join(path, kwargs["unknown_param"]), "is not a member AWS knows"))
        elif reason == "invalid type":
            value = kwargs["param"]
            self.problems.append(Problem(path, f"is a {type(value).__name__}, not of the model's type"))
        elif reason in ("more than one input", "empty input"):
            members = ", ".join(kwargs["members"])
            self.problems.append(Problem(path, f"must set exactly one of {members}"))
        elif reason == "constraint":
            self.problems.append(Problem(path, kwargs["text"]))
        else:
            self.problems.append(Problem(path, self._format_error((reason, name, kwargs))))


def _join(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _shown(value: Any, shape: Any) -> str:
    if shape.metadata.get("sensitive"):
        return "(sensitive value)"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _ModelValidator(ParamValidator):
    """botocore's validator (required and unknown members, types, unions, documents), plus what
    it leaves to the service: maximum lengths and values, patterns and enums."""

    def __init__(self, problems: list[Problem]) -> None:
        self.errors = _Report(problems)

    def validate_all(self, params: dict[str, Any], shape: Any) -> None:
        self._validate(params, shape, self.errors, name="")

    def _bounds(self, name: str, size: float, shape: Any, unit: str, errors: Any) -> None:
        low = shape.metadata.get("min")
        if low is None and getattr(shape, "serialization", {}).get("hostLabel"):
            low = 1  # a member bound to the host name cannot be empty
        high = shape.metadata.get("max")
        what = f"is {_number(size)} {unit}" if unit else f"{_number(size)} is"
        if low is not None and size < low:
            errors.report(name, "constraint", text=f"{what} below the minimum {_number(low)}")
        elif high is not None and size > high:
            errors.report(name, "constraint", text=f"{what} above the maximum {_number(high)}")

    def _validate_string(self, param: Any, shape: Any, errors: Any, name: str) -> None:
        if not isinstance(param, str):
            errors.report(name, "invalid type", param=param, valid_types=[str(str)])
            return
        self._bounds(name, len(param), shape, "characters long,", errors)
        allowed = shape.metadata.get("enum")
        if allowed and param not in allowed:
            listed = ", ".join(allowed[:12]) + (f", ... ({len(allowed)} in all)" if len(allowed) > 12 else "")
            errors.report(name, "constraint", text=f"{_shown(param, shape)} is not one of {listed}")
        pattern = shape.metadata.get("pattern")
        compiled = _pattern(pattern) if pattern else None
        if compiled is not None and compiled.fullmatch(param) is None:
            errors.report(
                name, "constraint", text=f"{_shown(param, shape)} does not match the pattern {pattern}"
            )

    def _validate_integer(self, param: Any, shape: Any, errors: Any, name: str) -> None:
        if not isinstance(param, int) or isinstance(param, bool):
            errors.report(name, "invalid type", param=param, valid_types=[str(int)])
            return
        self._bounds(name, param, shape, "", errors)

    _validate_long = _validate_integer

    def _validate_double(self, param: Any, shape: Any, errors: Any, name: str) -> None:
        if not isinstance(param, int | float) or isinstance(param, bool):
            errors.report(name, "invalid type", param=param, valid_types=[str(float)])
            return
        self._bounds(name, param, shape, "", errors)

    _validate_float = _validate_double

    def _validate_blob(self, param: Any, shape: Any, errors: Any, name: str) -> None:
        super()._validate_blob(param, shape, errors, name)
        if isinstance(param, bytes | bytearray | str):
            self._bounds(name, len(param), shape, "bytes long,", errors)

    def _validate_list(self, param: Any, shape: Any, errors: Any, name: str) -> None:
        if not isinstance(param, list | tuple):
            errors.report(name, "invalid type", param=param, valid_types=[str(list)])
            return
        self._bounds(name, len(param), shape, "items long,", errors)
        for index, item in enumerate(param):
            self._validate(item, shape.member, errors, f"{name}[{index}]")

    def _validate_map(self, param: Any, shape: Any, errors: Any, name: str) -> None:
        if not isinstance(param, dict):
            errors.report(name, "invalid type", param=param, valid_types=[str(dict)])
            return
        self._bounds(name, len(param), shape, "entries long,", errors)
        for key, value in param.items():
            self._validate(key, shape.key, errors, f"{name} key")
            self._validate(value, shape.value, errors, f"{name}.{key}")


# botocore's patterns are Java regular expressions (AWS's services are Java). Most compile as
# Python's; Unicode categories (\p{L}, \p{Zs}, \p{Print}...) do not, and are rewritten as the
# Basic Multilingual Plane's characters of that category, every character beyond it allowed.
# A pattern that still does not compile (a negated category inside a class, Java's UTF-16
# surrogate ranges, `[\w-_]`) is not enforced: better to miss a refusal than to invent one.
# AWS matches the whole value (a Lambda function name with a space is refused by a pattern that
# matches each of its words), so the pattern must match all of it.
_CATEGORY = re.compile(r"\\([pP])\{(\w+)\}")
_POSIX = {"Print": r"\x20-\x7e\u00a0-\uffff", "ASCII": r"\x00-\x7f", "Alnum": "a-zA-Z0-9", "Alpha": "a-zA-Z"}


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        pass
    inside = False
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        found = _CATEGORY.match(pattern, index) if char == "\\" else None
        if found:
            negated, name = found.group(1) == "P", found.group(2)
            if negated and inside:
                return None
            body = _POSIX.get(name) or _category_ranges(name)
            if not body:
                return None
            out.append(body if inside else f"[{'^' if negated else ''}{body}]")
            index = found.end()
            continue
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if char == "[" and not inside:
            inside = True
        elif char == "]" and inside:
            inside = False
        out.append(char)
        index += 1
    try:
        return re.compile("".join(out))
    except re.error:
        return None


@functools.cache
def _category_ranges(category: str) -> str:
    """A character class body: the BMP characters whose Unicode category starts with
    `category` ("L", "Zs"), and all characters beyond the BMP."""
    ranges: list[str] = []
    start = None
    for code in range(0x10000):
        inside = unicodedata.category(chr(code)).startswith(category)
        if inside and start is None:
            start = code
        elif not inside and start is not None:
            ranges.append(rf"\u{start:04x}-\u{code - 1:04x}")
            start = None
    if start is not None:
        ranges.append(rf"\u{start:04x}-\uffff")
    return "".join(ranges) + r"\U00010000-\U0010ffff" if ranges else ""


# The rules AWS enforces that the model does not state, for the calls this program makes.

Rule = Callable[[dict[str, Any]], Iterator[Problem]]


def _lambda_limits(params: dict[str, Any]) -> Iterator[Problem]:
    # The model allows 5400 s and 32768 MB, for Lambda Managed Instances (a capacity provider);
    # any other function runs at most 900 s with 128 to 10,240 MB and Lambda refuses more with
    # InvalidParameterValueException (the model states the minimums).
    # https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html
    # https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
    # (cfn-lint's rule E3717 says the same, checked against the live CreateFunction API:
    # https://github.com/aws-cloudformation/cfn-lint/pull/4685)
    if params.get("CapacityProviderConfig"):
        return
    code = "InvalidParameterValueException"
    if isinstance(params.get("Timeout"), int) and params["Timeout"] > 900:
        yield Problem("Timeout", f"{params['Timeout']} is above the maximum 900", code)
    if isinstance(params.get("MemorySize"), int) and params["MemorySize"] > 10_240:
        yield Problem("MemorySize", f"{params['MemorySize']} is above the maximum 10240", code)


# The model types retentionInDays as any integer; the service takes these only.
# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip


def _log_retention(params: dict[str, Any]) -> Iterator[Problem]:
    days = params.get("retentionInDays")
    if days not in LOG_RETENTION_DAYS:
        allowed = ", ".join(map(str, LOG_RETENTION_DAYS))
        yield Problem("retentionInDays", f"{days} is not one of {allowed}", "InvalidParameterException")


# S3 answers InvalidArgument to a lifecycle rule whose days don't add up:
# - Standard-IA and One Zone-IA take objects (and noncurrent versions) 30 days old or more
#   https://docs.aws.amazon.com/AmazonS3/latest/API/API_Transition.html
#   https://docs.aws.amazon.com/AmazonS3/latest/API/API_NoncurrentVersionTransition.html
# - a rule's transitions go down the storage classes' waterfall, each on a later day, one at
#   least 30 days after a move to an infrequent-access class
#   https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html
#   (https://DEV.to/aws-builders/s3-lifecycle-3e04 quotes the 30-day gap)
# - expiration comes after every transition ("'NoncurrentDays' in the NoncurrentVersionExpiration
#   action must be greater than 'NoncurrentDays' in the NoncurrentVersionTransition action",
#   https://github.com/go-to-k/cdkd/pull/1426), and expiration days are positive
#   https://docs.aws.amazon.com/AmazonS3/latest/API/API_LifecycleExpiration.html
WATERFALL = ("STANDARD_IA", "INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE")
INFREQUENT_ACCESS = ("STANDARD_IA", "ONEZONE_IA")


def _lifecycle(params: dict[str, Any]) -> Iterator[Problem]:
    for index, rule in enumerate((params.get("LifecycleConfiguration") or {}).get("Rules", [])):
        where = f"LifecycleConfiguration.Rules[{index}]"
        yield from _transitions(
            f"{where}.Transitions", rule.get("Transitions") or [], "Days", rule.get("Expiration"), where
        )
        yield from _transitions(
            f"{where}.NoncurrentVersionTransitions",
            rule.get("NoncurrentVersionTransitions") or [],
            "NoncurrentDays",
            rule.get("NoncurrentVersionExpiration"),
            where,
        )
        upload = (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation")
        if upload is not None and upload < 1:
            yield Problem(
                f"{where}.AbortIncompleteMultipartUpload.DaysAfterInitiation",
                f"{upload} must be a positive number of days",
                "InvalidArgument",
            )


def _transitions(
    path: str, transitions: list[dict[str, Any]], key: str, expiration: dict[str, Any] | None, rule: str
) -> Iterator[Problem]:
    code = "InvalidArgument"
    dated = sorted(
        (item[key], WATERFALL.index(item["StorageClass"]), position)
        for position, item in enumerate(transitions)
        if isinstance(item.get(key), int) and item.get("StorageClass") in WATERFALL
    )
    for days, tier, position in dated:
        where = f"{path}[{position}].{key}"
        if WATERFALL[tier] in INFREQUENT_ACCESS and days < 30:
            yield Problem(where, f"{days} is below 30, the minimum for {WATERFALL[tier]}", code)
    for (days, tier, _), (next_days, next_tier, position) in itertools.pairwise(dated):
        where, before, after = f"{path}[{position}].{key}", WATERFALL[tier], WATERFALL[next_tier]
        if next_tier <= tier or next_days == days:
            yield Problem(
                where, f"moves to {after} on day {next_days}, not after {before} on day {days}", code
            )
        elif before in INFREQUENT_ACCESS and next_days - days < 30:
            yield Problem(
                where, f"{next_days} is less than 30 days after the move to {before} on day {days}", code
            )
    ends = (expiration or {}).get(key)
    if isinstance(ends, int):
        expires = f"{rule}.{'Expiration' if key == 'Days' else 'NoncurrentVersionExpiration'}.{key}"
        if ends < 1:
            yield Problem(expires, f"{ends} must be a positive number of days", code)
        latest = max((days for days, _, _ in dated), default=None)
        if latest is not None and ends <= latest:
            yield Problem(expires, f"{ends} must be after every transition (the last on day {latest})", code)


# API Gateway's HTTP API integration timeout (50 to 30,000 ms) is in the model already.
RULES: dict[tuple[str, str], tuple[Rule, ...]] = {
    ("lambda", "CreateFunction"): (_lambda_limits,),
    ("lambda", "UpdateFunctionConfiguration"): (_lambda_limits,),
    ("logs", "PutRetentionPolicy"): (_log_retention,),
    ("s3", "PutBucketLifecycleConfiguration"): (_lifecycle,),
}
