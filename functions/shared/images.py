"""The app's images, read from the static bucket once per container and served as data URIs.

Environment:
- STATIC_BUCKET: the static content bucket.
"""

from __future__ import annotations

import base64
import functools
import os

from shared import aws

IMAGE_KEYS = {
    "normal": "assets/images/normal.svg",
    "clicked": "assets/images/clicked.svg",
    "error": "assets/images/error.svg",
}


@functools.cache
def data_uri(kind: str) -> str:
    """The image as ``data:<type>;base64,...`` so a response carries it whole."""
    response = aws.client("s3").get_object(Bucket=os.environ["STATIC_BUCKET"], Key=IMAGE_KEYS[kind])
    content_type = response.get("ContentType") or "image/svg+xml"
    encoded = base64.b64encode(response["Body"].read()).decode("ascii")
    return f"data:{content_type};base64,{encoded}"
