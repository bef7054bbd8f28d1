"""Bytecode for the runtime's Python, compiled at build time into the packages we build.

Lambda mounts a function's code and layers read-only, so an interpreter cannot cache the
bytecode it compiles: without ``__pycache__`` in the package, every cold start compiles every
imported module from source again. A ``.pyc`` is tied to a Python version (its magic number),
not to the machine (https://docs.python.org/3/library/py_compile.html: "byte-code ... is
cross-platform"), so it is compiled here by the runtime's own interpreter when this machine has
one, found as the local cloud finds it (``interpreter``). AWS advises against shipping
``__pycache__`` compiled elsewhere ("bytecode that's compiled on a build machine with a different
architecture or operating system might not be compatible",
https://docs.aws.amazon.com/lambda/latest/dg/python-package.html#python-package-pycache): the
risk it names is a different Python, which the version check below rules out.

The files are hash-based (PEP 552, ``UNCHECKED_HASH``): they carry the hash of their source
instead of its modification time, so the same sources compile to the same bytes on every
machine (the zips stay reproducible), and the interpreter uses them without reading the source
again. Bytecode for sources another layer ships (Powertools') is ``CHECKED_HASH``: used only
while that source is the one it was compiled from. Without the runtime's interpreter the
package carries no bytecode, as before, and the build says so once.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

# Where version managers put their interpreters, newest release first within each.
_MANAGED = (
    "~/.pyenv/versions/{version}*/bin/python{version}",
    "~/.asdf/installs/python/{version}*/bin/python{version}",
    "~/.local/share/uv/python/cpython-{version}*/bin/python{version}",
    "~/.local/share/mise/installs/python/{version}*/bin/python{version}",
)
_SYSTEM = ("/usr/local/bin/python{version}", "/usr/bin/python{version}", "/opt/homebrew/bin/python{version}")


def version_of(runtime: str) -> str:
    """``python3.13`` -> ``3.13``; a runtime that is not Python is refused."""
    if not runtime.startswith("python"):
        raise ValueError(f"{runtime} is not a Python runtime")
    return runtime.removeprefix("python")


def reports(candidate: str, version: str) -> bool:
    """Whether the file runs and is the version asked for (a pyenv shim of a version that is not
    selected exists on PATH but fails)."""
    try:
        result = subprocess.run(  # noqa: S603 - a path we found, no shell
            [candidate, "-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and result.stdout.strip() == version


@functools.cache
def interpreter(runtime: str, override: str | None = None) -> str | None:
    """The path of this machine's interpreter for a Lambda runtime (``python3.13``), or None.

    ``override`` (the local cloud's ``LOCALCLOUD_PYTHON_3_13``-style setting) is taken as it is
    when it reports the right version; else PATH, then the usual version managers, then the
    system's folders."""
    version = version_of(runtime)
    if override:
        if reports(override, version):
            return override
        raise ValueError(f"{override} is not a Python {version} interpreter")
    found = shutil.which(f"python{version}")
    candidates = [found] if found else []
    for pattern in _MANAGED:
        candidates += sorted(glob.glob(os.path.expanduser(pattern.format(version=version))), reverse=True)
    candidates += [pattern.format(version=version) for pattern in _SYSTEM]
    return next((path for path in candidates if os.path.exists(path) and reports(path, version)), None)


def cache_tag(runtime: str) -> str:
    """The ``__pycache__`` tag of a CPython version: ``cpython-313``."""
    return "cpython-" + version_of(runtime).replace(".", "")


def compiled(
    entries: Iterable[tuple[str, bytes]], python: str, runtime: str, *, checked: bool = False
) -> list[tuple[str, bytes]]:
    """The ``__pycache__/<module>.<tag>.pyc`` entries for the ``.py`` files among ``entries``,
    compiled by ``python`` (the runtime's interpreter) with the standard library's compileall.

    ``checked``: ``CHECKED_HASH`` files, which the interpreter uses only while the source beside
    them still has the hash they carry, and otherwise compiles the source as if they were not
    there: for bytecode of sources we do not ship (another layer's)."""
    sources = [(name, content) for name, content in entries if name.endswith(".py")]
    with tempfile.TemporaryDirectory(prefix="bytecode-") as staging:
        root = Path(staging)
        for name, content in sources:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(content)
        result = subprocess.run(  # noqa: S603 - the runtime's interpreter, fixed arguments
            # -s: file names inside the bytecode are relative (no temporary folder in them).
            [
                python,
                "-I",
                "-S",
                "-m",
                "compileall",
                "-q",
                "-s",
                staging,
                "--invalidation-mode",
                "checked-hash" if checked else "unchecked-hash",
                staging,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"compiling bytecode with {python} failed:\n{result.stdout}{result.stderr}")
        tag = cache_tag(runtime)
        out = []
        for name, _ in sources:
            path = Path(name)
            cached = (path.parent / "__pycache__" / f"{path.stem}.{tag}.pyc").as_posix()
            out.append((cached, (root / cached).read_bytes()))
    return sorted(out)
