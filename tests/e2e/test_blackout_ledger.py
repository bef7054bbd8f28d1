"""Issue 13's ledger through a real outage, at a smaller scale than `make bench`: the primary is
blacked out while it serves the clicks, then restored; nothing is lost, duplicated or shown as an
error, and the restored region catches up. 127.0.0.1 only; the ledger restores what it changed
(the blackout, both regions' chaos state), which the last test checks."""

from __future__ import annotations

import pytest

from bench import ledger

pytestmark = pytest.mark.e2e
CLICKS = 150
PRIMARY = "us-east-1"


@pytest.fixture(scope="module")
def outcome(cloud) -> ledger.Ledger:
    settings = ledger.LedgerSettings(clicks=CLICKS, fault=ledger.BLACKOUT, blackout_region=PRIMARY)
    return ledger.run(cloud.state, settings, log=lambda _: None)


def test_no_click_is_lost_duplicated_or_shown_as_an_error_through_the_primarys_blackout(outcome):
    assert outcome.blackout["region"] == PRIMARY and outcome.blackout["primary"]
    assert outcome.accepted == CLICKS, outcome.failed_clicks
    assert outcome.rejected == 0, outcome.failed_clicks
    assert outcome.lost == 0, outcome.lost_ids
    assert outcome.duplicated == 0
    assert outcome.lost_increments == 0
    assert outcome.stored_once + outcome.dead_lettered_and_handled == outcome.accepted
    assert outcome.holds()


def test_the_clicks_shift_to_us_west_2_and_the_first_to_meet_the_outage_succeeds_there(outcome):
    assert outcome.failover["userVisibleErrorsDuringFailure"] == 0
    assert outcome.failover["secondsToMoveOff"] is not None
    assert outcome.served_by.get("us-west-2", 0) > 0
    # The client was on the primary when it went dark: a click met the outage, unless the
    # router's own probe (every 10 s) happened to see it first.
    met = outcome.failover["firstMet"]
    if met is not None:
        assert met["outcome"] in {"unreachable", "server-error"}, met
        assert (met["retriedIn"], met["succeeded"]) == ("us-west-2", True), met


def test_the_restored_primary_is_healthy_drained_and_counts_every_click(outcome):
    assert outcome.recovered() == [], outcome.blackout
    assert outcome.blackout["backlogAtRestore"] > 0  # the outage's clicks waited for it
    assert outcome.blackout["countsByRegion"][PRIMARY] == outcome.blackout["countsTotal"]
    assert outcome.blackout["replicationLatency"]["maxMs"] is not None


def test_the_blackout_ledger_leaves_every_region_up_and_its_chaos_state_as_it_was(cloud, outcome):
    regions = ledger.LocalCloudClient(cloud.state).control("GET", "/regions")[1]["regions"]
    assert {name: region["state"] for name, region in regions.items()} == dict.fromkeys(regions, "up")
    for region in cloud.state["regions"]:
        state = cloud.chaos_state(region)
        assert state["failed"] is False
        assert state.get("writerFailureRate", 0) == 0
