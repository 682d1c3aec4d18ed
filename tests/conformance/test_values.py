"""Every payload comes back to its handler equal to what was added, or ``add`` refuses it
with a ``SerializationError`` naming the offending path, and stores nothing."""

from __future__ import annotations

import dataclasses
import enum
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pydantic
import pytest

from conveyor import BulkJob, JobContext, Queue, SerializationError, Worker

from .helpers import FAST, total


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: float
    y: float


class Opaque:
    """An object with no JSON form."""


def _cyclic_dict() -> dict[str, Any]:
    node: dict[str, Any] = {"name": "root", "children": []}
    node["children"].append({"parent": node})
    return node


def _cyclic_list() -> list[Any]:
    items: list[Any] = [1]
    items.append(items)
    return items


NAN, INF = float("nan"), float("inf")

REFUSED: list[tuple[str, Any, str]] = [
    ("nan", NAN, "data: float nan cannot be stored as JSON"),
    ("inf", INF, "data: float inf cannot be stored as JSON"),
    ("-inf", -INF, "data: float -inf cannot be stored as JSON"),
    ("nested-nan", {"items": [{"price": 1.0}, {"price": NAN}]},
     'data["items"][1]["price"]: float nan cannot be stored as JSON'),
    ("nested-inf", [0.5, [INF]], "data[1][0]: float inf"),
    ("nested-minus-inf", {"a": {"b": -INF}}, 'data["a"]["b"]: float -inf'),
    ("bytes", {"blob": b"\x00\x01"}, 'data["blob"]: bytes'),
    ("set", {"tags": {1, 2}}, 'data["tags"]: set {1, 2} cannot be stored as JSON: it would come'
     " back as list"),
    ("frozenset", [frozenset({"a"})], "data[0]: frozenset"),
    ("int-key", {"counts": {1: "one"}}, 'data["counts"]: dict key 1 (int) cannot be stored'),
    ("float-key", {1.5: "x"}, "data: dict key 1.5 (float)"),
    ("tuple-key", {"grid": {(0, 1): "x"}}, 'data["grid"]: dict key (0, 1) (tuple)'),
    ("tuple", (1, 2), "data: tuple (1, 2) cannot be stored as JSON: it would come back as list"),
    ("nested-tuple", {"point": [(1, 2)]}, 'data["point"][0]: tuple'),
    ("datetime", {"at": datetime(2024, 5, 1, tzinfo=UTC)}, 'data["at"]: datetime'),
    ("date", {"on": date(2024, 5, 1)}, 'data["on"]: date'),
    ("timedelta", {"wait": timedelta(seconds=3)}, 'data["wait"]: timedelta'),
    ("uuid", {"id": uuid.UUID(int=7)}, 'data["id"]: UUID'),
    ("decimal", {"price": Decimal("9.99")}, 'data["price"]: Decimal'),
    ("enum", {"color": Color.RED}, 'data["color"]: Color'),
    ("object", {"x": [Opaque()]}, 'data["x"][0]: Opaque'),
    ("complex", {"z": 1j}, 'data["z"]: complex'),
    ("nested-dataclass", {"p": Point(1, 2)}, 'data["p"]: Point object is not plain JSON'),
    ("dict-cycle", _cyclic_dict(),
     'data["children"][0]["parent"]: reference cycle (this is the object at data again)'),
    ("list-cycle", _cyclic_list(), "data[1]: reference cycle"),
    ("surrogate", {"s": "\ud800"}, 'data["s"]: str'),
]


