"""The arithmetic behind `make bench`'s load, latency, ledger and cold-start figures, on made-up samples."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from bench import coldstart, footprint, latency, ledger, load, report

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


def test_the_first_click_to_meet_a_blackout_is_timed_to_its_retry_in_the_other_region():
    clicks = [
        _click(900, [("east", "ok")]),
        _click(1200, [("east", "unreachable"), ("west", "ok")]),
        _click(1400, [("west", "ok")]),
        _click(9000, [("east", "ok")]),
    ]
    clicks[1]["elapsedMs"] = 150
    figures = ledger._failover(clicks, [], {"region": "east", "failedAt": 1000, "recoveredAt": 8000})
    assert figures["firstMet"] == {
        "secondsAfterCommand": 0.2,
        "outcome": "unreachable",
        "retriedIn": "west",
        "succeeded": True,
        "msToSuccess": 150,
    }
    assert figures["secondsToMoveOff"] == 0.4
    assert (figures["failedAfterClicks"], figures["recoveredAfterClicks"]) == (None, None)
    assert figures["secondsToFirst503"] is None  # nothing answered: no 503


def test_the_click_in_flight_when_the_blackout_came_is_the_first_to_meet_it():
    clicks = [
        _click(900, [("east", "server-error"), ("west", "ok")]),  # sent before, answered after
        _click(1200, [("west", "ok")]),
    ]
    figures = ledger._failover(clicks, [], {"region": "east", "failedAt": 905, "recoveredAt": 8000})
    assert figures["firstMet"]["secondsAfterCommand"] == -0.01
    assert figures["firstMet"]["outcome"] == "server-error"
    settings = ledger.LedgerSettings(clicks=2, fault=ledger.BLACKOUT)
    outcome = ledger.Ledger(settings, blackout=_blackout(), failover=figures, latency_ms={})
    text = "\n".join(report.blackout_section(outcome.to_json()))
    assert "in flight at the command (sent 0.01 s before it), its first attempt server-error" in text


def test_a_failover_the_client_saw_first_in_its_probe_has_no_first_met_click():
    clicks = [_click(900, [("east", "ok")]), _click(1500, [("west", "ok")])]
    figures = ledger._failover(clicks, [], {"region": "east", "failedAt": 1000, "recoveredAt": 8000})
    assert figures["firstMet"] is None


def _blackout(**changes: object) -> dict:
    figures = {
        "region": "us-east-1",
        "primary": True,
        "secondsToHealthy": 0.8,
        "drainSeconds": 2.7,
        "countsConverged": True,
        "countsByRegion": {"us-east-1": 9, "us-west-2": 9},
    }
    return {**figures, **changes}


@pytest.mark.parametrize(
    ("changes", "missed"),
    [
        ({}, []),
        ({"secondsToHealthy": 61.0}, ["us-east-1 not healthy within 60 s of the restore"]),
        ({"secondsToHealthy": None}, ["us-east-1 not healthy within 60 s of the restore"]),
        ({"drainSeconds": None}, ["us-east-1's replication backlog not drained within 60 s"]),
        (
            {"countsConverged": False, "countsByRegion": {"us-east-1": 8, "us-west-2": 9}},
            ["the regions' counts differ after the restore: {'us-east-1': 8, 'us-west-2': 9}"],
        ),
    ],
)
def test_a_blacked_out_region_recovered_only_healthy_drained_and_counting_every_click(changes, missed):
    settings = ledger.LedgerSettings(clicks=3, fault=ledger.BLACKOUT)
    outcome = ledger.Ledger(settings, accepted=3, stored_once=3, blackout=_blackout(**changes))
    assert outcome.recovered() == missed


def test_a_blackout_run_with_no_region_blacked_out_did_not_recover():
    outcome = ledger.Ledger(ledger.LedgerSettings(fault=ledger.BLACKOUT), accepted=3, stored_once=3)
    assert outcome.recovered() == ["no region was blacked out"]


def test_the_blackout_waits_for_the_preferred_region_to_serve_then_takes_the_serving_one():
    settings = ledger.LedgerSettings(clicks=60, fault=ledger.BLACKOUT, blackout_region="us-east-1")
    fault = ledger.Blackout(None, settings)  # type: ignore[arg-type] - target() talks to no cloud
    assert fault.client() == {"near": "us-east-1", "farMs": settings.far_ms}
    assert fault.target({"region": "us-east-1"}, waited=0) == "us-east-1"
    assert fault.target({"region": "us-west-2"}, waited=9) is None
    assert fault.target({"region": "us-west-2"}, waited=10) == "us-west-2"  # a sixth of the clicks


class _CloudWatch:
    def __init__(self, datapoints: dict[str, list[dict]]) -> None:
        self.datapoints = datapoints

    def get_metric_statistics(self, **query: object) -> dict:
        dimensions = {d["Name"]: d["Value"] for d in query["Dimensions"]}  # type: ignore[attr-defined]
        return {"Datapoints": self.datapoints.get(dimensions["ReceivingRegion"], [])}


def test_replication_latency_is_the_largest_datapoint_and_the_writes_weighted_average_per_direction():
    state = {"regions": {"us-east-1": {}, "us-west-2": {}}, "moto": "http://127.0.0.1:9"}
    cloud = ledger.LocalCloudClient(state)
    watches = {
        "us-east-1": _CloudWatch(
            {
                "us-west-2": [
                    {"Maximum": 400.0, "Average": 300.0, "SampleCount": 3.0},
                    {"Maximum": 5200.0, "Average": 2500.0, "SampleCount": 1.0},
                ]
            }
        ),
        "us-west-2": _CloudWatch({}),  # nothing replicated from it: no row
    }
    cloud.aws = lambda service, region: watches[region]  # type: ignore[method-assign]
    cloud.table = lambda region: "table"  # type: ignore[method-assign]
    figures = cloud.replication_latency(datetime.now(UTC), datetime.now(UTC))
    assert figures == {"us-east-1>us-west-2": {"maxMs": 5200.0, "averageMs": 850.0, "samples": 4}}


def test_the_blackout_section_reports_the_shift_the_drain_and_the_largest_lag():
    settings = ledger.LedgerSettings(clicks=9, fault=ledger.BLACKOUT)
    figures = _blackout(
        commandSeconds=1.0,
        outageSeconds=5.0,
        backlogAtRestore=12,
        countsTotal=9,
        replicationLatency={
            "pairs": {"us-west-2>us-east-1": {"maxMs": 5655.3, "averageMs": 900.0, "samples": 12}},
            "maxMs": 5655.3,
            "maxPair": "us-west-2>us-east-1",
        },
    )
    outcome = ledger.Ledger(
        settings,
        accepted=9,
        stored_once=9,
        counter_delta=9,
        served_by={"us-east-1": 3, "us-west-2": 6},
        latency_ms={"p50": 80.0, "p99": 200.0},
        blackout=figures,
        failover={
            "failedAfterClicks": 3,
            "recoveredAfterClicks": 6,
            "secondsToMoveOff": 0.4,
            "userVisibleErrorsDuringFailure": 0,
            "clicksDuringFailure": 3,
            "secondsToHealthyAgain": 6.1,
            "firstMet": {
                "secondsAfterCommand": 0.26,
                "outcome": "unreachable",
                "retriedIn": "us-west-2",
                "succeeded": True,
                "msToSuccess": 146,
            },
        },
    )
    text = "\n".join(report.blackout_section(outcome.to_json()))
    assert "## Fault injection: a blackout mid-run" in text
    assert "not an AWS one" in text
    assert "us-east-1, the primary (its user pool with it), is blacked out after 3 clicks" in text
    assert "restored after 6 (`/restore`)" in text
    assert "| time to shift: command to every click sent first to another region | 0.4 s |  |" in text
    assert "retried in us-west-2, it succeeded 146 ms after it was sent" in text
    assert "| backlog drained: restore to the last queued write applied | 2.7 s | pass |" in text
    assert "| 5655.3 ms, us-west-2 to us-east-1 |" in text
    assert "| us-west-2 | us-east-1 | 12 | 900.0 | 5655.3 |" in text


def test_make_bench_fails_a_blackout_ledger_that_lost_a_click_or_recovered_late():
    from bench.__main__ import failures

    data = {
        "coldStart": {"functions": {}},
        "latency": {"functions": {}},
        "throttling": {"jobs": []},
        "ledger": {"holds": True},
        "blackoutLedger": {"holds": False, "recovered": ["us-east-1 not healthy within 60 s of the restore"]},
    }
    assert failures(data) == [
        "blackout ledger: a click was lost, duplicated or failed in front of the user",
        "blackout ledger: us-east-1 not healthy within 60 s of the restore",
    ]
    data["blackoutLedger"] = {"holds": True, "recovered": []}
    assert failures(data) == []


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


def test_the_ledger_waits_past_the_settle_timeout_for_a_dead_letter_handled_again(monkeypatch):
    # Its handler was cut off once: the queue delivers it again after its visibility timeout.
    answers = iter([(set(), {"c1": False}), (set(), {"c1": False}), (set(), {"c1": True})])
    last: list[tuple[set[str], dict[str, bool]]] = []

    def outcomes(*_: object) -> tuple[set[str], dict[str, bool]]:
        last[:] = [next(answers, last[0] if last else (set(), {}))]
        return last[0]

    class Cloud:
        def redelivery_seconds(self) -> float:
            return 60.0

    monkeypatch.setattr(ledger, "_outcomes", outcomes)
    monkeypatch.setattr(ledger.time, "sleep", lambda _: None)
    settings = ledger.LedgerSettings(settle_timeout=0.0)
    stored, dead = ledger._settle(Cloud(), "u1", "", ["c1"], settings)  # type: ignore[arg-type]
    assert (stored, dead) == (set(), {"c1": True})


def test_cold_starts_wait_for_the_local_clouds_functions_to_be_idle():
    from types import SimpleNamespace

    from bench.coldstart import wait_until_quiet

    writer = SimpleNamespace(busy=1, idle_at=None)

    def finish() -> None:
        writer.idle_at = time.monotonic()
        writer.busy = 0

    cloud = SimpleNamespace(runner=SimpleNamespace(functions={"writer": writer}))
    threading.Timer(0.2, finish).start()

    wait_until_quiet(cloud, quiet_for=0.1, timeout=5)  # type: ignore[arg-type]

    assert writer.idle_at is not None
    assert time.monotonic() - writer.idle_at >= 0.1  # then idle for quiet_for


def test_the_wait_for_idle_functions_gives_up_at_its_timeout():
    from types import SimpleNamespace

    from bench.coldstart import wait_until_quiet

    cloud = SimpleNamespace(runner=SimpleNamespace(functions={"writer": SimpleNamespace(busy=1)}))
    started = time.monotonic()

    wait_until_quiet(cloud, quiet_for=0.1, timeout=0.3)  # type: ignore[arg-type]

    assert 0.3 <= time.monotonic() - started < 3


def test_each_timed_request_starts_once_settled_and_the_wait_is_not_timed(monkeypatch):
    """What the request before set off (a click's event reaching the writer) settles first."""
    steps: list[str] = []

    class Function:
        def invoke(self, event, **options):
            steps.append("invoke" if options.get("wait") else "gateway invocation")
            return {}

    event = {"requestContext": {"requestId": "r1"}}
    function = Function()

    def gateway() -> str:
        steps.append("gateway")
        function.invoke(event, patience=30)
        return "r1"

    clock = [0.0]  # only settling takes time

    def settle() -> None:
        steps.append("settle")
        clock[0] += 100.0

    monkeypatch.setattr(latency, "time", SimpleNamespace(perf_counter=lambda: clock[0], sleep=lambda _: None))
    result = latency.compare(function, event, gateway, count=2, rate=1000, settle=settle)

    cycle = ["settle", "invoke", "settle", "gateway", "gateway invocation"]
    assert steps == cycle * (latency.WARMUP + 2)
    assert result.direct_ms == result.gateway_ms == result.overhead_ms == [0.0, 0.0]


def test_the_ready_figure_is_the_median_of_the_starts_and_the_report_lists_every_one(monkeypatch):
    starts = iter([9.0, 7.0, 7.5])  # a slow first start, as on a loaded machine

    @contextlib.contextmanager
    def started(port, timeout):
        yield SimpleNamespace(pid=1), next(starts)

    monkeypatch.setattr(footprint, "_started", started)
    monkeypatch.setattr(footprint.memory, "tree_rss_mb", lambda pid: 500.0)
    monkeypatch.setattr(footprint.memory, "tree_cpu_seconds", lambda pid: 1.0)
    monkeypatch.setattr(footprint.time, "sleep", lambda seconds: None)
    shape = footprint.measure(9000, idle_seconds=20.0)
    assert shape["readySeconds"] == 7.5 and shape["readyRounds"] == [9.0, 7.0, 7.5]
    assert shape["pass"]
    row = next(line for line in report.render_footprint(shape) if "ready" in line)
    assert "median of 3 starts" in row and "7.5 (9, 7, 7.5)" in row and "pass" in row
