"""shared.aws: clients come from the package's trimmed botocore data when it is usable, and
from botocore's own data otherwise, without ever failing the function."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from conftest import PRIMARY

from components import botocore_data


@pytest.fixture
def shared_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """shared.aws with the trimmed data for SSM GetParameter in ``tmp_path``."""
    from shared import aws

    for name, content in botocore_data.botocore_data({"ssm": ["GetParameter"]}).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    monkeypatch.setattr(aws, "DATA_PATH", tmp_path)
    aws.reset()
    yield aws
    aws.reset()


def fallbacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "shared.aws"]


def test_client_is_built_from_the_packaged_data_when_usable(shared_aws, caplog):
    caplog.set_level(logging.DEBUG, logger="shared.aws")
    ssm = shared_aws.client("ssm", PRIMARY)

    assert ssm.meta.service_model.operation_names == ["GetParameter"]
    assert fallbacks(caplog) == []


def test_missing_packaged_data_falls_back_to_botocore_data_with_a_debug_log(
    shared_aws, caplog, tmp_path, monkeypatch
):
    monkeypatch.setattr(shared_aws, "DATA_PATH", tmp_path / "absent")
    caplog.set_level(logging.DEBUG, logger="shared.aws")
    ssm = shared_aws.client("ssm", PRIMARY)

    assert "PutParameter" in ssm.meta.service_model.operation_names
    assert len(fallbacks(caplog)) == 1


def test_service_missing_from_packaged_data_falls_back_for_that_service_only(shared_aws, caplog):
    caplog.set_level(logging.DEBUG, logger="shared.aws")
    sqs = shared_aws.client("sqs", PRIMARY)
    ssm = shared_aws.client("ssm", PRIMARY)

    assert "SendMessage" in sqs.meta.service_model.operation_names
    assert ssm.meta.service_model.operation_names == ["GetParameter"]
    assert len(fallbacks(caplog)) == 1 and "sqs" in fallbacks(caplog)[0]


def test_unreadable_packaged_file_falls_back(shared_aws, caplog):
    caplog.set_level(logging.DEBUG, logger="shared.aws")
    (shared_aws.DATA_PATH / "endpoints.json").write_text("{not json")
    ssm = shared_aws.client("ssm", PRIMARY)

    assert "PutParameter" in ssm.meta.service_model.operation_names
    assert len(fallbacks(caplog)) == 1


def test_rule_set_function_unknown_to_the_running_botocore_falls_back(shared_aws, caplog):
    """A Lambda runtime's botocore older than the data: its rule sets would fail on each call."""
    caplog.set_level(logging.DEBUG, logger="shared.aws")
    manifest = shared_aws.DATA_PATH / "manifest.json"
    content = json.loads(manifest.read_text())
    manifest.write_text(
        json.dumps({**content, "ruleSetFunctions": [*content["ruleSetFunctions"], "aws.future"]})
    )
    ssm = shared_aws.client("ssm", PRIMARY)

    assert "PutParameter" in ssm.meta.service_model.operation_names
    assert "aws.future" in fallbacks(caplog)[0]


def test_manifest_without_service_ids_falls_back(shared_aws, caplog):
    """Data packaged before the manifest named its services' event names: botocore's own data."""
    caplog.set_level(logging.DEBUG, logger="shared.aws")
    manifest = shared_aws.DATA_PATH / "manifest.json"
    content = json.loads(manifest.read_text())
    del content["serviceIds"]
    manifest.write_text(json.dumps(content))
    ssm = shared_aws.client("ssm", PRIMARY)

    assert "PutParameter" in ssm.meta.service_model.operation_names
    assert "serviceIds" in fallbacks(caplog)[0]


DECLARED = botocore_data.declared_operations()
# Every service a function calls, and others whose built-in handlers botocore names by an old
# service name (logs, cloudwatch) or that have many of them (ec2, rds, sts).
SERVICES = sorted(
    {service for operations in DECLARED.values() for service in operations}
    | {"logs", "cloudwatch", "ec2", "rds", "sts", "sqs", "events"}
)


def _operations(service: str) -> list[str]:
    import botocore.session

    return list(botocore.session.get_session().get_service_model(service).operation_names)


@pytest.mark.parametrize("service", SERVICES)
def test_no_builtin_handler_left_out_of_the_packaged_session_fires_for_its_services(service):
    """The packaged session registers botocore's built-in handlers for its own services only
    (``handler_applies``): each one left out, registered alone, fires for no event a client of
    the service emits (every event kind botocore's handlers use, for every operation)."""
    import botocore.session
    from botocore import handlers, xform_name
    from botocore.hooks import EventAliaser, HierarchicalEmitter
    from shared import aws

    model = botocore.session.get_session().get_service_model(service)
    services = aws.service_event_names({service: model.service_id.hyphenize()})
    events = EventAliaser(HierarchicalEmitter())
    fired: list[str] = []
    left_out = [spec[0] for spec in handlers.BUILTIN_HANDLERS if not aws.handler_applies(spec[0], services)]
    for event_name in left_out:
        events.register(event_name, lambda event_name, **_: fired.append(event_name))
    kinds = {spec[0].split(".")[0] for spec in handlers.BUILTIN_HANDLERS} - {"docs"}
    service_id = model.service_id.hyphenize()
    for kind in kinds:
        events.emit(kind)
        events.emit(f"{kind}.{service_id}")
        for operation in _operations(service):
            events.emit(f"{kind}.{service_id}.{operation}")
            events.emit(f"{kind}.{service_id}.{xform_name(operation)}")  # getattr: method names
    for name in services:
        events.emit(f"service-data-loaded.{name}")

    assert fired == []
    assert len(left_out) < len(handlers.BUILTIN_HANDLERS)


def test_packaged_session_keeps_the_builtin_handlers_of_its_services():
    from botocore import handlers
    from shared import aws

    s3 = aws.service_event_names({"s3": "s3", "events": "eventbridge"})
    kept = {spec[0] for spec in handlers.BUILTIN_HANDLERS if aws.handler_applies(spec[0], s3)}

    assert "before-parameter-build.s3.GetObject" in kept  # SSE-C customer key MD5
    assert "choose-signer" in kept and "before-call" in kept
    assert not any(name.startswith(("docs.", "before-call.ec2", "after-call.glacier")) for name in kept)
    assert not aws.handler_applies("before-parameter-build.logs.CreateExportTask", s3)
    logs = aws.service_event_names({"logs": "cloudwatch-logs"})
    assert aws.handler_applies("before-parameter-build.logs.CreateExportTask", logs)
