"""The discovery function: GET /config, this region and every region's API (HTTP API)."""

import shared.coldstart  # noqa: F401 - first of all: no garbage collection until the first answer
