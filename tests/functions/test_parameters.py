"""shared.parameters: the cache's max age, and the fallback to the value last read when SSM
cannot answer, for the reads that ask for it (the region registry through the primary's outage)."""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.stub import Stubber
from conftest import PRIMARY

PATH = "/app/regions"


def put(name: str, value: str) -> None:
    boto3.client("ssm", region_name=PRIMARY).put_parameter(
        Name=name, Type="String", Value=value, Overwrite=True
    )


def expire_cache(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """The clock `seconds` later, as the cache reads it."""
    later = time.monotonic() + seconds
    monkeypatch.setattr(time, "monotonic", lambda: later)


def test_a_read_within_its_max_age_comes_from_the_cache(aws):
    from shared import parameters

    put(f"{PATH}/us-east-1", "east")
    assert parameters.by_path(PATH, max_age=30, region=PRIMARY) == {"us-east-1": "east"}
    put(f"{PATH}/us-west-2", "west")
    assert parameters.by_path(PATH, max_age=30, region=PRIMARY) == {"us-east-1": "east"}


def test_an_unreachable_ssm_serves_the_value_last_read_when_asked_to(aws, monkeypatch):
    from shared import aws as shared_aws
    from shared import parameters

    put(f"{PATH}/us-east-1", "east")
    assert parameters.by_path(PATH, max_age=30, region=PRIMARY, stale_if_error=3600) == {"us-east-1": "east"}
    expire_cache(monkeypatch, 60)
    with Stubber(shared_aws.client("ssm", PRIMARY)) as ssm:
        ssm.add_client_error("get_parameters_by_path", "InternalServerError", http_status_code=500)
        assert parameters.by_path(PATH, max_age=30, region=PRIMARY, stale_if_error=3600) == {
            "us-east-1": "east"
        }


def test_without_the_fallback_or_past_it_an_unreachable_ssm_raises(aws, monkeypatch):
    from shared import aws as shared_aws
    from shared import parameters

    put(f"{PATH}/us-east-1", "east")
    parameters.by_path(PATH, max_age=30, region=PRIMARY)
    expire_cache(monkeypatch, 60)
    with Stubber(shared_aws.client("ssm", PRIMARY)) as ssm:
        ssm.add_client_error("get_parameters_by_path", "InternalServerError", http_status_code=500)
        ssm.add_client_error("get_parameters_by_path", "InternalServerError", http_status_code=500)
        with pytest.raises(parameters.ParameterError):
            parameters.by_path(PATH, max_age=30, region=PRIMARY)
        # Read 60 s ago, expired 30 s ago: older than a 10 s allowance.
        with pytest.raises(parameters.ParameterError):
            parameters.by_path(PATH, max_age=30, region=PRIMARY, stale_if_error=10)


def test_a_first_read_that_fails_raises_whatever_the_allowance(aws):
    from shared import aws as shared_aws
    from shared import parameters

    with Stubber(shared_aws.client("ssm", PRIMARY)) as ssm:
        ssm.add_client_error("get_parameters_by_path", "InternalServerError", http_status_code=500)
        with pytest.raises(parameters.ParameterError):
            parameters.by_path(PATH, max_age=30, region=PRIMARY, stale_if_error=3600)
