"""Flags and environment variables map onto WorkerSettings in one place, flag first."""

from __future__ import annotations

import logging
import re

import pytest

from conveyor import ConfigurationError, WorkerSettings
from conveyor.cli.config import (
    Concurrency,
    LogSettings,
    WorkerFlags,
    parse_concurrency,
    split_names,
    worker_config,
)


def test_nothing_given_keeps_the_defaults() -> None:
    config = worker_config(WorkerFlags("app:queue"), {})
    assert config.url is None
    assert config.queues == ()
    assert config.settings() == WorkerSettings()
    assert config.log == LogSettings(logging.INFO, "text")


def test_environment_fills_what_flags_leave_out() -> None:
    env = {
        "CONVEYOR_CONCURRENCY": "7",
        "CONVEYOR_GRACE": "2.5",
        "CONVEYOR_LEASE": "4",
        "CONVEYOR_QUEUES": "emails, reports,emails",
        "CONVEYOR_LOG_LEVEL": "warning",
        "CONVEYOR_LOG_FORMAT": "JSON",
    }
    config = worker_config(WorkerFlags("app:queue"), env)
    settings = config.settings()
    assert (settings.concurrency, settings.grace, settings.lease) == (7, 2.5, 4.0)
    assert config.queues == ("emails", "reports")
    assert config.log == LogSettings(logging.WARNING, "json")


def test_a_flag_beats_its_environment_variable() -> None:
    flags = WorkerFlags("app:queue", concurrency=3, queues=("a",), log_format="text")
    env = {"CONVEYOR_CONCURRENCY": "7", "CONVEYOR_QUEUES": "b", "CONVEYOR_LOG_FORMAT": "json"}
    config = worker_config(flags, env)
    assert config.settings().concurrency == 3
    assert config.queues == ("a",)
    assert config.log.format == "text"


def test_overrides_apply_on_top_of_the_applications_settings() -> None:
    base = WorkerSettings(concurrency=4, lease=2.5, grace=9)
    config = worker_config(WorkerFlags("app:w", grace=1.0), {"CONVEYOR_CONCURRENCY": "6"})
    assert config.settings(base) == WorkerSettings(concurrency=6, lease=2.5, grace=1.0)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CONVEYOR_CONCURRENCY": "ten"}, "CONVEYOR_CONCURRENCY must be an integer"),
        ({"CONVEYOR_GRACE": "soon"}, "CONVEYOR_GRACE must be a number"),
        ({"CONVEYOR_LOG_LEVEL": "loud"}, "unknown log level 'loud'"),
        ({"CONVEYOR_LOG_FORMAT": "xml"}, "unknown log format 'xml'"),
    ],
)
def test_bad_environment_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        worker_config(WorkerFlags("app:queue"), env)


def test_out_of_range_values_are_refused_by_the_settings() -> None:
    config = worker_config(WorkerFlags("app:queue", concurrency=0), {})
    with pytest.raises(ConfigurationError, match="concurrency must be at least 1"):
        config.settings()


def test_queue_names_split_on_commas_and_repeat() -> None:
    assert split_names(("a,b", " c ", "a", "")) == ("a", "b", "c")


# -- per-queue concurrency, stalled checks -------------------------------------------
@pytest.mark.parametrize(
    ("raw", "default", "per_queue"),
    [
        ("5", 5, ()),
        ("supplier-sync=1,product-family=3", None, (("supplier-sync", 1), ("product-family", 3))),
        ("5,supplier-sync=1", 5, (("supplier-sync", 1),)),
        (" supplier-sync = 1 , 5 ,", 5, (("supplier-sync", 1),)),
    ],
)
def test_concurrency_takes_a_count_queue_counts_or_both(
    raw: str, default: int | None, per_queue: tuple[tuple[str, int], ...]
) -> None:
    assert parse_concurrency(raw) == Concurrency(default, per_queue)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("", "no count given"),
        ("ten", "'ten' is not a whole number"),
        ("-1", "'-1' is not a whole number"),
        ("a=x", "'x' is not a whole number (in 'a=x')"),
        ("a=", "'a=' has no count"),
        ("=3", "'=3' names no queue"),
        ("5,6", "two counts for every queue (5 and 6)"),
        ("a=1,a=2", "queue 'a' is given twice"),
    ],
)
def test_a_bad_concurrency_says_which_part_is_wrong(raw: str, words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        parse_concurrency(raw)


def test_concurrency_from_the_environment_sets_the_default_and_queue_counts() -> None:
    config = worker_config(WorkerFlags("app:w"), {"CONVEYOR_CONCURRENCY": "5,supplier-sync=1"})
    settings = config.settings()
    assert (settings.concurrency, dict(settings.queue_concurrency)) == (5, {"supplier-sync": 1})
    assert config.queues_with_concurrency() == ("supplier-sync",)
    only_queues = worker_config(WorkerFlags("app:w"), {"CONVEYOR_CONCURRENCY": "a=2"}).settings()
    assert (only_queues.concurrency, dict(only_queues.queue_concurrency)) == (10, {"a": 2})


def test_a_concurrency_flag_beats_the_whole_environment_value() -> None:
    flags = WorkerFlags("app:w", concurrency=parse_concurrency("a=3"))
    settings = worker_config(flags, {"CONVEYOR_CONCURRENCY": "7,b=1"}).settings()
    assert (settings.concurrency, dict(settings.queue_concurrency)) == (10, {"a": 3})


def test_queue_counts_are_added_to_the_applications_own() -> None:
    base = WorkerSettings(concurrency=4, queue_concurrency={"a": 2, "b": 5})
    config = worker_config(WorkerFlags("app:w", concurrency=parse_concurrency("b=1,c=3")), {})
    settings = config.settings(base)
    assert settings.concurrency == 4, "no default given: the application's stays"
    assert dict(settings.queue_concurrency) == {"a": 2, "b": 1, "c": 3}
    default_only = worker_config(WorkerFlags("app:w", concurrency=6), {}).settings(base)
    assert (default_only.concurrency, dict(default_only.queue_concurrency)) == (6, {"a": 2, "b": 5})


def test_max_stalled_and_stalled_interval_come_from_flags_or_environment() -> None:
    env = {"CONVEYOR_MAX_STALLED": "3", "CONVEYOR_STALLED_INTERVAL": "0.5"}
    settings = worker_config(WorkerFlags("app:w"), env).settings()
    assert (settings.max_stalled, settings.stalled_interval) == (3, 0.5)
    flags = WorkerFlags("app:w", max_stalled=0, stalled_interval=2.0)
    settings = worker_config(flags, env).settings()
    assert (settings.max_stalled, settings.stalled_interval) == (0, 2.0)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"CONVEYOR_CONCURRENCY": "5,a=x"},
            "CONVEYOR_CONCURRENCY must be an integer or QUEUE=N pairs (like --concurrency),"
            " got '5,a=x': 'x' is not a whole number (in 'a=x')",
        ),
        ({"CONVEYOR_MAX_STALLED": "two"}, "CONVEYOR_MAX_STALLED must be an integer"),
        ({"CONVEYOR_STALLED_INTERVAL": "often"}, "CONVEYOR_STALLED_INTERVAL must be a number"),
    ],
)
def test_bad_new_environment_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        worker_config(WorkerFlags("app:queue"), env)
