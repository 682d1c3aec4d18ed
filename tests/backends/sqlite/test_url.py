"""``sqlite:///`` URLs: relative and absolute paths, parameters, clear refusals, and the
absolute URL the backend reports."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conveyor import ConfigurationError, Queue
from conveyor.backends import from_url
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


# -- the URL the backend reports: absolute, one spelling per file ----------------------
def test_the_backend_reports_the_absolute_url_of_a_relative_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    expected = f"sqlite:///{tmp_path}/.conveyor/conveyor.db"
    assert expected.startswith("sqlite:////")
    for url in ("sqlite:///./.conveyor/conveyor.db", "sqlite:///.conveyor/conveyor.db", expected):
        backend = from_url(url)
        assert backend.url == expected
        assert backend.clone().url == expected
    assert repr(Queue("emails", url="sqlite:///./.conveyor/conveyor.db")) == (
        f"<Queue 'emails' on {expected}>"
    )
    monkeypatch.delenv("CONVEYOR_URL", raising=False)
    assert from_url().url == expected, "the default URL too"


def test_the_reported_url_keeps_parameters_that_differ_from_the_defaults(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/q.db?synchronous=FULL&busy_timeout_ms=250"
    reported = from_url(url).url
    assert reported == f"sqlite:///{tmp_path}/q.db?busy_timeout_ms=250&synchronous=full"
    assert parse(reported) == parse(url)
    plain = f"sqlite:///{tmp_path}/q.db"
    assert from_url(f"{plain}?busy_timeout_ms={DEFAULT_BUSY_TIMEOUT_MS}").url == plain


def test_the_reported_url_names_an_odd_path_exactly(tmp_path: Path) -> None:
    odd = tmp_path / "100% sure?" / "q.db"
    reported = from_url(f"sqlite:///{str(odd).replace('%', '%25').replace('?', '%3F')}").url
    assert parse(reported).path == str(odd)


async def test_a_relative_url_names_a_file_in_each_process_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, queue_name: str
) -> None:
    """The pitfall the absolute URL makes visible: the same relative URL from two working
    directories is two databases; an absolute URL reaches the first one from anywhere."""
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    monkeypatch.chdir(here)
    producer = Queue(queue_name, url="sqlite:///jobs.db")
    job = await producer.add("sync", {"supplier": 7})
    monkeypatch.chdir(there)
    elsewhere = Queue(queue_name, url="sqlite:///jobs.db")
    shared = Queue(queue_name, url=producer.backend.url)
    try:
        assert (producer.backend.url, elsewhere.backend.url) == (
            f"sqlite:///{here}/jobs.db",
            f"sqlite:///{there}/jobs.db",
        )
        assert await elsewhere.get_job(job.id) is None
        found = await shared.get_job(job.id)
        assert found is not None
        assert found.data == {"supplier": 7}
    finally:
        for queue in (producer, elsewhere, shared):
            await queue.close()
