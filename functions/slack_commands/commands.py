"""`/chaos` commands: parse the text after the command, apply it to a ChaosStore, answer Slack.

Plain logic: the store is passed in (``store.SsmChaosStore`` in Lambda, a fake in tests), and
every command is parsed and checked against the deployed regions before anything is written,
so a malformed command or an unknown region changes nothing.

Environment: none (the store reads its own).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from shared.blockkit import context, escape, section, truncate
from shared.chaos import ChaosState

logger = Logger(child=True)

COMMAND = "/chaos"
# Plain decimals only: float() would also accept "nan", "inf", "1e-1" and "0_5".
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_ECHO_LIMIT = 40
# Whole minutes, as the drill templates are named; which exist is the region's to say.
_MINUTES = re.compile(r"[0-9]{1,3}")


class StoreError(Exception):
    """A region's state could not be read or written; the message is for operators."""

    def __init__(self, message: str, *, corrupt: bool = False) -> None:
        super().__init__(message)
        self.corrupt = corrupt


class ChaosStore(Protocol):
    def regions(self) -> list[str]:
        """Deployed regions, sorted; StoreError if they cannot be listed."""
        ...

    def read(self, regions: Sequence[str]) -> dict[str, ChaosState | StoreError]: ...

    def write(self, states: Mapping[str, ChaosState]) -> dict[str, StoreError | None]: ...


class DrillError(Exception):
    """A drill could not be started or its templates read; the message is for operators."""


@dataclass(frozen=True)
class Drill:
    """One AWS FIS experiment of a region's drill templates."""

    experiment_id: str
    minutes: int
    status: str
    started: datetime | None = None


class Drills(Protocol):
    def minutes(self, region: str) -> list[int]:
        """The drill lengths the region offers; DrillError if they cannot be read."""
        ...

    def start(self, region: str, minutes: int) -> Drill:
        """Starts the region's drill of that length; DrillError if it did not start."""
        ...

    def listing(self, regions: Sequence[str]) -> DrillListing:
        """Starts listing the regions' drills and returns at once (``status`` reads the states
        meanwhile)."""
        ...


class DrillListing(Protocol):
    def unfinished(
        self, states: Mapping[str, ChaosState | StoreError]
    ) -> dict[str, list[Drill] | StoreError]:
        """Waits for the listing: each region's drills that have not ended. ``states``: the
        regions' chaos states, read meanwhile."""
        ...


class CommandError(ValueError):
    """The command is malformed or names an unknown region; the message says which."""


@dataclass(frozen=True)
class Command:
    verb: str
    regions: tuple[str, ...] = ()
    error_rate: float | None = None
    minutes: int | None = None


@dataclass(frozen=True)
class Reply:
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    in_channel: bool = False

    def to_slack(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "response_type": "in_channel" if self.in_channel else "ephemeral",
            "text": self.text,
        }
        if self.blocks:
            message["blocks"] = self.blocks
        return message


def _echo(text: str) -> str:
    """User input quoted back: inert (no @channel, links or code-span breaks), visible (control,
    invisible and bidi-override characters, which can disguise the text, become U+FFFD) and short."""
    visible = "".join(char if char.isprintable() else "\ufffd" for char in text)
    return escape(truncate(visible, _ECHO_LIMIT))


def usage(regions: Sequence[str]) -> str:
    return "\n".join(
        [
            "*Usage:*",
            f"• `{COMMAND} status`: each region's state",
            f"• `{COMMAND} fail <region>`: fail a region over (its user routes and /health answer 503)",
            f"• `{COMMAND} recover <region>`: bring a failed region back",
            f"• `{COMMAND} errors <0..1> [region]`: probability that POST /click fails "
            "(every region when none is given)",
            f"• `{COMMAND} drill <region> <minutes>`: an AWS FIS outage drill in a region: its replication "
            "pauses and its user routes' functions fail for that long",
            f"*Regions:* {', '.join(regions) or 'none deployed'}",
        ]
    )


