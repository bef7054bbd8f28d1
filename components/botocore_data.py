"""Trimmed botocore data for one function: only the AWS operations it calls.

A function's first botocore client costs 60-95 ms with botocore's own data: it parses the
service's full model (hundreds of operations), the 1.25 MB ``endpoints.json``, and lists
botocore's ~450 service folders to learn which services exist. The functions call a handful of
operations (declared in ``functions/aws-operations.toml``), so each package carries
``botocore-data/``, a strict subset of the data in the pinned botocore, in botocore's own
layout; ``functions/shared/aws.py`` points a botocore ``Loader`` at it (botocore's documented
search-path mechanism, the one behind ``AWS_DATA_PATH``) and the first client costs 1-7 ms.

What is kept, per service: the declared operations, the operations botocore uses for endpoint
discovery, every shape they reach, every error shape (``client.exceptions`` lists them all)
and the paginators of the declared operations, without their documentation strings (three
quarters of a model's bytes, which botocore reads only to write docstrings); the endpoint rule
set and ``*-extras`` files whole. Shared files: ``endpoints.json`` with only our services in
every partition, the others (``partitions.json``, ``_retry.json``,
``sdk-default-configuration.json``) whole.

Every file is compact JSON, uncompressed (botocore reads ``.json`` before ``.json.gz``): botocore
ships S3's rule set gzipped and indented, 921 KB of JSON, which took 2.7 ms of each cold start
to inflate and parse; compact and plain it is 119 KB and parses in 1.0 ms (the zip compresses it
in the package anyway). Measured over a clicks package's files: 4.9 ms, now 2.4.
"""

from __future__ import annotations

import functools
import gzip
import json
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import botocore
from botocore.loaders import Loader
from botocore.model import ServiceModel

ROOT = Path(__file__).resolve().parent.parent
DECLARATION = ROOT / "functions" / "aws-operations.toml"
FOLDER = "botocore-data"
MANIFEST = "manifest.json"
# Shared files botocore loads when it creates a client (besides endpoints.json, trimmed).
SHARED_FILES = ("partitions.json", "_retry.json", "sdk-default-configuration.json")


def declared_operations() -> dict[str, dict[str, list[str]]]:
    """``functions/aws-operations.toml``: function folder -> service -> operation names."""
    with DECLARATION.open("rb") as file:
        return tomllib.load(file)


def botocore_data(operations: Mapping[str, Sequence[str]]) -> dict[str, bytes]:
    """The files of ``botocore-data/`` for these services' operations, by path inside it.

    Deterministic: the same botocore and the same operations give the same bytes.
    """
    files: dict[str, bytes] = {}
    rule_set_functions: set[str] = set()
    service_ids: dict[str, str] = {}
    prefixes: set[str] = set()
    for service in sorted(operations):
        wanted = set(operations[service])
        version = _loader().determine_latest_version(service, "service-2")
        folder = _builtin() / service / version
        model = _json(folder / "service-2.json")
        service_ids[service] = ServiceModel(model, service).service_id.hyphenize()
        unknown = wanted - set(model["operations"])
        if unknown:
            names = ", ".join(sorted(unknown))
            raise ValueError(f"functions/aws-operations.toml: {service} has no operation {names}")
        prefixes.add(model["metadata"]["endpointPrefix"])
        base = f"{service}/{version}"
        files[f"{base}/service-2.json"] = _dump(trim_model(model, wanted))
        pages = _optional_json(folder / "paginators-1.json")
        kept_pages = {name: page for name, page in pages.get("pagination", {}).items() if name in wanted}
        if kept_pages:
            files[f"{base}/paginators-1.json"] = _dump({"pagination": kept_pages})
        extras = _optional_json(folder / "paginators-1.sdk-extras.json")
        extra_pages = extras.get("merge", {}).get("pagination", {})
        kept_extras = {name: page for name, page in extra_pages.items() if name in kept_pages}
        if kept_extras:
            files[f"{base}/paginators-1.sdk-extras.json"] = _dump(
                {**extras, "merge": {"pagination": kept_extras}}
            )
        rule_set = _json(folder / "endpoint-rule-set-1.json")
        files[f"{base}/endpoint-rule-set-1.json"] = _dump(rule_set)
        rule_set_functions |= set(_rule_set_functions(rule_set))
        model_extras = _optional_json(folder / "service-2.sdk-extras.json")
        if model_extras:
            files[f"{base}/service-2.sdk-extras.json"] = _dump(model_extras)
    endpoints = _json(_builtin() / "endpoints.json")
    for partition in endpoints["partitions"]:
        services = partition["services"]
        partition["services"] = {name: spec for name, spec in services.items() if name in prefixes}
    files["endpoints.json"] = _dump(endpoints)
    for name in SHARED_FILES:
        files[name] = _dump(_json(_builtin() / name))
    files[MANIFEST] = _dump(
        {
            "botocore": botocore.__version__,
            "operations": {service: sorted(operations[service]) for service in sorted(operations)},
            # The names clients of these services emit events under (shared.aws registers
            # botocore's built-in handlers for these only).
            "serviceIds": service_ids,
            # shared.aws checks the running botocore knows each one before using this data.
            "ruleSetFunctions": sorted(rule_set_functions),
        }
    )
    return dict(sorted(files.items()))


