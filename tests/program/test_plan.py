"""``make plan`` (tools/plan.py): what a commit does to each stack, planned in a scratch clone of
this repository's last commit. BASE, the clone's HEAD, is synthesized once for the module; each
test commits one change on a branch of its own (a worktree of the clone) and synthesizes only
the stacks it needs."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tools import plan
from tools.replacements import FORCE_NEW, Effect, _snake, documented, effect
from tools.synth import PLACEHOLDER_SECRETS

from .graphs import PROJECT, ROOT

STACKS = ["us-east-1", "us-west-2"]
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
TABLE = "aws:dynamodb/table:Table"
COMPONENT = f"{PROJECT}:static:StaticContent"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of this repository (its origin/main is the clone's HEAD), with the packages this
    checkout has built linked in, so no synth installs the dependency layer again."""
    repo = tmp_path_factory.mktemp("plan") / "repo"
    git(ROOT, "clone", "--quiet", str(ROOT), str(repo))
    git(repo, "config", "user.email", "plan@example.com")
    git(repo, "config", "user.name", "plan test")
    plan.seed_build(ROOT, repo)
    return repo


@pytest.fixture(scope="module")
def base(scratch: Path) -> dict[str, dict[str, Any]]:
    """Both stacks at the clone's HEAD, synthesized as make plan does: in a temporary worktree."""
    with plan.checkout(scratch, git(scratch, "rev-parse", "HEAD")) as root:
        return plan.synthesize(root, STACKS)


def commit(scratch: Path, branch: str, edit: Callable[[Path], None]) -> Path:
    """A worktree of the clone on a new branch from its HEAD, with `edit` made and committed."""
    tree = scratch.parent / branch
    git(scratch, "worktree", "add", "--quiet", "-b", branch, str(tree), "HEAD")
    plan.seed_build(scratch, tree)
    edit(tree)
    git(tree, "commit", "--quiet", "--all", "--message", branch)
    return tree


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path.name} no longer holds {old!r}: update this test"
    path.write_text(text.replace(old, new))


def rename_static(tree: Path, opts: str = "tagged") -> None:
    replace_in(
        tree / "__main__.py",
        'StaticContent("static", StaticContentArgs(), tagged)',
        f'StaticContent("site", StaticContentArgs(), {opts})',
    )


def test_log_retention_in_one_stack_file_updates_that_stacks_log_groups_only(
    scratch: Path, base: dict[str, dict[str, Any]]
) -> None:
    tree = commit(
        scratch,
        "retention",
        lambda tree: (tree / "Pulumi.us-west-2.yaml").write_text(
            (tree / "Pulumi.us-west-2.yaml").read_text() + f"  {PROJECT}:logRetentionDays: 14\n"
        ),
    )
    heads = plan.synthesize(tree, STACKS)
    plans = {stack: plan.plan_stack(stack, base[stack], heads[stack]) for stack in STACKS}

    west = plans["us-west-2"]
    log_groups = {r["name"] for r in heads["us-west-2"]["resources"] if r["type"] == LOG_GROUP}
    assert {(step.action, step.type) for step in west.changed} == {("update", LOG_GROUP)}
    assert {step.name for step in west.changed} == log_groups
    for step in west.changed:
        assert [(change.path, change.before, change.after) for change in step.changes] == [
            ("retentionInDays", 30, 14)
        ], step.name
    assert west.count("delete") == 0
    assert plans["us-east-1"].changed == []
    assert plan.exit_code(list(plans.values())) == 0
    assert f"0 to create, {len(log_groups)} to update, 0 to replace, 0 to delete" in plan.summary(west)


