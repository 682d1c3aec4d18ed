"""The walks that say where and why a value does not survive JSON, and the encode paths
that call them: pure functions, no backend."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import msgspec
import pydantic
import pytest

from conveyor import SerializationError, ValidationError
from conveyor.payloads import encode
from conveyor.roundtrip import (
    first_difference,
    first_non_finite,
    first_unencodable,
    render,
    structured_type,
)
from conveyor.serialization import dumps, dumps_plain, encode_error, loads

NAN = float("nan")


def _nested(depth: int, leaf: Any) -> list[Any]:
    value: Any = leaf
    for _ in range(depth):
        value = [value]
    return value  # type: ignore[no-any-return]


def test_paths_render_keys_indexes_and_fields() -> None:
    path = ((((("data", '["items"]'), "[3]"), ".price"), "[1]"))
    assert render(path) == 'data["items"][3].price[1]'
    assert render("data") == "data"


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ('say "hi"', r'data["say \"hi\""]'),
        ("héllo", 'data["héllo"]'),
        ("k" * 50, 'data["' + "k" * 40 + '…"]'),
    ],
    ids=["quotes", "non-ascii", "long"],
)
def test_str_keys_are_shown_as_json_strings(key: str, shown: str) -> None:
    reason = first_non_finite({key: NAN}, "data")
    assert reason is not None
    assert reason.startswith(f"{shown}: float nan")


def test_walks_do_not_recurse_on_very_deep_values() -> None:
    deep = _nested(100_000, NAN)
    assert first_non_finite(deep, "data") == (
        "data" + "[0]" * 100_000 + ": float nan cannot be stored as JSON (JSON has no NaN or"
        " Infinity)"
    )
    back = _nested(100_000, None)
    reason = first_difference(deep, back, "data")
    assert reason is not None
    assert reason.endswith("float nan cannot be stored as JSON (JSON has no NaN or Infinity)")


def test_very_deep_plain_payload_is_refused_not_crashed() -> None:
    with pytest.raises(SerializationError, match="data: nests too deeply"):
        dumps_plain(_nested(50_000, 1), "data")


@dataclasses.dataclass
class Node:
    name: str
    children: list[Any] = dataclasses.field(default_factory=list)


def test_cycle_through_fields_names_both_ends() -> None:
    root = Node("root", [Node("child")])
    root.children[0].children.append(root)
    reason = first_unencodable(root, "data", encode_error)
    assert reason == (
        "data.children[0].children[0]: reference cycle (this is the object at data again),"
        " which JSON cannot hold"
    )


def test_shared_but_acyclic_references_are_not_cycles() -> None:
    shared = {"a": 1}
    value = {"x": shared, "y": [shared, shared]}
    assert first_unencodable(value, "data", encode_error) is None
    assert loads(dumps_plain(value)) == value


def test_unencodable_key_and_leaf_are_named() -> None:
    reason = first_unencodable({"ok": 1, "m": {None: 1}}, "v", encode_error)
    assert reason is not None
    assert reason.startswith('v["m"]: dict key None (NoneType) cannot be stored as JSON')
    reason = first_unencodable([1, {"f": print}], "v", encode_error)
    assert reason is not None
    assert reason.startswith('v[1]["f"]: builtin_function_or_method')


@dataclasses.dataclass(eq=False)
class NoEq:
    x: int


def test_types_without_equality_are_compared_field_by_field() -> None:
    assert first_difference(NoEq(1), NoEq(1), "data") is None
    assert first_difference(NoEq(1), NoEq(2), "data") == (
        "data.x: int 1 cannot be stored as JSON: it would come back as int 2"
    )
    assert loads(encode("j", NoEq, NoEq(5), 1000)) == {"x": 5}


def test_nan_kept_by_the_type_is_not_a_difference() -> None:
    assert first_difference({"d": Decimal("NaN")}, {"d": Decimal("NaN")}, "data") is None
    assert first_difference([NAN], [float("nan")], "data") is None
    assert first_difference([NAN], [None], "data") == (
        "data[0]: float nan cannot be stored as JSON (JSON has no NaN or Infinity)"
    )


def test_set_and_sequence_differences() -> None:
    assert first_difference({1, 2}, {1}, "s") == "s: set element int 2 does not come back from JSON"
    assert first_difference([1, 2], [1], "s") == "s: list [1, 2] comes back from JSON with 1 items"


class Flexible(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    _secret: int = pydantic.PrivateAttr(default=0)
    a: int


def test_pydantic_extras_are_compared_and_private_attributes_are_not() -> None:
    model = Flexible(a=1, b=(1, 2))
    with pytest.raises(SerializationError, match=r"data\.b: tuple \(1, 2\)"):
        encode("j", Flexible, model, 1000)
    private = Flexible(a=1)
    private._secret = 7  # not stored, so not part of what must come back
    assert loads(encode("j", Flexible, private, 1000)) == {"a": 1}


class Lenient(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(ser_json_inf_nan="strings")
    x: float


class Strict(msgspec.Struct):
    x: float


def test_a_type_that_stores_nan_as_a_string_keeps_it() -> None:
    for value in (NAN, float("inf"), float("-inf")):
        assert encode("j", Lenient, Lenient(x=value), 1000)
        with pytest.raises(SerializationError, match=r"data\.x: float"):
            encode("j", Strict, Strict(x=value), 1000)


def test_a_mismatching_instance_is_a_validation_error_and_no_json_form_is_said() -> None:
    with pytest.raises(ValidationError, match="Expected `float`, got `str`"):
        encode("j", Strict, Strict(x="no"), 1000)  # type: ignore[arg-type]
    with pytest.raises(SerializationError, match="data: object"):
        encode("j", Strict, object(), 1000)


class Plain:
    pass


def test_structured_type_recognises_the_three_kinds_only() -> None:
    assert structured_type(NoEq(1)) is NoEq
    assert structured_type(Strict(x=1.0)) is Strict
    assert structured_type(Lenient(x=1.0)) is Lenient
    for value in ({}, [], (), "s", 1, None, Plain(), NoEq, Strict):
        assert structured_type(value) is None


def test_dumps_stores_the_json_form_and_refuses_what_json_cannot_hold() -> None:
    assert loads(dumps({"when": (1, 2), "n": None, "m": Lenient(x=1.5)})) == {
        "when": [1, 2], "n": None, "m": {"x": 1.5},
    }
    with pytest.raises(SerializationError, match=r'progress\["ratio"\]: float nan'):
        dumps({"n": None, "ratio": NAN}, "progress")
    with pytest.raises(SerializationError, match=r"value\.x: float inf"):
        dumps(Strict(x=float("inf")))