def trim_model(model: dict[str, Any], operations: set[str]) -> dict[str, Any]:
    """``model`` (a service-2 document) with only ``operations`` and the shapes they need."""
    kept_operations = {
        name: operation
        for name, operation in model["operations"].items()
        if name in operations or operation.get("endpointoperation")
    }
    shapes = model["shapes"]
    roots = [name for name, shape in shapes.items() if shape.get("exception")]
    for operation in kept_operations.values():
        roots += [ref["shape"] for ref in _operation_refs(operation)]
    reached: set[str] = set()
    while roots:
        name = roots.pop()
        if name not in reached:
            reached.add(name)
            roots += [ref["shape"] for ref in _shape_refs(shapes[name])]
    return _undocumented(
        {
            **model,
            "operations": kept_operations,
            "shapes": {name: shape for name, shape in shapes.items() if name in reached},
        }
    )


def _undocumented(model: dict[str, Any]) -> dict[str, Any]:
    """The model without its documentation strings (three quarters of its bytes, read by
    botocore only to write docstrings): from the service, each operation, shape and reference.
    Member names are data, so a member called ``documentation`` stays."""

    def operation(spec: dict[str, Any]) -> dict[str, Any]:
        spec = _without_documentation(spec)
        for key in ("input", "output"):
            if key in spec:
                spec[key] = _without_documentation(spec[key])
        if "errors" in spec:
            spec["errors"] = [_without_documentation(ref) for ref in spec["errors"]]
        return spec

    def shape(spec: dict[str, Any]) -> dict[str, Any]:
        spec = _without_documentation(spec)
        for key in ("member", "key", "value"):
            if key in spec:
                spec[key] = _without_documentation(spec[key])
        if "members" in spec:
            spec["members"] = {name: _without_documentation(ref) for name, ref in spec["members"].items()}
        return spec

    return {
        **_without_documentation(model),
        "operations": {name: operation(spec) for name, spec in model["operations"].items()},
        "shapes": {name: shape(spec) for name, spec in model["shapes"].items()},
    }


def _without_documentation(spec: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in spec.items() if key != "documentation"}


def _operation_refs(operation: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("input", "output"):
        if key in operation:
            yield operation[key]
    yield from operation.get("errors", [])


def _shape_refs(shape: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("member", "key", "value"):
        if key in shape:
            yield shape[key]
    yield from shape.get("members", {}).values()


def _rule_set_functions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("fn"), str):
            yield node["fn"]
        for value in node.values():
            yield from _rule_set_functions(value)
    elif isinstance(node, list):
        for value in node:
            yield from _rule_set_functions(value)


@functools.cache
def _loader() -> Any:
    return Loader(include_default_search_paths=False, extra_search_paths=[str(_builtin())])


def _builtin() -> Path:
    return Path(Loader.BUILTIN_DATA_PATH)


@functools.cache
def _text(path: Path) -> str:
    """The JSON text at ``path`` (botocore ships the large files gzipped, as ``<path>.gz``)."""
    if path.is_file():
        return path.read_text(encoding="utf-8")
    packed = path.with_name(path.name + ".gz")
    if packed.is_file():
        return gzip.decompress(packed.read_bytes()).decode("utf-8")
    raise FileNotFoundError(path)


def _json(path: Path) -> Any:
    # Parsed afresh on each call: callers trim what they get.
    return json.loads(_text(path.with_name(path.name.removesuffix(".gz"))))


def _optional_json(path: Path) -> Any:
    try:
        return _json(path)
    except FileNotFoundError:
        return {}


def _dump(data: Any) -> bytes:
    # Key order as botocore ships it; compact: these files are parsed on every cold start.
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
