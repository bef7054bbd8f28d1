"""SnapStart's runtime hooks (shared.snapstart) on the click function: environments restored from
one snapshot must not share their randomness, credentials or cached chaos state.

A snapshot is emulated as Lambda takes one: the process is initialized (its modules imported,
state set), then each "restored environment" is a fork of it that runs the after-restore hooks
registered with AWS's snapshot_restore_py, in their order of registration, as the runtime does.
"""

from __future__ import annotations

import json
import os

import boto3
import pytest
from conftest import PRIMARY, set_chaos

snapshot_restore_py = pytest.importorskip("snapshot_restore_py")


def _run_after_restore() -> None:
    # As Lambda's runtime runs them: in the order of registration.
    # https://docs.aws.amazon.com/lambda/latest/dg/snapstart-runtime-hooks-python.html
    for func, args, kwargs in snapshot_restore_py.get_after_restore():
        func(*args, **kwargs)


def _draws_of_restored_environments(count: int, *, hooks: bool) -> list[list[float]]:
    """What `count` environments forked from this one draw from the click dice, each its first 8."""
    from clicks import logic

    logic.dice.seed(1234)  # whatever state the generator had when the snapshot was taken
    draws = []
    for _ in range(count):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the restored environment
            try:
                if hooks:
                    _run_after_restore()
                os.write(write, json.dumps([logic.dice.random() for _ in range(8)]).encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            draws.append(json.loads(pipe.read()))
        os.waitpid(pid, 0)
    return draws


def test_environments_restored_from_one_snapshot_draw_different_failure_sequences():
    first, second = _draws_of_restored_environments(2, hooks=True)
    assert first != second


def test_without_the_restore_hook_every_restored_environment_fails_the_same_requests():
    # The trap the hook exists for: the generator's state is part of the snapshot.
    first, second = _draws_of_restored_environments(2, hooks=False)
    assert first == second


def test_a_restored_environment_never_serves_a_chaos_state_older_than_its_max_age(aws, monkeypatch):
    from shared import chaos, parameters

    set_chaos(PRIMARY, failed=False)
    assert chaos.current().failed is False  # cached while the snapshot is taken
    ssm = boto3.client("ssm", region_name=PRIMARY)
    stored = json.loads(ssm.get_parameter(Name=chaos.parameter_name(PRIMARY))["Parameter"]["Value"])
    ssm.put_parameter(
        Name=chaos.parameter_name(PRIMARY), Value=json.dumps({**stored, "failed": True}), Overwrite=True
    )
    # A restored environment's monotonic clock may not have moved since the snapshot: the cached
    # entry would look fresh however long the snapshot was kept.
    frozen = parameters.time.monotonic()
    monkeypatch.setattr(parameters.time, "monotonic", lambda: frozen)
    assert chaos.current().failed is False  # what the environment would serve without the hook

    _run_after_restore()

    assert chaos.current().failed is True


def test_before_the_snapshot_clients_are_warmed_and_after_restore_replaced_on_the_same_models(aws):
    from shared import aws as shared_aws
    from shared import snapstart

    for func, args, kwargs in snapshot_restore_py.get_before_snapshot():
        func(*args, **kwargs)
    warmed = shared_aws.client.cache_info().currsize
    manifest = json.loads((shared_aws.DATA_PATH / "manifest.json").read_text())
    assert warmed == len(manifest["operations"]) == 3  # dynamodb, events, ssm
    before = shared_aws.client("ssm")
    loader = shared_aws._packaged_session().get_component("data_loader")

    snapstart.restore_uniqueness()

    assert shared_aws.client.cache_info().currsize == 0
    after = shared_aws.client("ssm")
    assert after is not before
    # A new session, hence new credentials, on the loader that parsed the models before the snapshot.
    assert shared_aws._packaged_session().get_component("data_loader") is loader
