"""Every ``LOCALCLOUD_*`` setting, read and checked here and nowhere else.

``load()`` checks them all; ``localcloud.main`` calls it before it starts anything, so a bad value
stops ``make demo`` with one line naming the variable, the value and what is allowed
(``LOCALCLOUD_TIME_SCALE must be a number from 1 to 3600, got '0'``). The services read each
value through its function here, which applies the same check.

- ``LOCALCLOUD_PORT`` (default 4700): the first port; the local cloud uses the ports up to
  ``PORT_SPAN`` above it (see ``localcloud.main``).
- ``LOCALCLOUD_STATE_DIR`` (default ``.localcloud`` in the repository): where ``state.json``,
  the stacks' graphs and the logs go.
- ``LOCALCLOUD_TIME_SCALE`` (default 60): seconds of AWS time per real second, so a 5-minute
  alarm period lasts 5 s; 1 keeps AWS's own periods.
- ``LOCALCLOUD_WORKER_IDLE_SECONDS`` (default: 10 minutes of Lambda's time, so 10 s at the
  default time scale): how long an idle Lambda worker is kept warm before it is stopped, as
  Lambda keeps an idle execution environment for some minutes.
- ``LOCALCLOUD_STACKS`` (default: every region with a stack file): the stacks to run, comma-separated
  region names such as ``us-east-1,us-west-2,eu-west-1``, at most ``MAX_STACKS``; the primary among
  them. A listed stack without a stack file runs with ``aws:region`` alone, what
  ``Pulumi.<region>.yaml`` would hold (``localcloud.main``).
- ``LOCALCLOUD_PYTHON_3_13`` (and so on for each runtime; default: found on PATH, in pyenv,
  asdf, uv or mise, or the system's folders): the interpreter workers of ``python3.13``
  functions run on (``localcloud.runtimes``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from components import bytecode
from components.settings import REGION_PATTERN

# moto's default account: every ARN the local cloud makes is in it.
ACCOUNT = "123456789012"

ROOT = Path(__file__).resolve().parent.parent

PORT = "LOCALCLOUD_PORT"
STATE_DIR = "LOCALCLOUD_STATE_DIR"
TIME_SCALE = "LOCALCLOUD_TIME_SCALE"
WORKER_IDLE = "LOCALCLOUD_WORKER_IDLE_SECONDS"
STACKS = "LOCALCLOUD_STACKS"
PYTHON_PREFIX = "LOCALCLOUD_PYTHON_"  # LOCALCLOUD_PYTHON_3_13 and so on, one per runtime

DEFAULT_PORT = 4700
PORT_MIN, PORT_SPAN = 1024, 100
PORT_MAX = 65535 - PORT_SPAN
DEFAULT_TIME_SCALE = 60.0
TIME_SCALE_MIN, TIME_SCALE_MAX = 1.0, 3600.0
# Lambda does not say how long it keeps an idle environment; minutes is what users observe.
WORKER_IDLE_AWS_SECONDS = 600.0
WORKER_IDLE_MIN, WORKER_IDLE_MAX = 1.0, 86_400.0
# Each stack's ports (localcloud.main.Ports): its endpoint into moto at +11+i, below the first
# region's APIs at +21, and its APIs at +21+10i and +22+10i, inside PORT_SPAN.
MAX_STACKS = 8


class SettingError(ValueError):
    """A ``LOCALCLOUD_*`` variable holds a value the local cloud cannot run with."""

    def __init__(self, name: str, allowed: str, raw: str) -> None:
        super().__init__(f"{name} must be {allowed}, got {raw!r}")
        self.name = name


@dataclass(frozen=True)
class Settings:
    port: int
    state_dir: Path
    time_scale: float
    worker_idle_seconds: float
    stacks: tuple[str, ...] | None = None


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Every setting, checked; raises SettingError for the first bad one."""
    env = os.environ if environ is None else environ
    for name in sorted(env):
        if name.startswith(PYTHON_PREFIX):
            runtime_python(_runtime_of(name), env)
    return Settings(
        port=port(env),
        state_dir=state_dir(env),
        time_scale=time_scale(env),
        worker_idle_seconds=worker_idle_seconds(env),
        stacks=stacks(env),
    )


