"""The static content bucket: the web app, its images and the 404 page, served by the `web` function."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.secure_bucket import SecureBucket, SecureBucketArgs

STATIC = Path(__file__).resolve().parent.parent / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass
class StaticContentArgs:
    source: Path = STATIC


class StaticContent(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: StaticContentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("active-active:static:StaticContent", name, None, opts)
        # Static content is rebuilt from the repository on every deploy, so it may go with the stack.
        self.bucket = SecureBucket(
            f"{name}-bucket", SecureBucketArgs(force_destroy=True), pulumi.ResourceOptions(parent=self)
        )
        for path in sorted(p for p in args.source.rglob("*") if p.is_file()):
            key = path.relative_to(args.source).as_posix()
            aws.s3.BucketObjectv2(
                f"{name}-{key.replace('/', '-')}",
                bucket=self.bucket.name,
                key=key,
                source=pulumi.FileAsset(str(path)),
                content_type=CONTENT_TYPES.get(path.suffix)
                or mimetypes.guess_type(path.name)[0]
                or "application/octet-stream",
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.name = self.bucket.name
        self.arn = self.bucket.arn
        self.register_outputs({"name": self.name})
