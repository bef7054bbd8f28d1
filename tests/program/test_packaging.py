"""Function packages: deterministic zips, built safely in parallel, carrying botocore data that
is a faithful subset of the pinned botocore's (same operations, shapes and endpoints)."""

from __future__ import annotations

import io
import json
import subprocess
import threading
import zipfile
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.loaders import Loader
from conftest import FUNCTIONS

from components import botocore_data, bytecode, packaging

DECLARED = botocore_data.declared_operations()
SERVICES = sorted({service for operations in DECLARED.values() for service in operations})


# A loader of its own: the test run's sessions share one (tests/conftest.py), and an S3 client
# rewrites the shared S3 model in place when it calls (botocore's
# remove_bucket_from_url_paths_from_model), so botocore's data read through it may not be its files'.
PRISTINE = Loader()


def full_model(service: str, kind: str = "service-2") -> Any:
    return PRISTINE.load_service_model(service, kind)


def write_data(operations: dict[str, list[str]], folder: Path) -> Path:
    for name, content in botocore_data.botocore_data(operations).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return folder


def trimmed_loader(function: str, folder: Path) -> Loader:
    """A loader that sees only the function's botocore-data (with botocore's extras merged)."""
    return Loader(
        extra_search_paths=[str(write_data(DECLARED[function], folder))], include_default_search_paths=False
    )


def test_every_function_declares_its_aws_operations():
    assert sorted(DECLARED) == FUNCTIONS


def test_an_unknown_operation_fails_the_build_naming_it():
    with pytest.raises(ValueError, match="ssm has no operation GetParamter"):
        botocore_data.botocore_data({"ssm": ["GetParamter"]})


def undocumented(node: Any) -> Any:
    """``node`` without any "documentation" key at any depth (member names too, on both sides)."""
    if isinstance(node, dict):
        return {key: undocumented(value) for key, value in node.items() if key != "documentation"}
    if isinstance(node, list):
        return [undocumented(value) for value in node]
    return node


@pytest.mark.parametrize("function", FUNCTIONS)
def test_trimmed_models_keep_declared_operations_and_their_shapes_unchanged_but_for_docs(function, tmp_path):
    loader = trimmed_loader(function, tmp_path)
    assert loader.list_available_services("service-2") == sorted(DECLARED[function])
    for service, operations in DECLARED[function].items():
        documented, model = full_model(service), loader.load_service_model(service, "service-2")
        for name, shape in model["shapes"].items():
            assert shape.get("members", {}).keys() == documented["shapes"][name].get("members", {}).keys()
        assert "documentation" not in json.dumps({**model, "clientContextParams": None})
        full = undocumented(documented)
        model = undocumented(model)
        assert {k: v for k, v in model.items() if k not in ("operations", "shapes")} == {
            k: v for k, v in full.items() if k not in ("operations", "shapes")
        }
        assert set(operations) <= set(model["operations"])
        for name, operation in model["operations"].items():
            assert operation == full["operations"][name], f"{service} {name}"
        for name, shape in model["shapes"].items():
            assert shape == full["shapes"][name], f"{service} shape {name}"
        errors = {name for name, shape in full["shapes"].items() if shape.get("exception")}
        assert errors <= set(model["shapes"]), f"{service} lost error shapes"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_trimmed_paginators_are_the_originals_for_declared_operations(function, tmp_path):
    loader = trimmed_loader(function, tmp_path)
    for service, operations in DECLARED[function].items():
        full = full_model(service, "paginators-1")["pagination"]
        expected = {name: full[name] for name in operations if name in full}
        if expected:
            assert loader.load_service_model(service, "paginators-1")["pagination"] == expected
        else:
            assert service not in loader.list_available_services("paginators-1")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_rule_sets_and_shared_files_are_botocores_as_compact_uncompressed_json(function, tmp_path):
    loader = trimmed_loader(function, tmp_path)
    for service in DECLARED[function]:
        assert loader.load_service_model(service, "endpoint-rule-set-1") == full_model(
            service, "endpoint-rule-set-1"
        ), service
    for name in botocore_data.SHARED_FILES:
        assert loader.load_data(name.removesuffix(".json")) == PRISTINE.load_data(name.removesuffix(".json"))
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert path.suffix == ".json", path  # botocore would read a .json.gz after inflating it
            text = path.read_text(encoding="utf-8")
            assert json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False) == text, path


def test_botocore_data_is_identical_when_rebuilt():
    assert botocore_data.botocore_data(DECLARED["clicks"]) == botocore_data.botocore_data(DECLARED["clicks"])


