"""``make plan BASE=<git ref>``: what a change does to each stack, offline, as Markdown.

Each stack (or ``--stack``) is synthesized twice by this checkout's ``make synth`` (``tools/synth.py``
with ``--details``): over BASE, checked out in a temporary git worktree that is removed
afterwards, and over the working tree. The two graphs are compared the way ``pulumi preview``
compares a program with its state: resources are matched by URN, or by an alias the new code
declares (children inherit their parent's, as in Pulumi), and each is created, updated, replaced,
deleted or unchanged; the program's ``ignore_changes`` are honoured. Which input changes replace
a resource comes from ``tools/replacements.py``; a replaced resource's ids and ARNs are new, so
what takes them is updated too ("known after apply").

It cannot see the live state: drift, changes made outside Pulumi, or what AWS would refuse.

Exit status: 0; 2 when a resource that holds data is deleted or replaced (or may be); 1 on error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.program import REDACTED, ROOT
from tools.replacements import STATEFUL, Effect, effect

AFTER_APPLY = "(known after apply)"
PARAMETER = "aws:ssm/parameter:Parameter"
# Built packages are named by the hash of their content: BASE reuses the working tree's.
BUILT = ("functions", "layers")
# A plan comment must stay under GitHub's 65536 characters.
MAX_CHARS = 60000
MAX_CHANGES = 8  # changed inputs listed per resource
SHORT = 60  # characters of a value shown
EMPTY: dict[str, Any] = {"resources": [], "outputs": {}, "lookups": []}


class PlanError(Exception):
    """A plan that cannot be made: a BASE that is not a commit, a program that does not synthesize."""


class _Missing:
    def __repr__(self) -> str:
        return "(none)"


MISSING: Any = _Missing()


# --- the two graphs ------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)  # noqa: S603, S607
    if result.returncode != 0:
        raise PlanError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def base_commit(repo: Path, ref: str | None) -> str:
    """The commit of `ref`; by default the merge base with origin/main, else HEAD~1."""
    if ref is None:
        try:
            return git(repo, "merge-base", "HEAD", "origin/main")
        except PlanError:
            ref = "HEAD~1"
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except PlanError:
        raise PlanError(f"BASE {ref!r} is not a commit of {repo}") from None


def stacks_in(root: Path) -> list[str]:
    return sorted(
        path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in root.glob("Pulumi.*.yaml")
    )


@contextlib.contextmanager
def checkout(repo: Path, commit: str) -> Iterator[Path]:
    """`commit` in a temporary git worktree, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="plan-") as scratch:
        path = Path(scratch) / "base"
        git(repo, "worktree", "add", "--quiet", "--detach", str(path), commit)
        try:
            seed_build(repo, path)
            yield path
        finally:
            try:
                git(repo, "worktree", "remove", "--force", str(path))
            except PlanError:
                shutil.rmtree(path, ignore_errors=True)
                git(repo, "worktree", "prune")


def seed_build(source: Path, target: Path) -> None:
    """Links to source's built packages, so target builds only what differs (above all, not the
    dependency layer, whose build runs pip)."""
    for folder in BUILT:
        built = source / ".build" / folder
        if built.is_dir():
            shutil.copytree(
                built,
                target / ".build" / folder,
                copy_function=_link_or_copy,
                ignore=shutil.ignore_patterns(".*"),
                dirs_exist_ok=True,
            )


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


