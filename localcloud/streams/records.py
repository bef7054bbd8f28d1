"""DynamoDB stream records as JSON: one canonical form, so equal records and keys compare and hash
alike, and stream times as epoch seconds.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any


def _jsonable(value: Any) -> Any:
    """boto3 gives binary attributes as bytes; DynamoDB's JSON carries them base64-encoded."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_jsonable)


def epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)
