"""Deploy-time dependencies: ``pulumi up`` installs requirements.txt into the program's virtualenv
(Pulumi.yaml), so it holds what the program imports and nothing else; the tests, the local cloud
and the linters come from requirements-dev.txt. constraints.txt pins every package either installs.

What the program imports is read from its source (``ast``), starting at ``__main__.py``,
``components/`` and ``tools/`` (``make synth``) and following every module of this repository
they import; what requirements.txt installs is read from the installed packages' own metadata.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .graphs import ROOT

DEPLOY = ROOT / "requirements.txt"
DEV = ROOT / "requirements-dev.txt"
CONSTRAINTS = ROOT / "constraints.txt"
ENTRY_POINTS = [
    ROOT / "__main__.py",
    *sorted((ROOT / "components").glob("*.py")),
    *(ROOT / "tools").glob("*.py"),
]
# Tools that must never be installed by `pulumi up`, whatever requirements-dev.txt says today.
KNOWN_DEV_TOOLS = {
    "moto",
    "boto3",
    "playwright",
    "pytest",
    "pytest-cov",
    "coverage",
    "hypothesis",
    "ruff",
    "mypy",
    "check-jsonschema",
    "werkzeug",
    "flask",
    "aws-lambda-powertools",
    "slack-sdk",
    "pyjwt",
}


def read_requirements(path: Path) -> list[Requirement]:
    """The requirements of one file and of the files it includes with ``-r``; ``-c`` is skipped."""
    found: list[Requirement] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith(("-c ", "--constraint")):
            continue
        if line.startswith(("-r ", "--requirement")):
            found += read_requirements(path.parent / line.split(maxsplit=1)[1])
            continue
        assert not line.startswith("-"), f"{path.name}: unexpected option {line!r}"
        found.append(Requirement(line))
    return found


def own_requirements(path: Path) -> list[Requirement]:
    """Only the packages the file itself names (not those of files it includes)."""
    included = {
        canonicalize_name(r.name)
        for raw in path.read_text().splitlines()
        if raw.startswith("-r ")
        for r in read_requirements(path.parent / raw.split(maxsplit=1)[1])
    }
    return [r for r in read_requirements(path) if canonicalize_name(r.name) not in included]


def names(requirements: Iterable[Requirement]) -> set[str]:
    return {canonicalize_name(r.name) for r in requirements}


def pinned_version(requirement: Requirement) -> str:
    (specifier,) = requirement.specifier
    return specifier.version


def closure(requirements: Iterable[Requirement]) -> dict[str, str]:
    """Every installed distribution these requirements pull in (with their extras), by canonical
    name, with its installed version."""
    wanted: dict[str, set[str]] = {}
    todo = [(canonicalize_name(r.name), set(r.extras)) for r in requirements]
    versions: dict[str, str] = {}
    while todo:
        name, extras = todo.pop()
        if name in wanted and extras <= wanted[name]:
            continue
        wanted[name] = wanted.get(name, set()) | extras
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            pytest.fail(f"{name} is required but not installed: run `make venv`")
        versions[name] = distribution.version
        for line in distribution.requires or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in {"", *wanted[name]}):
                todo.append((canonicalize_name(requirement.name), set(requirement.extras)))
    return versions


def _module_file(module: str) -> Path | None:
    path = ROOT.joinpath(*module.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def _is_local(top: str) -> bool:
    return (ROOT / top).is_dir() or (ROOT / f"{top}.py").is_file()


def program_imports() -> dict[str, set[str]]:
    """Third-party top-level modules imported anywhere in the program's modules (including
    imports inside functions), each with the files that import it."""
    found: dict[str, set[str]] = {}
    queue, seen = list(ENTRY_POINTS), set()
    while queue:
        file = queue.pop()
        if file in seen:
            continue
        seen.add(file)
        package = file.relative_to(ROOT).parent.parts
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package[: len(package) - node.level + 1]
                    base = ".".join([*parent, *([base] if base else [])])
                modules = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            for module in filter(None, modules):
                top = module.split(".")[0]
                if top == "__future__" or top in sys.stdlib_module_names:
                    continue
                if _is_local(top):
                    parts = module.split(".")
                    queue += filter(
                        None, (_module_file(".".join(parts[:i])) for i in range(1, len(parts) + 1))
                    )
                else:
                    found.setdefault(top, set()).add(file.relative_to(ROOT).as_posix())
    return found


def imported_distributions() -> dict[str, set[str]]:
    """The distributions providing the program's third-party imports, with the files that import them."""
    providers = importlib.metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for module, files in program_imports().items():
        assert module in providers, (
            f"{module} (imported by {sorted(files)}) is not installed: run `make venv`"
        )
        for distribution in providers[module]:
            found.setdefault(canonicalize_name(distribution), set()).update(files)
    return found


