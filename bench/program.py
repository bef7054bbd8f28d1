"""The program's own figures: synth time per stack and the size of every deployment package."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def stacks() -> list[str]:
    return sorted(
        path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in ROOT.glob("Pulumi.*.yaml")
    )


def synth(stack: str) -> tuple[float, dict[str, Any]]:
    """`make synth` for one stack in a fresh interpreter: wall seconds and the graph."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "tools.synth", stack], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return time.perf_counter() - started, json.loads(result.stdout)


def synth_times(repeats: int = 3) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for stack in stacks():
        runs = [synth(stack) for _ in range(repeats)]
        figures[stack] = {
            "seconds": round(statistics.median(seconds for seconds, _ in runs), 2),
            "samples": [round(seconds, 2) for seconds, _ in runs],
            "resources": len(runs[0][1]["resources"]),
        }
    return figures


def package_sizes(stack: str = "us-east-1") -> dict[str, Any]:
    """Each function's zip and each layer the program builds, from the stack's graph."""
    _, graph = synth(stack)
    sizes: dict[str, Any] = {}
    for resource in graph["resources"]:
        if resource["type"] not in ("aws:lambda/function:Function", "aws:lambda/layerVersion:LayerVersion"):
            continue
        archive = (resource["inputs"].get("code") or {}).get("FileArchive")
        if not archive:
            continue
        path = ROOT / archive
        with zipfile.ZipFile(path) as zipped:
            unzipped = sum(info.file_size for info in zipped.infolist())
            files = len(zipped.infolist())
        key = resource["inputs"].get("handler", "").split(".")[0] or resource["name"]
        sizes[key] = {
            "kind": "layer" if resource["type"].endswith("LayerVersion") else "function",
            "zipBytes": path.stat().st_size,
            "unzippedBytes": unzipped,
            "files": files,
        }
    return dict(sorted(sizes.items()))
