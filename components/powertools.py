"""The Powertools for AWS Lambda (Python) release the functions run, recorded once.

In AWS every function gets Powertools from AWS's public layer (not bundled); the tests and the
local cloud run the PyPI release pinned in requirements-dev.txt. A layer's version number counts
the layer's publications, it is not the release number, so the pair is written down here and
``tests/program/test_powertools.py`` holds the pin, the default of ``powertoolsLayerVersion``
and this record together. An operator may still configure another layer version.

Layer version 27 is release 3.23.0 (confirmed, not derived by counting):
- https://github.com/aws-powertools/powertools-lambda-python/issues/7689 - release 3.23.0 was
  published on 2025-11-13; ``AWSLambdaPowertoolsPythonV3-python313-x86_64:27`` was created that
  day and the public SSM parameter ``/aws/service/powertools/python/x86_64/python3.13/latest``
  pointed to it. https://github.com/aws-powertools/powertools-lambda-python/pull/7695 fixed the
  release's version-named SSM parameters.
- The release pipeline writes one layer version number for every architecture and Python
  version (``.github/workflows/update_ssm.yml`` in that repository, shown in pull 7695), and the
  "Lambda Layer" table of the docs (https://docs.aws.amazon.com/powertools/python/latest/#lambda-layer,
  updated to 27 in https://github.com/aws-powertools/powertools-lambda-python/pull/7757) gives
  x86_64 and arm64 the same number.

To move to another release, read its layer from AWS and change both lines below and the pin in
requirements-dev.txt (then ``make lock``):
``aws ssm get-parameter --name /aws/service/powertools/python/arm64/python3.13/<release>``.
"""

from __future__ import annotations

RELEASE = "3.23.0"
LAYER_VERSION = 27
# AWS publishes the Powertools layer from this account in every commercial region.
LAYER_ACCOUNT = "017000801446"


def layer_arn(region: str, runtime: str, architecture: str, version: int) -> str:
    """The public Powertools v3 layer for a runtime (``python3.13``) and architecture."""
    python = runtime.replace(".", "")
    return (
        f"arn:aws:lambda:{region}:{LAYER_ACCOUNT}:layer:"
        f"AWSLambdaPowertoolsPythonV3-{python}-{architecture}:{version}"
    )
