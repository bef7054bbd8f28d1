"""The DynamoDB table's single-table data model: key names and item keys.

This module is the one source of truth for the schema: the Pulumi program imports the key
names from here, so the table and the code that reads it cannot drift apart.

Items:
- page views: pk ``USER#<user id>``, sk ``VIEWS#<region>``, ``views`` (N). One counter item per
  region, written only by that region's writer and summed on read, so two regions counting at
  once never overwrite each other's increments under the global table's last-writer-wins.
- processed events: pk ``EVENT#<event id>``, sk ``EVENT``: the writer's idempotency guard.
- login attempts: pk ``LOGINS#<UTC minute>``, sk ``<time>#<region>#<id>``: one partition per
  minute so the security responder reads an alarm window with one query per minute.
- dead letters: pk ``DEAD#<UTC day>``, sk ``<time>#<message id>``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expiresAt"

VIEWS_PREFIX = "VIEWS#"
EVENT_SORT_KEY = "EVENT"

# How long each kind of item is kept before DynamoDB's TTL deletes it.
EVENT_GUARD_TTL = timedelta(days=7)
LOGIN_TTL = timedelta(days=30)
DEAD_LETTER_TTL = timedelta(days=90)


def user_key(user_id: str) -> str:
    return f"USER#{user_id}"


def views_key(region: str) -> str:
    return f"{VIEWS_PREFIX}{region}"


def event_key(event_id: str) -> str:
    return f"EVENT#{event_id}"


def login_bucket(at: datetime) -> str:
    return f"LOGINS#{at:%Y-%m-%dT%H:%M}"


def dead_letter_bucket(at: datetime) -> str:
    return f"DEAD#{at:%Y-%m-%d}"


def expires_at(at: datetime, ttl: timedelta) -> int:
    """Epoch seconds, the format DynamoDB's TTL reads."""
    return int((at + ttl).timestamp())
