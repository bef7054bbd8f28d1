"""Failover: this region's chaos state, and, with a custom domain, Route 53 latency records
with health checks on `/health`, so DNS sends users to the nearest healthy region."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.settings import CustomDomain


@dataclass
class FailoverArgs:
    region: str
    chaos_parameter_prefix: str
    error_rate: float
    # With a custom domain: the user API's regional domain and execute-api endpoint.
    domain: CustomDomain | None = None
    domain_target: aws.apigatewayv2.DomainName | None = None
    api_endpoint: pulumi.Input[str] | None = None


class Failover(pulumi.ComponentResource):
    def __init__(self, name: str, args: FailoverArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("active-active:failover:Failover", name, None, opts)
        self.chaos = aws.ssm.Parameter(
            f"{name}-chaos",
            name=f"{args.chaos_parameter_prefix}/{args.region}",
            type="String",
            # Not a secret: insecure_value keeps it readable in previews and diffs.
            insecure_value=json.dumps(
                {"failed": False, "errorRate": args.error_rate, "writerFailureRate": 0.0}
            ),
            description="Chaos state of this region (Slack /chaos writes it; functions read it)",
            # Slack commands own the value at run time: a deploy must not undo a failover.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["insecureValue"]),
        )
        self.chaos_parameter_arn = self.chaos.arn
        if args.domain is not None and args.domain_target is not None and args.api_endpoint is not None:
            self._latency_record(name, args, args.domain, args.domain_target, args.api_endpoint)
        self.register_outputs({"chaosParameter": self.chaos.name})

    def _latency_record(
        self,
        name: str,
        args: FailoverArgs,
        domain: CustomDomain,
        target: aws.apigatewayv2.DomainName,
        api_endpoint: pulumi.Input[str],
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        check = aws.route53.HealthCheck(
            f"{name}-health",
            type="HTTPS",
            fqdn=pulumi.Output.from_input(api_endpoint).apply(lambda url: url.removeprefix("https://")),
            port=443,
            resource_path="/health",
            request_interval=10,
            failure_threshold=2,
            measure_latency=True,
            tags={"Name": f"{domain.name} {args.region}"},
            opts=child,
        )
        configuration = target.domain_name_configuration
        aws.route53.Record(
            f"{name}-latency",
            zone_id=domain.hosted_zone_id,
            name=domain.name,
            type="A",
            set_identifier=args.region,
            latency_routing_policies=[{"region": args.region}],
            health_check_id=check.id,
            aliases=[
                {
                    "name": configuration.target_domain_name,
                    "zone_id": configuration.hosted_zone_id,
                    "evaluate_target_health": True,
                }
            ],
            opts=child,
        )