def test_function_zip_is_byte_identical_when_rebuilt(tmp_path):
    first, second = tmp_path / "first.zip", tmp_path / "second.zip"
    packaging._write_zip(first, packaging.function_entries("login"))
    packaging._write_zip(second, packaging.function_entries("login"))
    assert first.read_bytes() == second.read_bytes()


def test_function_zip_carries_its_botocore_data_beside_shared(tmp_path):
    target = tmp_path / "login.zip"
    packaging._write_zip(target, packaging.function_entries("login"))
    with zipfile.ZipFile(target) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("botocore-data/manifest.json"))
    assert {"login/app.py", "shared/aws.py", "botocore-data/endpoints.json"} <= names
    assert manifest["operations"] == {service: sorted(ops) for service, ops in DECLARED["login"].items()}


def test_the_clicks_zip_carries_its_images_at_their_bucket_keys_and_no_other_zip_does():
    static = Path(__file__).resolve().parents[2] / "static"
    packaged = {
        name: content for name, content in packaging.function_entries("clicks") if name.startswith("assets/")
    }
    assert packaged == {
        key: (static / key).read_bytes() for key in ("assets/images/clicked.svg", "assets/images/error.svg")
    }
    for function in FUNCTIONS:
        if function != "clicks":
            assert not [
                name for name, _ in packaging.function_entries(function) if name.startswith("assets/")
            ]


def test_a_changed_packaged_image_is_a_new_zip(tmp_path, monkeypatch):
    from components import packaged_files

    before = packaging.function_archive("clicks", RUNTIME).path
    for key in packaged_files.PACKAGED_FILES["clicks"]:
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    monkeypatch.setattr(packaged_files, "STATIC", tmp_path)
    monkeypatch.setattr(packaging, "BUILD", tmp_path / "build")

    after = packaging.function_archive("clicks", RUNTIME).path

    assert Path(after).name != Path(before).name
    with zipfile.ZipFile(after) as archive:
        assert archive.read("assets/images/clicked.svg") == b"<svg xmlns='http://www.w3.org/2000/svg'/>"


def test_concurrent_builds_of_the_same_zip_all_succeed(tmp_path):
    target = tmp_path / "health.zip"
    entries = packaging.function_entries("health")
    errors: list[BaseException] = []

    def build() -> None:
        try:
            packaging._write_zip(target, entries)
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=build) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert zipfile.ZipFile(io.BytesIO(target.read_bytes())).testzip() is None
    assert [path.name for path in tmp_path.iterdir()] == ["health.zip"]


RUNTIME = "python3.13"
RUNTIME_PYTHON = bytecode.interpreter(RUNTIME)
needs_runtime_python = pytest.mark.skipif(RUNTIME_PYTHON is None, reason=f"no {RUNTIME} interpreter here")


@needs_runtime_python
def test_every_module_of_a_function_zip_has_bytecode_for_the_runtime():
    names = {name for name, _ in packaging.with_bytecode(packaging.function_entries("clicks"), RUNTIME)}
    sources = {name for name in names if name.endswith(".py")}
    assert "clicks/__pycache__/app.cpython-313.pyc" in names
    for source in sources:
        folder, _, module = source.rpartition("/")
        assert f"{folder}/__pycache__/{module[:-3]}.cpython-313.pyc" in names, source


@needs_runtime_python
def test_bytecode_is_the_same_bytes_on_every_build():
    entries = packaging.function_entries("writer")
    assert bytecode.compiled(entries, RUNTIME_PYTHON, RUNTIME) == bytecode.compiled(
        entries, RUNTIME_PYTHON, RUNTIME
    )


