"""Run the real Pulumi program (``__main__.py``) for one stack, without the Pulumi CLI.

Pulumi's mock monitor stands in for the engine; a ``Mocks`` object decides what each resource
and invoke returns (fake outputs for ``make synth``, real moto resources for the local cloud).
The monitor records every registered resource with its parent, inputs and the options the engine
sees (dependencies, provider, retain on delete): the resource graph.

The Pulumi runtime keeps global state: run one stack per process.
"""

from __future__ import annotations

import json
import runpy
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks, rpc
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parent.parent
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"
REDACTED = "[secret]"


@dataclass
class Resource:
    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    custom: bool
    id: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    # URNs this resource waits for: explicit depends_on and those its inputs come from.
    dependencies: list[str] = field(default_factory=list)
    provider: str = ""  # "<provider urn>::<provider id>"; empty for the default provider
    retain_on_delete: bool = False


class GraphMonitor(mocks.MockMonitor):
    """The mock monitor, also recording each resource's parent, inputs, outputs and options."""

    def __init__(self, resource_mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(resource_mocks)
        self.graph: list[Resource] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            registration = self.resources[response.urn]
            resource = Resource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent or None,
                inputs=rpc.deserialize_properties(request.object),
                custom=bool(request.custom),
                id=registration.id or "",
                outputs=dict(registration.state),
                dependencies=sorted(request.dependencies),
                provider=request.provider,
                retain_on_delete=bool(request.retainOnDelete),
            )
            with self._lock:
                self.graph.append(resource)
        return response


def stack_config(stack: str, path: Path | None = None) -> tuple[dict[str, str], list[str]]:
    """The stack file's config as the engine passes it (values as strings) and its secret keys."""
    path = path or ROOT / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise SystemExit(f"no stack file {path.name}: create it with `aws:region: {stack}` under `config:`")
    raw = yaml.safe_load(path.read_text()) or {}
    config: dict[str, str] = {}
    secrets: list[str] = []
    for key, value in (raw.get("config") or {}).items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(value, dict) and "secure" in value:
            secrets.append(full_key)
            continue  # encrypted by the Pulumi CLI: callers supply their own value
        config[full_key] = value if isinstance(value, str) else json.dumps(value)
    return config, secrets


def run(
    stack: str,
    resource_mocks: pulumi.runtime.Mocks,
    config: dict[str, str],
    secret_keys: list[str],
) -> GraphMonitor:
    """Run __main__.py for `stack` under `resource_mocks`; return the monitor holding the graph."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    pulumi.runtime.set_all_config(config, secret_keys)
    monitor = GraphMonitor(resource_mocks)
    pulumi.runtime.set_mocks(resource_mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
    _sync_await(wait_for_rpcs())
    return monitor


def plain(value: Any) -> Any:
    """A JSON-ready copy of a property value, secrets redacted, assets as their paths."""
    if isinstance(value, dict):
        if value.get(SECRET_SIGNATURE) == "1b47061264138c4ac30d75fd1eb44270":
            return REDACTED
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, pulumi.FileArchive | pulumi.FileAsset):
        return {type(value).__name__: _relative(value.path)}
    if isinstance(value, pulumi.AssetArchive):
        return {"AssetArchive": {key: plain(item) for key, item in value.assets.items()}}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, pulumi.Resource):
        return f"<resource {type(value).__name__}>"
    return str(value)


def _relative(path: str) -> str:
    try:
        return Path(path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path
