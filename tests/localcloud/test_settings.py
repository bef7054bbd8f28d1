"""The local cloud's LOCALCLOUD_* settings: each bad value is refused with a message naming the
variable, the value and what is allowed; good values and defaults parse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localcloud import settings
from localcloud.settings import SettingError


def test_defaults_when_nothing_is_set():
    loaded = settings.load({})
    assert loaded.port == 4700
    assert loaded.state_dir == settings.ROOT / ".localcloud"
    assert loaded.time_scale == 60
    assert loaded.worker_idle_seconds == 10  # ten minutes of Lambda's time at the default scale


def test_good_values_parse():
    loaded = settings.load(
        {"LOCALCLOUD_PORT": "5000", "LOCALCLOUD_STATE_DIR": "/tmp/lc", "LOCALCLOUD_TIME_SCALE": "1.5"}
    )
    assert loaded == settings.Settings(
        port=5000, state_dir=Path("/tmp/lc"), time_scale=1.5, worker_idle_seconds=400
    )


def test_worker_idle_time_is_ten_minutes_of_lambdas_time_unless_set():
    assert settings.worker_idle_seconds({"LOCALCLOUD_TIME_SCALE": "1"}) == 600
    assert settings.worker_idle_seconds({"LOCALCLOUD_WORKER_IDLE_SECONDS": "30"}) == 30


@pytest.mark.parametrize("value", ["0", "0.5", "86401", "soon", "", "nan"])
def test_bad_worker_idle_time_names_the_variable_the_value_and_the_range(value):
    with pytest.raises(SettingError) as raised:
        settings.load({"LOCALCLOUD_WORKER_IDLE_SECONDS": value})
    assert str(raised.value) == (
        f"LOCALCLOUD_WORKER_IDLE_SECONDS must be a number of seconds from 1 to 86400, got {value!r}"
    )


@pytest.mark.parametrize("value", ["1", "60", "3600"])
def test_time_scale_limits_are_allowed(value):
    assert settings.time_scale({"LOCALCLOUD_TIME_SCALE": value}) == float(value)


@pytest.mark.parametrize("value", ["1024", "65435"])
def test_port_limits_are_allowed(value):
    assert settings.port({"LOCALCLOUD_PORT": value}) == int(value)


@pytest.mark.parametrize("value", ["0", "-1", "0.5", "3601", "fast", "", "nan", "inf"])
def test_bad_time_scale_names_the_variable_the_value_and_the_range(value):
    with pytest.raises(SettingError) as raised:
        settings.load({"LOCALCLOUD_TIME_SCALE": value})
    assert str(raised.value) == f"LOCALCLOUD_TIME_SCALE must be a number from 1 to 3600, got {value!r}"
    assert raised.value.name == "LOCALCLOUD_TIME_SCALE"


@pytest.mark.parametrize("value", ["0", "80", "1023", "65436", "70000", "47OO", "4700.5", ""])
def test_bad_port_names_the_variable_the_value_and_the_range(value):
    with pytest.raises(SettingError) as raised:
        settings.load({"LOCALCLOUD_PORT": value})
    assert str(raised.value) == f"LOCALCLOUD_PORT must be a whole number from 1024 to 65435, got {value!r}"


@pytest.mark.parametrize("value", ["", "  "])
def test_empty_state_dir_is_refused(value):
    with pytest.raises(SettingError) as raised:
        settings.load({"LOCALCLOUD_STATE_DIR": value})
    assert str(raised.value) == (
        f"LOCALCLOUD_STATE_DIR must be a directory path (unset means .localcloud), got {value!r}"
    )


def test_a_setting_error_is_a_value_error():
    with pytest.raises(ValueError, match="LOCALCLOUD_TIME_SCALE"):
        settings.time_scale({"LOCALCLOUD_TIME_SCALE": "0"})


def test_services_read_the_environment_through_the_same_check(monkeypatch):
    monkeypatch.setenv("LOCALCLOUD_TIME_SCALE", "120")
    assert settings.time_scale() == 120
    monkeypatch.setenv("LOCALCLOUD_TIME_SCALE", "0")
    with pytest.raises(SettingError, match="got '0'"):
        settings.time_scale()


def test_main_refuses_a_bad_setting_before_it_starts_anything(monkeypatch):
    from localcloud import main

    started = []
    monkeypatch.setattr(main, "start", lambda *args: started.append(args))
    monkeypatch.setenv("LOCALCLOUD_TIME_SCALE", "0")
    monkeypatch.setattr("sys.argv", ["localcloud"])
    with pytest.raises(SystemExit, match="LOCALCLOUD_TIME_SCALE must be a number from 1 to 3600, got '0'"):
        main.main()
    assert started == []


def test_a_runtime_interpreter_that_is_not_that_python_is_refused_before_anything_starts(tmp_path):
    with pytest.raises(
        SettingError, match=r"LOCALCLOUD_PYTHON_3_13 must be the path of a Python 3.13 interpreter"
    ):
        settings.load({"LOCALCLOUD_PYTHON_3_13": str(tmp_path / "missing")})
    with pytest.raises(SettingError, match=r"LOCALCLOUD_PYTHON_3_13 must be the path of a Python 3\.13"):
        settings.load({"LOCALCLOUD_PYTHON_3_13": "/bin/sh"})


def test_a_runtime_interpreter_variable_must_name_a_version():
    with pytest.raises(
        SettingError, match="LOCALCLOUD_PYTHON_LATEST must be named LOCALCLOUD_PYTHON_<major>_<minor>"
    ):
        settings.load({"LOCALCLOUD_PYTHON_LATEST": "/usr/bin/python3"})


def test_the_runtime_interpreter_of_its_version_is_accepted():
    import sys

    version = f"{sys.version_info.major}_{sys.version_info.minor}"
    settings.load({f"LOCALCLOUD_PYTHON_{version}": sys.executable})


def test_stacks_are_every_stack_files_unless_listed():
    assert settings.load({}).stacks is None
    listed = settings.load({"LOCALCLOUD_STACKS": "us-east-1, us-west-2,eu-west-1"}).stacks
    assert listed == ("us-east-1", "us-west-2", "eu-west-1")


@pytest.mark.parametrize(
    "value", ["", "us-east-1,", "us-east-1,us-east-1", "mars", ",".join(["us-east-1"] * 9)]
)
def test_bad_stacks_name_the_variable_the_value_and_what_is_allowed(value):
    with pytest.raises(SettingError) as caught:
        settings.load({"LOCALCLOUD_STACKS": value})
    assert str(caught.value) == (
        "LOCALCLOUD_STACKS must be 1 to 8 distinct region names, comma-separated "
        f"(e.g. us-east-1,us-west-2,eu-west-1), got {value!r}"
    )


def test_main_runs_the_listed_stacks_primary_first(monkeypatch):
    from localcloud import main

    started = []

    def start(*args):
        started.append(args)
        raise SystemExit(0)  # as a start that was stopped at once

    monkeypatch.setattr(main, "start", start)
    monkeypatch.setenv("LOCALCLOUD_STACKS", "eu-west-1,us-east-1")
    monkeypatch.setattr(
        "sys.argv", ["localcloud", "--port", "6100", "--stacks", "us-west-2,eu-west-1,us-east-1"]
    )
    with pytest.raises(SystemExit):
        main.main()
    # --stacks wins over the variable; the primary (us-east-1: its stack file sets no other) leads.
    assert started == [(6100, ["us-east-1", "us-west-2", "eu-west-1"])]


def test_main_refuses_stacks_without_the_primary_before_it_starts_anything(monkeypatch):
    from localcloud import main

    started = []
    monkeypatch.setattr(main, "start", lambda *args: started.append(args))
    monkeypatch.setenv("LOCALCLOUD_STACKS", "us-west-2,eu-west-1")
    monkeypatch.setattr("sys.argv", ["localcloud"])
    with pytest.raises(SystemExit, match="leave out the primary region us-east-1: list it"):
        main.main()
    assert started == []


def test_a_stack_without_a_stack_file_runs_with_its_region_alone_and_every_stack_knows_the_regions():
    from localcloud import main

    local = main.LocalSecrets("0" * 32, "Demo-Password-1!", "http://127.0.0.1:4702/services/T/B/x")
    regions = ["us-east-1", "us-west-2", "eu-west-1"]
    third = main.stack_settings("eu-west-1", local, regions)["config"]
    assert third["aws:region"] == "eu-west-1"
    assert json.loads(third["active-active:regions"]) == regions
    assert (
        json.loads(main.stack_settings("us-west-2", local, regions)["config"]["active-active:regions"])
        == regions
    )


def test_every_stacks_ports_are_its_own_up_to_the_most_stacks():
    from localcloud import main

    ports = main.Ports(4700)
    fixed = [ports.site, ports.dashboard, ports.slack, ports.control, ports.moto]
    regional = [
        port
        for index in range(settings.MAX_STACKS)
        for port in (ports.endpoint(index), *ports.apis(index).values())
    ]
    every = fixed + regional
    assert len(set(every)) == len(every)
    assert max(every) < ports.base + settings.PORT_SPAN