def parse(text: str, deployed: Sequence[str]) -> Command:
    """The command in ``text``, or CommandError saying what is wrong with it."""
    words = text.split()
    if not words or words[0].lower() == "help":
        return Command("help")
    verb, args = words[0].lower(), words[1:]
    if verb == "status":
        _expect_args(verb, args, 0, 0)
        return Command(verb)
    if verb in ("fail", "recover"):
        _expect_args(verb, args, 1, 1, missing="a region")
        return Command(verb, regions=(_region(args[0], deployed),))
    if verb == "errors":
        _expect_args(verb, args, 1, 2, missing="a rate from 0 to 1")
        regions = (_region(args[1], deployed),) if len(args) == 2 else tuple(deployed)
        return Command(verb, regions=regions, error_rate=_rate(args[0]))
    if verb == "drill":
        _expect_args(verb, args, 2, 2, missing="a region and a number of minutes")
        return Command(verb, regions=(_region(args[0], deployed),), minutes=_minutes(args[1]))
    raise CommandError(f"unknown command `{_echo(words[0])}`.")


def _expect_args(verb: str, args: list[str], least: int, most: int, *, missing: str = "") -> None:
    if len(args) < least:
        raise CommandError(f"`{verb}` needs {missing}.")
    if len(args) > most:
        extra = " ".join(args[most:])
        raise CommandError(f"`{verb}` got unexpected arguments: `{_echo(extra)}`.")


def _region(word: str, deployed: Sequence[str]) -> str:
    region = word.lower()
    if region not in deployed:
        raise CommandError(f"unknown region `{_echo(word)}`.")
    return region


def _rate(word: str) -> float:
    if not _NUMBER.fullmatch(word) or not 0.0 <= float(word) <= 1.0:
        raise CommandError(f"the error rate must be a number from 0 to 1, like 0.25; got `{_echo(word)}`.")
    return float(word)


def _minutes(word: str) -> int:
    if not _MINUTES.fullmatch(word) or int(word) == 0:
        raise CommandError(
            f"the drill length must be a whole number of minutes, like 5; got `{_echo(word)}`."
        )
    return int(word)


def handle(text: str, store: ChaosStore, *, user: str, team: str, drills: Drills | None = None) -> Reply:
    """Answer one `/chaos` command from ``user``; invalid commands change nothing."""
    try:
        deployed = store.regions()
    except StoreError as error:
        logger.warning("region registry unavailable", extra={"reason": str(error)})
        return Reply(f"Could not list the deployed regions ({error}); nothing changed. Please retry.")
    try:
        command = parse(text, deployed)
    except CommandError as error:
        logger.info("invalid chaos command", extra={"user": user, "team": team, "reason": str(error)})
        return Reply(f"Sorry, {error}\n\n{usage(deployed)}")
    logger.info(
        "chaos command",
        extra={
            "user": user,
            "team": team,
            "verb": command.verb,
            "regions": list(command.regions),
            "error_rate": command.error_rate,
            "minutes": command.minutes,
        },
    )
    if command.verb == "help":
        return Reply(usage(deployed))
    if command.verb == "status":
        return status(store, deployed, drills)
    if command.verb == "drill":
        return drill(command, drills, deployed, user=user)
    return change(command, store, deployed, user=user)


def status(store: ChaosStore, deployed: Sequence[str], drills: Drills | None = None) -> Reply:
    # The drills are listed while the states are read: one wait for both, not one after the other.
    listing = drills.listing(deployed) if drills is not None and deployed else None
    states = store.read(deployed)
    running = listing.unfinished(states) if listing is not None else {}
    lines = [_status_line(region, states[region]) + _drill_status(running.get(region)) for region in deployed]
    text = "*Chaos status*\n" + "\n".join(lines) if lines else "No regions are deployed."
    return Reply(text, blocks=[section(text)])


def _status_line(region: str, state: ChaosState | StoreError) -> str:
    if isinstance(state, StoreError):
        return f"• `{region}`: unknown ({state})"
    parts = ["*FAILED*" if state.failed else "ok", f"error rate {_percent(state.error_rate)}"]
    if state.writer_failure_rate:
        parts.append(f"writer failure rate {_percent(state.writer_failure_rate)}")
    return f"• `{region}`: " + ", ".join(parts)


def _drill_status(drills: list[Drill] | StoreError | None) -> str:
    if isinstance(drills, StoreError):
        return f"; drills unknown ({drills})"
    if not drills:
        return ""
    return "; " + ", ".join(f"*DRILL {drill.status}*" + _drill_window(drill) for drill in drills)


