"""The local cloud's LOCALCLOUD_* settings: each bad value is refused with a message naming the
variable, the value and what is allowed; good values and defaults parse."""

from __future__ import annotations

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
