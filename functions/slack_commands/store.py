"""The ChaosStore over SSM: deployed regions from the registry, each region's chaos parameter.

Regions are read and written in parallel threads with a deadline, so one slow or unreachable
region neither delays the answer past Slack's 3 s nor hides the others' state.

Environment: REGISTRY_PATH and PRIMARY_REGION (``shared.registry``), CHAOS_PARAMETER_PREFIX
(``shared.chaos``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

from shared import aws, chaos, registry
from shared.chaos import ChaosState, ChaosStateError
from shared.parameters import ParameterError
from slack_commands.commands import DrillError, StoreError

T = TypeVar("T")

# Reads then writes must both fit in Slack's 3 s with room for the rest of the request.
TIMEOUT_SECONDS = 1.2


class SsmChaosStore:
    def __init__(
        self,
        timeout_seconds: float = TIMEOUT_SECONDS,
        read_along: Callable[[str], Mapping[str, float]] = lambda region: {},
    ) -> None:
        """``read_along(region)``: the region's other parameters (name: max age) to read with its
        state in one call (``shared.chaos.read``), such as its drill templates."""
        self.timeout_seconds = timeout_seconds
        self.read_along = read_along

    def regions(self) -> list[str]:
        try:
            return list(registry.regions())
        except (ParameterError, ValueError, KeyError) as error:
            # The AWS error code behind a ParameterError (e.g. AccessDeniedException), else the type.
            reason = describe(error.__cause__) if error.__cause__ is not None else type(error).__name__
            raise StoreError(f"region registry unreadable: {reason}") from error

    def read(self, regions: Sequence[str]) -> dict[str, ChaosState | StoreError]:
        return self._each(regions, lambda region: chaos.read(region, self.read_along(region)))

    def write(self, states: Mapping[str, ChaosState]) -> dict[str, StoreError | None]:
        return self._each(list(states), lambda region: chaos.write(region, states[region]))

    def _each(self, regions: Sequence[str], call: Callable[[str], T]) -> dict[str, T | StoreError]:
        return in_parallel(regions, call, self.timeout_seconds)


def in_parallel(
    regions: Sequence[str], call: Callable[[str], T], timeout_seconds: float, *, service: str = "ssm"
) -> dict[str, T | StoreError]:
    """``call(region)`` for every region at once; each failure or timeout becomes a StoreError."""
    if not regions:
        return {}
    for region in regions:
        # Create clients on this thread: botocore sessions are not thread-safe; clients are.
        aws.client("ssm", region)
        aws.client(service, region)
    pool = ThreadPoolExecutor(max_workers=len(regions), thread_name_prefix="chaos")
    futures = {region: pool.submit(call, region) for region in regions}
    done, _ = wait(futures.values(), timeout=timeout_seconds)
    # Don't wait for stragglers: Lambda freezes them with the container after the answer.
    pool.shutdown(wait=False, cancel_futures=True)
    outcomes = {}
    for region, future in futures.items():
        # A plain call: in a comprehension mypy solves T from the return type, as T | StoreError.
        outcome = _outcome(future, done, timeout_seconds)
        outcomes[region] = outcome
    return outcomes


def _outcome(future: Future[T], done: set[Future[T]], timeout_seconds: float) -> T | StoreError:
    if future not in done:
        return StoreError(f"no answer within {timeout_seconds:g} s; check again with status")
    error = future.exception()
    if error is None:
        return future.result()
    if isinstance(error, ChaosStateError):
        return StoreError(str(error), corrupt=True)
    if isinstance(error, DrillError):
        return StoreError(str(error))
    return StoreError(describe(error))


def describe(error: BaseException) -> str:
    """The AWS error code (e.g. ``AccessDeniedException``), not the message with its ARNs."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or type(error).__name__)
    return type(error).__name__
