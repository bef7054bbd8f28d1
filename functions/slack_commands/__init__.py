"""The Slack API's function: verified `/chaos` slash commands and Events API requests."""
