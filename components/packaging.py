"""Reproducible deployment packages: function zips and the third-party dependency layer.

Both are built into ``.build/`` from files in the repository and named by the hash of their
content, so an unchanged function produces the same zip (and no Lambda update), and the layer
is only rebuilt when ``functions/requirements.txt`` changes. Nothing built here is committed.

A function's zip also carries ``botocore-data/``: botocore's data trimmed to the operations the
function calls (``components/botocore_data.py``), generated from the pinned botocore; the static
bucket's files it serves itself (``components/packaged_files.py``), at their keys in the bucket, from the same
files in ``static/``; and both carry bytecode for the runtime's Python when this machine has that
interpreter (``components/bytecode.py``).

The layer also carries bytecode, and only bytecode, for AWS's public Powertools layer at the
pinned release (``components/powertools.py``): AWS builds that layer without ``__pycache__``,
so each cold start compiled every Powertools module it imported (Logger alone: about a third of
``import boto3``). Lambda merges a function's layers into one ``/opt``, in the order the
function lists them (https://docs.aws.amazon.com/lambda/latest/dg/adding-layers.html), so
``python/aws_lambda_powertools/**/__pycache__/*.pyc`` from this layer lands beside the public
layer's sources. The files are ``CHECKED_HASH``: a Powertools layer whose sources differ from
the release compiled here (another layer version) compiles them as before, never runs ours.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

import botocore
import pulumi

from components import botocore_data, bytecode, powertools
from components.packaged_files import packaged_files

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
BUILD = ROOT / ".build"
SHARED_PACKAGE = "shared"
# A fixed timestamp keeps zips byte-identical across builds (zip's epoch starts in 1980).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _files(folder: Path, prefix: str) -> list[tuple[str, bytes]]:
    return sorted(
        (f"{prefix}/{path.relative_to(folder).as_posix()}", path.read_bytes())
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def _digest(entries: Iterable[tuple[str, bytes]], *salt: str) -> str:
    sha = hashlib.sha256("\0".join(salt).encode())
    for name, content in entries:
        sha.update(name.encode() + b"\0" + content + b"\0")
    return sha.hexdigest()[:16]


def _write_zip(target: Path, entries: Iterable[tuple[str, bytes]]) -> None:
    """Written beside the target under a name of its own, then renamed over it in one step:
    concurrent builds of the same zip (parallel test runs) never see or clobber a half-written
    file, and the last rename leaves identical bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as file, zipfile.ZipFile(file, "w") as archive:
            for name, content in entries:
                info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, content)
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def _declared(source: str) -> tuple[Path, dict[str, list[str]]]:
    """``functions/<source>`` and the AWS operations it declares; ValueError if either is missing."""
    folder = FUNCTIONS / source
    if not (folder / "app.py").is_file():
        raise ValueError(f"functions/{source}/app.py does not exist")
    operations = botocore_data.declared_operations().get(source)
    if operations is None:
        raise ValueError(f"functions/aws-operations.toml has no [{source}] table")
    return folder, operations


def _sources(folder: Path, source: str) -> list[tuple[str, bytes]]:
    """The function's folder, the shared package and its packaged static content."""
    return (
        _files(folder, source) + _files(FUNCTIONS / SHARED_PACKAGE, SHARED_PACKAGE) + packaged_files(source)
    )


def function_entries(source: str) -> list[tuple[str, bytes]]:
    """What ``functions/<source>``'s zip holds, by name: its folder, the shared package, its
    packaged static content and ``botocore-data/`` for the operations
    ``functions/aws-operations.toml`` declares for it."""
    folder, operations = _declared(source)
    data = botocore_data.botocore_data(operations)
    return _sources(folder, source) + [
        (f"{botocore_data.FOLDER}/{name}", content) for name, content in data.items()
    ]


def with_bytecode(entries: list[tuple[str, bytes]], runtime: str) -> list[tuple[str, bytes]]:
    """``entries`` plus their bytecode for ``runtime``, or unchanged when this machine has no
    interpreter for it (said once per runtime)."""
    python = bytecode.interpreter(runtime)
    if python is None:
        _warn_once(runtime)
        return entries
    return sorted(entries + bytecode.compiled(entries, python, runtime))


