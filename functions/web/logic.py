"""Serving the web app from the static bucket: which paths are safe, what each file is, which
headers protect the page, and which answer a browser or an API client wants for a 404.

A path is checked against a strict allow-list before any key is built from it: ASCII letters,
digits, ``.``, ``-`` and ``_`` in segments separated by single ``/``, no segment starting with a
dot (so no ``..`` and no hidden files). Anything else (``%``, ``\\``, NUL, ``//``, spaces) is
refused, whether or not the gateway decoded the path first. Only the file types below are
served; any other key is not found without asking S3.

Environment:
- STATIC_BUCKET: the static content bucket.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger
from shared import aws

logger = Logger(child=True)

INDEX_KEY = "index.html"
NOT_FOUND_KEY = "404.html"
MAX_PATH_LENGTH = 512

_SAFE_PATH = re.compile(r"/|(?:/[A-Za-z0-9_-][A-Za-z0-9._-]*)+/?")
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d{1,5})?")
_STYLE_BLOCK = re.compile(r"<style(?:\s[^>]*)?>(.*?)</style\s*>", re.DOTALL | re.IGNORECASE)

# The web app has no build step, so file names carry no content hash: assets may be cached only
# briefly, and pages are revalidated on every visit so a deploy shows at once.
PAGE_CACHE_CONTROL = "no-cache"
ASSET_CACHE_CONTROL = "public, max-age=300"


@dataclass(frozen=True)
class ContentType:
    mime: str
    binary: bool  # sent base64-encoded; text is sent as UTF-8


CONTENT_TYPES = {
    ".html": ContentType("text/html; charset=utf-8", binary=False),
    ".js": ContentType("text/javascript; charset=utf-8", binary=False),
    ".css": ContentType("text/css; charset=utf-8", binary=False),
    ".svg": ContentType("image/svg+xml", binary=False),
    ".json": ContentType("application/json", binary=False),
    ".txt": ContentType("text/plain; charset=utf-8", binary=False),
    ".png": ContentType("image/png", binary=True),
    ".ico": ContentType("image/x-icon", binary=True),
}


def is_safe_path(path: str) -> bool:
    return len(path) <= MAX_PATH_LENGTH and _SAFE_PATH.fullmatch(path) is not None


def content_type_for(key: str) -> ContentType | None:
    """The type of a key the site serves, or None for any other kind of file."""
    return CONTENT_TYPES.get(PurePosixPath(key).suffix.lower())


def cache_control_for(key: str) -> str:
    return PAGE_CACHE_CONTROL if key.endswith(".html") else ASSET_CACHE_CONTROL


def prefers_html(accept: str) -> bool:
    """True when the Accept header ranks HTML at least as high as JSON (browsers do; fetch and
    curl send ``*/*``, which gets JSON)."""
    html = json = 0.0
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = _quality(params)
        media = media.lower()
        if media in ("text/html", "text/*"):
            html = max(html, quality)
        elif media in ("application/json", "application/*", "*/*"):
            json = max(json, quality)
    return html > 0 and html >= json


def _quality(params: Iterable[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def api_origins(urls: Iterable[str]) -> list[str]:
    """The origins of the regions' API URLs; anything that is not a plain http(s) origin is left
    out, so a bad registry entry cannot add directives to the policy."""
    origins = set()
    for url in urls:
        try:
            parts = urlsplit(url)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            parts = urlsplit("")
        origin = f"{parts.scheme}://{parts.netloc}"
        if _ORIGIN.fullmatch(origin):
            origins.add(origin)
        else:
            logger.warning("registry API URL is not an http(s) origin; left out of connect-src")
    return sorted(origins)


def inline_style_hashes(html: str) -> list[str]:
    """CSP hash sources for the page's own ``<style>`` blocks (the 404 page is self-contained), so
    the policy needs no ``'unsafe-inline'``."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(block.encode('utf-8')).digest()).decode('ascii')}'"
        for block in _STYLE_BLOCK.findall(html)
    ]


def content_security_policy(origins: Iterable[str], style_hashes: Iterable[str] = ()) -> str:
    directives = [
        "default-src 'self'",
        "img-src 'self' data:",
        " ".join(["connect-src", "'self'", *origins]),
        " ".join(["style-src", "'self'", *style_hashes]),
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


def security_headers(policy: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Strict-Transport-Security": "max-age=31536000",
    }


@dataclass
class StaticSite:
    s3: Any
    bucket: str

    @classmethod
    def from_environment(cls) -> StaticSite:
        return cls(s3=aws.client("s3"), bucket=os.environ["STATIC_BUCKET"])

    def read(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except self.s3.exceptions.NoSuchKey:
            return None
        except self.s3.exceptions.ClientError as error:
            # Without s3:ListBucket, S3 answers a missing key with 403 instead of 404.
            if error.response.get("Error", {}).get("Code") != "AccessDenied":
                raise
            logger.warning(
                "S3 denied the read: the object is missing, or not readable by this function",
                extra={"key": key, "error": "AccessDenied"},
            )
            return None
        return response["Body"].read()
