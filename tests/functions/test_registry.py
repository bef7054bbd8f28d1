"""shared.registry: every deployed region from the primary's registry; through the primary's
outage, what this environment read last, else this region's own copy (its entry and the
primary's, components.linking)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from conftest import APP, PRIMARY, SECONDARY

PATH = f"/{APP}/regions"


def register(region: str, where: str) -> None:
    entry = {"api": f"https://api-{region}.example.com", "slackApi": f"https://slack-{region}.example.com"}
    boto3.client("ssm", region_name=where).put_parameter(
        Name=f"{PATH}/{region}", Type="String", Value=json.dumps(entry), Overwrite=True
    )


@pytest.fixture
def in_the_secondary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", SECONDARY)
    monkeypatch.setenv("REGISTRY_PATH", PATH)
    monkeypatch.setenv("PRIMARY_REGION", PRIMARY)


def test_every_region_comes_from_the_primarys_registry(aws, in_the_secondary):
    from shared import registry

    for region in (PRIMARY, SECONDARY, "eu-west-1"):
        register(region, PRIMARY)
    register(SECONDARY, SECONDARY)  # the copy is not read while the primary answers
    assert sorted(registry.regions()) == ["eu-west-1", PRIMARY, SECONDARY]


def test_a_new_environment_reads_its_own_regions_copy_when_the_primary_does_not_answer(aws, in_the_secondary):
    from shared import aws as shared_aws
    from shared import registry

    register(PRIMARY, SECONDARY)
    register(SECONDARY, SECONDARY)
    with Stubber(shared_aws.client("ssm", PRIMARY)) as primary:
        primary.add_client_error("get_parameters_by_path", "InternalServerError", http_status_code=500)
        found = registry.regions()
    assert sorted(found) == [PRIMARY, SECONDARY]
    assert found[PRIMARY].api == f"https://api-{PRIMARY}.example.com"


def test_in_the_primary_an_unreadable_registry_is_an_error(aws, monkeypatch):
    from shared import aws as shared_aws
    from shared import parameters, registry

    monkeypatch.setenv("REGISTRY_PATH", PATH)
    monkeypatch.setenv("PRIMARY_REGION", PRIMARY)
    with Stubber(shared_aws.client("ssm", PRIMARY)) as primary:
        primary.add_client_error("get_parameters_by_path", "InternalServerError", http_status_code=500)
        with pytest.raises(parameters.ParameterError):
            registry.regions()