class Synth:
    """Each stack's graph of the program in `root`, by this checkout's synth, in the background;
    a stack with no stack file in `root` has an empty graph."""

    def __init__(self, root: Path, stacks: list[str]) -> None:
        self.root, self.stacks = root, stacks
        self.processes = {
            stack: subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
                [sys.executable, "-m", "tools.synth", stack, "--details", "--root", str(root)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for stack in stacks
            if (root / f"Pulumi.{stack}.yaml").is_file()
        }

    def stop(self) -> None:
        """Ends what is still running (after another synth failed)."""
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.communicate()

    def graphs(self) -> dict[str, dict[str, Any]]:
        graphs = dict.fromkeys(self.stacks, EMPTY)
        failures = []
        for stack, process in self.processes.items():
            out, err = process.communicate(timeout=600)
            if process.returncode == 0:
                graphs[stack] = json.loads(out)
            else:
                failures.append(f"{stack}: {err.strip()[-2000:]}")
        if failures:
            raise PlanError(f"the program in {self.root} does not synthesize:\n" + "\n".join(failures))
        return graphs


def synthesize(root: Path, stacks: list[str]) -> dict[str, dict[str, Any]]:
    return Synth(root, stacks).graphs()


# --- comparing them ------------------------------------------------------------------------


@dataclass
class Change:
    path: str  # "retentionInDays", "policy:Statement[0].Resource"
    before: Any
    after: Any
    effect: Effect = Effect.UPDATE
    why: str = ""

    @property
    def key(self) -> str:
        """The top-level input the change is in."""
        return self.path.split(":")[0].split(".")[0].split("[")[0]


@dataclass
class Step:
    action: str  # create, update, replace, delete, same
    resource: dict[str, Any]  # the new resource; the old one for a delete
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def type(self) -> str:
        return str(self.resource["type"])

    @property
    def name(self) -> str:
        return str(self.resource["name"])

    @property
    def may_replace(self) -> bool:
        return self.action == "update" and any(change.effect is Effect.MAY_REPLACE for change in self.changes)

    @property
    def loses_data(self) -> bool:
        return (
            self.type in STATEFUL
            and (self.action in ("replace", "delete") or self.may_replace)
            and not self.resource.get("retainOnDelete")
        )


@dataclass
class StackPlan:
    stack: str
    steps: list[Step]
    outputs: list[Change]
    links: list[list[str]]  # rows of the SSM links table
    hints: list[str]

    def count(self, action: str) -> int:
        return sum(step.action == action for step in self.steps)

    @property
    def changed(self) -> list[Step]:
        order = ("delete", "replace", "create", "update")
        steps = [step for step in self.steps if step.action != "same"]
        return sorted(steps, key=lambda step: (order.index(step.action), not step.loses_data, step.name))


def differences(before: Any, after: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Leaf by leaf, what differs: lists of one length item by item, others by the items dropped
    (``[-]``) and added (``[+]``), JSON documents inside."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        return [
            found
            for key in sorted(before.keys() | after.keys())
            for found in differences(before.get(key, MISSING), after.get(key, MISSING), _join(path, key))
        ]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            found
            for index, (old, new) in enumerate(zip(before, after, strict=True))
            for found in differences(old, new, f"{path}[{index}]")
        ]
    if isinstance(before, list) and isinstance(after, list):
        # Items dropped and added, by value: an index would shift under every later item.
        return [(f"{path}[-]", item, MISSING) for item in before if item not in after] + [
            (f"{path}[+]", MISSING, item) for item in after if item not in before
        ]
    documents = _json(before), _json(after)
    if path and documents[0] is not None and documents[1] is not None:
        return differences(documents[0], documents[1], f"{path}:")
    return [(path.removesuffix(":"), before, after)]


def _join(path: str, key: str) -> str:
    return f"{path}{key}" if not path or path.endswith(":") else f"{path}.{key}"


def _json(value: Any) -> Any:
    if not isinstance(value, str) or not value.startswith(("{", "[")):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _ignored(path: str, ignore_changes: list[str]) -> bool:
    return any(
        path == ignored or path.startswith((f"{ignored}.", f"{ignored}[")) for ignored in ignore_changes
    )


def _qualified(urn: str) -> str:
    return urn.split("::")[2]


def _make_urn(like: str, parent: str | None, typ: str, name: str) -> str:
    """A URN as the mock monitor makes them: the parent's type, then the type, then the name."""
    stack, project = like.split("::")[:2]
    qualified = f"{_qualified(parent).split('$')[-1]}${typ}" if parent else typ
    return f"{stack}::{project}::{qualified}::{name}"


