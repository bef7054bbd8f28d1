"""``make demo``: the whole system on this machine, every region, no AWS account.

Starts moto, turns its IAM enforcement on with an admin and the Lambda service as the only
principals (``localcloud.iam``), deploys every stack at once by running the real Pulumi program
under the mock monitor (a secondary's reads of what the primary publishes wait for the primary,
``localcloud.deployer``), starts the data plane (gateways, Lambda workers, event
delivery), the Slack stand-in and the front door, writes ``.localcloud/state.json`` and prints
a banner. Ctrl-C stops everything it started.

Ports (``LOCALCLOUD_PORT``, default 4700): site +0, dashboards +1, Slack stand-in +2, control API +3,
moto +10 and each region's endpoint into it +11, +12, ..., then each region's user API and Slack
API at +21/+22, +31/+32, ...
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.settings import DEFAULT_PRIMARY, default_primary, project_regions
from localcloud import settings
from localcloud.blackout import MotoLink
from localcloud.settings import ROOT
from tools import program

# The data plane and boto3 (about 0.4 s of imports) are imported where they are first needed,
# once the deployer and moto are started: their imports then overlap those two processes' own,
# which the start waits for.
if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud
    from localcloud.iam.principals import Principals

STATE_DIR = settings.state_dir()
TEAM_ID = "TLOCAL0001"


@dataclass(frozen=True)
class Ports:
    base: int

    @property
    def site(self) -> int:
        return self.base

    @property
    def dashboard(self) -> int:
        return self.base + 1

    @property
    def slack(self) -> int:
        return self.base + 2

    @property
    def control(self) -> int:
        return self.base + 3

    @property
    def moto(self) -> int:
        return self.base + 10

    def endpoint(self, index: int) -> int:
        """moto's port for the index-th region's endpoint (``localcloud.motoserver.Blackout``)."""
        return self.base + 11 + index

    def apis(self, index: int) -> dict[str, int]:
        return {"user-http-api": self.base + 21 + 10 * index, "slack-http-api": self.base + 22 + 10 * index}


@dataclass(frozen=True)
class LocalSecrets:
    signing_secret: str
    demo_password: str
    webhook_url: str

    @classmethod
    def generate(cls, slack_port: int) -> LocalSecrets:
        # A fresh strong password each run; the banner and state.json tell it.
        password = f"Demo-{secrets.token_urlsafe(9)}-7a!"
        hook = f"http://127.0.0.1:{slack_port}/services/{TEAM_ID}/BLOCAL0001/{secrets.token_hex(12)}"
        return cls(secrets.token_hex(16), password, hook)


def stacks(listed: tuple[str, ...] | None = None) -> list[str]:
    """The stacks to run, primary first: `listed` (LOCALCLOUD_STACKS, --stacks) or every region with
    a stack file. The primary is the stack files' primaryRegion, else us-east-1 (components.settings)."""
    chosen = list(listed or project_regions(ROOT))
    configured = [
        program.stack_config(stack)[0].get(f"{program.PROJECT}:primaryRegion")
        for stack in chosen
        if (ROOT / f"Pulumi.{stack}.yaml").exists()
    ]
    primary = next(filter(None, configured), None) or default_primary(tuple(chosen), explicit=False)
    if primary not in chosen:
        raise SystemExit(
            f"localcloud: the stacks {', '.join(chosen)} leave out the primary region "
            f"{primary or DEFAULT_PRIMARY}: list it first in {settings.STACKS} or --stacks"
        )
    return [primary, *(region for region in chosen if region != primary)]


def stack_settings(stack: str, local: LocalSecrets, regions: list[str]) -> dict[str, Any]:
    project = program.PROJECT
    if (ROOT / f"Pulumi.{stack}.yaml").exists():
        config, secret_keys = program.stack_config(stack)
    else:
        # What a new region's stack file holds (README, Adding a region); the banner says so.
        config, secret_keys = {"aws:region": stack}, []
    overrides = {
        f"{project}:slackSigningSecret": local.signing_secret,
        f"{project}:slackWebhookUrl": local.webhook_url,
        f"{project}:slackTeamIds": TEAM_ID,
        f"{project}:demoPassword": local.demo_password,
        f"{project}:deletionProtection": "false",
    }
    config.update(overrides)
    # The regions that run, primary first, as the stack files of them all would give (a stack that
    # sets its own keeps them).
    config.setdefault(f"{project}:regions", json.dumps(regions))
    secret_keys += [f"{project}:slackSigningSecret", f"{project}:slackWebhookUrl", f"{project}:demoPassword"]
    return {"config": config, "secrets": sorted(set(secret_keys))}


