"""The data plane of every deployed region, built from the graphs the deployer wrote.

Reads each region's resources (functions, APIs, routes, authorizers, stages, rules, targets,
event source mappings) and wires the local services together: Lambda runner, gateways,
EventBridge and SQS delivery, logs. A region can be blacked out and restored (``black_out``,
``restore``: ``localcloud.blackout``, driven by ``localcloud.control``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from components import powertools
from localcloud import gateway, runtimes
from localcloud.blackout import Blackouts, MotoLink
from localcloud.cloudwatch.aws_metrics import replication_recorder
from localcloud.cloudwatch.service import CloudWatch
from localcloud.control import Conflict
from localcloud.eventbridge import LambdaTarget, RuleTarget, eventbridge_delivery
from localcloud.fis.experiments import Experiments
from localcloud.fis.extension import Extension, location_of
from localcloud.graph import Graph, Region, RoleClient, aws_client
from localcloud.httpserver import PooledServer
from localcloud.iam.deliveries import Deliveries
from localcloud.iam.principals import UNENFORCED_CREDENTIALS, Principals
from localcloud.logs import LogShipper
from localcloud.poller import Poller
from localcloud.runner import FunctionSpec, LocalFunction, Runner, extract, merge_layers
from localcloud.runtimes import Runtime
from localcloud.settings import time_scale
from localcloud.sqs import sqs_event_source
from localcloud.streams.service import Streams

log = logging.getLogger("localcloud.cloud")

ROOT = Path(__file__).resolve().parent.parent


class LocalCloud:
    """Every region's data plane: start() serves, stop() ends every thread and process."""

    def __init__(
        self,
        graphs: list[dict[str, Any]],
        moto_url: str,
        state_dir: Path,
        principals: Principals | None = None,
        link: MotoLink | None = None,
        endpoints: dict[str, str] | None = None,
    ) -> None:
        self.moto_url = moto_url
        # Each region's own endpoint into moto, which its functions and authorizers call: a
        # request that is not signed (Cognito's sign-in, a JWKS) is then for that region, as a
        # call to cognito-idp.<region>.amazonaws.com is (localcloud.motoserver.Blackout).
        self.endpoints = endpoints or {}
        # Regions blacked out now; moto's process hears of each through `link` (None: no moto
        # process of ours, so AWS calls to a blacked-out region are not dropped).
        self.blackouts = Blackouts()
        self.link = link
        self.outages: dict[str, dict[str, float | None]] = {}  # region -> its last outage
        self.blackout_lock = threading.Lock()
        # With principals, every worker runs as its function's execution role (else moto is open).
        self.principals = principals
        self.state_dir = state_dir
        self.runner = Runner()
        self.runtimes: dict[str, Runtime] = {}
        self.regions: dict[str, Region] = {}
        self.pollers: list[Poller] = []
        self.streams = Streams(graphs, moto_url, self.blackouts)
        self.servers: list[PooledServer] = []
        self.api_servers: dict[int, PooledServer] = {}  # port -> the server of a region's API
        self.shippers: dict[str, LogShipper] = {}
        for data in graphs:
            graph = Graph(data)
            shipper = LogShipper(graph.region, moto_url, state_dir / "logs" / graph.region)
            shipper.out = functools.partial(self.blackouts.is_out, graph.region)
            self.shippers[graph.region] = shipper
            permissions = graph.of_type("aws:lambda/permission:Permission")
            clients = functools.partial(aws_client, endpoint=moto_url)
            self.regions[graph.region] = Region(graph, Deliveries(permissions, clients, graph.region))
        for region in self.regions.values():
            self._functions(region)
        for region in self.regions.values():
            self._apis(region)
            self._deliveries(region)
        # Monitoring (localcloud.cloudwatch): hooks the functions and gateways above.
        self.cloudwatch = CloudWatch(
            self.regions, self.runner.find, lambda service, region: aws_client(service, region, moto_url)
        )
        self.cloudwatch.gate(self.blackouts.is_out)
        self.streams.landed = replication_recorder(self.cloudwatch.metrics)
        self.fis = Experiments(
            list(self.regions),
            lambda service, region: aws_client(service, region, moto_url),
            moto_url,
            self.streams.pauses,
            time_scale(),
        )
        self.fis.out = self.blackouts.is_out

    # Lambda

    def _functions(self, region: Region) -> None:
        graph = region.graph
        layers = {
            layer["outputs"]["arn"]: layer for layer in graph.of_type("aws:lambda/layerVersion:LayerVersion")
        }
        code_root = self.state_dir / "code"
        sqs = aws_client("sqs", graph.region, self.moto_url)
        for resource in graph.of_type("aws:lambda/function:Function"):
            inputs, outputs = resource["inputs"], resource["outputs"]
            runtime = self.runtime(inputs["runtime"])
            extracted = []
            for arn in inputs.get("layers", []):
                if ":layer:aws-fis-extension-" in arn:
                    continue  # AWS's FIS Lambda extension: emulated by the runner (localcloud.fis.extension)
                if arn in layers:
                    extracted.append(extract(ROOT / layers[arn]["inputs"]["code"]["FileArchive"], code_root))
                else:
                    extracted.append(self._public_layer(arn, runtime))
            paths = [str(extract(ROOT / inputs["code"]["FileArchive"], code_root))]
            if extracted:
                # Lambda merges every layer into /opt, where Python finds /opt/python.
                paths.append(str(merge_layers(extracted, code_root) / "python"))
            paths.append(str(runtime.sdk))
            invoke_config: dict[str, Any] = next(
                (
                    c["inputs"]
                    for c in graph.of_type("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
                    if c["inputs"]["functionName"] == outputs["name"]
                ),
                {},
            )
            # Callers invoke a published version through its alias, where the function has one.
            alias = next(
                (
                    a
                    for a in graph.of_type("aws:lambda/alias:Alias")
                    if a["inputs"]["functionName"] == outputs["name"]
                ),
                None,
            )
            spec = FunctionSpec(
                name=outputs["name"],
                arn=outputs["arn"],
                source=inputs["handler"].split(".")[0],
                region=graph.region,
                handler=inputs["handler"],
                paths=paths,
                python=runtime.python,
                environment=self._environment(graph.region, inputs, outputs),
                timeout=float(inputs.get("timeout", 3)),
                memory=int(inputs.get("memorySize", 128)),
                log_group=inputs["loggingConfig"]["logGroup"],
                reserved_concurrency=inputs.get("reservedConcurrentExecutions"),
                max_retries=int(invoke_config.get("maximumRetryAttempts", 2)),
                on_failure=((invoke_config.get("destinationConfig") or {}).get("onFailure") or {}).get(
                    "destination"
                ),
                credentials=self._role(inputs["role"], outputs["name"], graph.region),
                version=alias["inputs"]["functionVersion"] if alias else "$LATEST",
                invoked_arn=alias["outputs"]["arn"] if alias else None,
                snap_start=alias is not None
                and (inputs.get("snapStart") or {}).get("applyOn") == "PublishedVersions",
            )
            spec.environment["AWS_LAMBDA_FUNCTION_VERSION"] = spec.version
            # Lambda sends to the on-failure destination as the function's role.
            # https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
            sender = self._sender(self._as_role(spec, "sqs") or sqs)
            shipper = self.shippers[graph.region]
            # Lambda ships a function's logs with its execution role's permissions: without
            # logs:CreateLogStream and logs:PutLogEvents on its log group, they are lost.
            # https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html
            if (logs := self._as_role(spec, "logs")) is not None:
                shipper.ship_as(spec.log_group, logs)
            function = LocalFunction(spec, shipper.ship, sender)
            function.out = functools.partial(self.blackouts.is_out, graph.region)
            if (where := location_of(spec.environment)) is not None:
                # The extension reads its fault as the function's execution role.
                s3 = self._as_role(spec, "s3") or aws_client("s3", graph.region, self.moto_url)
                function.extension = Extension(spec.name, *where, s3)
            self.runner.add(function)
            region.functions[spec.source] = function

    def _role(self, role_arn: str, function_name: str, region: str) -> Callable[[], Any] | None:
        """How Lambda gets the function's execution role credentials (None: moto is open)."""
        if self.principals is None:
            return None
        return functools.partial(self.principals.assume, role_arn, function_name, region)

    def _as_role(self, spec: FunctionSpec, service: str) -> RoleClient | None:
        if spec.credentials is None:
            return None
        return RoleClient(service, spec.region, self.moto_url, spec.credentials)

    def runtime(self, name: str) -> Runtime:
        """A Lambda runtime's interpreter and packages, prepared once per local cloud."""
        if name not in self.runtimes:
            self.runtimes[name] = runtimes.prepare(name)
        return self.runtimes[name]

    @staticmethod
    def _public_layer(arn: str, runtime: Runtime) -> Path:
        """A layer that is not in the stack: the local cloud has only AWS's public Powertools
        layer, at the layer version of the release it installs."""
        _, _, _, _, account, _, name, version = arn.split(":")
        family = f"AWSLambdaPowertoolsPythonV3-{runtime.name.replace('.', '')}-"
        if account != powertools.LAYER_ACCOUNT or not name.startswith(family):
            raise ValueError(f"layer {arn} is not in the stack, and the local cloud has no copy of it")
        if version != str(powertools.LAYER_VERSION):
            raise ValueError(
                f"layer {arn}: the local cloud has Powertools {powertools.RELEASE}, layer version "
                f"{powertools.LAYER_VERSION}, not {version} (components/powertools.py)"
            )
        return runtime.powertools

    def _sender(self, sqs: Any, permits: Callable[[str], str | None] | None = None) -> Any:
        """Sends to a queue by its ARN, as AWS's services do: SendMessage alone, so a role that
        may only sqs:SendMessage can (the URL is moto's for that ARN, not looked up). A service
        sends only where `permits` (the queue's policy) finds no refusal; else nothing is sent
        (EventBridge counts it as InvocationsFailedToBeSentToDlq)."""

        def send(queue_arn: str, body: str, attributes: dict[str, str] | None = None) -> None:
            refusal = permits(queue_arn) if permits is not None else None
            if refusal is not None:
                log.error("not sent to %s: %s", queue_arn, refusal)
                return
            _, _, _, _, account, name = queue_arn.split(":")
            sqs.send_message(
                QueueUrl=f"{self.moto_url}/{account}/{name}",
                MessageBody=body,
                MessageAttributes={
                    key: {"DataType": "String", "StringValue": value}
                    for key, value in (attributes or {}).items()
                },
            )

        return send

    def endpoint(self, region: str) -> str:
        """The region's own endpoint into moto (see __init__); moto's main one without it."""
        return self.endpoints.get(region, self.moto_url)

    def _environment(self, region: str, inputs: dict[str, Any], outputs: dict[str, Any]) -> dict[str, str]:
        variables = dict((inputs.get("environment") or {}).get("variables") or {})
        return {
            **{key: os.environ[key] for key in ("PATH", "LANG", "HOME", "SYSTEMROOT") if key in os.environ},
            **variables,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ENDPOINT_URL": self.endpoint(region),
            # The execution role's credentials replace these as each worker starts (runner.py).
            **UNENFORCED_CREDENTIALS.environment(),
            "AWS_LAMBDA_FUNCTION_NAME": outputs["name"],
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(inputs.get("memorySize", 128)),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": inputs["loggingConfig"]["logGroup"],
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{inputs['runtime']}",
            "_HANDLER": inputs["handler"],
            # X-Ray is not emulated: traces would go to a daemon that isn't there.
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        }

    # API Gateway

    def _apis(self, region: Region) -> None:
        graph = region.graph
        # What an integration may invoke: a function ($LATEST) or its alias, with the qualifier.
        targets: dict[str, tuple[LocalFunction, str | None]] = {
            r["outputs"]["invokeArn"]: (self.runner.get(r["outputs"]["arn"]), None)
            for r in graph.of_type("aws:lambda/function:Function")
        }
        for alias in graph.of_type("aws:lambda/alias:Alias"):
            targets[alias["outputs"]["invokeArn"]] = (
                self.runner.get(alias["outputs"]["arn"]),
                alias["inputs"]["name"],
            )
        for api in graph.of_type("aws:apigatewayv2/api:Api"):
            kind = "slack" if api["name"].startswith("slack") else "user"
            stage = next(
                s for s in graph.of_type("aws:apigatewayv2/stage:Stage") if s["inputs"]["apiId"] == api["id"]
            )
            defaults = stage["inputs"]["defaultRouteSettings"]
            per_route = {s["routeKey"]: s for s in stage["inputs"].get("routeSettings") or []}
            routes = []
            for route in graph.of_type("aws:apigatewayv2/route:Route"):
                inputs = route["inputs"]
                if inputs["apiId"] != api["id"]:
                    continue
                integration = graph.by_id(
                    "aws:apigatewayv2/integration:Integration", inputs["target"].split("/", 1)[1]
                )
                authorizer = None
                if inputs.get("authorizationType") == "JWT":
                    config = graph.by_id("aws:apigatewayv2/authorizer:Authorizer", inputs["authorizerId"])[
                        "inputs"
                    ]
                    jwt_config = config["jwtConfiguration"]
                    pool_id = jwt_config["issuer"].rsplit("/", 1)[-1]
                    authorizer = gateway.JwtAuthorizer(
                        issuer=jwt_config["issuer"],
                        audiences=list(jwt_config["audiences"]),
                        jwks_url=f"{self.endpoint(graph.region)}/{pool_id}/.well-known/jwks.json",
                    )
                key = inputs["routeKey"]
                method, _, path = key.partition(" ")
                throttle = per_route.get(key)
                function, qualifier = targets[integration["inputs"]["integrationUri"]]
                # The source ARN API Gateway invokes with: the API, stage, method and path.
                # https://docs.aws.amazon.com/apigateway/latest/developerguide/arn-format-reference.html
                stage_name = stage["inputs"]["name"]
                source = f"{api['outputs']['executionArn']}/{stage_name}/{method or '$default'}{path}"
                routes.append(
                    gateway.Route(
                        method=method if path else "",
                        path=path,
                        key=key,
                        function=function,
                        authorizer=authorizer,
                        permitted=region.deliveries.may_invoke(
                            function.spec.name,
                            function.spec.arn,
                            "apigateway.amazonaws.com",
                            source,
                            qualifier,
                        ),
                        bucket=gateway.TokenBucket(
                            throttle["throttlingRateLimit"], throttle["throttlingBurstLimit"]
                        )
                        if throttle
                        else None,
                        timeout=integration["inputs"].get("timeoutMilliseconds", 30_000) / 1000,
                    )
                )
            access_group = _log_group_name(stage["inputs"]["accessLogSettings"]["destinationArn"])
            shipper = self.shippers[graph.region]
            stream = f"access-{api['id']}"
            region.apis[kind] = gateway.Api(
                name=api["name"],
                region=graph.region,
                api_id=api["id"],
                routes=routes,
                stage_bucket=gateway.TokenBucket(
                    defaults["throttlingRateLimit"], defaults["throttlingBurstLimit"]
                ),
                cors=api["inputs"].get("corsConfiguration"),
                access_log=functools.partial(_ship_json, shipper.ship, access_group, stream),
            )
            region.urls[kind] = api["outputs"]["apiEndpoint"]

    # EventBridge and SQS

    def _deliveries(self, region: Region) -> None:
        graph = region.graph
        first = len(self.pollers)
        sqs = aws_client("sqs", graph.region, self.moto_url)
        rules = {rule["outputs"]["arn"]: rule for rule in graph.of_type("aws:cloudwatch/eventRule:EventRule")}
        for rule_arn, tap_url in graph.taps.items():
            rule_name = rules[rule_arn]["outputs"]["name"]
            targets = []
            for resource in graph.of_type("aws:cloudwatch/eventTarget:EventTarget"):
                inputs = resource["inputs"]
                if inputs["rule"] != rule_name:
                    continue
                function = self.runner.find(inputs["arn"])
                retry = inputs.get("retryPolicy") or {}
                targets.append(
                    LambdaTarget(
                        arn=inputs["arn"],
                        function=function,
                        permitted=function is not None
                        and region.deliveries.may_invoke(
                            function.spec.name,
                            function.spec.arn,
                            "events.amazonaws.com",
                            rule_arn,
                            _qualifier(inputs["arn"]),
                        ),
                        max_attempts=int(retry.get("maximumRetryAttempts", 185)),
                        max_age_seconds=int(retry.get("maximumEventAgeInSeconds", 86_400)),
                        dead_letter_arn=(inputs.get("deadLetterConfig") or {}).get("arn"),
                    )
                )
            self.pollers.append(
                eventbridge_delivery(
                    sqs,
                    RuleTarget(rule_arn, tap_url, targets),
                    self._sender(sqs, region.deliveries.permits_sending("events.amazonaws.com", rule_arn)),
                )
            )
        queues = {q["outputs"]["arn"]: q for q in graph.of_type("aws:sqs/queue:Queue")}
        for mapping in graph.of_type("aws:lambda/eventSourceMapping:EventSourceMapping"):
            inputs = mapping["inputs"]
            source = queues[inputs["eventSourceArn"]]
            function = self.runner.get(inputs["functionName"])
            self.pollers.append(
                sqs_event_source(
                    # The mapping reads and deletes messages as the function's role.
                    # https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#events-sqs-permissions
                    self._as_role(function.spec, "sqs") or sqs,
                    source["outputs"]["url"],
                    source["outputs"]["arn"],
                    graph.region,
                    function,
                    int(inputs.get("batchSize", 10)),
                    int(inputs.get("maximumBatchingWindowInSeconds", 0)),
                    "ReportBatchItemFailures" in (inputs.get("functionResponseTypes") or []),
                )
            )
        for poller in self.pollers[first:]:
            # EventBridge and the event source mappings of a blacked-out region stand still.
            poller.paused = functools.partial(self.blackouts.is_out, graph.region)

    # Blackout

    def black_out(self, region: str) -> dict[str, Any]:
        """`region` suffers a real outage until ``restore``: its APIs refuse connections (their
        listening sockets are closed and their open connections cut, so a client gets ECONNREFUSED,
        as from an address nothing answers at), its functions run nothing and lose their warm
        environments, its services stand still, moto drops requests signed for it, and global-table
        replication to and from it queues up."""
        with self.blackout_lock:
            if self.blackouts.is_out(region):
                raise Conflict(f"{region} is already blacked out")
            # Dark from the command on: no invocation starts and moto drops the region's calls
            # before the API servers close, which takes a while (each waits for its serving loop's
            # poll). A request sent meanwhile on a kept connection must not run: its answer would
            # be cut, its click retried in another region after this one had published it.
            self.blackouts.begin(region)
            if self.link is not None:
                self.link.send("blackout", region)
            # All at once: each waits for its serving loop's poll and its requests in flight.
            closing = [
                threading.Thread(target=_close, args=(self.api_servers.pop(port),), name=f"close-{port}")
                for port in self._api_ports(region)
            ]
            for thread in closing:
                thread.start()
            for thread in closing:
                thread.join()
            for function in self.regions[region].functions.values():
                function.lose_environments()
            self.outages[region] = {"started": self.blackouts.since(region), "ended": None}
            log.warning("%s is blacked out", region)
            return self.region_state(region)

    def restore(self, region: str) -> dict[str, Any]:
        """End `region`'s outage: moto answers for it, its services and functions run, its APIs
        listen again on the same ports, and the writes queued for it replicate (``Streams.drains``)."""
        with self.blackout_lock:
            if not self.blackouts.is_out(region):
                raise Conflict(f"{region} is not blacked out")
            if self.link is not None:
                self.link.send("restore", region)
            self.streams.restored(region)  # the backlog's size before any of it drains
            self.blackouts.end(region)
            for port in self._api_ports(region):
                self.api_servers[port] = self.serve(self._api_apps[port], port)
            self.outages[region]["ended"] = self.streams.drains[region].restored
            log.warning("%s is restored", region)
            return self.region_state(region)

    def region_state(self, region: str) -> dict[str, Any]:
        """What the control API says of `region` (see ``localcloud.control``)."""
        since = self.blackouts.since(region)
        state: dict[str, Any] = {
            "region": region,
            "state": "blackout" if since is not None else "up",
            "since": _iso(since),
            "backlog": self.streams.backlog(region),
            "lastOutage": None,
        }
        if (outage := self.outages.get(region)) is not None:
            drain = self.streams.drains.get(region) if outage["ended"] is not None else None
            drained = drain.drained if drain is not None else None
            state["lastOutage"] = {
                "started": _iso(outage["started"]),
                "ended": _iso(outage["ended"]),
                "backlog": drain.backlog if drain is not None else None,
                "drainedAt": _iso(drained),
                "drainSeconds": round(drained - drain.restored, 3)
                if drain is not None and drained is not None
                else None,
            }
        return state

    def _api_ports(self, region: str) -> list[int]:
        return [int(url.rsplit(":", 1)[1]) for url in self.regions[region].urls.values()]

    # Lifecycle

    def serve(self, app: Any, port: int) -> PooledServer:
        server = PooledServer(port, app)
        self.servers.append(server)
        threading.Thread(target=server.serve_forever, name=f"http-{port}", daemon=True).start()
        return server

    def start(self) -> None:
        self.runner.start()
        self.streams.start()
        for shipper in self.shippers.values():
            shipper.start()
        self._api_apps: dict[int, Any] = {}
        for region in self.regions.values():
            for kind, api in region.apis.items():
                port = int(region.urls[kind].rsplit(":", 1)[1])
                self._api_apps[port] = api
                self.api_servers[port] = self.serve(api, port)
        for poller in self.pollers:
            poller.start()
        self.cloudwatch.start()
        self.fis.start()

    def stop(self) -> None:
        self.fis.stop()
        self.cloudwatch.stop()
        for poller in self.pollers:
            poller.stop()
        self.streams.stop()
        for server in self.servers:
            if server.socket.fileno() != -1:  # not closed by a blackout
                server.shutdown()
                server.server_close()
        self.runner.stop()


def _ship_json(ship: Callable[[str, str, str], None], group: str, stream: str, entry: Any) -> None:
    ship(group, stream, json.dumps(entry))


def _close(server: PooledServer) -> None:
    server.shutdown()
    server.server_close()


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def _qualifier(arn: str) -> str | None:
    """The version or alias a function ARN names, None for an unqualified one."""
    parts = arn.split(":")
    return parts[7] if len(parts) > 7 else None


def _log_group_name(arn: str) -> str:
    return arn.split(":log-group:", 1)[1].removesuffix(":*")