def claims(head: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    """Each new resource's earlier URNs: its aliases, and its parent's with the parent's name
    swapped at the start of its own (Pulumi's inherited child aliases)."""
    found: dict[str, set[str]] = {}

    def of(urn: str) -> set[str]:
        if urn in found:
            return found[urn]
        resource = head[urn]
        urns = set()
        for alias in resource.get("aliases", []):
            if "urn" in alias:
                urns.add(alias["urn"])
                continue
            parent = None if alias.get("noParent") else alias.get("parentUrn") or resource["parent"]
            name = alias.get("name") or resource["name"]
            urns.add(_make_urn(urn, parent, alias.get("type") or resource["type"], name))
        parent = head.get(resource["parent"] or "")
        if parent is not None:
            for parent_alias in of(parent["urn"]):
                name = resource["name"]
                if name.startswith(parent["name"]):
                    name = parent_alias.rsplit("::", 1)[-1] + name.removeprefix(parent["name"])
                urns.add(_make_urn(urn, parent_alias, resource["type"], name))
        found[urn] = urns - {urn}
        return found[urn]

    return {urn: of(urn) for urn in head}


def plan_stack(stack: str, base: dict[str, Any], head: dict[str, Any]) -> StackPlan:
    old = {resource["urn"]: resource for resource in base["resources"]}
    new = {resource["urn"]: resource for resource in head["resources"]}
    matched = {urn: urn for urn in new if urn in old}
    claimed = claims(new)
    for urn in sorted(new.keys() - matched.keys()):
        earlier = sorted(claim for claim in claimed[urn] if claim in old and claim not in matched.values())
        if earlier:
            matched[urn] = earlier[0]
    # A resource kept by an alias keeps its physical name and ARNs, but the synth's stand-ins,
    # made from the logical name, change: read the new stand-ins as the old ones everywhere.
    renamed = {
        made: was
        for urn, old_urn in matched.items()
        if urn != old_urn
        for made, was in _renamed_identity(old[old_urn], new[urn]).items()
    }
    new = {urn: _substitute(resource, renamed) for urn, resource in new.items()}
    head_outputs = _substitute(head.get("outputs", {}), renamed)
    steps = {
        urn: _compare(old[matched[urn]], new[urn]) if urn in matched else Step("create", new[urn])
        for urn in new
    }
    deleted = [Step("delete", old[urn]) for urn in sorted(old.keys() - set(matched.values()))]
    for step in deleted:
        if step.resource.get("retainOnDelete"):
            step.notes.append("retained on delete: Pulumi forgets it, AWS keeps it")
    kept = list(steps.values())
    replaced_values = _follow_replacements(kept, [step for step in kept if step.action == "replace"])
    outputs = _outputs(base.get("outputs", {}), head_outputs, replaced_values)
    plan = StackPlan(stack, [*kept, *deleted], outputs, [], [])
    plan.hints += _rename_hints(deleted, [step for step in steps.values() if step.action == "create"])
    return plan


def _renamed_identity(old: dict[str, Any], new: dict[str, Any]) -> dict[str, str]:
    """The new stand-in for each of the old resource's made-up values (id, name, ARNs)."""
    pairs = {new.get("id", ""): old.get("id", "")}
    for key, value in new.get("outputs", {}).items():
        pairs[value if isinstance(value, str) else ""] = old.get("outputs", {}).get(key)
    identity = _identity(new)
    return {
        made: was for made, was in pairs.items() if made in identity and isinstance(was, str) and made != was
    }


def _substitute(value: Any, replacements: dict[str, str]) -> Any:
    """`value` with every string containing a key of `replacements` rewritten with its value."""
    if not replacements:
        return value
    if isinstance(value, dict):
        return {key: _substitute(item, replacements) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, replacements) for item in value]
    if isinstance(value, str):
        for made, was in sorted(replacements.items(), key=lambda pair: -len(pair[0])):
            value = value.replace(made, was)
    return value


def _compare(old: dict[str, Any], new: dict[str, Any]) -> Step:
    ignore = new.get("ignoreChanges", [])
    step = Step("same", new)
    if old["urn"] != new["urn"]:
        step.notes.append(f"was `{old['name']}` (`{_qualified(old['urn'])}`): kept by its alias")
    for path, before, after in differences(old["inputs"], new["inputs"]):
        if not _ignored(path, ignore):
            step.changes.append(Change(path, before, after))
    if _provider(old) != _provider(new):
        step.changes.append(
            Change(
                "(provider)", _provider(old), _provider(new), Effect.MAY_REPLACE, "its provider is another"
            )
        )
    _classify(step)
    return step


def _provider(resource: dict[str, Any]) -> str:
    return str(resource.get("provider") or "").rsplit("::", 1)[0]


def _classify(step: Step) -> None:
    for change in step.changes:
        if change.path != "(provider)":
            change.effect, change.why = effect(
                step.type, change.key, step.resource.get("replaceOnChanges", [])
            )
    if step.type.startswith("pulumi:providers:"):
        # Provider settings reach its resources on their next update (default tags as tag changes).
        for change in step.changes:
            change.effect = Effect.MAY_REPLACE if change.key == "region" else Effect.UPDATE
    if any(change.effect is Effect.REPLACE for change in step.changes):
        step.action = "replace"
    elif step.changes:
        step.action = "update"


