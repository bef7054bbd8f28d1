"""Fixtures for the Pulumi program's tests: every stack synthesized once per session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .graphs import THIRD_REGION, THIRD_STACK_FILE, Graph, synthesize


@pytest.fixture(scope="session")
def third_stack_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new region's stack file, as an operator would add it (kept out of the repository)."""
    path = tmp_path_factory.mktemp("stacks") / f"Pulumi.{THIRD_REGION}.yaml"
    path.write_text(THIRD_STACK_FILE)
    return path


@pytest.fixture(scope="session")
def graphs(third_stack_file: Path) -> dict[str, Graph]:
    raw = synthesize(
        ["us-east-1", "us-west-2", THIRD_REGION], "--details", stack_files={THIRD_REGION: third_stack_file}
    )
    return {stack: Graph(stack, data["resources"]) for stack, data in raw.items()}


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
