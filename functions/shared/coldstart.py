"""Cold starts without the garbage collector: it is off from the function's import to the end of
its first invocation.

CPython's cyclic collector runs a collection every couple of thousand allocations and, every
so often, one over every object alive. A cold start allocates a great deal and frees almost
nothing: some 400 modules, their classes and functions, the parsed service models and the first
clients (about 90,000 objects) live as long as the process, and a collection after the imports
finds some 300 unreachable ones. Measured on the cold-start bench's probes (Python 3.13), the
collections were 3 to 22% of a cold start. So:

- every function's package imports this module first (the runtime imports a handler's package,
  ``clicks/__init__.py``, before its module, ``clicks/app.py``), which turns the collector off;
- ``collect_after_first_call`` wraps the handler: once the first invocation has answered, it
  freezes everything alive (``gc.freeze``: moved to a permanent generation that collections
  never scan, so each later one scans only what requests allocate) and turns the collector on.

The freeze keeps the start's few hundred unreachable objects too (a collection first would cost
the first answer what was saved); nothing allocated after it is kept. With SnapStart the snapshot
is taken in the same state and each restored environment's first invocation turns it on.
https://docs.python.org/3/library/gc.html#gc.freeze
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import Any, TypeVar

Handler = TypeVar("Handler", bound=Callable[..., Any])

gc.disable()


def collect_after_first_call(handler: Handler) -> Handler:
    """The handler, turning the collector on (everything alive frozen) after its first call."""
    first = True

    @functools.wraps(handler)
    def handle(event: Any, context: Any) -> Any:
        nonlocal first
        if not first:
            return handler(event, context)
        try:
            return handler(event, context)
        finally:
            first = False
            resume_collection()

    return handle  # type: ignore[return-value]


def resume_collection() -> None:
    """Freeze what the start allocated and turn the collector on (again; idempotent)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
