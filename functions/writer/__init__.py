"""The writer: stores each page view exactly once (EventBridge target)."""