@pytest.mark.parametrize(("data", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
async def test_untyped_value_json_would_change_is_refused_with_its_path(
    queue: Queue, data: Any, message: str
) -> None:
    with pytest.raises(SerializationError, match=re.escape(message)):
        await queue.add("noop", data)
    assert total(await queue.counts()) == 0


async def test_refusal_in_a_bulk_add_stores_none_of_the_jobs(queue: Queue) -> None:
    with pytest.raises(SerializationError, match=re.escape('data["at"]: datetime')):
        await queue.add_bulk(
            [BulkJob("noop", {"ok": 1}), BulkJob("noop", {"at": datetime(2024, 1, 1)})]
        )
    assert total(await queue.counts()) == 0


async def test_update_data_refuses_what_add_refuses_and_keeps_the_old_data(queue: Queue) -> None:
    job = await queue.add("noop", {"items": [1]})
    for bad, message in [({"items": [NAN]}, 'data["items"][0]: float nan'),
                         ({"items": (1,)}, 'data["items"]: tuple'),
                         (_cyclic_list(), "data[1]: reference cycle")]:
        with pytest.raises(SerializationError, match=re.escape(message)):
            await job.update_data(bad)
    await job.refresh()
    assert job.data == {"items": [1]}
    await job.update_data({"items": [1, 2.5]})
    await job.refresh()
    assert job.data == {"items": [1, 2.5]}


ACCEPTED: list[Any] = [
    None, True, False, 0, -1, 2**63, -(2**63), 2**64 - 1, 10**30, 0.1, -0.0, 1e308, 5e-324,
    "", "héllo ✓ 🚚", "null", "NaN", [], {}, [None, [[], {}]],
    {"nested": {"deep": [{"a": [1, 2.0, "3", None, True]}]}, "": 0, "1": "int-like key"},
]


async def test_plain_json_values_come_back_to_the_handler_exactly(queue: Queue) -> None:
    received: dict[str, Any] = {}

    @queue.job()
    async def echo(job: JobContext[Any]) -> None:
        received[job.id] = job.data

    jobs = [await queue.add("echo", value) for value in ACCEPTED]
    async with Worker(queue, settings=FAST):
        for job in jobs:
            await job.wait(timeout=10)
    got = [received[job.id] for job in jobs]
    assert got == ACCEPTED
    # repr tells True from 1, 1.0 from 1, -0.0 from 0.0, a tuple from a list
    assert [repr(v) for v in got] == [repr(v) for v in ACCEPTED]


@dataclasses.dataclass
class Shipment:
    when: datetime
    tags: set[int]
    box: tuple[int, int]
    bins: dict[int, str]
    ref: uuid.UUID
    price: Decimal
    color: Color
    blob: bytes
    where: Point
    extra: dict[str, Any]


class ShipmentStruct(msgspec.Struct):
    when: datetime
    tags: set[int]
    box: tuple[int, int]
    bins: dict[int, str]
    ref: uuid.UUID
    price: Decimal
    color: Color
    blob: bytes
    where: Point
    extra: dict[str, Any]


class ShipmentModel(pydantic.BaseModel):
    # pydantic writes bytes as UTF-8 text unless told otherwise; b"\xff" needs base64
    model_config = pydantic.ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    when: datetime
    tags: set[int]
    box: tuple[int, int]
    bins: dict[int, str]
    ref: uuid.UUID
    price: Decimal
    color: Color
    blob: bytes
    where: Point
    extra: dict[str, Any]


KINDS = [Shipment, ShipmentStruct, ShipmentModel]
FIELDS: dict[str, Any] = {
    "when": datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
    "tags": {3, 1, 2},
    "box": (40, 30),
    "bins": {1: "a", 20: "b"},
    "ref": uuid.UUID(int=42),
    "price": Decimal("19.99"),
    "color": Color.RED,
    "blob": b"\x00\xffraw",
    "where": Point(1.5, -2.0),
    "extra": {"note": "plain JSON inside", "sizes": [1, 2]},
}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
async def test_typed_payload_round_trips_through_its_type(queue: Queue, kind: type[Any]) -> None:
    received: list[Any] = []

    @queue.job(payload=kind)
    async def ship(job: JobContext[Any]) -> None:
        received.append(job.data)

    sent = kind(**FIELDS)
    job = await ship.add(sent)
    async with Worker(queue, settings=FAST):
        await job.wait(timeout=10)
    assert received == [sent]
    assert received[0].tags == {1, 2, 3}
    assert received[0].when.tzinfo is not None


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("where", Point(NAN, 0), "data.where.x: float nan cannot be stored as JSON"),
        ("where", Point(0, -INF), "data.where.y: float -inf cannot be stored as JSON"),
        ("extra", {"k": (1, 2)}, 'data.extra["k"]: tuple (1, 2) cannot be stored as JSON'),
        ("extra", {"k": {5: 1}}, 'data.extra["k"]: dict key 5 (int)'),
    ],
    ids=["nested-nan", "nested-minus-inf", "tuple-in-any", "int-key-in-any"],
)
async def test_typed_payload_json_would_change_is_refused(
    queue: Queue, kind: type[Any], field: str, value: Any, message: str
) -> None:
    @queue.job(payload=kind)
    async def ship(job: JobContext[Any]) -> None:
        return None

    sent = kind(**{**FIELDS, field: value})
    with pytest.raises(SerializationError, match=re.escape(message)):
        await ship.add(sent)
    assert total(await queue.counts()) == 0


class Reading(msgspec.Struct):
    value: float | None


class ReadingModel(pydantic.BaseModel):
    value: float | None


@pytest.mark.parametrize("kind", [Reading, ReadingModel], ids=lambda k: k.__name__)
async def test_nan_the_type_would_store_as_null_is_refused(queue: Queue, kind: type[Any]) -> None:
    @queue.job(payload=kind)
    async def read(job: JobContext[Any]) -> None:
        return None

    for data in (kind(value=NAN), {"value": INF}):
        with pytest.raises(SerializationError, match=re.escape("data.value: float")):
            await queue.add("read", data)
    assert total(await queue.counts()) == 0


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
async def test_cycle_inside_a_typed_payload_is_refused(queue: Queue, kind: type[Any]) -> None:
    @queue.job(payload=kind)
    async def ship(job: JobContext[Any]) -> None:
        return None

    message = 'data.extra["k"]["children"][0]["parent"]: reference cycle (this is the object'
    with pytest.raises(SerializationError, match=re.escape(message)):
        await queue.add("ship", kind(**{**FIELDS, "extra": {"k": _cyclic_dict()}}))
    with pytest.raises(SerializationError, match="reference cycle"):
        await queue.add("ship", {**FIELDS, "extra": _cyclic_dict()})
    assert total(await queue.counts()) == 0


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
async def test_instance_added_without_a_declared_type_is_checked_through_its_class(
    make_queue: Callable[..., Queue], kind: type[Any]
) -> None:
    """A producer that does not import the handler can still add typed instances."""
    producer = make_queue()
    consumer = Queue(producer.name, backend=producer.backend)
    received: list[Any] = []

    @consumer.job(payload=kind)
    async def ship(job: JobContext[Any]) -> None:
        received.append(job.data)

    sent = kind(**FIELDS)
    job = await producer.add("ship", sent)
    with pytest.raises(SerializationError, match=re.escape("data.where.x: float nan")):
        await producer.add("ship", kind(**{**FIELDS, "where": Point(NAN, 0)}))
    async with Worker(consumer, settings=FAST):
        await job.wait(timeout=10)
    assert received == [sent]
    assert total(await producer.counts()) == 1