def _identity(resource: dict[str, Any]) -> set[str]:
    """What a replacement gives the resource anew: its id and the outputs AWS makes up."""
    inputs = json.dumps(resource["inputs"])
    values = [resource.get("id", ""), *resource.get("outputs", {}).values()]
    return {value for value in values if isinstance(value, str) and len(value) >= 8 and value not in inputs}


def _taint(steps: list[Step], values: set[str], source: str) -> list[Step]:
    """Marks every input leaf that holds one of `values` known only after apply; returns the steps
    this turns into replacements."""
    replaced = []
    for step in steps:
        if step.action in ("create", "delete"):
            continue
        known = {change.path for change in step.changes}
        inputs = step.resource["inputs"]
        found = [
            (path, before)
            for path, before, _ in differences(inputs, _unknown(inputs, values))
            if path not in known and not _ignored(path, step.resource.get("ignoreChanges", []))
        ]
        if not found:
            continue
        was = step.action
        step.changes += [Change(path, before, AFTER_APPLY) for path, before in found]
        step.notes.append(f"takes {source}")
        _classify(step)
        if step.action == "replace" and was != "replace":
            replaced.append(step)
    return replaced


def _follow_replacements(steps: list[Step], pending: list[Step]) -> set[str]:
    """A replaced resource's id and ARNs are new: what takes them changes too, which may replace
    it in turn. The synth cannot know the new values (its stand-ins derive from the logical name,
    which stays). Returns every value that becomes unknown."""
    values: set[str] = set()
    while pending:
        replaced = pending.pop()
        identity = _identity(replaced.resource)
        values |= identity
        others = [step for step in steps if step is not replaced]
        pending += _taint(others, identity, f"the new id or ARN of `{replaced.name}`")
    return values


def _unknown(value: Any, identity: set[str]) -> Any:
    """`value` with each leaf that holds one of `identity` unknown, inside JSON documents too."""
    if isinstance(value, dict):
        return {key: _unknown(item, identity) for key, item in value.items()}
    if isinstance(value, list):
        return [_unknown(item, identity) for item in value]
    if isinstance(value, str) and any(found in value for found in identity):
        document = _json(value)
        return AFTER_APPLY if document is None else json.dumps(_unknown(document, identity))
    return value


def _outputs(before: dict[str, Any], after: dict[str, Any], replaced: set[str]) -> list[Change]:
    changes = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name, MISSING), after.get(name, MISSING)
        if old == new and any(value in json.dumps(new) for value in replaced):
            new = AFTER_APPLY
        if old != new:
            changes.append(Change(name, old, new))
    return changes


def _rename_hints(deleted: list[Step], created: list[Step]) -> list[str]:
    """A delete and a create of one type that look like one resource renamed: Pulumi would
    replace it; an alias keeps it. Children named after a renamed parent follow its alias."""
    free = list(created)
    pairs: dict[str, Step] = {}  # old urn -> new step
    for gone in deleted:
        candidates = [step for step in free if step.type == gone.type]
        if not candidates:
            continue
        best = max(candidates, key=lambda step: _common_suffix(step.name, gone.name))
        if len(candidates) > 1 and _common_suffix(best.name, gone.name) == 0:
            continue
        pairs[gone.resource["urn"]] = best
        free.remove(best)
    olds = {gone.resource["urn"]: gone for gone in deleted}
    hints = []
    for old_urn, step in pairs.items():
        gone = olds[old_urn]
        gone.notes.append(f"renamed to `{step.name}`? see the hints")
        step.notes.append(f"renamed from `{gone.name}`? see the hints")
        parent = pairs.get(gone.resource["parent"] or "")
        if parent is not None and step.name == parent.name + gone.name.removeprefix(
            olds[gone.resource["parent"]].name
        ):
            continue  # follows its parent's alias
        children = sum(1 for urn in pairs if urn != old_urn and _descends(olds, urn, old_urn))
        hints.append(_alias_hint(gone, step, children))
    return hints


def _descends(resources: dict[str, Step], urn: str, ancestor: str) -> bool:
    parent = resources[urn].resource["parent"]
    while parent in resources:
        if parent == ancestor:
            return True
        parent = resources[parent].resource["parent"]
    return False


