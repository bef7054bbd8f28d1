"""Reproducible deployment packages: function zips and the third-party dependency layer.

Both are built into ``.build/`` from files in the repository and named by the hash of their
content, so an unchanged function produces the same zip (and no Lambda update), and the layer
is only rebuilt when ``functions/requirements.txt`` changes. Nothing built here is committed.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pulumi

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
BUILD = ROOT / ".build"
SHARED_PACKAGE = "shared"
# A fixed timestamp keeps zips byte-identical across builds (zip's epoch starts in 1980).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _files(folder: Path, prefix: str) -> list[tuple[str, Path]]:
    return sorted(
        (f"{prefix}/{path.relative_to(folder).as_posix()}", path)
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def _digest(entries: Iterable[tuple[str, Path]], *salt: str) -> str:
    sha = hashlib.sha256("\0".join(salt).encode())
    for name, path in entries:
        sha.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()[:16]


def _write_zip(target: Path, entries: Iterable[tuple[str, Path]]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    partial.replace(target)


def function_archive(source: str) -> pulumi.FileArchive:
    """``functions/<source>`` plus the shared package, as a zip whose root is ``functions/``."""
    folder = FUNCTIONS / source
    if not (folder / "app.py").is_file():
        raise ValueError(f"functions/{source}/app.py does not exist")
    entries = _files(folder, source) + _files(FUNCTIONS / SHARED_PACKAGE, SHARED_PACKAGE)
    target = BUILD / "functions" / f"{source}-{_digest(entries)}.zip"
    if not target.exists():
        _write_zip(target, entries)
    return pulumi.FileArchive(str(target))


def dependencies_archive(architecture: str, runtime: str) -> pulumi.FileArchive:
    """``functions/requirements.txt`` installed for the Lambda platform, as a layer zip."""
    requirements = FUNCTIONS / "requirements.txt"
    platform = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}[architecture]
    python_version = runtime.removeprefix("python")
    key = _digest([("requirements.txt", requirements)], platform, python_version)
    target = BUILD / "layers" / f"dependencies-{key}.zip"
    if target.exists():
        return pulumi.FileArchive(str(target))
    staging = BUILD / "layers" / f"dependencies-{key}"
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
            f"--target={staging / 'python'}",
            "--requirement",
            str(requirements),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"installing functions/requirements.txt for the layer failed:\n{result.stderr}")
    _write_zip(target, _files(staging / "python", "python"))
    return pulumi.FileArchive(str(target))
