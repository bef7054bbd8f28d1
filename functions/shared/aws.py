"""AWS clients: one botocore session per container, one client per service and region, each
created only when first used (short cold starts).

botocore, not boto3: the functions use clients only, and ``import boto3`` also loads its
resource and S3 transfer layers (tens of milliseconds of every cold start for nothing).

The package's own botocore data: the deployment package carries ``botocore-data/`` beside this
package, a trimmed copy of botocore's data with only the operations the function calls
(``functions/aws-operations.toml``, built by ``components/botocore_data.py``). Clients are
created from it through a botocore ``Loader`` whose only search path is that folder (botocore's
documented data-path mechanism): the first client then costs a few milliseconds instead of
60-95 ms of parsing full models and listing every service botocore knows. The Lambda
runtime's botocore may be another version than the one the data came from; whenever the data
is missing, uses a rule-set function the running botocore lacks, or fails to load, clients
come from botocore's own data instead (logged once at debug level), never an error.

Environment:
- AWS_REGION: the function's region (set by Lambda).
- AWS_ENDPOINT_URL: optional; botocore sends every call there (the local cloud uses it).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)
# Where packaging puts the trimmed data: the package root, beside ``shared/``.
DATA_PATH = Path(__file__).resolve().parent.parent / "botocore-data"

# Fail fast inside Lambda's timeout rather than hang on a slow dependency.
_CLIENT_SETTINGS = {
    "connect_timeout": 2,
    "read_timeout": 5,
    "retries": {"mode": "standard", "max_attempts": 3},
}


_REGION_NAME = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")


def region() -> str:
    return os.environ["AWS_REGION"]


def is_region_name(value: object) -> bool:
    """True for a string shaped like an AWS region name (``us-east-1``, ``ap-southeast-2``)."""
    return isinstance(value, str) and _REGION_NAME.fullmatch(value) is not None


# Each session's data loader, kept when the sessions are forgotten: it caches every model it parsed.
_loaders: dict[str, Any] = {}


@functools.cache
def session() -> Any:
    """The container's botocore session on botocore's own data (the fallback)."""
    import botocore.session

    own = botocore.session.get_session()
    if "botocore" in _loaders:
        own.register_component("data_loader", _loaders["botocore"])
    else:
        _loaders["botocore"] = own.get_component("data_loader")
    return own


@functools.cache
def _packaged_session() -> Any | None:
    """A botocore session on the package's trimmed data, or None when it can't be used.

    It has botocore's built-in handlers for the packaged services only: a session registers
    all of them (some 130: S3's, EC2's, RDS's, Glacier's, the documentation's), 8 to 9 ms of
    every cold start, and a client's calls fire only those for its own service and those for
    any service. The session is created without them (``include_builtin_handlers=False``, a
    parameter of botocore's Session) and registers those alone, as botocore would have.
    https://github.com/boto/botocore/blob/develop/botocore/session.py
    """
    import botocore.session

    loader = _packaged_loader()
    if loader is None:
        return None
    packaged = botocore.session.Session(include_builtin_handlers=False)
    _register_builtin_handlers(packaged, service_event_names(_manifest()["serviceIds"]))
    packaged.register_component("data_loader", loader)
    return packaged


def _register_builtin_handlers(session: Any, services: set[str]) -> None:
    """botocore's ``Session._register_builtin_handlers``, for events these services can emit."""
    from botocore import handlers

    events = session.get_component("event_emitter")
    for event_name, handler, *position in handlers.BUILTIN_HANDLERS:
        if not handler_applies(event_name, services):
            continue
        if not position:
            session.register(event_name, handler)
        elif position[0] is handlers.REGISTER_FIRST:
            events.register_first(event_name, handler)
        elif position[0] is handlers.REGISTER_LAST:
            events.register_last(event_name, handler)


def handler_applies(event_name: str, services: set[str]) -> bool:
    """Can a client of one of these services (their event names: ``service_event_names``) fire
    a handler registered for ``event_name``? Events are ``<event>[.<service>[.<operation>]]``,
    with ``*`` for any part and old service names aliased as botocore does; ``docs.*`` events
    fire only when botocore renders documentation."""
    from botocore.utils import EVENT_ALIASES

    kind, _, rest = event_name.partition(".")
    if kind == "docs":
        return False
    if not rest:
        return True
    parts = rest.split(".")
    # The longest old name at the start wins ("data.jobs.iot" before "data.iot").
    service = next(
        (EVENT_ALIASES[key] for size in (3, 2, 1) if (key := ".".join(parts[:size])) in EVENT_ALIASES),
        parts[0],
    )
    return service == "*" or service in services


def service_event_names(service_ids: dict[str, str]) -> set[str]:
    """The service parts of the events clients of these services (botocore name: hyphenized
    service id, as in the manifest) emit: the id, and the name as botocore aliases it."""
    from botocore.utils import EVENT_ALIASES

    return {*service_ids.values(), *(EVENT_ALIASES.get(name, name) for name in service_ids)}


@functools.cache
def _manifest() -> dict[str, Any]:
    """The packaged data's ``manifest.json`` (``components/botocore_data.py``)."""
    return dict(json.loads((DATA_PATH / "manifest.json").read_text(encoding="utf-8")))


@functools.cache
def _packaged_loader() -> Any | None:
    from botocore.loaders import JSONFileLoader, Loader

    try:
        manifest = _manifest()
        service_event_names(manifest["serviceIds"])
        # Endpoint rule sets are evaluated on each request, where an unknown function would
        # fail the call: check now that the running botocore implements every one they use.
        from botocore.endpoint_provider import RuleSetStandardLibrary

        library = RuleSetStandardLibrary({"partitions": []})
        used = manifest["ruleSetFunctions"]
        missing = [name for name in used if not hasattr(library, library.convert_func_name(name))]
    except Exception as error:  # noqa: BLE001 - whatever went wrong, botocore's own data works
        _fall_back(f"no usable {DATA_PATH}: {error!r}")
        return None
    if missing:
        _fall_back(f"botocore lacks rule-set functions {missing} used by {DATA_PATH}")
        return None

    class PackagedLoader(Loader):
        def is_builtin_path(self, path: str) -> bool:
            # A subset of botocore's own data, so treat it as such: botocore hands endpoint
            # data from anywhere else to the rule sets as if it were a custom endpoint.
            return str(path).startswith(str(DATA_PATH)) or bool(super().is_builtin_path(path))

    class PlainJSONFileLoader(JSONFileLoader):
        """botocore's file loader decoding to plain dicts: its ``object_pairs_hook=OrderedDict``
        builds every object twice, half of the 4 ms S3's rule set took to load. Dicts keep
        their order, and botocore builds its own ordered maps from what it loads."""

        def load_file(self, file_path: str) -> Any:
            try:  # packaged data is plain JSON only (components/botocore_data.py)
                return json.loads((Path(file_path + ".json")).read_bytes())
            except FileNotFoundError:
                return None

    return PackagedLoader(
        extra_search_paths=[str(DATA_PATH)],
        file_loader=PlainJSONFileLoader(),
        include_default_search_paths=False,
    )


def _fall_back(reason: str) -> None:
    logger.debug("botocore clients use botocore's own data: %s", reason)


@functools.cache
def client(service: str, region_name: str | None = None) -> Any:
    """Not thread-safe on first use (botocore sessions aren't): create clients before threads."""
    from botocore.config import Config

    options = {"region_name": region_name or region(), "config": Config(**_CLIENT_SETTINGS)}
    packaged = _packaged_session()
    if packaged is not None:
        try:
            return packaged.create_client(service, **options)
        except Exception as error:  # noqa: BLE001 - e.g. a file this botocore needs isn't packaged
            _fall_back(f"{service}: {error!r}")
    return session().create_client(service, **options)


def forget_sessions() -> None:
    """Forget the sessions and every client, with their credentials and connections, keeping the
    service models their loaders parsed (after a SnapStart restore: ``shared.snapstart``)."""
    client.cache_clear()
    _packaged_session.cache_clear()
    session.cache_clear()


def reset() -> None:
    """Forget the sessions, every client and the loaders (tests start each case from a clean
    container)."""
    forget_sessions()
    _packaged_loader.cache_clear()
    _manifest.cache_clear()
    _loaders.clear()
