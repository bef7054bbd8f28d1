"""The click function: POST /click counts a page view (HTTP API, JWT)."""

import shared.coldstart  # noqa: F401 - first of all: no garbage collection until the first answer
