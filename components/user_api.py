"""The user API: the browser app's HTTP API in each region, its functions and its optional
custom domain (TLS 1.2, regional endpoint, certificate validated in Route 53)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.fault_injection import FunctionFaults
from components.function import AppFunction, AppFunctionArgs
from components.http_api import HttpApi, HttpApiArgs, Route
from components.settings import CustomDomain, FunctionDefaults, Throttle


@dataclass
class UserApiArgs:
    app: str
    defaults: FunctionDefaults
    throttle: Throttle
    login_throttle: Throttle
    table_name: pulumi.Input[str]
    table_arn: pulumi.Input[str]
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    bus_name: pulumi.Input[str]
    bus_arn: pulumi.Input[str]
    event_source: str
    chaos_parameter_prefix: str
    chaos_parameter_arn: pulumi.Input[str]
    registry_path: str
    registry_arns: Sequence[pulumi.Input[str]]  # the primary's registry, and this region's copy
    primary_region: str
    user_pool_id: pulumi.Input[str]
    client_id: pulumi.Input[str]
    issuer: pulumi.Input[str]
    # Where the login function signs in: its own region's replica, or the primary's pool.
    user_pool_region: str
    # Our layer: its bytecode of the Powertools layer shortens every cold start (packaging).
    dependencies_layer: pulumi.Input[str]
    domain: CustomDomain | None = None
    # The drill's invocation errors (AWS FIS Lambda actions) reach every user route's function.
    faults: FunctionFaults | None = None


class UserApi(pulumi.ComponentResource):
    def __init__(self, name: str, args: UserApiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("active-active:api:UserApi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        images = pulumi.Output.concat(args.bucket_arn, "/assets/images/*")
        read_chaos = {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": args.chaos_parameter_arn}
        read_images = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": images}
        read_registry = {
            "Effect": "Allow",
            "Action": "ssm:GetParametersByPath",
            "Resource": args.registry_arns,
        }
        chaos_env = {"CHAOS_PARAMETER_PREFIX": args.chaos_parameter_prefix}
        registry_env = {"REGISTRY_PATH": args.registry_path, "PRIMARY_REGION": args.primary_region}

        def function(source: str, description: str, environment: dict, statements: list) -> AppFunction:
            return AppFunction(
                f"{name}-{source}",
                AppFunctionArgs(
                    source=source,
                    description=description,
                    defaults=args.defaults,
                    app=args.app,
                    environment=environment,
                    statements=statements,
                    extra_layers=[args.dependencies_layer],
                    user_facing=True,
                    snap_start=True,
                    faults=args.faults,
                ),
                child,
            )

        self.functions = {
            "login": function(
                "login",
                "POST /login: Cognito sign-in, every attempt recorded",
                {
                    "TABLE_NAME": args.table_name,
                    "USER_POOL_CLIENT_ID": args.client_id,
                    # InitiateAuth is unsigned (authtype "none" in botocore's model): no IAM to grant.
                    "USER_POOL_REGION": args.user_pool_region,
                    **chaos_env,
                },
                [{"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": args.table_arn}, read_chaos],
            ),
            "hello": function(
                "hello",
                "GET /hello: greeting and image from this region",
                {"STATIC_BUCKET": args.bucket_name, **chaos_env},
                [read_images, read_chaos],
            ),
            "clicks": function(
                "clicks",
                "POST /click: page view onto the bus, with injected failures",
                {
                    "TABLE_NAME": args.table_name,
                    "BUS_NAME": args.bus_name,
                    "EVENT_SOURCE": args.event_source,
                    **chaos_env,
                },
                [
                    {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": args.table_arn},
                    {"Effect": "Allow", "Action": "events:PutEvents", "Resource": args.bus_arn},
                    # Its images come with its package (components/packaged_files.py): no S3 read.
                    read_chaos,
                ],
            ),
            "health": function(
                "health", "GET /health: 503 while the region is failed", chaos_env, [read_chaos]
            ),
            "discovery": function(
                "discovery",
                "GET /config: every region's API and the Cognito ids",
                {"USER_POOL_ID": args.user_pool_id, "USER_POOL_CLIENT_ID": args.client_id, **registry_env},
                [read_registry],
            ),
            "web": function(
                "web",
                "The web app and the custom 404 page, from the static bucket",
                {"STATIC_BUCKET": args.bucket_name, **registry_env},
                [
                    {
                        "Effect": "Allow",
                        "Action": "s3:GetObject",
                        "Resource": pulumi.Output.concat(args.bucket_arn, "/*"),
                    },
                    # Without ListBucket, S3 answers a missing object with 403 rather than 404.
                    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": args.bucket_arn},
                    read_registry,
                ],
            ),
        }
        fn = self.functions
        self.http = HttpApi(
            f"{name}-http",
            HttpApiArgs(
                description=f"{args.app} user API",
                throttle=args.throttle,
                log_retention_days=args.defaults.log_retention_days,
                # Bearer tokens travel in a header, never in cookies, so any origin may call the
                # API: the page of one region calls every other region's API.
                cors=aws.apigatewayv2.ApiCorsConfigurationArgs(
                    allow_origins=["*"],
                    allow_methods=["GET", "POST", "OPTIONS"],
                    allow_headers=["authorization", "content-type"],
                    max_age=600,
                ),
                jwt_issuer=args.issuer,
                jwt_audiences=[args.client_id],
                routes=[
                    Route("POST /login", fn["login"], throttle=args.login_throttle),
                    Route("GET /hello", fn["hello"], authorized=True),
                    Route("POST /click", fn["clicks"], authorized=True),
                    Route("GET /health", fn["health"]),
                    Route("GET /config", fn["discovery"]),
                    Route("GET /", fn["web"]),
                    Route("GET /assets/{proxy+}", fn["web"]),
                    Route("$default", fn["web"]),
                ],
            ),
            child,
        )
        self.api_id = self.http.id
        # This region's own endpoint, even with a custom domain: the browser probes and fails over
        # region by region, which the latency-routed domain would hide.
        self.url = self.http.url
        self.domain_target: aws.apigatewayv2.DomainName | None = None
        self.domain_url: str | None = None
        if args.domain is not None:
            self.domain_target = self._custom_domain(name, args.domain)
            self.domain_url = f"https://{args.domain.name}"
        self.register_outputs({"url": self.url, "domainUrl": self.domain_url})

    def _custom_domain(self, name: str, domain: CustomDomain) -> aws.apigatewayv2.DomainName:
        child = pulumi.ResourceOptions(parent=self)
        certificate = aws.acm.Certificate(
            f"{name}-certificate", domain_name=domain.name, validation_method="DNS", opts=child
        )
        option = certificate.domain_validation_options[0]
        # ACM asks for the same validation record in every region (one per domain and account), and
        # renews each region's certificate only while it stays: every stack writes it, none deletes it.
        # https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html
        validation = aws.route53.Record(
            f"{name}-certificate-validation",
            zone_id=domain.hosted_zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=300,
            allow_overwrite=True,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        validated = aws.acm.CertificateValidation(
            f"{name}-certificate-validated",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[validation.fqdn],
            opts=child,
        )
        target = aws.apigatewayv2.DomainName(
            f"{name}-domain",
            domain_name=domain.name,
            domain_name_configuration={
                "certificate_arn": validated.certificate_arn,
                "endpoint_type": "REGIONAL",
                "security_policy": "TLS_1_2",
            },
            opts=child,
        )
        aws.apigatewayv2.ApiMapping(
            f"{name}-mapping",
            api_id=self.http.id,
            domain_name=target.id,
            stage=self.http.stage.id,
            opts=child,
        )
        return target
