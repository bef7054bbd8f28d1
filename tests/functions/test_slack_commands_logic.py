"""`/chaos` logic without AWS: parsing, read-modify-write on a fake store, the SSM store's deadline.

Function modules are imported inside tests, after the function environment is set (their
Powertools loggers take the service name from it when imported).
"""

from __future__ import annotations

import threading

import pytest
from shared.chaos import ChaosState

REGIONS = ["eu-west-1", "us-east-1", "us-west-2"]


class FakeStore:
    def __init__(self, states=None, *, read_errors=None, write_errors=None, regions_error=None):
        self.states = dict({region: ChaosState() for region in REGIONS} if states is None else states)
        self.read_errors = read_errors or {}
        self.write_errors = write_errors or {}
        self.regions_error = regions_error
        self.writes = []

    def regions(self):
        if self.regions_error:
            raise self.regions_error
        return sorted(self.states)

    def read(self, regions):
        return {region: self.read_errors.get(region, self.states.get(region)) for region in regions}

    def write(self, states):
        self.writes.append(dict(states))
        results = {}
        for region, state in states.items():
            results[region] = self.write_errors.get(region)
            if results[region] is None:
                self.states[region] = state
        return results


def run(text, store):
    from slack_commands.commands import handle

    return handle(text, store, user="bob", team="T0001")


def store_error(message):
    from slack_commands.commands import StoreError

    return StoreError(message)


@pytest.mark.parametrize(
    ("text", "verb", "regions", "rate"),
    [
        ("", "help", (), None),
        ("status", "status", (), None),
        ("Fail US-EAST-1", "fail", ("us-east-1",), None),
        ("recover us-west-2", "recover", ("us-west-2",), None),
        ("errors .25", "errors", tuple(REGIONS), 0.25),
        ("errors 1.0 eu-west-1", "errors", ("eu-west-1",), 1.0),
        ("errors 0", "errors", tuple(REGIONS), 0.0),
    ],
)
def test_parse_reads_each_command(text, verb, regions, rate):
    from slack_commands.commands import Command, parse

    assert parse(text, REGIONS) == Command(verb, regions=regions, error_rate=rate)


@pytest.mark.parametrize("text", ["errors 1.01", "errors 0x1", "errors 0_5", "errors ½", "recover"])
def test_parse_rejects_malformed_commands(text):
    from slack_commands.commands import CommandError, parse

    with pytest.raises(CommandError):
        parse(text, REGIONS)


def test_long_input_is_shortened_when_echoed():
    from slack_commands.commands import CommandError, parse

    with pytest.raises(CommandError) as raised:
        parse("fail " + "x" * 200, REGIONS)

    assert "x" * 39 + "…" in str(raised.value)
    assert "x" * 40 not in str(raised.value)


def test_errors_in_three_regions_names_all_of_them():
    store = FakeStore()

    reply = run("errors 0.1", store)

    assert store.writes == [{region: ChaosState(error_rate=0.1) for region in REGIONS}]
    assert "`eu-west-1` and `us-east-1` and `us-west-2`" in reply.text
    assert reply.in_channel


def test_fail_lists_every_healthy_region_traffic_moves_to():
    store = FakeStore({**{region: ChaosState() for region in REGIONS}, "eu-west-1": ChaosState(failed=True)})

    reply = run("fail us-east-1", store)

    assert "traffic moves to us-west-2." in reply.text


def test_write_failure_answers_ephemeral_nothing_changed():
    store = FakeStore(write_errors={"us-east-1": store_error("AccessDeniedException")})

    reply = run("fail us-east-1", store)

    assert not reply.in_channel
    assert reply.text.startswith("Nothing changed: could not write `us-east-1` (AccessDeniedException)")
    assert store.states["us-east-1"] == ChaosState()


def test_partial_failure_reports_what_was_applied_and_what_was_not():
    store = FakeStore(
        read_errors={"eu-west-1": store_error("ThrottlingException")},
        write_errors={"us-west-2": store_error("no answer within 1.2 s; check again with status")},
    )

    reply = run("errors 0.2", store)

    assert reply.in_channel
    assert "in `us-east-1`:" in reply.text
    assert "Not applied: could not read `eu-west-1` (ThrottlingException)." in reply.text
    assert "Not applied: could not write `us-west-2`" in reply.text
    assert store.states["us-east-1"].error_rate == 0.2
    assert store.states["eu-west-1"].error_rate == 0.0


