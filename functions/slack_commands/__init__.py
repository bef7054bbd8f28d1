"""The Slack API's function: verified `/chaos` slash commands and Events API requests."""

import shared.coldstart  # noqa: F401 - first of all: no garbage collection until the first answer
