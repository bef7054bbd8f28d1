"""The health function: GET /health from the chaos state alone (HTTP API)."""

import shared.coldstart  # noqa: F401 - first of all: no garbage collection until the first answer