def test_unreachable_registry_answers_ephemeral():
    store = FakeStore(regions_error=store_error("region registry unreadable: GetParameterError"))

    reply = run("status", store)

    assert not reply.in_channel
    assert "GetParameterError" in reply.text
    assert store.writes == []


def test_no_deployed_regions_status_says_so():
    assert run("status", FakeStore({})).text == "No regions are deployed."


def test_reply_to_slack_omits_empty_blocks():
    reply = run("fail mars-1", FakeStore())

    assert reply.to_slack() == {"response_type": "ephemeral", "text": reply.text}


# --- the SSM store's parallel calls ---------------------------------------------------------


def test_store_reads_regions_in_parallel_and_times_out_slow_ones(aws):
    from slack_commands.commands import StoreError
    from slack_commands.store import SsmChaosStore

    release = threading.Event()
    started = []

    def call(region):
        started.append(region)
        if region == "us-west-2":
            release.wait(5)
        return region.upper()

    try:
        results = SsmChaosStore(timeout_seconds=0.2)._each(["us-east-1", "us-west-2"], call)
    finally:
        release.set()

    assert results["us-east-1"] == "US-EAST-1"
    assert isinstance(results["us-west-2"], StoreError)
    assert "no answer within 0.2 s" in str(results["us-west-2"])
    assert sorted(started) == ["us-east-1", "us-west-2"]


def test_store_reports_non_aws_errors_by_type(aws):
    from slack_commands.store import SsmChaosStore

    def call(region):
        raise ConnectionError("refused")

    results = SsmChaosStore()._each(["us-east-1"], call)

    assert str(results["us-east-1"]) == "ConnectionError"
    assert SsmChaosStore()._each([], call) == {}


def test_backticks_in_echoed_input_cannot_break_out_of_the_code_span():
    reply = run("fail x`*y*`<!here>", FakeStore())

    assert "unknown region `x" in reply.text
    assert "`*y*`" not in reply.text
    assert "<!here>" not in reply.text


class FakeDrills:
    def __init__(self, offered=(1, 5), *, start_error=None, unfinished=None):
        self.offered = list(offered)
        self.start_error = start_error
        self.started = []
        self._unfinished = unfinished or {}

    def minutes(self, region):
        return self.offered

    def start(self, region, minutes):
        from slack_commands.commands import Drill

        if self.start_error:
            raise self.start_error
        self.started.append((region, minutes))
        return Drill(experiment_id="EXP1", minutes=minutes, status="initiating")

    def listing(self, regions):
        return FakeListing({region: self._unfinished.get(region, []) for region in regions})


class FakeListing:
    def __init__(self, unfinished):
        self._unfinished = unfinished
        self.states = None

    def unfinished(self, states):
        self.states = states
        return self._unfinished


def test_drill_that_fis_refuses_answers_ephemeral_and_changes_nothing():
    from slack_commands.commands import DrillError, handle

    store = FakeStore()
    drills = FakeDrills(start_error=DrillError("AWS FIS did not start it (AccessDeniedException)"))

    reply = handle("drill us-west-2 5", store, user="bob", team="T0001", drills=drills)

    assert not reply.in_channel
    assert reply.text == (
        "Could not start the drill: AWS FIS did not start it (AccessDeniedException). "
        "Nothing changed. Please retry."
    )
    assert store.writes == []


def test_drill_names_every_other_region_the_page_moves_to():
    from slack_commands.commands import handle

    drills = FakeDrills()

    reply = handle("drill us-west-2 1", FakeStore(), user="bob", team="T0001", drills=drills)

    assert drills.started == [("us-west-2", 1)]
    assert "the page moves to eu-west-1, us-east-1" in reply.text


def test_status_shows_when_a_running_drill_ends():
    from datetime import UTC, datetime

    from slack_commands.commands import Drill, handle

    started = datetime(2026, 12, 2, 1, 58, tzinfo=UTC)
    drills = FakeDrills(unfinished={"us-west-2": [Drill("EXP9", 5, "running", started)]})

    reply = handle("status", FakeStore(), user="bob", team="T0001", drills=drills)

    assert (
        "• `us-west-2`: ok, error rate 0%; *DRILL running* (5 min, experiment `EXP9`, until 02:03 UTC)"
        in reply.text
    )
    assert "DRILL" not in reply.text.replace("`us-west-2`: ok, error rate 0%; *DRILL", "")
