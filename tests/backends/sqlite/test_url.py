"""``sqlite:///`` URLs: relative and absolute paths, parameters, and clear refusals."""

from __future__ import annotations

import os

import pytest

from conveyor import ConfigurationError
from conveyor.backends.sqlite.url import DEFAULT_BUSY_TIMEOUT_MS, parse


def test_three_slashes_is_relative_four_is_absolute() -> None:
    assert parse("sqlite:///./data/q.db").path == os.path.abspath("data/q.db")
    assert parse("sqlite:///data/q.db").path == os.path.abspath("data/q.db")
    assert parse("sqlite:////var/lib/q.db").path == "/var/lib/q.db"


def test_parameters() -> None:
    target = parse("sqlite:////tmp/q.db?busy_timeout_ms=250&synchronous=FULL")
    assert (target.busy_timeout_ms, target.synchronous) == (250, "full")
    assert parse("sqlite:////tmp/q.db").busy_timeout_ms == DEFAULT_BUSY_TIMEOUT_MS


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("sqlite://q.db", "malformed SQLite URL"),
        ("sqlite:///", "must name a database file"),
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite:////tmp/dir/", "directory"),
        ("sqlite:////tmp/q.db?busy_timeout_ms=soon", "whole number"),
        ("sqlite:////tmp/q.db?synchronous=off", "synchronous"),
        ("sqlite:////tmp/q.db?journal=delete", "unknown SQLite URL parameter 'journal'"),
    ],
)
def test_bad_urls_are_refused_clearly(url: str, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        parse(url)
