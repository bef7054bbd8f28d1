"""Lambda SnapStart runtime hooks: what to do before the snapshot and after each restore.

With SnapStart, Lambda initializes a published version once, snapshots the environment and
resumes every new environment from that one snapshot
(https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html). So:

- Before the snapshot, do the work worth keeping: create a client for each service the package
  carries botocore data for (``botocore-data/manifest.json``), so the parsed service models,
  endpoint rules and partitions sit in the snapshot's loaders.
- After each restore, restore uniqueness and freshness
  (https://docs.aws.amazon.com/lambda/latest/dg/snapstart-uniqueness.html): re-seed the random
  generators (every environment of one snapshot would otherwise draw the same "random"
  injected failures), drop the sessions and clients (their credentials, and connections opened
  before the snapshot, belong to the initializing environment) and the parameter cache (its
  ages were measured on a clock the snapshot stopped).

The hooks come from the runtime's ``snapshot_restore_py`` (AWS's Snapshot Restore for Python,
included in Lambda's Python 3.12+ runtimes:
https://docs.aws.amazon.com/lambda/latest/dg/snapstart-runtime-hooks-python.html). Where it is not
installed (tests, tools) nothing is registered and the functions run as without SnapStart.
"""

from __future__ import annotations

import json
import os
import random

from shared import aws, parameters

try:
    from snapshot_restore_py import (  # type: ignore[import-not-found]
        register_after_restore,
        register_before_snapshot,
    )
except ImportError:  # not a Lambda Python runtime
    register_after_restore = register_before_snapshot = None

# The generators re-seeded after a restore: the random module's own and the ones the functions add.
_generators: list[random.Random] = []


def reseed_after_restore(generator: random.Random) -> random.Random:
    """Re-seed this generator from the operating system after every restore; returns it."""
    _generators.append(generator)
    return generator


def warm_clients() -> None:
    """A client for every service of the package's botocore data, loading their models now."""
    try:
        manifest = json.loads((aws.DATA_PATH / "manifest.json").read_text(encoding="utf-8"))
    except OSError:
        return  # no packaged data: clients come from botocore's own when first used
    for service in manifest["operations"]:
        aws.client(service)


def restore_uniqueness() -> None:
    """Fresh seeds, sessions, credentials and cached parameters for this environment."""
    random.seed(os.urandom(32))
    for generator in _generators:
        generator.seed(os.urandom(32))
    aws.forget_sessions()
    parameters.clear_caches()


if register_before_snapshot is not None and register_after_restore is not None:
    register_before_snapshot(warm_clients)
    register_after_restore(restore_uniqueness)
