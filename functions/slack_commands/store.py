"""The ChaosStore over SSM: deployed regions from the registry, each region's chaos parameter.

Regions are read and written in parallel threads with a deadline, so one slow or unreachable
region neither delays the answer past Slack's 3 s nor hides the others' state.

Environment: REGISTRY_PATH and PRIMARY_REGION (``shared.registry``), CHAOS_PARAMETER_PREFIX
(``shared.chaos``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

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
        self._ahead: Future[list[str]] | None = None

    def read_regions_ahead(self) -> None:
        """Start reading the region registry on a thread of its own, for the next ``regions()``
        to wait for: a request's signature check reads the signing secret meanwhile, so the two
        reads (in AWS, the registry's in the primary region) cost one wait, not two."""
        if registry.cached():
            self._ahead = None  # what an earlier request's read left behind is in the cache
            return
        for region in {registry.home(), aws.region()}:
            aws.client("ssm", region)  # on this thread: botocore sessions are not thread-safe
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry")
        self._ahead = pool.submit(self._regions)
        pool.shutdown(wait=False)

    def regions(self) -> list[str]:
        ahead, self._ahead = self._ahead, None
        return ahead.result() if ahead is not None else self._regions()

    def _regions(self) -> list[str]:
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
    return Parallel(regions, call, timeout_seconds, service=service).outcomes()


class Parallel(Generic[T]):
    """``call(region)`` for every region, each on a thread of its own, started at once: the
    caller goes on meanwhile, and ``outcomes()`` waits for them until ``timeout_seconds`` after
    the start (each failure or timeout becomes a StoreError)."""

    def __init__(
        self,
        regions: Sequence[str],
        call: Callable[[str], T],
        timeout_seconds: float,
        *,
        service: str = "ssm",
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.futures: dict[str, Future[T]] = {}
        if not regions:
            return
        for region in regions:
            # Create clients on this thread: botocore sessions are not thread-safe; clients are.
            aws.client("ssm", region)
            aws.client(service, region)
        self.deadline = time.monotonic() + timeout_seconds
        pool = ThreadPoolExecutor(max_workers=len(regions), thread_name_prefix="chaos")
        self.futures = {region: pool.submit(call, region) for region in regions}
        # Every call has its thread; none is waited for past the deadline: Lambda freezes
        # stragglers with the container after the answer.
        pool.shutdown(wait=False)

    def outcomes(self) -> dict[str, T | StoreError]:
        if not self.futures:
            return {}
        done, _ = wait(self.futures.values(), timeout=max(0.0, self.deadline - time.monotonic()))
        outcomes = {}
        for region, future in self.futures.items():
            # A plain call: in a comprehension mypy solves T from the return type, as T | StoreError.
            outcome = _outcome(future, done, self.timeout_seconds)
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
