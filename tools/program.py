"""Run the real Pulumi program (``__main__.py``) for one stack, without the Pulumi CLI.

Pulumi's mock monitor stands in for the engine; a ``Mocks`` object decides what each resource
and invoke returns (fake outputs for ``make synth``, real moto resources for the local cloud).
The monitor records every registered resource with its parent, inputs and the options the engine
sees (dependencies, provider, aliases, protect, retain on delete, ignore and replace on changes):
the resource graph; ``run`` adds the stack's outputs (``pulumi.export``).

``root`` is the repository whose program runs (``__main__.py``, ``Pulumi.yaml``, the stack files);
by default this one. ``make plan`` runs an older commit's program, checked out elsewhere, with
this synth.

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


def project_name(root: Path = ROOT) -> str:
    return str(yaml.safe_load((root / "Pulumi.yaml").read_text())["name"])


PROJECT = project_name()
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"
REDACTED = "[secret]"
# The program's own packages, imported from the checkout whose program runs.
PROGRAM_PACKAGES = ("components", "functions")


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
    protect: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    replace_on_changes: list[str] = field(default_factory=list)
    # Earlier identities the resource claims (the `aliases` option): {"urn"} or a spec with any of
    # "name", "type", "parentUrn", "noParent"; what is left out is the resource's own.
    aliases: list[dict[str, Any]] = field(default_factory=list)


class GraphMonitor(mocks.MockMonitor):
    """The mock monitor, also recording each resource's parent, inputs, outputs and options."""

    def __init__(self, resource_mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(resource_mocks)
        self.graph: list[Resource] = []
        self.stack_outputs: dict[str, Any] = {}
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
                protect=bool(request.protect),
                ignore_changes=list(request.ignoreChanges),
                replace_on_changes=list(request.replaceOnChanges),
                aliases=[_alias(alias) for alias in request.aliases]
                + [{"urn": urn} for urn in request.aliasURNs],
            )
            with self._lock:
                self.graph.append(resource)
        return response


def _alias(alias: Any) -> dict[str, Any]:
    if alias.WhichOneof("alias") == "urn":
        return {"urn": alias.urn}
    spec = alias.spec
    fields = {"name": spec.name, "type": spec.type, "parentUrn": spec.parentUrn, "noParent": spec.noParent}
    return {key: value for key, value in fields.items() if value}


def stack_config(stack: str, path: Path | None = None, root: Path = ROOT) -> tuple[dict[str, str], list[str]]:
    """The stack file's config as the engine passes it (values as strings) and its secret keys."""
    path = path or root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise SystemExit(f"no stack file {path.name}: create it with `aws:region: {stack}` under `config:`")
    raw = yaml.safe_load(path.read_text()) or {}
    config: dict[str, str] = {}
    secrets: list[str] = []
    project = project_name(root)
    for key, value in (raw.get("config") or {}).items():
        full_key = key if ":" in key else f"{project}:{key}"
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
    root: Path = ROOT,
) -> GraphMonitor:
    """Run root's __main__.py for `stack` under `resource_mocks`; return the monitor holding the
    graph and the stack's outputs."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    _forget_other_checkouts(root)
    pulumi.runtime.set_all_config(config, secret_keys)
    monitor = GraphMonitor(resource_mocks)
    pulumi.runtime.set_mocks(
        resource_mocks, project=project_name(root), stack=stack, preview=False, monitor=monitor
    )
    runpy.run_path(str(root / "__main__.py"), run_name="__main__")
    _sync_await(wait_for_rpcs())
    monitor.stack_outputs = _exports()
    return monitor


def _forget_other_checkouts(root: Path) -> None:
    """Drop the program's packages (``components``, ``functions``) already imported from another
    checkout, so the program in `root` imports its own: the synth of ``make plan --root`` runs
    in this checkout, whose tools may import a module of ``components`` before the program runs
    (localcloud.settings does), and Python would otherwise reuse it for the other commit."""
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if (
            name.split(".")[0] in PROGRAM_PACKAGES
            and file
            and not Path(file).resolve().is_relative_to(root.resolve())
        ):
            del sys.modules[name]


def _exports() -> dict[str, Any]:
    """The program's ``pulumi.export`` values, resolved, secrets redacted. Run by path, the program
    never reaches the point where the engine would register them."""
    stack = pulumi.runtime.settings.get_root_resource()
    exported: dict[str, Any] = {}
    for name, value in (getattr(stack, "outputs", None) or {}).items():
        output = pulumi.Output.from_input(value)
        exported[name] = REDACTED if _sync_await(output.is_secret()) else _sync_await(output.future())
    return exported


def plain(value: Any, root: Path = ROOT) -> Any:
    """A JSON-ready copy of a property value, secrets redacted, assets as their paths in root."""
    if isinstance(value, dict):
        if value.get(SECRET_SIGNATURE) == "1b47061264138c4ac30d75fd1eb44270":
            return REDACTED
        return {key: plain(item, root) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item, root) for item in value]
    if isinstance(value, pulumi.FileArchive | pulumi.FileAsset):
        return {type(value).__name__: _relative(value.path, root)}
    if isinstance(value, pulumi.AssetArchive):
        return {"AssetArchive": {key: plain(item, root) for key, item in value.assets.items()}}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, pulumi.Resource):
        return f"<resource {type(value).__name__}>"
    return str(value)


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path
