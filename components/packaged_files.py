"""The static content a function carries in its own package, at its keys in the static bucket,
from the same files in ``static/`` the bucket gets (``components/static_content.py``).

The function serves it from the package (``shared.images.from_package``) instead of reading
it from the bucket at its first request: for clicks, the clicked and error images, an S3 client
and a GetObject less on the first click (about 10 ms of its cold start). Without pulumi, so the
function tests can build a package's content as packaging does.
"""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "static"
PACKAGED_FILES = {"clicks": ("assets/images/clicked.svg", "assets/images/error.svg")}


def packaged_files(source: str) -> list[tuple[str, bytes]]:
    """The static content ``functions/<source>``'s zip carries, by its key in the bucket."""
    return [(key, (STATIC / key).read_bytes()) for key in PACKAGED_FILES.get(source, ())]
