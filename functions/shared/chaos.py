"""Per-region chaos state: is the region failed over, and how often do requests fail.

The state of each region is one JSON SSM parameter in that region, named
``<CHAOS_PARAMETER_PREFIX>/<region>``: ``{"failed": false, "errorRate": 0.05,
"writerFailureRate": 0}``. Slack commands write it; every user-facing function reads it through
the parameter cache (``shared.parameters``) with a max age of a few seconds, so a region fails
within 5 s of the command.

Environment:
- CHAOS_PARAMETER_PREFIX: e.g. ``/active-active/chaos``.
- CHAOS_MAX_AGE_SECONDS: optional, cache age in seconds (default 3, at most 5).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from shared import aws, jsonparse, parameters

MAX_AGE_SECONDS = min(int(os.environ.get("CHAOS_MAX_AGE_SECONDS", "3")), 5)


class ChaosStateError(ValueError):
    """The stored chaos state is not what this code writes."""


@dataclass(frozen=True)
class ChaosState:
    failed: bool = False
    error_rate: float = 0.0
    writer_failure_rate: float = 0.0

    def to_json(self) -> str:
        fields = asdict(self)
        return json.dumps(
            {
                "failed": fields["failed"],
                "errorRate": fields["error_rate"],
                "writerFailureRate": fields["writer_failure_rate"],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ChaosState:
        try:
            raw = jsonparse.loads(text)
        except jsonparse.NestedTooDeeply as error:
            raise ChaosStateError("chaos state is nested too deeply") from error
        except ValueError as error:  # JSONDecodeError, or an integer over Python's 4300-digit limit
            raise ChaosStateError(f"chaos state is not JSON: {error}") from error
        if not isinstance(raw, dict):
            raise ChaosStateError("chaos state must be a JSON object")
        failed = raw.get("failed", False)
        if not isinstance(failed, bool):
            raise ChaosStateError("chaos state 'failed' must be true or false")
        return cls(
            failed=failed,
            error_rate=probability(raw.get("errorRate", 0.0), "errorRate"),
            writer_failure_rate=probability(raw.get("writerFailureRate", 0.0), "writerFailureRate"),
        )


def probability(value: object, name: str) -> float:
    """A number from 0 to 1, or ChaosStateError naming the field."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ChaosStateError(f"{name} must be a number from 0 to 1")
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise ChaosStateError(f"{name} must be a number from 0 to 1")
    return number


def parameter_name(region: str) -> str:
    return f"{os.environ['CHAOS_PARAMETER_PREFIX']}/{region}"


def current() -> ChaosState:
    """This region's state, cached for at most MAX_AGE_SECONDS."""
    return ChaosState.from_json(parameters.get(parameter_name(aws.region()), max_age=MAX_AGE_SECONDS))


class ParameterNotFound(LookupError):
    """The region has no chaos state parameter (named as SSM's own error)."""


def read(region: str, along: Mapping[str, float] | None = None) -> ChaosState:
    """Any region's state, uncached (operators must see the truth). ``along``: other parameters of
    that region (name: max age) read in the same GetParameters call and kept in the parameter
    cache (``shared.parameters``), so that reading them next costs no call; a region's state and
    its drill templates, say, for ``/chaos status``, which across Regions is one round trip less.
    GetParameters answers a missing name in ``InvalidParameters``, not with an error:
    https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameters.html
    """
    name, others = parameter_name(region), dict(along or {})
    response = aws.client("ssm", region).get_parameters(Names=[name, *others])
    values = {parameter["Name"]: parameter["Value"] for parameter in response.get("Parameters", [])}
    for other, max_age in others.items():
        if other in values:
            parameters.remember(other, values[other], max_age=max_age, region=region)
    if name not in values:
        raise ParameterNotFound(f"{name} does not exist in {region}")
    return ChaosState.from_json(values[name])


def write(region: str, state: ChaosState) -> None:
    aws.client("ssm", region).put_parameter(
        Name=parameter_name(region), Value=state.to_json(), Type="String", Overwrite=True
    )
