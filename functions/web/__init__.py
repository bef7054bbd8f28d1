"""The web function: the web app and its assets from the static bucket (HTTP API)."""

import shared.coldstart  # noqa: F401 - first of all: no garbage collection until the first answer