def test_the_import_walk_sees_the_imports_the_program_is_known_to_make():
    imports = program_imports()
    # __main__.py -> components/function.py -> components/packaging.py -> components/botocore_data.py
    assert "components/botocore_data.py" in imports["botocore"]
    assert "components/audit.py" in imports["pulumi_awsx"]
    assert "tools/program.py" in imports["yaml"]
    assert {"pulumi", "pulumi_aws"} <= set(imports)


@pytest.mark.parametrize("path", [DEPLOY, DEV], ids=lambda path: path.name)
def test_every_requirement_is_pinned_to_one_exact_version(path):
    for requirement in own_requirements(path):
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1, f"{path.name}: {requirement} must pin one version"
        assert specifiers[0].operator == "==", f"{path.name}: {requirement} must pin with =="
        assert requirement.marker is None and requirement.url is None, f"{path.name}: {requirement}"


def test_every_package_the_program_imports_is_installed_by_requirements_txt():
    installed = closure(read_requirements(DEPLOY))
    missing = {
        name: sorted(files) for name, files in imported_distributions().items() if name not in installed
    }
    assert missing == {}, f"imported by the program but not installed by requirements.txt: {missing}"


def test_requirements_txt_names_only_packages_the_program_imports():
    imported = set(imported_distributions())
    extra = names(read_requirements(DEPLOY)) - imported
    assert extra == set(), f"requirements.txt names packages the program never imports: {sorted(extra)}"


def test_requirements_txt_installs_no_test_or_local_cloud_tool():
    installed = set(closure(read_requirements(DEPLOY)))
    dev_tools = names(own_requirements(DEV)) | KNOWN_DEV_TOOLS
    assert installed & dev_tools == set(), (
        "requirements.txt pulls in dev tools; move them to requirements-dev.txt"
    )


def test_requirements_dev_txt_adds_to_requirements_txt_without_repeating_it():
    dev = read_requirements(DEV)
    assert names(read_requirements(DEPLOY)) <= names(dev), (
        "requirements-dev.txt must include requirements.txt"
    )
    assert names(own_requirements(DEV)) & names(read_requirements(DEPLOY)) == set()


def test_constraints_pin_exactly_what_both_files_install_at_the_installed_versions():
    constraints = {canonicalize_name(r.name): pinned_version(r) for r in read_requirements(CONSTRAINTS)}
    installed = closure(read_requirements(DEV))
    assert set(installed) - set(constraints) == set(), "unpinned dependencies: run `make lock`"
    assert set(constraints) - set(installed) == set(), (
        "constraints.txt pins packages nothing needs: `make lock`"
    )
    stale = {
        name: (constraints[name], version)
        for name, version in installed.items()
        if constraints[name] != version
    }
    assert stale == {}, f"constraints.txt pin != installed version (run `make venv`): {stale}"
    for requirement in read_requirements(DEV):
        name = canonicalize_name(requirement.name)
        assert constraints[name] == pinned_version(requirement), (
            f"{name}: constraints.txt and its requirement differ"
        )


def _makefile_rule(target: str) -> list[str]:
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    body = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        body.append(line)
    return body


def test_make_venv_reinstalls_when_either_requirements_file_or_the_constraints_change():
    makefile = (ROOT / "Makefile").read_text()
    stamp = next(line for line in makefile.splitlines() if line.startswith("STAMP :="))
    rule = _makefile_rule("$(STAMP)")
    for file in ("requirements.txt", "requirements-dev.txt", "constraints.txt"):
        assert file in stamp, f"the venv stamp's hash ignores {file}"
        assert file in rule[0].split(":", 1)[1], f"the venv stamp does not depend on {file}"
    install = next(line for line in rule if "pip install" in line)
    assert "-r requirements-dev.txt" in install and "-c constraints.txt" in install, install


def test_make_lock_pins_the_dependencies_of_both_requirements_files():
    install = next(line for line in _makefile_rule("lock") if "pip install" in line)
    assert "-r requirements-dev.txt" in install, install  # which includes requirements.txt
    assert "-c constraints.txt" not in install, "re-locking must resolve afresh"


def _workflow_jobs() -> dict[str, dict]:
    jobs: dict[str, dict] = {}
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        jobs.update(yaml.safe_load(path.read_text())["jobs"])
    return jobs


def _runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_the_preview_job_installs_only_the_deploy_requirements():
    previews = {
        name: job
        for name, job in _workflow_jobs().items()
        if any(str(step.get("uses", "")).startswith("pulumi/actions@") for step in job["steps"])
    }
    assert previews, "no job runs pulumi/actions"
    for name, job in previews.items():
        runs = _runs(job)
        assert "-r requirements.txt" in runs and "-c constraints.txt" in runs, name
        assert "requirements-dev" not in runs and "make " not in runs, f"{name} installs the dev tools"


def test_the_test_job_installs_both_requirements_files():
    tests = [job for job in _workflow_jobs().values() if "make test" in _runs(job)]
    assert tests, "no job runs make test"  # make's venv stamp installs requirements-dev.txt