def stacks(environ: Mapping[str, str] | None = None) -> tuple[str, ...] | None:
    """The stacks to run as listed (None: unset, every stack file's)."""
    raw = _raw(environ, STACKS)
    return None if raw is None else parse_stacks(raw, STACKS)


def parse_stacks(raw: str, name: str) -> tuple[str, ...]:
    """Distinct region names, comma-separated, one to MAX_STACKS of them."""
    allowed = f"1 to {MAX_STACKS} distinct region names, comma-separated (e.g. us-east-1,us-west-2,eu-west-1)"
    listed = tuple(part.strip() for part in raw.split(","))
    if (
        not 1 <= len(listed) <= MAX_STACKS
        or len(set(listed)) != len(listed)
        or not all(REGION_PATTERN.match(region) for region in listed)
    ):
        raise SettingError(name, allowed, raw)
    return listed


def port(environ: Mapping[str, str] | None = None) -> int:
    raw = _raw(environ, PORT)
    if raw is None:
        return DEFAULT_PORT
    allowed = f"a whole number from {PORT_MIN} to {PORT_MAX}"
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingError(PORT, allowed, raw) from None
    if not PORT_MIN <= value <= PORT_MAX:
        raise SettingError(PORT, allowed, raw)
    return value


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    raw = _raw(environ, STATE_DIR)
    if raw is None:
        return ROOT / ".localcloud"
    if not raw.strip():
        raise SettingError(STATE_DIR, "a directory path (unset means .localcloud)", raw)
    return Path(raw)


def time_scale(environ: Mapping[str, str] | None = None) -> float:
    """Seconds of AWS time per real second."""
    return _number(
        environ,
        TIME_SCALE,
        DEFAULT_TIME_SCALE,
        (TIME_SCALE_MIN, TIME_SCALE_MAX),
        f"a number from {TIME_SCALE_MIN:g} to {TIME_SCALE_MAX:g}",
    )


def worker_idle_seconds(environ: Mapping[str, str] | None = None) -> float:
    """Real seconds an idle Lambda worker is kept before it is stopped."""
    if _raw(environ, WORKER_IDLE) is None:
        return WORKER_IDLE_AWS_SECONDS / time_scale(environ)
    return _number(
        environ,
        WORKER_IDLE,
        WORKER_IDLE_AWS_SECONDS,
        (WORKER_IDLE_MIN, WORKER_IDLE_MAX),
        f"a number of seconds from {WORKER_IDLE_MIN:g} to {WORKER_IDLE_MAX:g}",
    )


def python_variable(runtime: str) -> str:
    """The variable naming the interpreter of a runtime: ``python3.13`` -> ``LOCALCLOUD_PYTHON_3_13``."""
    return PYTHON_PREFIX + runtime.removeprefix("python").replace(".", "_")


def _runtime_of(name: str) -> str:
    """``LOCALCLOUD_PYTHON_3_13`` -> ``python3.13``; any other name after the prefix is refused."""
    version = name.removeprefix(PYTHON_PREFIX).split("_")
    if len(version) != 2 or not all(part.isdigit() for part in version):
        raise SettingError(name, "named LOCALCLOUD_PYTHON_<major>_<minor>, e.g. LOCALCLOUD_PYTHON_3_13", name)
    return "python" + ".".join(version)


def runtime_python(runtime: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The interpreter set for a runtime, if any: a file that runs as that Python version."""
    name = python_variable(runtime)
    raw = _raw(environ, name)
    if raw is None:
        return None
    version = runtime.removeprefix("python")
    if not (Path(raw).is_file() and bytecode.reports(raw, version)):
        raise SettingError(name, f"the path of a Python {version} interpreter", raw)
    return raw


def _number(
    environ: Mapping[str, str] | None, name: str, default: float, limits: tuple[float, float], allowed: str
) -> float:
    """A finite number within `limits` (inclusive), or `default` when the variable is unset."""
    raw = _raw(environ, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(name, allowed, raw) from None
    if not (math.isfinite(value) and limits[0] <= value <= limits[1]):
        raise SettingError(name, allowed, raw)
    return value


def _raw(environ: Mapping[str, str] | None, name: str) -> str | None:
    return (os.environ if environ is None else environ).get(name)