@needs_runtime_python
def test_the_runtime_imports_the_packaged_bytecode_without_compiling_the_source(tmp_path):
    """The bytecode is hash-based and unchecked: the interpreter takes it as it is. A source
    changed after the build proves it: the import still gives the built behaviour."""
    for name, content in packaging.with_bytecode(packaging.function_entries("health"), RUNTIME):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    text = tmp_path / "shared" / "text.py"
    text.write_text(text.read_text().replace('singular + "s"', 'singular + "z"'))
    script = "import sys; sys.path.insert(0, '.'); import shared.text; print(shared.text.noun(2, 'click'))"
    result = subprocess.run(
        [RUNTIME_PYTHON, "-I", "-S", "-B", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "clicks"


@needs_runtime_python
def test_the_layer_carries_checked_bytecode_of_powertools_and_none_of_its_sources():
    with zipfile.ZipFile(packaging.dependencies_archive("x86_64", RUNTIME).path) as layer:
        names = set(layer.namelist())
        logger = layer.read("python/aws_lambda_powertools/logging/__pycache__/logger.cpython-313.pyc")
    powertools = {name for name in names if name.startswith("python/aws_lambda_powertools/")}
    assert "python/aws_lambda_powertools/__pycache__/__init__.cpython-313.pyc" in powertools
    assert "python/__pycache__/typing_extensions.cpython-313.pyc" in names
    assert {name for name in powertools if not name.endswith(".pyc")} == set()
    assert "python/typing_extensions.py" not in names
    # PEP 552 flags: bit 0 hash-based, bit 1 check_source.
    assert int.from_bytes(logger[4:8], "little") == 0b11


@needs_runtime_python
def test_checked_bytecode_runs_only_beside_the_source_it_was_compiled_from(tmp_path):
    """What keeps the layer's Powertools bytecode safe beside another layer version. The file
    names its source by hash: here it is given another module's code under this source's hash,
    which runs while that source is there; a source with another hash is compiled and run instead."""
    source = ("module.py", b"ANSWER = 'source'\n")
    ((cached, this), (_, other)) = (
        bytecode.compiled([entry], RUNTIME_PYTHON, RUNTIME, checked=True)[0]
        for entry in (source, ("module.py", b"ANSWER = 'bytecode'\n"))
    )
    (tmp_path / "module.py").write_bytes(source[1])
    (tmp_path / cached).parent.mkdir()
    (tmp_path / cached).write_bytes(other[:8] + this[8:16] + other[16:])  # PEP 552: hash at 8..16

    def answer() -> str:
        script = "import sys; sys.path.insert(0, '.'); import module; print(module.ANSWER)"
        run = [RUNTIME_PYTHON, "-I", "-S", "-B", "-c", script]
        return subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()

    assert answer() == "bytecode"
    (tmp_path / "module.py").write_bytes(b"ANSWER = 'another release'\n")
    assert answer() == "another release"


def test_without_the_runtime_interpreter_a_zip_carries_no_bytecode(monkeypatch):
    monkeypatch.setattr(bytecode, "interpreter", lambda runtime: None)
    monkeypatch.setattr(packaging, "_warn_once", lambda runtime: None)
    entries = packaging.function_entries("health")
    assert packaging.with_bytecode(entries, RUNTIME) == entries
    assert packaging._bytecode_salt(RUNTIME) == "no-bytecode"


# Endpoints: every region of every partition, resolved by a client on the trimmed data and by
# one on botocore's own, must give the same URL for each of our services.


def _all_regions() -> list[str]:
    partitions = Loader().load_data("partitions")["partitions"]
    return sorted({region for partition in partitions for region in partition["regions"]})


class _Sent(Exception):
    def __init__(self, url: str) -> None:
        self.url = url


def _request_url(session: Any, service: str, region: str) -> tuple[str, str]:
    """(the client's endpoint, the URL of a first request) without sending anything."""
    from botocore.config import Config

    client = session.create_client(
        service, region_name=region, config=Config(retries={"max_attempts": 0, "mode": "standard"})
    )

    def stop(request: Any, **_: Any) -> None:
        raise _Sent(request.url)

    client.meta.events.register("before-send", stop)
    operation = {
        "s3": ("get_object", {"Bucket": "bucket-name", "Key": "k"}),
        "ssm": ("get_parameter", {"Name": "/p"}),
        "dynamodb": ("put_item", {"TableName": "t", "Item": {"pk": {"S": "x"}}}),
        "events": ("put_events", {"Entries": [{"Source": "s", "DetailType": "d", "Detail": "{}"}]}),
        "cognito-idp": ("initiate_auth", {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": "c"}),
        "fis": ("list_experiments", {}),
    }[service]
    try:
        getattr(client, operation[0])(**operation[1])
    except _Sent as sent:
        return client.meta.endpoint_url, sent.url
    raise AssertionError("the request was not sent")


def _session(loader: Any | None) -> Any:
    session = botocore.session.get_session()
    session.set_credentials("testing", "testing")
    if loader is not None:
        session.register_component("data_loader", loader)
    return session


@pytest.mark.parametrize("service", SERVICES)
def test_endpoints_resolve_identically_with_trimmed_data_in_every_region(service, tmp_path, monkeypatch):
    from shared import aws

    function = next(name for name, operations in DECLARED.items() if service in operations)
    monkeypatch.setattr(aws, "DATA_PATH", write_data({service: DECLARED[function][service]}, tmp_path))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    trimmed_session = _session(aws._packaged_loader())
    full_session = _session(None)
    for region in _all_regions():
        assert _request_url(trimmed_session, service, region) == _request_url(
            full_session, service, region
        ), region