def _drill_window(drill: Drill) -> str:
    window = f" ({drill.minutes} min, experiment `{drill.experiment_id}`"
    if drill.started is not None:
        window += f", until {(drill.started + timedelta(minutes=drill.minutes)):%H:%M} UTC"
    return window + ")"


def drill(command: Command, drills: Drills | None, deployed: Sequence[str], *, user: str) -> Reply:
    """Start one region's drill; a length the region does not offer, or no start, changes nothing."""
    (region,) = command.regions
    minutes = command.minutes or 0
    if drills is None:
        return Reply("Drills are not set up in this region's Slack API; nothing changed.")
    try:
        offered = drills.minutes(region)
        if minutes not in offered:
            lengths = ", ".join(str(length) for length in offered) or "none"
            return Reply(
                f"Sorry, `{region}` has no {minutes}-minute drill; its drills last {lengths} minutes. "
                "Nothing changed."
            )
        started = drills.start(region, minutes)
    except DrillError as error:
        return Reply(f"Could not start the drill: {error}. Nothing changed. Please retry.")
    others = [name for name in deployed if name != region]
    moves = f"the page moves to {', '.join(others)}" if others else "no other region is deployed"
    text = (
        f"*{minutes}-minute outage drill started in {region}* (@{escape(user)}, AWS FIS experiment "
        f"`{escape(started.experiment_id)}`): its user routes' functions fail every invocation and its "
        f"table replication pauses until the drill ends; {moves}. `{COMMAND} status` shows it."
    )
    return Reply(text, blocks=[section(text)], in_channel=True)


def change(command: Command, store: ChaosStore, deployed: Sequence[str], *, user: str) -> Reply:
    """Read-modify-write each target region's state, keeping the fields the command leaves alone."""
    edit: Callable[[ChaosState], ChaosState]
    if command.verb == "errors":
        edit = functools.partial(replace, error_rate=command.error_rate)
    else:
        edit = functools.partial(replace, failed=command.verb == "fail")
    before = store.read(deployed)
    targets, problems, notes = {}, [], []
    for region in command.regions:
        state = before[region]
        if isinstance(state, StoreError) and not state.corrupt:
            problems.append(f"could not read `{region}` ({state})")
            continue
        if isinstance(state, StoreError):
            # Unreadable state breaks the region's routes: replacing it is how operators repair it.
            notes.append(f"`{region}`'s stored state was unreadable ({state}) and was replaced.")
            state = ChaosState()
        targets[region] = edit(state)
    written = store.write(targets) if targets else {}
    changed = [region for region, error in written.items() if error is None]
    problems += [f"could not write `{region}` ({error})" for region, error in written.items() if error]
    if not changed:
        return Reply(f"Nothing changed: {'; '.join(problems)}. Please retry.")
    after = {**before, **{region: targets[region] for region in changed}}
    text = _outcome(command, changed, after, user=user)
    remarks = " ".join([*notes, *(f"Not applied: {problem}." for problem in problems)])
    blocks = [section(text), context(remarks)] if remarks else [section(text)]
    return Reply(f"{text} {remarks}".strip(), blocks=blocks, in_channel=True)


def _outcome(
    command: Command, changed: list[str], after: Mapping[str, ChaosState | StoreError], *, user: str
) -> str:
    who = f"@{escape(user)}"
    names = " and ".join(f"`{region}`" for region in changed)
    if command.verb == "errors":
        rate = command.error_rate or 0.0
        if not rate:
            return f"{who} turned injected errors off in {names}: within 5 s, POST /click stops failing."
        return (
            f"{who} set the injected error rate to {_percent(rate)} in {names}: within 5 s, POST /click "
            f"fails with that probability (500, retry: true) and the page retries on another region."
        )
    (region,) = changed
    if command.verb == "recover":
        return (
            f"*{region} is ok again* ({who} recovered it): within 5 s its user routes and /health "
            "answer again, and traffic comes back as health checks pass."
        )
    healthy = [
        name
        for name, state in after.items()
        if name != region and isinstance(state, ChaosState) and not state.failed
    ]
    moves = (
        f"traffic moves to {', '.join(healthy)}."
        if healthy
        else f"no healthy region is left, so users see errors until `{COMMAND} recover <region>`."
    )
    return (
        f"*{region} is now FAILED* ({who} failed it): its user routes and /health answer 503 "
        f"within 5 s; {moves}"
    )


def _percent(rate: float) -> str:
    return f"{rate * 100:g}%"
