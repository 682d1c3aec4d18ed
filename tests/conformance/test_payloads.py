"""Typed payloads and payload errors: validated before anything is stored, decoded for the
handler; values JSON cannot hold and oversized payloads are refused with a clear error."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import msgspec
import pydantic
import pytest

from conveyor import (
    BulkJob,
    JobContext,
    JobFailedError,
    PayloadError,
    PayloadTooLargeError,
    Queue,
    SerializationError,
    ValidationError,
    Worker,
)

from .helpers import FAST, total


@dataclasses.dataclass
class Resize:
    image: str
    width: int
    formats: list[str] = dataclasses.field(default_factory=lambda: ["webp"])


class ResizeStruct(msgspec.Struct):
    image: str
    width: int
    formats: list[str] = msgspec.field(default_factory=lambda: ["webp"])


class ResizeModel(pydantic.BaseModel):
    image: str
    width: int = pydantic.Field(gt=0)
    formats: list[str] = ["webp"]


KINDS = [Resize, ResizeStruct, ResizeModel]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
async def test_handler_receives_the_declared_type(queue: Queue, kind: type[Any]) -> None:
    received: list[Any] = []

    @queue.job(payload=kind)
    async def resize(job: JobContext[Any]) -> int:
        received.append(job.data)
        return int(job.data.width) * 2

    job = await resize.add(kind(image="a.png", width=300))
    from_dict = await queue.add("resize", {"image": "b.png", "width": 10, "formats": ["avif"]})
    async with Worker(queue, settings=FAST):
        assert await job.wait(timeout=10) == 600
        assert await from_dict.wait(timeout=10) == 20
    assert [type(r) for r in received] == [kind, kind]
    assert received[0].image == "a.png"
    assert received[0].formats == ["webp"]
    assert received[1].formats == ["avif"]
    stored = await queue.get_job(job.id)
    assert stored is not None
    assert isinstance(stored.data, kind), "the handle decodes into the declared type too"


INVALID: list[Any] = [
    {"image": "a.png"},
    {"image": "a.png", "width": "wide"},
    {"image": 5, "width": 1},
    ["a.png", 1],
    None,
]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
@pytest.mark.parametrize("data", INVALID, ids=repr)
async def test_invalid_payload_is_refused_and_nothing_stored(
    queue: Queue, kind: type[Any], data: Any
) -> None:
    @queue.job(payload=kind)
    async def resize(job: JobContext[Any]) -> None:
        return None

    with pytest.raises(ValidationError, match="resize") as caught:
        await queue.add("resize", data)
    assert caught.value.job_name == "resize"
    assert isinstance(caught.value, PayloadError)
    assert total(await queue.counts()) == 0


async def test_pydantic_constraints_are_checked_at_add(queue: Queue) -> None:
    @queue.job(payload=ResizeModel)
    async def resize(job: JobContext[ResizeModel]) -> None:
        return None

    with pytest.raises(ValidationError, match="greater than 0"):
        await queue.add("resize", {"image": "a.png", "width": 0})
    assert total(await queue.counts()) == 0


async def test_one_invalid_payload_in_a_bulk_add_stores_nothing(queue: Queue) -> None:
    @queue.job(payload=Resize)
    async def resize(job: JobContext[Resize]) -> None:
        return None

    with pytest.raises(ValidationError):
        await queue.add_bulk(
            [
                BulkJob("resize", Resize("a", 1)),
                BulkJob("resize", {"image": "b"}),
            ]
        )
    assert total(await queue.counts()) == 0


async def test_payload_that_fails_validation_at_the_worker_fails_at_once(
    make_queue: Callable[..., Queue],
) -> None:
    producer = make_queue()
    consumer = Queue(producer.name, backend=producer.backend)
    job = await producer.add("resize", {"image": "a.png"}, attempts=5)

    @consumer.job(payload=Resize)
    async def resize(job: JobContext[Resize]) -> None:
        return None

    async with Worker(consumer, settings=FAST):
        with pytest.raises(JobFailedError, match="invalid"):
            await job.wait(timeout=10)
    await job.refresh()
    assert job.attempts_made == 1


class NotJson:
    pass


@pytest.mark.parametrize(
    "data",
    [NotJson(), {"when": object()}, {1j: "complex"}, [lambda: None]],
    ids=["object", "nested", "complex-key", "function"],
)
async def test_payload_that_is_not_json_is_refused(queue: Queue, data: Any) -> None:
    with pytest.raises(SerializationError, match="JSON"):
        await queue.add("noop", data)
    assert total(await queue.counts()) == 0


async def test_payload_over_the_limit_is_refused(make_queue: Callable[..., Queue]) -> None:
    queue = make_queue(max_payload_bytes=1024)
    await queue.add("noop", "x" * 1000)
    with pytest.raises(PayloadTooLargeError, match="1024") as caught:
        await queue.add("noop", "x" * 1100)
    assert caught.value.limit == 1024
    assert caught.value.size > 1024
    assert total(await queue.counts()) == 1


async def test_default_limit_refuses_huge_payload(queue: Queue) -> None:
    with pytest.raises(PayloadTooLargeError):
        await queue.add("noop", "x" * (1024 * 1024))
    assert total(await queue.counts()) == 0


async def test_payload_round_trips_json_values(queue: Queue) -> None:
    data = {"s": "héllo ✓", "i": 2**53, "f": 1.5, "b": True, "n": None, "l": [1, [2, {}]]}

    @queue.job()
    async def echo(job: JobContext[Any]) -> Any:
        return job.data

    job = await queue.add("echo", data)
    async with Worker(queue, settings=FAST):
        assert await job.wait(timeout=10) == data


async def test_update_data_validates_against_declared_type(queue: Queue) -> None:
    @queue.job(payload=Resize)
    async def resize(job: JobContext[Resize]) -> None:
        return None

    job = await resize.add(Resize("a.png", 5))
    with pytest.raises(ValidationError):
        await job.update_data({"image": "b.png"})
    with pytest.raises(SerializationError):
        await job.update_data(NotJson())
    await job.refresh()
    assert job.data == Resize("a.png", 5)
    await job.update_data(Resize("b.png", 6))
    await job.refresh()
    assert job.data == Resize("b.png", 6)


async def test_update_data_refuses_oversized_payload(make_queue: Callable[..., Queue]) -> None:
    queue = make_queue(max_payload_bytes=100)
    job = await queue.add("noop", "small")
    with pytest.raises(PayloadTooLargeError):
        await job.update_data("x" * 200)
    await job.refresh()
    assert job.data == "small"
