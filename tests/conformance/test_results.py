"""A handler's return value is stored as its JSON form and read back as plain JSON; one
JSON cannot hold fails the job at once, with a reason that names the path."""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import pydantic
import pytest

from conveyor import JobContext, JobFailedError, Queue, Worker

from .helpers import FAST


@dataclasses.dataclass
class Receipt:
    order: int
    total: float
    lines: list[str]


class ReceiptStruct(msgspec.Struct):
    order: int
    total: float
    lines: list[str]


class ReceiptModel(pydantic.BaseModel):
    order: int
    total: float
    lines: list[str]
    at: datetime


AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RETURNED: list[tuple[str, Any, Any]] = [
    ("dataclass", Receipt(1, 9.5, ["a"]), {"order": 1, "total": 9.5, "lines": ["a"]}),
    ("struct", ReceiptStruct(2, 0.0, []), {"order": 2, "total": 0.0, "lines": []}),
    ("pydantic", ReceiptModel(order=3, total=1.25, lines=["b"], at=AT),
     {"order": 3, "total": 1.25, "lines": ["b"], "at": "2024-05-01T12:00:00Z"}),
    ("models-nested", {"receipts": [Receipt(4, 1.0, []), ReceiptModel(order=5, total=2.0,
                                                                      lines=[], at=AT)]},
     {"receipts": [{"order": 4, "total": 1.0, "lines": []},
                   {"order": 5, "total": 2.0, "lines": [], "at": "2024-05-01T12:00:00Z"}]}),
    ("json", {"ok": True, "n": None, "xs": [1, 2.5, "s"]}, {"ok": True, "n": None,
                                                            "xs": [1, 2.5, "s"]}),
    ("none", None, None),
    ("str", "done", "done"),
    ("tuple", (1, "a"), [1, "a"]),
    ("set", {7}, [7]),
    ("int-keys", {1: "a"}, {"1": "a"}),
    ("uuid", uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
]


async def test_returned_values_are_stored_as_their_json_form(queue: Queue) -> None:
    by_label = {label: value for label, value, _ in RETURNED}

    @queue.job()
    async def produce(job: JobContext[str]) -> Any:
        return by_label[job.data]

    jobs = {label: await queue.add("produce", label) for label, _, _ in RETURNED}
    async with Worker(queue, settings=FAST):
        waited = {label: await job.wait(timeout=10) for label, job in jobs.items()}
    for label, _, stored in RETURNED:
        assert waited[label] == stored, label
        job = await jobs[label].refresh()
        assert job.state == "completed", label
        assert job.result == stored, label


def _cycle() -> dict[str, Any]:
    value: dict[str, Any] = {"items": []}
    value["items"].append(value)
    return value


class Opaque:
    pass


UNSTORABLE: list[tuple[str, Any, str]] = [
    ("nan", float("nan"), "result: float nan cannot be stored as JSON"),
    ("nested-inf", {"stats": [1.0, float("inf")]}, 'result["stats"][1]: float inf'),
    ("model-nan", ReceiptModel(order=1, total=float("-inf"), lines=[], at=AT),
     "result.total: float -inf"),
    ("dataclass-nan", Receipt(1, float("nan"), []), "result.total: float nan"),
    ("object", {"handle": Opaque()}, 'result["handle"]: Opaque'),
    ("cycle", _cycle(), 'result["items"][0]: reference cycle'),
]


@pytest.mark.parametrize(
    ("value", "message"), [u[1:] for u in UNSTORABLE], ids=[u[0] for u in UNSTORABLE]
)
async def test_a_result_json_cannot_hold_fails_the_job_at_once(
    queue: Queue, value: Any, message: str
) -> None:
    runs: list[str] = []

    @queue.job()
    async def effect(job: JobContext[None]) -> Any:
        runs.append(job.id)  # the side effect has happened by the time the result is stored
        return value

    job = await queue.add("effect", None, attempts=3)
    reason = f"SerializationError: the handler's return value cannot be stored as JSON: {message}"
    async with Worker(queue, settings=FAST):
        with pytest.raises(JobFailedError, match=re.escape(reason)):
            await job.wait(timeout=10)
    await job.refresh()
    assert job.state == "failed"
    assert job.attempts_made == 1, "not retried: running it again would repeat its effects"
    assert runs == [job.id]
    assert job.failed_reason is not None
    assert job.failed_reason.startswith(reason)
    assert job.result is None