class Deployers:
    """The deployer process (``localcloud.deployer --serve``): started early so its imports
    overlap moto's start, it deploys every stack at once, each in a process forked from itself. It
    runs in a process group of its own, so a terminal's Ctrl-C reaches the local cloud only,
    which stops it and the deployment under way (``cancel``). Its errors go to
    ``.localcloud/deployer.log``, each deployment's to ``.localcloud/<stack>/deploy.log``."""

    def __init__(self) -> None:
        self.log = STATE_DIR / "deployer.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "localcloud.deployer", "--serve"],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                process_group=0,
            )

    def deploy(
        self, regions: list[str], ports: Ports, moto_url: str, local: LocalSecrets, principals: Path
    ) -> list[dict[str, Any]]:
        """Deploy every stack (primary first) at once, and wait for their graphs. A secondary's
        deployment runs beside the primary's; its reads of what the primary publishes wait for
        it, as they would find it after the primary's deployment."""
        started = time.perf_counter()
        requests: list[dict[str, Any]] = [
            {
                "stack": stack,
                "moto": moto_url,
                "ports": ports.apis(index),
                "settings": stack_settings(stack, local, regions),
                "out": str(STATE_DIR / stack / "graph.json"),
                "principals": str(principals),
                "log": str(STATE_DIR / stack / "deploy.log"),
            }
            for index, stack in enumerate(regions)
        ]
        for stack in regions:
            (STATE_DIR / stack).mkdir(parents=True, exist_ok=True)
        assert self.process.stdin is not None and self.process.stdout is not None  # opened as pipes
        with contextlib.suppress(BrokenPipeError):  # it ended: no reply says so below
            self.process.stdin.write("".join(json.dumps(request) + "\n" for request in requests))
            self.process.stdin.close()
        graphs = []
        for request in requests:
            stack = request["stack"]
            reply = self.process.stdout.readline()
            if not reply:
                ended = self.log.read_text()[-4000:]
                raise SystemExit(f"the deployer ended before deploying {stack}:\n{ended}")
            if json.loads(reply)["returncode"] != 0:
                raise SystemExit(f"deploying {stack} failed:\n{Path(request['log']).read_text()[-4000:]}")
            graph: dict[str, Any] = json.loads(Path(request["out"]).read_text())
            took = time.perf_counter() - started
            print(f"  deployed {stack}: {len(graph['resources'])} resources in {took:.1f} s", flush=True)
            graphs.append(graph)
        return graphs

    def close(self) -> None:
        """Wait for it to end, once it has answered for every stack."""
        self.process.wait()

    def cancel(self) -> None:
        """Stop it and a deployment under way (its child, in its process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def start_moto(port: int, link: MotoLink, endpoints: dict[str, int]) -> subprocess.Popen[bytes]:
    """moto in its own process: the data plane's threads and moto's then don't share a GIL. It
    inherits the blackout channel's other end (`link`) and listens on each region's endpoint
    port too. Returns at once; ``wait_for_moto`` waits for it to listen."""
    with socket.socket() as probe:
        # As the server will: connections closing (TIME_WAIT) don't hold the port, a listener does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise SystemExit(
                f"port {port} (moto) is in use: is another local cloud running? "
                "Stop it or choose other ports with --port / LOCALCLOUD_PORT."
            ) from None
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        [
            sys.executable,
            "-m",
            "localcloud.motoserver",
            "--port",
            str(port),
            "--blackout-fd",
            str(link.child_fd()),
            *(f"--endpoint={region}={endpoint}" for region, endpoint in endpoints.items()),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(link.child_fd(),),
    )
    link.started()
    return process


def wait_for_moto(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"moto could not start on port {port} (is the port in use?)") from None
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"moto did not start on port {port} within 30 s")


def start(port_base: int, regions: list[str] | None = None) -> tuple[LocalCloud, dict[str, Any], list[Any]]:
    """Runs `regions` (primary first; default ``stacks()``) on the ports from `port_base`."""
    ports = Ports(port_base)
    regions = regions or stacks()
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # The deployer starts first: its imports (about 2 s of CPU) are the start's longest wait,
    # longer than moto's (1.4 s), which run beside them. It deploys every stack once moto
    # enforces IAM.
    deployers = Deployers()
    link = MotoLink()
    endpoints = {region: ports.endpoint(index) for index, region in enumerate(regions)}
    local = LocalSecrets.generate(ports.slack)
    moto_url = f"http://127.0.0.1:{ports.moto}"
    principals_file = STATE_DIR / "principals.json"
    moto: subprocess.Popen[bytes] | None = None
    try:
        from localcloud.iam.principals import enforce

        moto = start_moto(ports.moto, link, endpoints)
        wait_for_moto(moto, ports.moto)
        principals = enforce(moto_url)
        principals.save(principals_file)
        warming = threading.Thread(target=warm_data_plane, args=(moto_url, regions[0]), daemon=True)
        warming.start()
        graphs = deployers.deploy(regions, ports, moto_url, local, principals_file)
        deployers.close()
        warming.join()
        return _start_plane(ports, moto, link, graphs, local, principals, endpoints)
    except BaseException:
        deployers.cancel()
        if moto is not None:
            moto.terminate()
        raise


# The services the data plane's own clients call at its start (localcloud.graph.aws_client).
PLANE_SERVICES = ("cloudwatch", "dynamodb", "dynamodbstreams", "fis", "kinesis", "logs", "s3", "sqs")


def warm_data_plane(moto_url: str, region: str) -> None:
    """Import the data plane and load the botocore models its clients use, while the stacks
    deploy and this process only waits for them: about half a second of the data plane's start.
    A client's creation loads its service's model into the one session every later client
    comes from (``localcloud.graph``); the clients made here are not kept."""
    import localcloud.cloud
    import localcloud.cloudwatch.dashboard
    import localcloud.control
    import localcloud.frontdoor
    import localcloud.slack  # noqa: F401 - imported for the data plane's start
    from localcloud.graph import aws_client

    for service in PLANE_SERVICES:
        aws_client(service, region, moto_url)


def _start_plane(
    ports: Ports,
    moto: subprocess.Popen[bytes],
    link: MotoLink,
    graphs: list[dict[str, Any]],
    local: LocalSecrets,
    principals: Principals,
    endpoints: dict[str, int],
) -> tuple[LocalCloud, dict[str, Any], list[Any]]:
    from localcloud.cloud import LocalCloud
    from localcloud.cloudwatch.dashboard import Dashboard
    from localcloud.control import ControlApi
    from localcloud.frontdoor import FrontDoor
    from localcloud.graph import sign_as
    from localcloud.slack import SlackStandIn

    moto_url = f"http://127.0.0.1:{ports.moto}"
    sign_as(principals.admin)
    regional = {region: f"http://127.0.0.1:{port}" for region, port in endpoints.items()}
    cloud = LocalCloud(graphs, moto_url, STATE_DIR, principals, link, regional)
    cloud.start()
    control = f"http://127.0.0.1:{ports.control}"
    cloud.serve(ControlApi(cloud, control), ports.control)

    slack_apis = {name: region.urls["slack"] for name, region in cloud.regions.items()}
    slack = SlackStandIn(local.signing_secret, TEAM_ID, slack_apis, control)
    cloud.serve(slack, ports.slack)
    door = FrontDoor({name: region.urls["user"] for name, region in cloud.regions.items()})
    door.start()
    cloud.serve(door, ports.site)
    links = {"App": f"http://127.0.0.1:{ports.site}", "Slack inbox": f"http://127.0.0.1:{ports.slack}/inbox"}
    cloud.serve(Dashboard.of(cloud, links), ports.dashboard)

    primary = cloud.regions[graphs[0]["region"]].graph
    username = next((u["inputs"]["username"] for u in primary.of_type("aws:cognito/user:User")), "demo")
    state = {
        "site": f"http://127.0.0.1:{ports.site}",
        "dashboard": f"http://127.0.0.1:{ports.dashboard}",
        "moto": moto_url,
        # The local control API (never in AWS): a region's blackout and restore.
        "control": control,
        # The admin's keys, for tools and tests that look into moto: IAM is enforced there.
        "admin": {
            "accessKeyId": principals.admin.access_key_id,
            "secretAccessKey": principals.admin.secret_access_key,
        },
        "regions": {
            name: {"api": r.urls["user"], "slackApi": r.urls["slack"]} for name, r in cloud.regions.items()
        },
        "demoUser": {"username": username, "password": local.demo_password},
        "slack": {
            "signingSecret": local.signing_secret,
            "teamId": TEAM_ID,
            "inbox": f"http://127.0.0.1:{ports.slack}/inbox",
            "console": f"http://127.0.0.1:{ports.slack}/console",
        },
        # Stacks run without a stack file: with aws:region alone, as a new one holds.
        "withoutStackFile": [name for name in cloud.regions if not (ROOT / f"Pulumi.{name}.yaml").exists()],
        "notEmulated": sorted({item["type"] for g in graphs for item in g["notEmulated"]}),
        "runtimes": {name: runtime.describe() for name, runtime in sorted(cloud.runtimes.items())},
    }
    # Whole or not at all: whoever waits for the file (make demo's users, the tests) reads it as
    # soon as it appears. Written beside it, then renamed over it, in one step.
    path = STATE_DIR / "state.json"
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(state, indent=2))
    partial.chmod(0o600)
    partial.replace(path)
    return cloud, state, [moto, door]


def shutdown(cloud: LocalCloud, extras: list[Any]) -> None:
    """Stop everything ``start`` started: the data plane, the front door's probes and moto."""
    cloud.stop()
    moto, door = extras
    door.stopped.set()
    moto.terminate()
    try:
        moto.wait(timeout=10)
    except subprocess.TimeoutExpired:
        moto.kill()
        moto.wait(timeout=10)


