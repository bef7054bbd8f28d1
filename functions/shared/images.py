"""The app's images as data URIs, so a response carries its image whole, each read once per
container: from the static bucket (``from_bucket``), or from the function's own package
(``from_package``), which carries the bucket's images it serves at the same keys, from the same
files (``components/packaged_files.py``).
"""

from __future__ import annotations

import base64
import functools
from pathlib import Path

from shared import aws

IMAGE_KEYS = {
    "normal": "assets/images/normal.svg",
    "clicked": "assets/images/clicked.svg",
    "error": "assets/images/error.svg",
}
# The deployment package's root (/var/task): the folder that holds this package.
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
# As the static bucket's objects have them (components/static_content.py).
CONTENT_TYPES = {".svg": "image/svg+xml"}


@functools.cache
def from_bucket(bucket: str, kind: str) -> str:
    """The image from the static bucket, as ``data:<type>;base64,...``."""
    response = aws.client("s3").get_object(Bucket=bucket, Key=IMAGE_KEYS[kind])
    return _data_uri(response.get("ContentType") or CONTENT_TYPES[".svg"], response["Body"].read())


@functools.cache
def from_package(kind: str) -> str:
    """The image from the deployment package, as ``data:<type>;base64,...``: no AWS call."""
    key = IMAGE_KEYS[kind]
    return _data_uri(CONTENT_TYPES[Path(key).suffix], (PACKAGE_ROOT / key).read_bytes())


def _data_uri(content_type: str, content: bytes) -> str:
    return f"data:{content_type};base64,{base64.b64encode(content).decode('ascii')}"
