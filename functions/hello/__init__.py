"""The hello function: GET /hello with the region's image (HTTP API, JWT)."""

import shared.coldstart  # noqa: F401 - first of all: no garbage collection until the first answer
