"""The writer: stores each page view exactly once (EventBridge target)."""

import shared.coldstart  # noqa: F401 - first of all: no garbage collection until the first answer
