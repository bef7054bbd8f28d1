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
