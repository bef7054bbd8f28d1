"""A local cloud of the bench's own: temporary state, started on its own ports, always shut down."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud


@contextmanager
def temporary(port: int, name: str) -> Iterator[tuple[LocalCloud, dict[str, Any]]]:
    """The running local cloud and its state, on ports from `port`, its state in a temporary
    directory named after `name`. localcloud.main reads LOCALCLOUD_STATE_DIR when first imported,
    so it is imported here, after the variable is set."""
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as state_dir:
        os.environ["LOCALCLOUD_STATE_DIR"] = state_dir
        from localcloud import main as localcloud_main

        cloud, state, extras = localcloud_main.start(port)
        try:
            yield cloud, state
        finally:
            localcloud_main.shutdown(cloud, extras)