@functools.cache
def _warn_once(runtime: str) -> None:
    pulumi.log.warn(
        f"no {runtime} interpreter on this machine: packages carry no bytecode, so each cold "
        "start compiles the function's modules (install Python "
        f"{bytecode.version_of(runtime)} to build them with bytecode)"
    )


def _bytecode_salt(runtime: str) -> str:
    """What the digest of a package knows of its bytecode: the cache tag, or none."""
    return bytecode.cache_tag(runtime) if bytecode.interpreter(runtime) else "no-bytecode"


def function_archive(source: str, runtime: str) -> pulumi.FileArchive:
    """``functions/<source>`` plus the shared package, its packaged static content and its
    botocore data, with bytecode for ``runtime``, as a zip whose root is ``functions/``.

    The zip is named by what it is made of (the sources, the declared operations, the botocore
    release and the code that trims its data, the bytecode's tag), so an existing one is found
    without building its content: trimming botocore's data costs tens of milliseconds a
    function, at every deploy and every start of the local cloud."""
    folder, operations = _declared(source)
    made_of = _sources(folder, source)
    made_of.append(("botocore-data", json.dumps(operations, sort_keys=True).encode()))
    made_of.append(("botocore_data.py", Path(botocore_data.__file__).read_bytes()))
    key = _digest(made_of, botocore.__version__, _bytecode_salt(runtime))
    target = BUILD / "functions" / f"{source}-{key}.zip"
    if not target.exists():
        _write_zip(target, with_bytecode(function_entries(source), runtime))
    return pulumi.FileArchive(str(target))


def dependencies_archive(architecture: str, runtime: str) -> pulumi.FileArchive:
    """``functions/requirements.txt`` installed for the Lambda platform, as a layer zip."""
    requirements = FUNCTIONS / "requirements.txt"
    platform = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}[architecture]
    python_version = runtime.removeprefix("python")
    key = _digest(
        [("requirements.txt", requirements.read_bytes()), ("powertools", _powertools_sources().encode())],
        platform,
        python_version,
        _bytecode_salt(runtime),
    )
    target = BUILD / "layers" / f"dependencies-{key}.zip"
    if target.exists():
        return pulumi.FileArchive(str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    # A staging folder per build, like the zip's temporary file: concurrent builds don't mix.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".dependencies-{key}.") as staging_dir:
        staging = Path(staging_dir)
        install_for_lambda(staging / "python", platform, python_version, "--requirement", str(requirements))
        entries = with_bytecode(_files(staging / "python", "python"), runtime)
        _write_zip(target, sorted(entries + _powertools_bytecode(staging / "powertools", platform, runtime)))
    return pulumi.FileArchive(str(target))


def _powertools_sources() -> str:
    """The pure-Python packages of the Powertools layer this layer carries bytecode for, pinned:
    Powertools at the release, and typing_extensions, which its Logger imports (the layer has it
    too; constraints.txt's pin is the one the local cloud's copy of the layer installs)."""
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line.startswith("typing_extensions==")
    )
    return f"aws-lambda-powertools=={powertools.RELEASE} typing_extensions=={pins['typing_extensions']}"


def _powertools_bytecode(staging: Path, platform: str, runtime: str) -> list[tuple[str, bytes]]:
    """``python/.../__pycache__/*.pyc`` (CHECKED_HASH) for the Powertools layer's sources, or
    nothing without the runtime's interpreter; the sources themselves are not shipped."""
    python = bytecode.interpreter(runtime)
    if python is None:
        return []
    pins = _powertools_sources().split()
    install_for_lambda(staging, platform, runtime.removeprefix("python"), "--no-deps", *pins)
    sources = [entry for entry in _files(staging, "python") if entry[0].endswith(".py")]
    return bytecode.compiled(sources, python, runtime, checked=True)


def install_for_lambda(target: Path, platform: str, python_version: str, *requirements: str) -> None:
    """pip-installs ``requirements`` (arguments as pip takes them) into ``target`` from wheels for
    a Lambda platform and Python version, as AWS documents
    (https://docs.aws.amazon.com/lambda/latest/dg/python-package.html#python-package-wheels);
    without bytecode, which ``bytecode`` compiles for the runtime where wanted."""
    result = subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--only-binary=:all:",
            f"--platform={platform}",
            f"--python-version={python_version}",
            "--implementation=cp",
            f"--target={target}",
            *requirements,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"installing {' '.join(requirements)} for Python {python_version} failed:\n{result.stderr}"
        )
