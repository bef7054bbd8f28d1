"""An API Gateway HTTP API as both of the app's APIs use it: one `$default` stage, throttled,
with JSON access logs, and Lambda proxy routes (payload format 2.0)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.function import AppFunction
from components.settings import Throttle

# The fields API Gateway can log for an HTTP API; requestId ties a log line to the function's logs.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "routeKey": "$context.routeKey",
        "path": "$context.path",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "latency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "integrationError": "$context.integrationErrorMessage",
        "authorizerError": "$context.authorizer.error",
        "userAgent": "$context.identity.userAgent",
    }
)


@dataclass
class Route:
    key: str  # "POST /login", "$default"
    function: AppFunction
    authorized: bool = False
    throttle: Throttle | None = None  # stricter than the stage's default


@dataclass
class HttpApiArgs:
    description: str
    throttle: Throttle
    log_retention_days: int
    routes: Sequence[Route]
    cors: aws.apigatewayv2.ApiCorsConfigurationArgs | None = None
    # JWT authorizer for routes marked authorized: the issuer and accepted audiences.
    jwt_issuer: pulumi.Input[str] | None = None
    jwt_audiences: Sequence[pulumi.Input[str]] = field(default_factory=list)


class HttpApi(pulumi.ComponentResource):
    def __init__(self, name: str, args: HttpApiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("active-active:api:HttpApi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.api = aws.apigatewayv2.Api(
            f"{name}-api",
            protocol_type="HTTP",
            description=args.description,
            cors_configuration=args.cors,
            opts=child,
        )
        authorizer = None
        if any(route.authorized for route in args.routes):
            if args.jwt_issuer is None or not args.jwt_audiences:
                raise ValueError(f"{name}: authorized routes need jwt_issuer and jwt_audiences")
            authorizer = aws.apigatewayv2.Authorizer(
                f"{name}-jwt",
                api_id=self.api.id,
                authorizer_type="JWT",
                identity_sources=["$request.header.Authorization"],
                jwt_configuration={"issuer": args.jwt_issuer, "audiences": list(args.jwt_audiences)},
                opts=child,
            )

        routes = []
        integrations: dict[str, aws.apigatewayv2.Integration] = {}
        for route in args.routes:
            function = route.function
            slug = _slug(route.key)
            source = function.source
            if source not in integrations:
                integrations[source] = aws.apigatewayv2.Integration(
                    f"{name}-{source}",
                    api_id=self.api.id,
                    integration_type="AWS_PROXY",
                    integration_uri=function.invoke_arn,
                    payload_format_version="2.0",
                    timeout_milliseconds=10_000,
                    opts=child,
                )
                function.allow_invoke(
                    f"{name}-{source}-invoke",
                    "apigateway.amazonaws.com",
                    self.api.execution_arn.apply(lambda arn: f"{arn}/*/*"),
                )
            routes.append(
                aws.apigatewayv2.Route(
                    f"{name}-{slug}",
                    api_id=self.api.id,
                    route_key=route.key,
                    target=integrations[source].id.apply(
                        lambda integration_id: f"integrations/{integration_id}"
                    ),
                    authorization_type="JWT" if route.authorized else "NONE",
                    authorizer_id=authorizer.id if route.authorized and authorizer else None,
                    opts=child,
                )
            )

        self.access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs", retention_in_days=args.log_retention_days, opts=child
        )
        self.stage = aws.apigatewayv2.Stage(
            f"{name}-stage",
            api_id=self.api.id,
            name="$default",
            auto_deploy=True,
            default_route_settings={
                "throttling_rate_limit": args.throttle.rate_limit,
                "throttling_burst_limit": args.throttle.burst_limit,
                "detailed_metrics_enabled": True,
            },
            route_settings=[
                {
                    "route_key": route.key,
                    "throttling_rate_limit": route.throttle.rate_limit,
                    "throttling_burst_limit": route.throttle.burst_limit,
                    "detailed_metrics_enabled": True,
                }
                for route in args.routes
                if route.throttle is not None
            ],
            access_log_settings={"destination_arn": self.access_logs.arn, "format": ACCESS_LOG_FORMAT},
            # Route settings name routes that must exist first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=routes),
        )
        self.id = self.api.id
        self.url = self.api.api_endpoint
        self.register_outputs({"url": self.url})


def _slug(route_key: str) -> str:
    if route_key == "$default":
        return "default"
    cleaned = "".join(c if c.isalnum() else "-" for c in route_key.lower())
    return "-".join(part for part in cleaned.split("-") if part) or "root"