def _common_suffix(first: str, second: str) -> int:
    size = 0
    while size < min(len(first), len(second)) and first[-1 - size] == second[-1 - size]:
        size += 1
    return size


def _alias_hint(gone: Step, step: Step, children: int) -> str:
    old_urn, new_urn = gone.resource["urn"], step.resource["urn"]
    fields = []
    if gone.name != step.name:
        fields.append(f'name="{gone.name}"')
    if _qualified(old_urn) != _qualified(new_urn):
        old_parent = _qualified(old_urn).rsplit("$", 1)[0] if "$" in _qualified(old_urn) else ""
        fields.append(
            f"parent=<the `{old_parent}` it was under>" if old_parent else "parent=pulumi.ROOT_STACK_RESOURCE"
        )
    with_children = f", and its {children} children," if children else ""
    return (
        f"`{gone.name}` → `{step.name}` (`{step.type}`) looks renamed: Pulumi would delete it{with_children} "
        f"and create a new one. If it is the same thing, keep it with "
        f"`opts=pulumi.ResourceOptions(aliases=[pulumi.Alias({', '.join(fields)})])` on `{step.name}`"
        + ("; children named after it follow its alias." if children else ".")
    )


def _protection_hints(plan: StackPlan) -> list[str]:
    hints = []
    for step in plan.steps:
        inputs = step.resource["inputs"]
        if step.action in ("replace", "delete") and (
            inputs.get("deletionProtectionEnabled") is True or inputs.get("deletionProtection") == "ACTIVE"
        ):
            hints.append(
                f"`{step.name}` has deletion protection on: AWS refuses to delete it, so `pulumi up` "
                "stops there (after creating any replacement) until it is turned off"
            )
        if step.action in ("replace", "delete") and step.resource.get("protect"):
            hints.append(f"`{step.name}` is protected (`protect=True`): `pulumi up` refuses to delete it")
    return hints


# --- SSM links between stacks --------------------------------------------------------------


def _region(graph: dict[str, Any], stack: str) -> str:
    providers = [r for r in graph["resources"] if r["type"] == "pulumi:providers:aws"]
    return str(providers[0]["inputs"].get("region", stack)) if providers else stack


def _published(graph: dict[str, Any], stack: str) -> dict[tuple[str, str], dict[str, Any]]:
    region = _region(graph, stack)
    return {
        (str(r["inputs"].get("region") or region), str(r["inputs"].get("name"))): r
        for r in graph["resources"]
        if r["type"] == PARAMETER and "name" in r["inputs"]
    }


def _value(parameter: dict[str, Any] | None) -> Any:
    if parameter is None:
        return MISSING
    return parameter["inputs"].get("insecureValue", parameter["inputs"].get("value", REDACTED))


def link_rows(plans: dict[str, StackPlan], bases: dict[str, Any], heads: dict[str, Any]) -> None:
    """What this change does to the links between stacks: each stack's table of the SSM
    parameters it publishes or reads that change; the stacks that read a changing parameter are
    planned as their next deploy, after the publisher's, will be; a look-up that no stack
    publishes any more is a hint."""
    readers: dict[tuple[str, str], list[str]] = {}
    for stack, graph in heads.items():
        for lookup in graph.get("lookups", []):
            readers.setdefault((lookup["region"], lookup["name"]), []).append(stack)
    changing: dict[tuple[str, str], str] = {}  # published parameters whose value changes: publisher
    for stack, plan in plans.items():
        _published_changes(plan, bases[stack], heads[stack], readers, changing)
    published_before = {key for stack, graph in bases.items() for key in _published(graph, stack)}
    published_after = {key for stack, graph in heads.items() for key in _published(graph, stack)}
    for stack, plan in plans.items():
        reads_before = {(item["region"], item["name"]) for item in bases[stack].get("lookups", [])}
        reads_after = {(item["region"], item["name"]) for item in heads[stack].get("lookups", [])}
        for key in sorted(reads_before ^ reads_after):
            what = "now read" if key in reads_after else "no longer read"
            plan.links.append([f"`{key[1]}` ({key[0]})", what, "", "", stack])
        for lookup in heads[stack].get("lookups", []):
            key = (lookup["region"], lookup["name"])
            if key in changing and lookup.get("value"):
                publisher = changing[key]
                pending = _taint(plan.steps, {lookup["value"]}, f"`{key[1]}` from {publisher}, which changes")
                _follow_replacements(plan.steps, pending)
                plan.hints.append(
                    f"`{key[1]}` changes in {publisher} and {stack} reads it when it deploys: "
                    f"`pulumi up` {publisher} first; {stack} is shown as its next `pulumi up` will be"
                )
        for key in sorted(reads_after & published_before - published_after):
            plan.hints.append(
                f"{stack} reads `{key[1]}` ({key[0]}), which no stack publishes after this change: its "
                "next `pulumi up` stops with 'deploy the primary region first'"
            )


