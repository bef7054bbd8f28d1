"""Lambda's Python runtimes, locally: the interpreter and the packages a deployed function finds.

A function deployed on ``python3.13`` imports from, in this order
(https://docs.aws.amazon.com/lambda/latest/dg/python-package.html#python-package-searchpath):

1. its zip (``/var/task``), which we build, with its bytecode (``components/packaging.py``);
2. its layers (``/opt/python``): ours, from the graph, and AWS's public Powertools layer, whose
   release is pinned in ``components/powertools.py``;
3. the runtime's own libraries (``/var/lang/lib/python3.13/site-packages``): boto3 and its
   dependencies, and AWS's Snapshot Restore for Python (``snapshot_restore_py``, SnapStart's
   runtime hooks, "included in Python managed runtimes":
   https://docs.aws.amazon.com/lambda/latest/dg/snapstart-runtime-hooks-python.html).

A worker gets the same, nothing from the tools' virtualenv: each runtime's packages are
installed once per machine under ``.build/runtimes/`` (``make venv`` does it; the local cloud
does it on first start if missing), from PyPI wheels for the runtime's Python and this
machine's architecture:

- **The runtime's boto3:** AWS documents no fixed version ("The version of the AWS SDK
  included in the Python runtime depends on the runtime version and your AWS Region",
  https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html#python-sdk-included), so
  the local runtime carries the boto3 the program pins (the botocore whose data the packages
  carry), compiled to bytecode as an installed Python's site-packages is.
- **The Powertools layer:** built as AWS builds it (``layer_v3/docker/Dockerfile`` in
  aws-powertools/powertools-lambda-python): ``aws-lambda-powertools[all]`` at the release,
  without boto3 and the packages the runtime brings, without tests and without bytecode. Its
  modules compile at each cold start unless another layer brings their bytecode, as ours does
  (``components/packaging.py``; layers merge into one ``/opt``, ``runner.merge_layers``).

The interpreter is the runtime's version found on this machine (``components.bytecode``), or
``LOCALCLOUD_PYTHON_3_13`` for ``python3.13``. Without one, workers fall back to the local
cloud's own Python with the same packages, and the banner says so.
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from components import bytecode, packaging, powertools
from localcloud import settings

ROOT = Path(__file__).resolve().parent.parent
RUNTIMES = ROOT / ".build" / "runtimes"
CONSTRAINTS = ROOT / "constraints.txt"
SDK = "boto3==1.44.8"
SNAPSHOT_RESTORE = "snapshot-restore-py==1.0.0"
POWERTOOLS = f"aws-lambda-powertools[all]=={powertools.RELEASE}"
# Packages of [all] that constraints.txt (the tools' virtualenv) does not pin.
POWERTOOLS_PINS = ("aws-encryption-sdk==4.0.7", "fastjsonschema==2.22.3")
# What AWS's layer build removes: the SDK and its dependencies (the runtime has them).
LAYER_EXCLUDES = ("boto*", "s3transfer*", "*dateutil*", "urllib3*", "six*", "jmespath*")


@dataclass(frozen=True)
class Runtime:
    name: str  # the Lambda runtime: python3.13
    python: str  # the interpreter workers run on
    version: str  # what it reports: 3.13.0
    sdk: Path  # the runtime-included libraries (boto3)
    powertools: Path  # the Powertools layer, as extracted into /opt

    @property
    def fallback(self) -> bool:
        """Whether the interpreter is not the runtime's Python version."""
        return not self.version.startswith(bytecode.version_of(self.name) + ".")

    def describe(self) -> str:
        """One line for the banner."""
        if self.fallback:
            return (
                f"{self.name}: no Python {bytecode.version_of(self.name)} found, running on "
                f"Python {self.version} ({self.python}); set {settings.python_variable(self.name)}"
            )
        return f"{self.name}: Python {self.version} ({self.python})"


def interpreter(name: str) -> tuple[str, str]:
    """The interpreter for a runtime and the version it reports; the local cloud's own Python
    when the machine has none of the runtime's version."""
    python = bytecode.interpreter(name, settings.runtime_python(name)) or sys.executable
    version = subprocess.run(  # noqa: S603 - an interpreter we found
        [python, "-I", "-S", "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()
    return python, version


def prepare(name: str) -> Runtime:
    """The runtime, its packages installed if they are not yet."""
    python, version = interpreter(name)
    minor = ".".join(version.split(".")[:2])
    pins = "\0".join(
        (
            SDK,
            SNAPSHOT_RESTORE,
            POWERTOOLS,
            *POWERTOOLS_PINS,
            CONSTRAINTS.read_text(),
            minor,
            platform.machine(),
        )
    )
    key = hashlib.sha256(pins.encode()).hexdigest()[:12]
    home = RUNTIMES / f"{name}-{key}"
    if not home.exists():
        print(f"Installing the {name} runtime's packages for Python {minor} (once) into {home}", flush=True)
        _install(home, python, minor)
        # Installs for earlier pins of this runtime are not used again.
        for stale in RUNTIMES.glob(f"{name}-*"):
            if stale != home:
                shutil.rmtree(stale, ignore_errors=True)
    return Runtime(name, python, version, home / "sdk", home / "powertools")


def _install(home: Path, python: str, minor: str) -> None:
    """Both package sets into a staging folder, then renamed into place in one step, so a
    failed or concurrent install never leaves half a runtime."""
    home.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=home.parent, prefix=f".{home.name}.") as staging_dir:
        staging = Path(staging_dir)
        _pip(staging / "sdk", minor, SDK, SNAPSHOT_RESTORE)
        _compile(python, staging / "sdk")
        layer = staging / "powertools" / "python"
        _pip(layer, minor, POWERTOOLS, *POWERTOOLS_PINS)
        for pattern in LAYER_EXCLUDES:
            for path in layer.glob(pattern):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        for tests in [path for path in layer.rglob("tests") if path.is_dir()]:
            shutil.rmtree(tests)
        try:
            staging.rename(home)
        except OSError:
            if not home.exists():  # another start installed it meanwhile: theirs is the same
                raise


def _pip(target: Path, minor: str, *requirements: str) -> None:
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
    platform_tag = f"manylinux2014_{arch[platform.machine().lower()]}"
    packaging.install_for_lambda(target, platform_tag, minor, "--constraint", str(CONSTRAINTS), *requirements)


def _compile(python: str, folder: Path) -> None:
    result = subprocess.run(  # noqa: S603 - the runtime's interpreter, fixed arguments
        [python, "-I", "-S", "-m", "compileall", "-q", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"compiling {folder} with {python} failed:\n{result.stdout}{result.stderr}")


def main() -> None:
    """``python -m localcloud.runtimes [python3.13 ...]``: install the runtimes' packages now;
    ``--interpreter python3.13`` prints the runtime's interpreter, or nothing without one."""
    names = sys.argv[1:] or ["python3.13"]
    if names[0] == "--interpreter":
        found = bytecode.interpreter(names[1], settings.runtime_python(names[1]))
        print(found or "")
        return
    for name in names:
        print(prepare(name).describe())


if __name__ == "__main__":
    main()
