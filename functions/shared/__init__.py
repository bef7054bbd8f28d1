"""Helpers several functions need: AWS clients, chaos state, images, HTTP responses, Slack."""