def banner(state: dict[str, Any]) -> str:
    lines = [
        "",
        f"  Local cloud is up ({len(state['regions'])} regions from the real Pulumi program, on moto)",
        "",
        f"  App (front door)   {state['site']}",
        f"  Dashboards         {state['dashboard']}",
    ]
    for region, urls in state["regions"].items():
        lines.append(f"  {region:<18} {urls['api']}   Slack API {urls['slackApi']}")
    lines += [
        f"  {region:<18} no Pulumi.{region}.yaml: run with aws:region {region} alone, as one would hold"
        for region in state.get("withoutStackFile", [])
    ]
    lines += [
        f"  Slack console      {state['slack']['console']}",
        f"  Slack inbox        {state['slack']['inbox']}",
        f"  moto               {state['moto']} (IAM enforced; admin keys in state.json)",
        f"  Control            {state['control']}/regions (blackout and restore a region)",
        f"  Demo user          {state['demoUser']['username']} / {state['demoUser']['password']}",
        *(f"  Lambda runtime     {line}" for line in state["runtimes"].values()),
        "  Not emulated       " + (", ".join(state["notEmulated"]) or "none") + "; X-Ray tracing",
        f"  State              {STATE_DIR / 'state.json'}",
        "",
        "  Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    try:
        checked = settings.load()
    except settings.SettingError as error:
        raise SystemExit(f"localcloud: {error}") from None
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=checked.port)
    parser.add_argument(
        "--stacks",
        help=f"the stacks to run, e.g. us-east-1,us-west-2,eu-west-1 (default: {settings.STACKS}, else every "
        "stack file's)",
    )
    options = parser.parse_args()
    try:
        listed = settings.parse_stacks(options.stacks, "--stacks") if options.stacks else checked.stacks
    except settings.SettingError as error:
        raise SystemExit(f"localcloud: {error}") from None
    regions = stacks(listed)
    # From before the start: a Ctrl-C that lands while it ends (state.json written, the banner
    # not yet printed) stops the whole cloud once it is up, instead of interrupting the main
    # thread and leaving the servers' threads running. A second one stops the start itself.
    stop = threading.Event()

    def on_signal(*_: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    started = time.perf_counter()
    print("Starting the local cloud...", flush=True)
    cloud, state, extras = start(options.port, regions)
    print(banner(state), flush=True)
    print(f"  Ready in {time.perf_counter() - started:.1f} s", flush=True)
    # Waited in short steps: Python runs a signal's handler in the main thread only, between its
    # bytecodes, and the kernel may hand a process's signal to any of its threads (the servers',
    # the pollers'). One that lands elsewhere does not interrupt a wait with no timeout, and the
    # handler would wait with it: a fresh-clone CI run's Ctrl-C left the cloud up, "Stopping..."
    # never printed. https://docs.python.org/3/library/signal.html#signals-and-threads
    while not stop.wait(timeout=0.1):
        pass
    print("\nStopping...", flush=True)
    shutdown(cloud, extras)
    (STATE_DIR / "state.json").unlink(missing_ok=True)
    (STATE_DIR / "principals.json").unlink(missing_ok=True)
    print("Stopped.", flush=True)


if __name__ == "__main__":
    main()
