"""Fixtures for the Pulumi program's tests: every stack synthesized once per session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .graphs import FEATURE_STACKS, THIRD_REGION, THIRD_STACK_FILE, Graph, feature_stack_file, synthesize


@pytest.fixture(scope="session")
def third_stack_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new region's stack file, as an operator would add it (kept out of the repository)."""
    path = tmp_path_factory.mktemp("stacks") / f"Pulumi.{THIRD_REGION}.yaml"
    path.write_text(THIRD_STACK_FILE)
    return path


@pytest.fixture(scope="session")
def feature_stack_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both regions' stack files with every optional feature on, by graph label."""
    files = {}
    for stack in FEATURE_STACKS:
        path = tmp_path_factory.mktemp("features") / f"Pulumi.{stack}.yaml"
        path.write_text(feature_stack_file(stack))
        files[f"{stack}+features"] = path
    return files


@pytest.fixture(scope="session")
def graphs(third_stack_file: Path, feature_stack_files: dict[str, Path]) -> dict[str, Graph]:
    stack_files = {THIRD_REGION: third_stack_file, **feature_stack_files}
    raw = synthesize(["us-east-1", "us-west-2", *stack_files], "--details", stack_files=stack_files)
    return {label: Graph(label, data["resources"]) for label, data in raw.items()}


@pytest.fixture(scope="session")
def featured(graphs: dict[str, Graph]) -> list[Graph]:
    """Both regions with every optional feature on."""
    return [graphs[f"{stack}+features"] for stack in FEATURE_STACKS]


@pytest.fixture(scope="session")
def primary(graphs: dict[str, Graph]) -> Graph:
    return graphs["us-east-1"]


@pytest.fixture(scope="session")
def secondary(graphs: dict[str, Graph]) -> Graph:
    return graphs["us-west-2"]


@pytest.fixture(scope="session")
def all_resources(graphs: dict[str, Graph]) -> list[tuple[str, dict[str, Any]]]:
    """Every resource of every synthesized stack, for policy rules."""
    return [(stack, resource) for stack, graph in graphs.items() for resource in graph.resources]
