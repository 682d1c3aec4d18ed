"""Flags and environment variables map onto WorkerSettings in one place, flag first."""

from __future__ import annotations

import logging

import pytest

from conveyor import ConfigurationError, WorkerSettings
from conveyor.cli.config import LogSettings, WorkerFlags, split_names, worker_config


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