def _published_changes(
    plan: StackPlan,
    base: dict[str, Any],
    head: dict[str, Any],
    readers: dict[tuple[str, str], list[str]],
    changing: dict[tuple[str, str], str],
) -> None:
    steps = {step.resource["urn"]: step for step in plan.steps}
    before, after = _published(base, plan.stack), _published(head, plan.stack)
    for key in sorted(before.keys() | after.keys()):
        old, new = _value(before.get(key)), _value(after.get(key))
        step = steps[after[key]["urn"]] if key in after else None
        if step is not None and any(change.after == AFTER_APPLY for change in step.changes):
            new = AFTER_APPLY
        if old == new and (step is None or step.action != "create"):
            continue
        if step is not None and key in before:
            changing[key] = plan.stack
        what = "removed" if step is None else "new" if key not in before else step.action
        reader = ", ".join(readers.get(key, [])) or "—"
        plan.links.append([f"`{key[1]}` ({key[0]})", what, _code(old), _code(new), reader])


# --- Markdown ------------------------------------------------------------------------------


def _short(text: str, limit: int = SHORT) -> str:
    return text if len(text) <= limit else f"{text[: limit - 21]}…{text[-20:]}"


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _code(value: Any) -> str:
    """A value as a short code span, safe in a table cell."""
    if value is MISSING:
        return "(none)"
    if value == AFTER_APPLY:
        return "*known after apply*"
    text = value if value == REDACTED else json.dumps(_plain(value), sort_keys=True, ensure_ascii=False)
    text = _short(" ".join(str(text).split())).replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}" if fence == "`" else f"{fence} {text} {fence}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _changes_cell(step: Step) -> str:
    lines = []
    for change in step.changes[:MAX_CHANGES]:
        mark = ""
        if change.effect is Effect.REPLACE:
            linked = change.why.startswith("https://")
            source = f"[forces replacement]({change.why})" if linked else f"forces replacement: {change.why}"
            mark = f" **({source})**"
        elif change.effect is Effect.MAY_REPLACE:
            mark = " *(may replace)*"
        lines.append(f"`{_cell(change.path)}`: {_code(change.before)} → {_code(change.after)}{mark}")
    if len(step.changes) > MAX_CHANGES:
        lines.append(f"… and {len(step.changes) - MAX_CHANGES} more")
    lines += [_cell(note) for note in step.notes]
    return "<br>".join(lines) or "—"


def _action(step: Step) -> str:
    label = "update (may replace)" if step.may_replace else step.action
    if step.loses_data:
        return f"⚠️ **{label}**"
    return f"**{label}**" if step.action in ("replace", "delete") else label


def summary(plan: StackPlan) -> str:
    counts = ", ".join(
        f"{plan.count(action)} to {action}" for action in ("create", "update", "replace", "delete")
    )
    line = f"{counts}, {plan.count('same')} unchanged"
    maybe = sum(step.may_replace for step in plan.steps)
    return line + (f" ({maybe} of the updates may replace: see the table)" if maybe else "")


def render_stack(plan: StackPlan, max_rows: int | None = None) -> str:
    out = [f"### {plan.stack}", "", summary(plan), ""]
    changed = plan.changed
    if changed:
        out += ["| Action | Resource | Type | Changes |", "|---|---|---|---|"]
        for step in changed[:max_rows]:
            out.append(f"| {_action(step)} | `{_cell(step.name)}` | `{step.type}` | {_changes_cell(step)} |")
        if max_rows is not None and len(changed) > max_rows:
            out.append(f"| … | {len(changed) - max_rows} more: run `make plan` for all | | |")
        out.append("")
    unknown = sorted(
        {
            f"`{step.type}` `{change.key}`"
            for step in changed
            for change in step.changes
            if change.effect is Effect.MAY_REPLACE
        }
    )
    if unknown:
        out += [
            "*May replace*: nothing here says whether a change to these replaces the resource "
            "(no facts in `tools/replacements.py`, none in the pulumi-aws docs): " + ", ".join(unknown) + ".",
            "",
        ]
    if plan.outputs:
        out += ["**Outputs**", "", "| Output | Before | After |", "|---|---|---|"]
        out += [
            f"| `{change.path}` | {_code(change.before)} | {_code(change.after)} |" for change in plan.outputs
        ]
        out.append("")
    if plan.links:
        out += [
            "**SSM links**",
            "",
            "| Parameter | Change | Before | After | Read by |",
            "|---|---|---|---|---|",
        ]
        out += ["| " + " | ".join(row) + " |" for row in plan.links]
        out.append("")
    if plan.hints:
        out += ["**Hints**", ""] + [f"- {hint}" for hint in plan.hints] + [""]
    return "\n".join(out)


def warning(plans: list[StackPlan]) -> str:
    lines = []
    for plan in plans:
        for step in plan.changed:
            if step.loses_data:
                verb = {"delete": "deleted", "replace": "replaced"}.get(step.action, "possibly replaced")
                forced = [change.key for change in step.changes if change.effect is not Effect.UPDATE]
                why = f" (`{'`, `'.join(dict.fromkeys(forced))}`)" if forced else ""
                lines.append(
                    f"> - **{plan.stack}**: `{step.name}` (`{step.type}`) is {verb}{why}: "
                    f"{STATEFUL[step.type]} goes with it."
                )
    if not lines:
        return ""
    return "\n".join(
        [
            "> [!WARNING]",
            "> **This change deletes or replaces resources that hold data.**",
            *lines,
            ">",
            "> If that is not the intent: keep the old identity (an alias for a rename), or set the",
            "> changed input back. If it is: back up or migrate the data first.",
            "",
        ]
    )


def render(plans: list[StackPlan], title: str) -> str:
    body = ""
    for max_rows in (None, 60, 25, 10):
        stacks = "\n".join(render_stack(plan, max_rows) for plan in plans)
        body = f"{title}\n\n{stacks}\n{warning(plans)}".rstrip() + "\n"
        if len(body) <= MAX_CHARS:
            break
    return body


def exit_code(plans: list[StackPlan]) -> int:
    return 2 if any(step.loses_data for plan in plans for step in plan.steps) else 0


# --- the command ---------------------------------------------------------------------------


def plan(repo: Path, base_ref: str | None = None, stacks: list[str] | None = None) -> tuple[str, int]:
    """The Markdown plan of the working tree of `repo` against BASE, and the exit status."""
    commit = base_commit(repo, base_ref)
    with checkout(repo, commit) as base_root:
        known = set(stacks_in(repo)) | set(stacks_in(base_root))
        unknown = sorted(set(stacks or []) - known)
        if unknown:
            raise PlanError(f"no stack file Pulumi.{unknown[0]}.yaml at BASE or in the working tree")
        names = stacks or sorted(known)
        synths = Synth(repo, names), Synth(base_root, names)
        try:
            heads, bases = (synth.graphs() for synth in synths)
        finally:
            for synth in synths:
                synth.stop()
    plans = {stack: plan_stack(stack, bases[stack], heads[stack]) for stack in names}
    link_rows(plans, bases, heads)
    for stack_plan in plans.values():
        stack_plan.hints += _protection_hints(stack_plan)
    head = git(repo, "rev-parse", "--short", "HEAD")
    dirty = " with uncommitted changes" if git(repo, "status", "--porcelain", "--untracked-files=no") else ""
    title = (
        f"## Offline plan: `{commit[:7]}` → `{head}`{dirty}\n\n"
        "What `pulumi up` would do to each stack, worked out from the program alone (`make plan`: "
        "the synth's stand-ins for ids and ARNs, no AWS account, no state, so no drift)."
    )
    ordered = [plans[stack] for stack in names]
    return render(ordered, title), exit_code(ordered)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base", help="git ref to compare with (default: merge base with origin/main, else HEAD~1)"
    )
    parser.add_argument("--stack", action="append", help="plan only this stack (repeatable)")
    parser.add_argument(
        "--repo", type=Path, default=ROOT, help="the repository whose working tree is planned"
    )
    options = parser.parse_args()
    try:
        markdown, status = plan(options.repo.resolve(), options.base, options.stack)
    except PlanError as error:
        print(f"make plan: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    sys.stdout.write(markdown)
    raise SystemExit(status)


if __name__ == "__main__":
    main()