def test_changed_table_key_schema_plans_the_table_replaced_with_a_warning_and_exit_2(scratch: Path) -> None:
    def swap_keys(tree: Path) -> None:
        data = tree / "components" / "data.py"
        replace_in(data, "hash_key=PARTITION_KEY,", "hash_key=SORT_KEY,")
        replace_in(data, "range_key=SORT_KEY,", "range_key=PARTITION_KEY,")

    tree = commit(scratch, "key-schema", swap_keys)
    # The whole command, with its default BASE (the merge base with origin/main: the clone's HEAD).
    result = subprocess.run(
        [sys.executable, "-m", "tools.plan", "--repo", str(tree), "--stack", "us-east-1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 2, result.stderr
    rows = [
        line for line in result.stdout.splitlines() if line.startswith("| ⚠️ **replace** | `data-table` |")
    ]
    assert len(rows) == 1, result.stdout
    assert "`hashKey`" in rows[0]
    assert "forces replacement" in rows[0]
    warning = result.stdout.split("> [!WARNING]", 1)[1]
    assert f"`data-table` (`{TABLE}`) is replaced" in warning
    assert not any(secret in result.stdout for secret in PLACEHOLDER_SECRETS.values())
    worktrees = [Path(line.split()[0]) for line in git(scratch, "worktree", "list").splitlines()]
    assert all(path.parent == scratch.parent for path in worktrees), f"BASE's worktree is left: {worktrees}"


def test_renamed_component_plans_delete_and_create_with_an_aliases_hint(
    scratch: Path, base: dict[str, dict[str, Any]]
) -> None:
    tree = commit(scratch, "rename", rename_static)
    east = plan.plan_stack("us-east-1", base["us-east-1"], plan.synthesize(tree, ["us-east-1"])["us-east-1"])

    actions = {(step.action, step.type, step.name) for step in east.steps}
    assert {("delete", COMPONENT, "static"), ("create", COMPONENT, "site")} <= actions
    assert {
        ("delete", "aws:s3/bucket:Bucket", "static-bucket"),
        ("create", "aws:s3/bucket:Bucket", "site-bucket"),
    } <= actions
    (hint,) = [hint for hint in east.hints if hint.startswith("`static` → `site`")]
    assert 'aliases=[pulumi.Alias(name="static")]' in hint
    assert plan.exit_code([east]) == 2  # the bucket and its objects would go


def test_renamed_component_with_the_hinted_alias_plans_no_change(
    scratch: Path, base: dict[str, dict[str, Any]]
) -> None:
    alias = (
        'pulumi.ResourceOptions.merge(tagged, pulumi.ResourceOptions(aliases=[pulumi.Alias(name="static")]))'
    )
    tree = commit(scratch, "rename-with-alias", lambda tree: rename_static(tree, alias))
    east = plan.plan_stack("us-east-1", base["us-east-1"], plan.synthesize(tree, ["us-east-1"])["us-east-1"])

    assert east.changed == [], plan.render_stack(east)
    assert plan.exit_code([east]) == 0


def test_every_replacement_fact_names_an_input_of_its_pulumi_aws_resource() -> None:
    for typ, facts in FORCE_NEW.items():
        module, resource = typ.split(":")[1].split("/")
        package = "lambda_" if module == "lambda" else module
        source = importlib.import_module(f"pulumi_aws.{package}.{_snake(resource)}")
        # Every generated resource takes all its inputs as keywords here.
        parameters = inspect.signature(getattr(source, typ.split(":")[2])._internal_init).parameters
        inputs = {plan_name(name) for name in parameters}
        named = facts.replaces | facts.sometimes
        assert named <= inputs, f"{typ}: {sorted(named - inputs)} are not inputs"


def plan_name(parameter: str) -> str:
    head, *rest = parameter.split("_")
    return head + "".join(part.title() for part in rest)


def test_replacement_comes_from_the_pulumi_aws_docs_where_they_say_so() -> None:
    assert "snapshotArns" in documented("aws:elasticache/cluster:Cluster")
    assert effect("aws:elasticache/cluster:Cluster", "snapshotArns", [])[0] is Effect.REPLACE


def test_an_input_change_nobody_documents_may_replace() -> None:
    assert effect("aws:apigatewayv2/stage:Stage", "defaultRouteSettings", [])[0] is Effect.MAY_REPLACE
    assert effect(LOG_GROUP, "region", [])[0] is Effect.MAY_REPLACE
    assert effect(LOG_GROUP, "retentionInDays", [])[0] is Effect.UPDATE
    assert effect(LOG_GROUP, "retentionInDays", ["retentionInDays"])[0] is Effect.REPLACE


def test_long_values_are_shortened_and_safe_in_a_table_cell() -> None:
    shown = plan._code("a|" * 100)
    assert "…" in shown
    assert len(shown.replace("\\|", "|")) <= plan.SHORT + 4  # the quotes and backticks
    assert "|" not in shown.replace("\\|", "")
