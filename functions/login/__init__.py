"""The login function: POST /login against Cognito, every attempt recorded (HTTP API)."""

import shared.coldstart  # noqa: F401 - first of all: no garbage collection until the first answer
