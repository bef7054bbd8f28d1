"""Powertools in step: in AWS the functions run the public Powertools layer version the program
picks by default; the tests and the local cloud run the PyPI release pinned in
requirements-dev.txt. Both must be the same release, the one components/powertools.py records."""

from __future__ import annotations

import importlib.metadata

import pulumi
import pytest
from packaging.utils import canonicalize_name

from components import powertools
from components.settings import FunctionDefaults, load

from .graphs import PROJECT
from .test_dependencies import CONSTRAINTS, DEV, pinned_version, read_requirements

POWERTOOLS = canonicalize_name("aws-lambda-powertools")


def pin(path) -> str:
    (requirement,) = [r for r in read_requirements(path) if canonicalize_name(r.name) == POWERTOOLS]
    return pinned_version(requirement)


@pytest.fixture
def stack_config():
    pulumi.runtime.set_all_config(
        {
            "aws:region": "us-east-1",
            f"{PROJECT}:slackSigningSecret": "0123456789abcdef0123456789abcdef",
            f"{PROJECT}:slackWebhookUrl": "https://hooks.slack.com/services/T000/B000/XYZ",
        },
        [f"{PROJECT}:slackSigningSecret", f"{PROJECT}:slackWebhookUrl"],
    )
    yield
    pulumi.runtime.set_all_config({}, [])


def test_the_tests_pin_the_release_of_the_default_layer_version():
    assert pin(DEV) == powertools.RELEASE, (
        f"requirements-dev.txt pins aws-lambda-powertools {pin(DEV)}, but the default layer version "
        f"{powertools.LAYER_VERSION} is release {powertools.RELEASE} (components/powertools.py)"
    )
    assert pin(CONSTRAINTS) == powertools.RELEASE


def test_the_tests_run_the_pinned_release():
    assert importlib.metadata.version("aws-lambda-powertools") == powertools.RELEASE, "run `make venv`"


def test_the_default_layer_version_is_the_recorded_one(stack_config):
    assert FunctionDefaults().powertools_layer_version == powertools.LAYER_VERSION
    assert (
        load(pulumi.Config(PROJECT), "us-east-1").functions.powertools_layer_version
        == powertools.LAYER_VERSION
    )


def test_a_configured_layer_version_is_the_operator_s_choice(stack_config):
    pulumi.runtime.set_config(f"{PROJECT}:powertoolsLayerVersion", "31")
    assert load(pulumi.Config(PROJECT), "us-east-1").functions.powertools_layer_version == 31


def test_the_layer_arn_names_aws_s_public_v3_layer():
    assert powertools.layer_arn("us-west-2", "python3.13", "arm64", 27) == (
        "arn:aws:lambda:us-west-2:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:27"
    )


def test_every_function_runs_the_recorded_layer_by_default(graphs):
    for graph in graphs.values():
        for function in graph.of_type("aws:lambda/function:Function"):
            inputs, region = function["inputs"], function["outputs"]["arn"].split(":")[3]
            expected = powertools.layer_arn(
                region, inputs["runtime"], inputs["architectures"][0], powertools.LAYER_VERSION
            )
            assert expected in inputs["layers"], function["urn"]
