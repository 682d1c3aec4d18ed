"""How flows look in the CLI: the ``jobs tree`` view (a Rich tree, or a nested dict for
``--json``) and the parent and children facts ``jobs show`` adds to a job's detail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text
from rich.tree import Tree

from ..backends.base import Children, node_ref, split_ref
from ..flows import JobTree
from ..job import Job
from .render import STATE_STYLES, header, short
from .safe_text import one_line

MISSING_STYLE = "dim"
"""A child no longer stored (trimmed by retention, or removed): normal, so not alarming."""


def tree_entry(tree: JobTree) -> dict[str, Any]:
    """One node and its children, JSON-ready; a missing child has ``state`` ``missing``
    and no name."""
    job = tree.job
    queue, job_id = split_ref(tree.ref)
    return {
        "ref": tree.ref,
        "queue": queue,
        "id": job_id,
        "name": None if job is None else job.name,
        "state": tree.state,
        "failed_reason": None if job is None else job.failed_reason,
        "children": [tree_entry(child) for child in tree.children],
    }


def tree_view(entry: Mapping[str, Any], url: str) -> RenderableType:
    """The ``jobs tree`` page: a ``tree of queue:id at url`` line, then one line per job
    (``queue:id  name  state``, and the reason of a failed one), children indented."""
    root = Tree(_label(entry), guide_style="dim")
    _grow(root, entry["children"])
    return Group(header(f"tree of {entry['ref']} at {url}"), root)


def _grow(branch: Tree, children: list[Mapping[str, Any]]) -> None:
    for child in children:
        _grow(branch.add(_label(child)), child["children"])


def _label(entry: Mapping[str, Any]) -> Text:
    label = Text(one_line(entry["ref"]), style="bold")
    if entry["state"] == "missing":
        return label.append("  missing (no longer stored)", style=MISSING_STYLE)
    label.append("  " + one_line(entry["name"]))
    label.append("  " + entry["state"], style=STATE_STYLES.get(entry["state"], ""))
    if entry["failed_reason"] and entry["state"] == "failed":
        label.append("  " + short(entry["failed_reason"], 100), style="red")
    return label


def flow_detail(job: Job[Any], children: Children) -> dict[str, Any]:
    """A job's place in a flow, JSON-ready: its parent (``queue:id``, with what its
    failing does to the parent) and how many of its own children are in each stage."""
    parent = job.parent
    return {
        "parent": None if parent is None else node_ref(*parent),
        "on_failure": None if parent is None else job.on_failure,
        "children": {
            "pending": len(children.pending),
            "completed": len(children.values),
            "failed": len(children.failures),
        },
    }
