"""Worker logs: text lines show ``extra`` fields as key=value; JSON lines carry them."""

from __future__ import annotations

import json
import logging
import sys

from conveyor.cli.logs import JsonFormatter, TextFormatter


def _record(**extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {
            "name": "conveyor.worker",
            "levelno": logging.WARNING,
            "levelname": "WARNING",
            "msg": "job %s failed",
            "args": ("7",),
        }
    )
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_text_lines_show_extras_as_key_value() -> None:
    line = TextFormatter().format(_record(queue="emails", job_id="7", queues=["a", "b"]))
    assert "WARNING conveyor.worker: job 7 failed" in line
    assert line.endswith("queue=emails job_id=7 queues=a,b")


def test_text_values_with_spaces_are_quoted() -> None:
    line = TextFormatter().format(_record(reason="no such thing"))
    assert line.endswith('reason="no such thing"')


def test_json_lines_carry_extras_and_the_exception() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = _record(queue="emails", job_id="7")
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "warning"
    assert entry["logger"] == "conveyor.worker"
    assert entry["message"] == "job 7 failed"
    assert (entry["queue"], entry["job_id"]) == ("emails", "7")
    assert "ValueError: bad" in entry["exception"]


def test_control_characters_from_jobs_are_escaped_in_text_lines() -> None:
    record = _record(job_name="evil\x1b[2J\nFAKE 00:00 INFO forged", queue="q\x07")
    record.args = ("7\x1b[31m",)
    try:
        raise ValueError("bad\x1b]0;title\x07")
    except ValueError:
        record.exc_info = sys.exc_info()
    text = TextFormatter().format(record)
    assert "\x1b" not in text
    assert "\x07" not in text
    first, *rest = text.split("\n")
    assert "job 7\\x1b[31m failed" in first
    assert "FAKE" in first, "a newline in a value cannot start a forged line"
    assert rest[0].startswith("Traceback"), "a traceback keeps its own lines"
    assert "bad\\x1b]0;title\\x07" in text


def test_c1_control_characters_are_escaped_in_json_lines() -> None:
    record = _record(job_name="x\x9b31mred\x7f")
    line = JsonFormatter().format(record)
    assert "\x9b" not in line
    assert "\x7f" not in line
    assert json.loads(line)["job_name"] == "x\x9b31mred\x7f", "still the same value as JSON"
