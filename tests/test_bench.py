"""The arithmetic behind `make bench`'s load, latency, ledger and cold-start figures, on made-up samples."""

from __future__ import annotations

import pytest

from bench import coldstart, latency, ledger, load

JOB = load.Job("stage", "http://127.0.0.1:9/health", "GET", offered=100, seconds=10)


def test_steady_rate_counts_only_what_was_accepted_after_the_first_429():
    # 100/s offered for 10 s; the burst lets everything through for 2 s, then every other request.
    results = [(i / 100, 200 if i < 200 or i % 2 else 429, 1.0) for i in range(1000)]
    summary = load.summarize(JOB, results)
    assert summary["burstAccepted"] == 200
    assert summary["throttled"] == 400
    assert summary["steadyAcceptedPerSecond"] == pytest.approx(50, rel=0.02)
    assert summary["errors5xx"] == 0


def test_server_errors_and_connection_failures_are_counted_as_5xx_not_accepted():
    results = [(0.0, 200, 1.0), (0.1, 500, 1.0), (0.2, 0, 1.0), (0.3, 429, 1.0)]
    summary = load.summarize(JOB, results)
    assert summary["errors5xx"] == 2
    assert summary["accepted"] == 1


def test_a_run_that_is_never_throttled_has_no_steady_rate():
    summary = load.summarize(JOB, [(i / 10, 200, 1.0) for i in range(10)])
    assert summary["steadyAcceptedPerSecond"] is None


def test_load_is_only_ever_sent_to_the_loopback():
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        load.run(load.Job("x", "http://example.com/health", "GET", offered=1, seconds=1))


def _click(started: int, attempts: list[tuple[str, str]], outcome: str = "ok") -> dict:
    return {
        "startedAt": started,
        "elapsedMs": 10,
        "outcome": outcome,
        "attempts": [{"region": region, "outcome": result} for region, result in attempts],
    }


def test_failover_figures_time_the_first_503_and_the_move_to_the_other_region():
    clicks = [
        _click(900, [("west", "ok")]),
        _click(1500, [("west", "ok")]),  # the chaos state is cached for a few seconds
        _click(3000, [("west", "unavailable"), ("east", "ok")]),
        _click(3100, [("east", "ok")]),
        _click(9000, [("east", "ok")]),
    ]
    routers = [{"at": 9500, "states": {"west": "ok", "east": "ok"}}]
    figures = ledger._failover(clicks, routers, {"region": "west", "failedAt": 1000, "recoveredAt": 8000})
    assert figures["secondsToFirst503"] == 2.0
    assert figures["secondsToMoveOff"] == 2.1
    assert figures["clicksFailedOver"] == 1
    assert figures["clicksDuringFailure"] == 3
    assert figures["userVisibleErrorsDuringFailure"] == 0
    assert figures["secondsToHealthyAgain"] == 1.5


def test_a_ledger_holds_only_with_nothing_lost_duplicated_or_shown_as_an_error():
    settings = ledger.LedgerSettings(clicks=3)
    assert ledger.Ledger(settings, accepted=3, stored_once=3).holds()
    assert not ledger.Ledger(settings, accepted=3, stored_once=2, lost=1).holds()
    assert not ledger.Ledger(settings, accepted=3, stored_once=3, duplicated=1).holds()
    assert not ledger.Ledger(settings, accepted=3, stored_once=3, lost_increments=1).holds()
    assert not ledger.Ledger(settings, accepted=2, stored_once=2, rejected=1).holds()
    assert not ledger.Ledger(settings).holds()


def test_the_snapstart_table_is_labelled_local_emulation_with_ratios_to_the_baseline():
    from bench import coldstart

    result = {
        "what": "local emulation: a forked snapshot process, not Firecracker",
        "functions": {"health": {"initMs": 400.0, "restoreMs": 10.0, "firstResponseMs": 75.0}},
    }
    lines = coldstart.snapstart_table(result, baseline_ms=150.0).splitlines()
    assert "local emulation" in lines[0]
    assert lines[-1].split() == ["health", "400", "10.0", "75.0", "0.50"]


# As python3.13 -X importtime writes it: each import after the ones it made, nested ones indented.
IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       120 |        120 |     botocore.exceptions
import time:      3000 |       3120 |   botocore.session
{"level":"INFO","message":"a log line between them"}
import time:       500 |       3620 | shared.aws
import time:        80 |         80 | json
"""


def test_import_times_reads_each_module_with_its_nesting_and_skips_other_lines():
    imports = coldstart.import_times(IMPORTTIME)
    assert [(entry.module, entry.depth, entry.self_us, entry.cumulative_us) for entry in imports] == [
        ("botocore.exceptions", 2, 120, 120),
        ("botocore.session", 1, 3000, 3120),
        ("shared.aws", 0, 500, 3620),
        ("json", 0, 80, 80),
    ]


def test_import_report_lists_the_top_imports_by_cumulative_time_and_totals_the_outermost():
    sample = coldstart.Sample(200.0, {"importMs": 150.0, "firstCallMs": 40.0}, [], IMPORTTIME)
    report = coldstart.import_report("health", sample, top=2).splitlines()
    assert "modules imported in 4 ms" in report[0]  # 3620 + 80 us: nested imports counted once
    assert [line.split()[-1] for line in report[2:]] == ["shared.aws", "botocore.session"]


def _round(overheads: list[float]) -> latency.Comparison:
    return latency.Comparison(
        direct_ms=[10.0] * len(overheads),
        gateway_ms=[10.0 + value for value in overheads],
        overhead_ms=list(overheads),
    )


def test_one_busy_round_does_not_fail_a_route_whose_other_rounds_meet_the_target():
    calm, busy = [2.0, 3.0, 2.5], [40.0, 45.0, 50.0]
    row = latency.route_figures([_round(calm), _round(busy), _round(calm), _round(calm), _round(calm)])

    assert row["overheadP50Rounds"] == [2.5, 45.0, 2.5, 2.5, 2.5]
    assert row["overheadP50Ms"] == 2.5
    assert row["pass"] is True
    assert row["overheadP99Ms"] == 50.0  # the busy round still shows in the tail


def test_a_route_over_the_target_in_most_rounds_fails():
    slow, calm = [5.5, 6.0, 6.5], [2.0, 2.0, 2.0]
    row = latency.route_figures([_round(slow), _round(slow), _round(calm), _round(slow), _round(calm)])

    assert row["overheadP50Ms"] == 6.0
    assert row["pass"] is False
