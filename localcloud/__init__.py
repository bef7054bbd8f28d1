"""The local cloud: runs the real Pulumi program against moto and emulates AWS's data plane.

One module or package per emulated service: ``deployer`` (resources into moto, each call first
checked by ``validation`` against AWS's API model and rules), ``gateway``
(HTTP APIs), ``runner`` and ``worker`` (Lambda), ``logs`` (CloudWatch Logs), ``eventbridge``
(rules to targets), ``sqs`` (event source mappings), ``sns`` (Lambda subscribers), ``streams``
(global table replication, table to Kinesis, Firehose to S3), ``cloudwatch`` (metrics, metric
math, alarms, dashboards), ``slack`` (the Slack stand-in), ``frontdoor`` (a Route 53 latency
record with health checks). They share ``graph`` (each region's resolved resources and the
client factory for moto), ``settings`` (every ``LOCALCLOUD_*`` variable), ``poller`` and
``scheduler``; ``cloud`` wires them together and ``main`` (``make demo``) starts them all.
"""

from typing import Any

SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"


def secret_value(value: Any) -> Any:
    """A value as Pulumi passed it, with the secret wrapper (if any) removed."""
    if isinstance(value, dict) and SECRET_SIGNATURE in value:
        return value["value"]
    return value
