"""WorkerSettings: clear errors for values of the wrong type, durations as timedelta, and
per-queue concurrency that stays frozen."""

from __future__ import annotations

import dataclasses
import math
from datetime import timedelta
from typing import Any

import pytest

from conveyor import ConfigurationError, WorkerSettings

DURATIONS = ("lease", "stalled_interval", "grace", "block_timeout", "loop_stall_warning")


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("concurrency", {"supplier-sync": 1}, "concurrency must be an int, got dict"),
        ("concurrency", True, "concurrency must be an int, got bool"),
        ("concurrency", 2.5, "concurrency must be an int, got float"),
        ("concurrency", "5", "concurrency must be an int, got str '5'"),
        ("max_stalled", 1.0, "max_stalled must be an int, got float"),
        ("log_keep", None, "log_keep must be an int, got NoneType"),
        ("processes", "4", "processes must be an int, got str"),
        ("lease", "10", "lease must be a number of seconds or a timedelta, got str"),
        ("grace", False, "grace must be a number of seconds or a timedelta, got bool"),
        ("stalled_interval", None, "stalled_interval must be a number of seconds"),
        ("block_timeout", [5], "block_timeout must be a number of seconds or a timedelta"),
        ("loop_stall_warning", {"s": 2}, "loop_stall_warning must be a number of seconds"),
        ("lease", math.nan, "lease must be a finite number of seconds"),
        ("grace", math.inf, "grace must be a finite number of seconds"),
        ("queue_concurrency", [("a", 1)], "queue_concurrency must be a mapping"),
        ("queue_concurrency", {"a": "1"}, r"queue_concurrency\['a'\] must be an int"),
        ("queue_concurrency", {"a": True}, r"queue_concurrency\['a'\] must be an int"),
        ("queue_concurrency", {"a": 0}, r"queue_concurrency\['a'\] must be at least 1, got 0"),
        ("queue_concurrency", {"": 1}, "queue_concurrency keys must be queue names"),
        ("queue_concurrency", {3: 1}, "queue_concurrency keys must be queue names, got int"),
    ],
)
def test_a_value_of_the_wrong_type_is_a_configuration_error_naming_the_field(
    field: str, value: Any, words: str
) -> None:
    with pytest.raises(ConfigurationError, match=words):
        WorkerSettings(**{field: value})


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"concurrency": 0}, "concurrency must be at least 1"),
        ({"lease": timedelta(milliseconds=100)}, "lease must be at least 0.5 s"),
        ({"grace": timedelta(seconds=-1)}, "grace >= 0"),
        ({"loop_stall_warning": 0}, "loop_stall_warning must be positive"),
        ({"log_keep": -1}, "log_keep must be zero or more"),
        ({"processes": 0}, "processes must be at least 1"),
    ],
)
def test_out_of_range_values_are_refused(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        WorkerSettings(**kwargs)


@pytest.mark.parametrize("field", DURATIONS)
def test_durations_take_timedelta_or_int_and_read_back_as_float_seconds(field: str) -> None:
    as_delta = WorkerSettings(**{field: timedelta(seconds=7, milliseconds=250)})
    assert getattr(as_delta, field) == 7.25
    assert type(getattr(as_delta, field)) is float
    as_int = WorkerSettings(**{field: 7})
    assert type(getattr(as_int, field)) is float
    assert as_int == WorkerSettings(**{field: 7.0})


def test_lease_ms_follows_a_timedelta_lease() -> None:
    assert WorkerSettings(lease=timedelta(seconds=2.5)).lease_ms == 2500


def test_concurrency_per_queue_and_for_all_queues_together() -> None:
    settings = WorkerSettings(concurrency=5, queue_concurrency={"supplier-sync": 1, "family": 3})
    assert settings.concurrency_for("supplier-sync") == 1
    assert settings.concurrency_for("family") == 3
    assert settings.concurrency_for("emails") == 5
    assert settings.total_concurrency(["supplier-sync", "family", "emails"]) == 9
    assert WorkerSettings(concurrency=4).total_concurrency(["a", "b"]) == 8


def test_a_per_queue_count_for_a_queue_not_run_names_it() -> None:
    settings = WorkerSettings(queue_concurrency={"supplier-sync": 1, "famly": 3})
    with pytest.raises(ConfigurationError, match=r"names 'famly', which is not among the"
                       r" worker's queues \(supplier-sync, family\)"):
        settings.total_concurrency(["supplier-sync", "family"])


def test_per_queue_counts_are_frozen_hashable_and_compared_by_value() -> None:
    given = {"a": 2}
    settings = WorkerSettings(queue_concurrency=given)
    given["a"] = 9
    given["b"] = 1
    assert dict(settings.queue_concurrency) == {"a": 2}, "a copy, not the caller's dict"
    assert settings == WorkerSettings(queue_concurrency={"a": 2})
    assert settings != WorkerSettings(queue_concurrency={"a": 3})
    assert hash(settings) == hash(WorkerSettings(queue_concurrency={"a": 2}))
    assert hash(WorkerSettings()) == hash(WorkerSettings())
    with pytest.raises(TypeError):
        settings.queue_concurrency["a"] = 5  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.concurrency = 3  # type: ignore[misc]
    assert "queue_concurrency={'a': 2}" in repr(settings)


def test_replace_checks_again() -> None:
    settings = WorkerSettings()
    assert dataclasses.replace(settings, queue_concurrency={"x": 2}).concurrency_for("x") == 2
    with pytest.raises(ConfigurationError, match="max_stalled must be an int"):
        dataclasses.replace(settings, max_stalled="2")
